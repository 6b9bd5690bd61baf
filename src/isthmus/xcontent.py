"""Typed reading of parsed request bodies, with Elasticsearch's x-content errors.  [no I/O]

A request body arrives as plain JSON values; every parser that turns a body into a typed request
reads its fields through these functions, so a wrong type or an impossible value is answered the
way ES's object parsers answer it (HTTP 400, never a Python exception escaping as a 500):

* a value of the wrong JSON kind: ``x_content_parse_exception``
  ``[<parser>] <field> doesn't support values of type: <TOKEN>``;
* a value of the right kind that does not convert (``"size": "ten"``):
  ``x_content_parse_exception`` ``[<parser>] failed to parse field [<field>]`` caused by the
  ``illegal_argument_exception`` the conversion raised.

The token names are Jackson's (``START_OBJECT``, ``VALUE_STRING``...), as ES prints them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from isthmus.errors import IllegalArgumentError, IsthmusError, XContentParseError

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def token(value: Any) -> str:
    """The Jackson token a JSON value starts with."""
    if isinstance(value, Mapping):
        return "START_OBJECT"
    if isinstance(value, list | tuple):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if value is None:
        return "VALUE_NULL"
    return "VALUE_STRING"


def wrong_type(parser: str, field: str, value: Any) -> XContentParseError:
    return XContentParseError(f"[{parser}] {field} doesn't support values of type: {token(value)}")


def failed_field(parser: str, field: str, cause: str) -> XContentParseError:
    return XContentParseError(
        f"[{parser}] failed to parse field [{field}]", caused_by=IllegalArgumentError(cause)
    )


def as_object(parser: str, field: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise wrong_type(parser, field, value)
    return value


def as_list(parser: str, field: str, value: Any) -> list[Any]:
    """An array; a single value stands for a one-element array, as in ES's object parsers."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        raise wrong_type(parser, field, value)
    return [value]


def as_str(parser: str, field: str, value: Any) -> str:
    """A string; numbers and booleans are accepted as their text (ES's ``text()`` does so)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise wrong_type(parser, field, value)


def as_bool(parser: str, field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise failed_field(
            parser,
            field,
            f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
        )
    raise wrong_type(parser, field, value)


def as_int(
    parser: str,
    field: str,
    value: Any,
    *,
    lo: int = INT_MIN,
    hi: int = INT_MAX,
) -> int:
    """A whole number within ``[lo, hi]`` (a 32-bit int unless told); a numeric string and a
    float with no fraction are accepted, as ES coerces them."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong_type(parser, field, value)
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise failed_field(parser, field, f'For input string: "{value}"')
        number = int(value)
    else:
        try:
            number = int(value.strip())
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                raise failed_field(parser, field, f'For input string: "{value}"') from None
            if not math.isfinite(as_float) or as_float != int(as_float):
                raise failed_field(parser, field, f'For input string: "{value}"') from None
            number = int(as_float)
    if not lo <= number <= hi:
        kind = "int" if (lo, hi) == (INT_MIN, INT_MAX) else "long"
        raise failed_field(parser, field, f"Numeric value ({value}) out of range of {kind}")
    return number


def as_long(parser: str, field: str, value: Any) -> int:
    return as_int(parser, field, value, lo=LONG_MIN, hi=LONG_MAX)


def as_float(parser: str, field: str, value: Any) -> float:
    """A finite number (a numeric string is accepted)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong_type(parser, field, value)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise failed_field(parser, field, f'For input string: "{value}"') from None
    if not math.isfinite(number):
        raise failed_field(parser, field, f"[{field}] must be a finite number but was [{value}]")
    return number


# How deeply a request body (other than a document, see index.mapping) may nest. ES's parser
# allows 1000 levels; bodies here are stored (settings, metadata, alias filters) and sent back
# (aggregation ``meta``) through a JSON encoder that stops at 254, and walked by code that must
# not meet Python's recursion limit. The deepest legitimate bodies (30 nested queries, 40 nested
# aggregations) need well under this.
MAX_BODY_DEPTH = 200


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def did_you_mean(unknown: str, candidates: Iterable[str], *, threshold: float = 0.5) -> str:
    """ES's "did you mean" tail (its parsers' and REST handlers' suggestions): the candidates
    whose Lucene Levenshtein similarity (1 - distance / longer length) is above ``threshold``
    (0.5; ES's settings validation asks for 0.7), best first, then by name; ``""`` when none
    is close."""
    scored = []
    for candidate in set(candidates):
        longest = max(len(unknown), len(candidate))
        similarity = 1.0 - _levenshtein(unknown, candidate) / longest if longest else 1.0
        if similarity > threshold:
            scored.append((-similarity, candidate))
    names = [c for _, c in sorted(scored)]
    if not names:
        return ""
    if len(names) == 1:
        return f" did you mean [{names[0]}]?"
    return f" did you mean any of [{', '.join(names)}]?"


def unknown_field(
    parser: str,
    key: str,
    candidates: Iterable[str],
    error: type[IsthmusError] = XContentParseError,
) -> IsthmusError:
    """ES's object-parser error for a key the parser does not declare:
    ``[<parser>] unknown field [<key>]`` with its "did you mean" over ``candidates`` (the
    parser's declared fields, ES's full list even where Isthmus implements fewer). ``error`` is
    the exception the ES parser's caller lets out (``x_content_parse_exception`` for an
    ObjectParser read directly, ``parsing_exception`` where a query/aggregation parser wraps it)."""
    return error(f"[{parser}] unknown field [{key}]{did_you_mean(key, candidates)}")


def check_depth(value: Any, limit: int = MAX_BODY_DEPTH) -> None:
    """Refuse a parsed body nested deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise XContentParseError(
                f"Document nesting depth ({depth}) exceeds the maximum allowed ({limit})"
            )
        for child in node.values() if isinstance(node, Mapping) else node:
            if isinstance(child, Mapping | list):
                stack.append((child, depth + 1))
