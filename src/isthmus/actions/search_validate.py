"""``_validate/query``: build a query on the shards without running it.

Each index's query is built on one of its shards (all of them with ``all_shards``), with its
alias filters; an index where building fails makes the answer ``valid: false``. The rules and
the response's text forms are :mod:`isthmus.search.validate`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from isthmus.actions.search_shard import build_query
from isthmus.cluster.resolve import IndicesOptions, Resolved, resolve
from isthmus.cluster.service import ClusterService
from isthmus.errors import IsthmusError, ParsingError
from isthmus.index.service import IndicesService
from isthmus.search import dsl
from isthmus.search.request import query_of
from isthmus.search.validate import BODY_KEYS, error_text, invalid_body, lucene_text
from isthmus.security.field_level import IndexRestriction, IndexRestrictions

_OPTIONS = IndicesOptions(ignore_unavailable=False, allow_no_indices=True)

# In a cluster of several nodes: an index with no copy on this node, validated by a node holding
# one (its entries, see actions/search_routed.py).
Elsewhere = Callable[[Resolved, IndexRestriction | None], Awaitable[list[dict[str, Any]]]]


async def validate_query(
    cluster: ClusterService,
    indices: IndicesService,
    expression: str | None,
    body: Mapping[str, Any] | None,
    params: Mapping[str, str],
    restrictions: IndexRestrictions | None,
    now_ms: int,
    elsewhere: Elsewhere | None = None,
) -> dict[str, Any]:
    # ``rewrite`` shows the query as the shard runs it: the same text here.
    explain = params.get("explain") == "true" or params.get("rewrite") == "true"
    targets = resolve(
        cluster.state, expression, IndicesOptions.from_params(params, default=_OPTIONS)
    )
    try:
        query = query_to_validate(body, params)
    except IsthmusError as exc:
        return invalid_body(exc, explain)
    all_shards = params.get("all_shards") == "true"
    explanations: list[dict[str, Any]] = []
    shards = 0
    for target in targets:
        meta = target.index
        restriction = None if restrictions is None else restrictions.of(meta.name)
        chosen = list(indices.shards_of(meta))
        if not chosen and elsewhere is not None:
            # A cluster of several nodes: no copy here, a node holding one builds it.
            entries = await elsewhere(target, restriction)
        else:
            entries = validate_on_shards(
                target, chosen if all_shards else chosen[:1], query, restriction, now_ms, all_shards
            )
        shards += len(entries)
        explanations.extend(entries)
    valid = all(e["valid"] for e in explanations)
    out: dict[str, Any] = {
        "valid": valid,
        "_shards": {"total": shards, "successful": shards, "failed": 0},
    }
    if explain:
        out["explanations"] = explanations
    return out


def query_to_validate(body: Mapping[str, Any] | None, params: Mapping[str, str]) -> dsl.Query:
    """The request's query (its body's keys checked first); match_all when none is given."""
    for key in body or {}:
        if key not in BODY_KEYS:
            raise ParsingError(f"request does not support [{key}]")
    return query_of(body, params) or dsl.MatchAll()


def validate_on_shards(
    target: Resolved,
    shards: list[Any],
    query: dsl.Query,
    restriction: IndexRestriction | None,
    now_ms: int,
    all_shards: bool,
) -> list[dict[str, Any]]:
    """One index's entries: the query built on each of ``shards`` (held on this node)."""
    meta = target.index
    out: list[dict[str, Any]] = []
    for shard in shards:
        entry: dict[str, Any] = {"index": meta.name}
        if all_shards:
            entry["shard"] = shard.shard_id.shard
        schema, searcher = shard.engine.view()
        filters = list(target.filters) if target.filters else None
        try:
            build_query(
                query, schema, meta.mapping, now_ms, filters, restriction, meta.name, searcher
            )
        except IsthmusError as exc:
            entry.update({"valid": False, "error": error_text(exc)})
        else:
            entry.update({"valid": True, "explanation": lucene_text(query, meta.mapping)})
        out.append(entry)
    return out


__all__ = ["Elsewhere", "query_to_validate", "validate_on_shards", "validate_query"]
