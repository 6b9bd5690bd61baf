"""The ``dense_vector`` field type: mapping parameters, document values, similarity.  [no I/O]

Vectors are kept in ``_source`` only and searched by brute force (``search.knn``): exact
nearest neighbours, which is what ES's HNSW graph approximates. Parameter checks and document
errors use ES's texts; ``dims`` may be left out of the mapping, and the first document then sets
it (as ES does since 8.11).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from isthmus.errors import DocumentParsingError, IllegalArgumentError, MapperParsingError
from isthmus.index.field_types import DENSE_VECTOR

MAX_DIMS = 4096
SIMILARITIES = ("l2_norm", "dot_product", "cosine", "max_inner_product")
ELEMENT_TYPES = ("float", "byte", "bit")


def check_vector_params(leaf: Mapping[str, Any]) -> None:
    """ES's parse errors for a dense_vector mapping (reported as "Failed to parse mapping")."""
    if "dims" in leaf:
        dims = leaf["dims"]
        if isinstance(dims, bool) or not isinstance(dims, int | float | str):
            raise MapperParsingError(f"Failed to parse [dims] with value [{dims}]")
        try:
            number = int(dims)
        except ValueError:
            raise MapperParsingError(f"Failed to parse [dims] with value [{dims}]") from None
        if not 1 <= number <= MAX_DIMS:
            raise MapperParsingError(
                f"The number of dimensions should be in the range [1, {MAX_DIMS}] but was "
                f"[{number}]"
            )
    for key, accepted in (("similarity", SIMILARITIES), ("element_type", ELEMENT_TYPES)):
        if key in leaf and leaf[key] not in accepted:
            raise MapperParsingError(
                f"Unknown value [{leaf[key]}] for field [{key}] - accepted values are "
                f"[{', '.join(accepted)}]"
            )
    if leaf.get("index") is False and "similarity" in leaf:
        raise MapperParsingError(
            "Field [similarity] can only be specified for a field of type [dense_vector] when "
            "it is indexed"
        )


def default_similarity(leaf: Mapping[str, Any]) -> str | None:
    if leaf.get("index", True) is False:
        return None
    return str(leaf.get("similarity", "cosine"))


# The smallest magnitude a double rounds to float infinity at ((2 - 2^-24) * 2^127).
_FLOAT32_OVERFLOW = 3.4028235677973366e38


def parse_vector(
    value: Any,
    field: str,
    dims: int | None,
    similarity: str | None,
    doc_id: str | None,
    element_type: str = "float",
) -> tuple[float, ...]:
    """One document's vector, checked as ES checks it (a ``byte`` vector's elements are whole
    numbers an int8 holds, and its ``dot_product`` needs no unit length)."""
    where = f"document with id '{doc_id}'" if doc_id is not None else "document"
    if not isinstance(value, list) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in value
    ):
        raise _doc_error(
            f"Failed to parse object: expecting token of type [VALUE_NUMBER] but found "
            f"[{_token(value)}]"
        )
    if dims is not None and len(value) != dims:
        raise _doc_error(
            f"The [{DENSE_VECTOR}] field [{field}] in doc [{where}] has a different number of "
            f"dimensions [{len(value)}] than defined in the mapping [{dims}]"
        )
    if element_type == "byte":
        problem = byte_element_problem(value)
        if problem is not None:
            raise _doc_error(problem)
    vector = tuple(float(v) for v in value)
    shown = value[:10] if element_type == "byte" else vector[:10]
    preview = "[" + ", ".join(repr(v) for v in shown) + ("...]" if len(vector) > 10 else "]")
    if similarity == "cosine" and _norm(vector) == 0.0:
        raise _doc_error(
            "The [cosine] similarity does not support vectors with zero magnitude. Preview of "
            f"invalid vector: {preview}"
        )
    if similarity == "dot_product" and element_type != "byte" and abs(_norm(vector) - 1.0) > 1e-4:
        raise _doc_error(
            "The [dot_product] similarity can only be used with unit-length vectors. Preview of "
            f"invalid vector: {preview}"
        )
    return vector


def byte_element_problem(value: Sequence[Any]) -> str | None:
    """ES's text for the first element of a ``byte`` vector that is not an int8 (the element
    shown as JSON held it: ``18.2``, ``128``); None when all are."""
    for dim, element in enumerate(value):
        if isinstance(element, float) and not element.is_integer():
            return (
                "element_type [byte] vectors only support non-decimal values but found decimal "
                f"value [{element!r}] at dim [{dim}];"
            )
        if not -128 <= element <= 127:
            return (
                "element_type [byte] vectors only support integers between [-128, 127] but "
                f"found [{int(element)}] at dim [{dim}];"
            )
    return None


def check_float_elements(value: Any) -> None:
    """ES keeps a vector's elements as floats: a number past float's range is an infinite
    element, which it refuses (checked on new writes only, so a stored source still replays)."""
    if isinstance(value, list):
        problem = infinite_element(value)
        if problem is not None:
            raise _doc_error(problem)


def infinite_element(value: Sequence[Any]) -> str | None:
    """ES's text for the first element past float's range (a document's or a query's vector),
    None when every element is a float."""
    for dim, element in enumerate(value):
        if isinstance(element, int | float) and abs(element) >= _FLOAT32_OVERFLOW:
            shown = [float(v) if isinstance(v, int | float) else v for v in value[:10]]
            preview = "[" + ", ".join(map(repr, shown)) + ("...]" if len(value) > 10 else "]")
            found = "Infinity" if element > 0 else "-Infinity"
            return (
                f"element_type [float] vectors do not support infinite values but found "
                f"[{found}] at dim [{dim}]; Preview of invalid vector: {preview}"
            )
    return None


def _token(value: Any) -> str:
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, Mapping):
        return "START_OBJECT"
    return "VALUE_STRING" if isinstance(value, str) else "VALUE_BOOLEAN"


def _doc_error(reason: str) -> DocumentParsingError:
    return DocumentParsingError(
        f"failed to parse: {reason}", caused_by=IllegalArgumentError(reason)
    )


def _norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def raw_similarity(similarity: str, query: Sequence[float], vector: Sequence[float]) -> float:
    """The similarity a knn ``similarity`` threshold is compared with (l2: the distance)."""
    if similarity == "l2_norm":
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(query, vector, strict=True)))
    dot = sum(a * b for a, b in zip(query, vector, strict=True))
    if similarity == "cosine":
        denominator = _norm(query) * _norm(vector)
        return dot / denominator if denominator else 0.0
    return dot


def score(similarity: str, raw: float) -> float:
    """ES's knn ``_score`` for a raw similarity (always positive, larger is nearer)."""
    if similarity == "l2_norm":
        return 1.0 / (1.0 + raw * raw)
    if similarity in ("cosine", "dot_product"):
        return (1.0 + raw) / 2.0
    return 1.0 / (1.0 - raw) if raw < 0 else raw + 1.0  # max_inner_product


def passes(similarity: str, raw: float, threshold: float | None) -> bool:
    """Whether a raw similarity meets a knn ``similarity`` threshold."""
    if threshold is None:
        return True
    return raw <= threshold if similarity == "l2_norm" else raw >= threshold
