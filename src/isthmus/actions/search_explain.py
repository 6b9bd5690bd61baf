"""``GET /<index>/_explain/<id>``: how one document scores against a query (or why not).

The index is one index or an alias of one; the document's shard is found by ``routing`` (its id
by default), the document by its id in that shard's current view. The query is the body's
``query`` or the ``q`` parameter; none is ES's validation error. Document-level security narrows
the query as for a search, so a document the caller may not see does not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import tantivy

from isthmus.actions.search_shard import build_query, find_doc, hit_count
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId, index_shard
from isthmus.cluster.service import ClusterService
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IndexNotFoundError,
    ParsingError,
)
from isthmus.index.service import IndicesService
from isthmus.search.explain import explain_response, explanation_json
from isthmus.search.request import parse_source, query_of
from isthmus.search.source_filter import filter_source
from isthmus.security.field_level import IndexRestriction

_BODY_KEYS = ("query",)


def single_index(cluster: ClusterService, name: str) -> IndexMetadata:
    """The one index ``name`` means (an index, or an alias of exactly one)."""
    state = cluster.state
    meta = state.indices.get(name)
    if meta is not None:
        return meta
    aliases = state.aliases().get(name)
    if not aliases:
        raise IndexNotFoundError(name)
    if len(aliases) > 1:
        raise IllegalArgumentError(
            f"alias [{name}] has more than one index associated with it "
            f"[{', '.join(sorted(a.name for a in aliases))}], can't execute a single index op"
        )
    return aliases[0]


async def explain(
    cluster: ClusterService,
    indices: IndicesService,
    index: str,
    doc_id: str,
    body: Mapping[str, Any] | None,
    params: Mapping[str, str],
    restriction: IndexRestriction | None,
    now_ms: int,
) -> tuple[int, dict[str, Any]]:
    """The status and body of an ``_explain`` request (404 when the document is not there)."""
    for key in body or {}:
        if key not in _BODY_KEYS:
            raise ParsingError(f"request does not support [{key}]")
    query = query_of(body, params)
    if query is None:
        raise ActionRequestValidationError("Validation Failed: 1: query is missing;")
    meta = single_index(cluster, index)
    number = index_shard(params.get("routing") or doc_id, meta.settings)
    shard = indices.shard(ShardId(meta.uuid, number, meta.name))
    if shard is None:
        raise IllegalArgumentError(f"shard [{meta.name}][{number}] is not available on this node")
    schema, searcher = shard.engine.view()

    def run() -> tuple[int, dict[str, Any]]:
        addr = find_doc(searcher, schema, doc_id)
        if addr is None:
            return 404, explain_response(meta.name, doc_id, None, found=False)
        tq = build_query(
            query, schema, meta.mapping, now_ms, None, restriction, meta.name, searcher
        )
        this_doc = tantivy.Query.term_query(schema.schema, "_id", doc_id)
        both = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tq), (tantivy.Occur.Must, this_doc)]
        )
        matched = hit_count(searcher.search(both, 1, count=True)) > 0
        explanation = explanation_json(tq.explain(searcher, addr).to_json()) if matched else None
        out = explain_response(meta.name, doc_id, explanation, found=True)
        source_filter = parse_source(params.get("_source"))
        includes = [p for p in params.get("_source_includes", "").split(",") if p]
        excludes = [p for p in params.get("_source_excludes", "").split(",") if p]
        asked = "_source" in params or includes or excludes
        if asked and source_filter.enabled:
            # ES adds the document as a get would show it when the request asks for _source.
            doc = searcher.doc(addr)
            source = orjson.loads(bytes(doc.get_first("_src") or b"{}"))
            if restriction is not None:
                source = restriction.source(source)
            inc = includes or list(source_filter.includes)
            out["get"] = {
                "_seq_no": int(doc.get_first("_seq_no") or 0),
                "_primary_term": int(doc.get_first("_primary_term") or 0),
                "found": True,
                "_source": filter_source(source, inc, excludes) if inc or excludes else source,
            }
        return 200, out

    result: tuple[int, dict[str, Any]] = await indices.run_search(run)
    return result


__all__ = ["explain", "single_index"]
