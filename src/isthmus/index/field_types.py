"""Field types of a mapping: the ES type names and :class:`FieldSpec`.  [no I/O]"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from isthmus.index.dates import DEFAULT_DATE_FORMAT

TEXT = "text"
KEYWORD = "keyword"
DATE = "date"
# Dynamic mapping's second date format (``2024/01/02``); a marker, never a mapped type.
SLASH_DATE = "date/slash"
SLASH_DATE_FORMAT = "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd"
BOOLEAN = "boolean"
OBJECT = "object"
INTEGER_TYPES: dict[str, tuple[int, int]] = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
FLOAT_TYPES = ("double", "float", "half_float", "scaled_float")
SCALED_FLOAT = "scaled_float"
# 0 to 2^64-1: its own tantivy field kind (u64), an integer everywhere else.
UNSIGNED_LONG = "unsigned_long"
INTEGER_TYPES[UNSIGNED_LONG] = (0, 2**64 - 1)
IP = "ip"
# Nanosecond dates: epoch nanoseconds (ES's range: 1970 to 2262, what a long holds).
DATE_NANOS = "date_nanos"
# Types that behave as ``keyword`` in every query, aggregation and sort: their FieldSpec says
# ``keyword`` and keeps the mapped name in ``mapped_type``. ``constant_keyword`` has the one value
# of its mapping for every document of the index; ``wildcard`` is a keyword tuned (in ES) for
# pattern queries; ``flattened`` indexes every leaf value of an object as a keyword, and each
# ``field.key`` sub-path as a keyword of its own (see ``Mapping.field``).
CONSTANT_KEYWORD = "constant_keyword"
WILDCARD = "wildcard"
FLATTENED = "flattened"
KEYWORD_LIKE = {CONSTANT_KEYWORD: KEYWORD, WILDCARD: KEYWORD, FLATTENED: KEYWORD}
# ``alias``: another name for an existing field, resolved wherever a field is named.
ALIAS = "alias"
# A latitude/longitude pair (index.geo); its object and array forms are one value, not leaves.
GEO_POINT = "geo_point"
# A vector of numbers (index.vectors), one value; searched by knn, not indexed for other queries.
DENSE_VECTOR = "dense_vector"
# Suggestion inputs with weights (index.completion), for the completion suggester.
COMPLETION = "completion"
LEAF_TYPES = frozenset(
    {
        TEXT,
        KEYWORD,
        DATE,
        BOOLEAN,
        IP,
        DATE_NANOS,
        GEO_POINT,
        DENSE_VECTOR,
        COMPLETION,
        *INTEGER_TYPES,
        *FLOAT_TYPES,
        *KEYWORD_LIKE,
    }
)
NUMERIC_TYPES = frozenset({*INTEGER_TYPES, *FLOAT_TYPES})
LEAF_PARAMS = {
    TEXT: {
        "analyzer",
        "search_analyzer",
        "index",
        "store",
        "fields",
        "norms",
        "fielddata",
        "copy_to",
        "similarity",
        "position_increment_gap",
        "boost",
        "index_options",
        "term_vector",
        "meta",
    },
    KEYWORD: {
        "ignore_above",
        "index",
        "store",
        "doc_values",
        "fields",
        "null_value",
        "normalizer",
        "copy_to",
        "boost",
        "meta",
        "eager_global_ordinals",
        "split_queries_on_whitespace",
    },
    DATE: {
        "format",
        "index",
        "store",
        "doc_values",
        "fields",
        "null_value",
        "ignore_malformed",
        "copy_to",
        "boost",
        "meta",
        "locale",
    },
    BOOLEAN: {"index", "store", "doc_values", "fields", "null_value", "copy_to", "boost", "meta"},
    IP: {"index", "store", "doc_values", "fields", "null_value", "ignore_malformed", "meta"},
    CONSTANT_KEYWORD: {"value", "meta"},
    WILDCARD: {"ignore_above", "null_value", "meta"},
    FLATTENED: {
        "depth_limit",
        "doc_values",
        "eager_global_ordinals",
        "ignore_above",
        "index",
        "index_options",
        "null_value",
        "similarity",
        "split_queries_on_whitespace",
        "meta",
    },
}
LEAF_PARAMS[DATE_NANOS] = LEAF_PARAMS[DATE]
LEAF_PARAMS[DENSE_VECTOR] = {"dims", "index", "similarity", "index_options", "element_type", "meta"}
LEAF_PARAMS[COMPLETION] = {
    "analyzer",
    "search_analyzer",
    "preserve_separators",
    "preserve_position_increments",
    "max_input_length",
    "contexts",
    "meta",
}
LEAF_PARAMS[GEO_POINT] = {
    "ignore_malformed",
    "ignore_z_value",
    "index",
    "null_value",
    "doc_values",
    "store",
    "meta",
}
NUMBER_PARAMS = {
    "index",
    "store",
    "doc_values",
    "fields",
    "null_value",
    "coerce",
    "ignore_malformed",
    "copy_to",
    "boost",
    "meta",
    "scaling_factor",
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One searchable leaf field.

    ``path`` is how queries name it (``title.keyword``); ``source_path`` is where its values live
    in ``_source`` (``title`` for that multi-field).
    """

    path: str
    type: str
    source_path: str
    format: str = DEFAULT_DATE_FORMAT
    ignore_above: int | None = None
    indexed: bool = True
    null_value: Any = None  # indexed in place of an explicit JSON null
    ignore_malformed: bool = False  # a value that does not parse is skipped, not an error
    mapped_type: str = ""  # the mapping's type when ``type`` is the one it behaves as
    scaling_factor: float | None = None  # scaled_float: values are stored as round(v * f) / f
    constant: str | None = None  # constant_keyword: the value every document has
    flattened_key: str | None = None  # ``labels.priority`` of a flattened ``labels``: ``priority``
    dims: int | None = None  # dense_vector: the vector length (None until the first document)
    similarity: str | None = None  # dense_vector: knn's similarity (None: not indexed)
    element_type: str = "float"  # dense_vector: what an element holds (byte: an int8)
    depth_limit: int | None = None  # flattened: how deeply its objects may nest (ES: 20)

    @property
    def es_type(self) -> str:
        """The type as the mapping names it (``wildcard``, where ``type`` says ``keyword``)."""
        return self.mapped_type or self.type

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_integer(self) -> bool:
        return self.type in INTEGER_TYPES

    @property
    def aggregatable(self) -> bool:
        return self.type != TEXT
