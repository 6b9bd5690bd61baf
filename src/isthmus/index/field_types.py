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
LEAF_TYPES = frozenset({TEXT, KEYWORD, DATE, BOOLEAN, *INTEGER_TYPES, *FLOAT_TYPES})
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

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_integer(self) -> bool:
        return self.type in INTEGER_TYPES

    @property
    def aggregatable(self) -> bool:
        return self.type != TEXT
