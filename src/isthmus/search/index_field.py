"""The ``_index`` metadata field in queries.  [no I/O]

``_index`` is not indexed: every document of a shard has the same value, the shard's index name.
So a query on it is decided once per shard, before any document is looked at: it matches every
document of the shard or none. ES allows ``term``, ``terms``, ``match`` (rewritten to a term),
``prefix``, ``wildcard`` (``*`` only, as ES's simple match) and ``exists``; other term-level
queries on it are refused as on any field that has no terms.

A shard searched for another cluster (cross-cluster search) holds its fully qualified name,
``<cluster alias>:<index>``, as ES's remote shards do: a pattern then matches only when it names
a cluster (``r:logs``, ``*:logs``, ``r:lo*``), its cluster part matching the alias and its index
part the index; a pattern without ``:`` matches local shards only.
"""

from __future__ import annotations

from typing import Any

from isthmus.errors import QueryShardError
from isthmus.search import dsl

INDEX_FIELD = "_index"
_QUERY_NAMES = {dsl.Regexp: "regexp", dsl.Fuzzy: "fuzzy"}


def is_index_field_query(query: dsl.Query) -> bool:
    return getattr(query, "field", None) == INDEX_FIELD


def index_field_matches(query: dsl.Query, index: str) -> bool:
    """Whether the shard of ``index`` matches ``query`` (a query on ``_index``)."""
    if isinstance(query, dsl.Term):
        return _equal(index, query.value, query.case_insensitive)
    if isinstance(query, dsl.Terms):
        return any(_equal(index, v, False) for v in query.values)
    if isinstance(query, dsl.Match):
        return _equal(index, query.query, False)
    if isinstance(query, dsl.MatchPhrase):
        return _equal(index, query.query, False)
    if isinstance(query, dsl.Prefix):
        return _pattern_match(index, _as_text(query.value) + "*", query.case_insensitive)
    if isinstance(query, dsl.Wildcard):
        return _pattern_match(index, query.value, query.case_insensitive)
    if isinstance(query, dsl.Exists):
        return True
    if isinstance(query, dsl.Range):
        raise QueryShardError("Field [_index] of type [_index] does not support range queries")
    name = _QUERY_NAMES.get(type(query), type(query).__name__.lower())
    raise QueryShardError(
        f"Can only use {name} queries on keyword and text fields - not on [_index] which is of "
        "type [_index]"
    )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equal(index: str, value: Any, case_insensitive: bool) -> bool:
    text = _as_text(value)
    return index.lower() == text.lower() if case_insensitive else index == text


def qualified_index(cluster_alias: str | None, index: str) -> str:
    """The name ``_index`` holds on a shard searched for cluster ``cluster_alias`` (None: a
    local search): ``<alias>:<index>``. Index names never contain ``:``, so it splits back."""
    return index if cluster_alias is None else f"{cluster_alias}:{index}"


def _pattern_match(index: str, pattern: str, case_insensitive: bool) -> bool:
    """``pattern`` against a shard's (possibly qualified) index name, each side of ``:`` on its
    own (see the module docstring)."""
    cluster, _, name = index.rpartition(":")
    pattern_cluster, colon, pattern_name = pattern.partition(":")
    if not colon:
        return not cluster and _simple_match(index, pattern, case_insensitive)
    return (
        bool(cluster)
        # As ES, case_insensitive lowers the pattern (index names are lower case), not the alias.
        and _simple_match(
            cluster, pattern_cluster.lower() if case_insensitive else pattern_cluster, False
        )
        and _simple_match(name, pattern_name, case_insensitive)
    )


def _simple_match(index: str, pattern: str, case_insensitive: bool) -> bool:
    """ES's simple match: ``*`` stands for any run of characters, nothing else is special."""
    if case_insensitive:
        index, pattern = index.lower(), pattern.lower()
    parts = pattern.split("*")
    if len(parts) == 1:
        return index == pattern
    if not index.startswith(parts[0]) or not index.endswith(parts[-1]):
        return False
    pos = len(parts[0])
    end = len(index) - len(parts[-1])
    for part in parts[1:-1]:
        found = index.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return pos <= end
