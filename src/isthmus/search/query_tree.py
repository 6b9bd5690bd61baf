"""The typed query tree that ``search.dsl`` parses JSON bodies into.  [no I/O]

One frozen dataclass per query Elasticsearch names; back-ends (``search.translate``,
``search.evaluate``) walk the tree. Parsing and validation live in ``search.dsl`` and the
parser modules it dispatches to; reach these types through ``search.dsl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Query:
    boost: float = 1.0
    # ``_name``: a named query reports in a hit's ``matched_queries`` whether the hit matches it.
    # A label, not part of what the query matches: equal queries stay equal whatever their name.
    name: str | None = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class MatchAll(Query):
    pass


@dataclass(frozen=True)
class MatchNone(Query):
    pass


@dataclass(frozen=True)
class Term(Query):
    field: str = ""
    value: Any = None
    case_insensitive: bool = False


@dataclass(frozen=True)
class Terms(Query):
    field: str = ""
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Match(Query):
    field: str = ""
    query: Any = None
    operator: str = "or"
    minimum_should_match: str | int | None = None
    fuzziness: str | int | None = None
    prefix_length: int = 0
    zero_terms_query: str = "none"
    lenient: bool = False


@dataclass(frozen=True)
class MatchBoolPrefix(Match):
    """``match_bool_prefix``: the analysed terms as a ``match`` would, the last one as a
    prefix."""


@dataclass(frozen=True)
class MatchPhrase(Query):
    field: str = ""
    query: str = ""
    slop: int = 0
    prefix: bool = False
    max_expansions: int = 50


@dataclass(frozen=True)
class MultiMatch(Query):
    query: Any = None
    fields: tuple[tuple[str, float], ...] = ()
    type: str = "best_fields"
    operator: str = "or"
    minimum_should_match: str | int | None = None
    fuzziness: str | int | None = None
    slop: int = 0
    tie_breaker: float = 0.0
    lenient: bool = False


@dataclass(frozen=True)
class Range(Query):
    field: str = ""
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None
    format: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class Exists(Query):
    field: str = ""


@dataclass(frozen=True)
class Ids(Query):
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prefix(Query):
    field: str = ""
    value: str = ""
    case_insensitive: bool = False


@dataclass(frozen=True)
class Wildcard(Query):
    field: str = ""
    value: str = ""
    case_insensitive: bool = False


@dataclass(frozen=True)
class Regexp(Query):
    field: str = ""
    value: str = ""
    case_insensitive: bool = False
    max_determinized_states: int = 10000  # Lucene's determinization work limit (term_patterns)


@dataclass(frozen=True)
class Fuzzy(Query):
    field: str = ""
    value: Any = None
    fuzziness: str | int = "AUTO"
    prefix_length: int = 0
    transpositions: bool = True


@dataclass(frozen=True)
class Bool(Query):
    must: tuple[Query, ...] = ()
    should: tuple[Query, ...] = ()
    must_not: tuple[Query, ...] = ()
    filter: tuple[Query, ...] = ()
    minimum_should_match: str | int | None = None


@dataclass(frozen=True)
class ConstantScore(Query):
    filter: Query = field(default_factory=MatchAll)


@dataclass(frozen=True)
class DisMax(Query):
    queries: tuple[Query, ...] = ()
    tie_breaker: float = 0.0


def named_queries(query: Query | None) -> list[Query]:
    """Every query in the tree with a ``_name``, in tree order."""
    out: list[Query] = []
    stack: list[Any] = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(reversed(node))
        elif isinstance(node, Query):
            if node.name is not None:
                out.append(node)
            stack.extend(
                reversed([getattr(node, f.name) for f in fields(node) if f.name != "name"])
            )
    return out
