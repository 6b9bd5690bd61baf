"""Search hits as the response shows them: source filtering, field-level security,
``fields``/``docvalue_fields``, highlight, sort values, matched queries, explanations, and the
``inner_hits`` of collapsed hits and nested queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from isthmus.actions.search_collapse import inner_hits_request, sort_members
from isthmus.actions.search_shard import ShardHit
from isthmus.actions.search_targets import PartialSearch, SearchTargets, _restriction
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.rawjson import RawJson
from isthmus.search import nested
from isthmus.search.collapse import InnerHits
from isthmus.search.fetch_fields import docvalue_fields, fetch_fields
from isthmus.search.highlight import highlight
from isthmus.search.index_field import qualified_index
from isthmus.search.matched_queries import MatchedQueries
from isthmus.search.request import SearchRequest
from isthmus.search.response import hits_section
from isthmus.search.source_filter import filter_source
from isthmus.security.field_level import IndexRestriction, IndexRestrictions


class SearchHits(SearchTargets):
    """Rendering hits (and the ``hits`` section) of searches and scroll pages."""

    def render_hits(
        self,
        req: SearchRequest,
        partial: PartialSearch,
        hits: list[ShardHit],
        restrictions: IndexRestrictions | None = None,
    ) -> list[dict[str, Any]]:
        """Hits as the response shows them (source filtering, FLS, highlight, sort values)."""
        named = self._named(req)
        return [
            self._render_hit(
                req,
                h,
                partial.mappings[h.index],
                _restriction(restrictions, h.index),
                named,
                partial.cluster_alias,
            )
            for h in hits
        ]

    def _named(self, req: SearchRequest) -> MatchedQueries | None:
        named = MatchedQueries(req.query, req.post_filter, int(self.clock() * 1000))
        return named if named else None

    def _hits_section(
        self,
        req: SearchRequest,
        page: list[ShardHit],
        total: int,
        max_score: float | None,
        mappings: Mapping[str, IndexMapping],
        restrictions: IndexRestrictions | None = None,
    ) -> dict[str, Any]:
        named = self._named(req)
        rendered = [
            self._render_hit(req, h, mappings[h.index], _restriction(restrictions, h.index), named)
            for h in page
        ]
        return hits_section(req, rendered, total, max_score)

    def _render_hit(
        self,
        req: SearchRequest,
        hit: ShardHit,
        mapping: IndexMapping,
        restriction: IndexRestriction | None = None,
        named: MatchedQueries | None = None,
        cluster_alias: str | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if req.explain:  # ES names the shard and node that scored an explained hit first
            # ES writes the shard id, whose index name is the one its cluster knows (no alias).
            out["_shard"] = f"[{hit.index.rpartition(':')[2]}][{hit.shard}]"
            out["_node"] = self.node_id
        out["_index"] = hit.index
        if not req.stored_fields_none:  # `_none_` drops the metadata fields, _id included
            out["_id"] = hit.doc_id
        if req.version:
            out["_version"] = hit.version
        if req.seq_no_primary_term:
            out["_seq_no"] = hit.seq_no
            out["_primary_term"] = hit.primary_term
        out["_score"] = hit.score
        if hit.routing is not None:  # ES's SearchHit: metadata fields after the score
            out["_routing"] = hit.routing
        source: Mapping[str, Any] | None = None
        wants_fields = bool(req.fields or req.docvalue_fields)
        needs_source = wants_fields or named is not None
        if (
            req.source.enabled
            and restriction is None
            and req.highlight is None
            and not needs_source
            and not req.source.includes
            and not req.source.excludes
        ):
            # The document as stored, never re-encoded (another cluster's bytes are checked).
            out["_source"] = (
                RawJson.checked(hit.source) if ":" in hit.index else RawJson(hit.source)
            )
        elif req.source.enabled or req.highlight is not None or needs_source:
            source = orjson.loads(hit.source)
            if restriction is not None:
                source = restriction.source(source)
        if req.source.enabled and source is not None:
            if req.source.includes or req.source.excludes:
                out["_source"] = filter_source(source, req.source.includes, req.source.excludes)
            else:
                out["_source"] = source
        if wants_fields and source is not None:
            values = fetch_fields(source, mapping, req.fields)
            for name, found in docvalue_fields(source, mapping, req.docvalue_fields).items():
                values.setdefault(name, found)
            if values:
                out["fields"] = values
        if req.highlight is not None and source is not None:
            marked = highlight(source, mapping, req.query, req.highlight)
            if marked:
                out["highlight"] = marked
        if hit.sort is not None:
            out["sort"] = hit.sort
        if req.include_named_scores:
            # ES shows each matched name with its score (an object, not a list).
            if hit.named_scores:
                out["matched_queries"] = hit.named_scores
        elif named is not None and source is not None:
            matched = named.of(
                hit.doc_id, source, mapping, qualified_index(cluster_alias, hit.index)
            )
            if matched:
                out["matched_queries"] = matched
        if req.explain and hit.explanation is not None:
            out["_explanation"] = hit.explanation
        if req.collapse is not None:
            # The collapse value is a field of the hit (after any the request fetched).
            fields = dict(out.pop("fields", {}))
            fields[req.collapse.field] = [hit.collapse_key]
            _insert_after(out, "_source" if "_source" in out else "_score", "fields", fields)
            if req.collapse.inner_hits and hit.group is not None:
                out["inner_hits"] = {
                    spec.name: self._inner_hits(req, spec, hit.group, mapping, restriction)
                    for spec in req.collapse.inner_hits
                }
        if nested.asks_inner_hits(req.query):
            # A nested query's inner_hits: the hit's matching objects, as the caller sees them.
            visible = orjson.loads(hit.source)
            query = req.query
            if restriction is not None:
                visible, query = restriction.source(visible), restriction.query(query, mapping)
            now_ms = int(self.clock() * 1000)
            objects = nested.inner_hits(
                query, hit.index, hit.doc_id, visible, mapping, now_ms, hit.inner_scores
            )
            out.setdefault("inner_hits", {}).update(objects)
        return out

    def _inner_hits(
        self,
        req: SearchRequest,
        spec: InnerHits,
        group: list[ShardHit],
        mapping: IndexMapping,
        restriction: IndexRestriction | None,
    ) -> dict[str, Any]:
        """One ``inner_hits`` entry of a collapsed hit: its group's hits in the entry's order."""
        inner_req = inner_hits_request(req, spec)
        members = sort_members(group, inner_req.sort, mapping)
        page = members[spec.from_ : spec.from_ + spec.size]
        scores = [h.score for h in group if h.score is not None]
        rendered = [self._render_hit(inner_req, h, mapping, restriction) for h in page]
        return {
            "hits": {
                "total": {"value": len(group), "relation": "eq"},
                "max_score": max(scores) if scores and not inner_req.sort else None,
                "hits": rendered,
            }
        }


def _insert_after(out: dict[str, Any], anchor: str, key: str, value: Any) -> None:
    """Put ``key`` right after ``anchor`` (ES writes a hit's sections in a fixed order)."""
    items = list(out.items())
    out.clear()
    for k, v in items:
        out[k] = v
        if k == anchor:
            out[key] = value
    out.setdefault(key, value)
