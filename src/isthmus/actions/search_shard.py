"""The per-shard query and fetch phase of a search (runs in the search thread pool).

Given one shard's point-in-time view (schema + searcher), a parsed request, the alias
filters and the index's DLS/FLS restriction, produce the shard's candidate hits in request
order, its total, and — when the request aggregates — every matching document for the
aggregation phase. Alias filters and DLS role queries narrow the query as zero-score filters;
FLS turns clauses on hidden fields into ``match_none`` and hidden sort fields into missing
values (``_source`` is filtered where hits are rendered). Three paths:

* score order (the default): tantivy's top-k collector, ``from + size`` deep;
* one field sort without ``search_after``: tantivy's fast-field ordering (missing values last, as
  ES's default ``missing: _last``);
* anything else (several sort keys, ``search_after``, custom ``missing``, ``min_score``, scroll):
  every match is collected and ordered here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import tantivy

from isthmus.errors import IllegalArgumentError, QueryShardError
from isthmus.index.field_types import COMPLETION, DENSE_VECTOR
from isthmus.index.mapping import DATE, FLOAT_TYPES, INTEGER_TYPES, TEXT, Mapping, source_values
from isthmus.index.schema import IndexSchema, indexed_value
from isthmus.search import dsl, nested
from isthmus.search.aggs_core import id_fielddata_error
from isthmus.search.collapse import check_collapse_field
from isthmus.search.dfs import TermStats
from isthmus.search.dfs_rescore import DfsView, dfs_scored, dfs_view, global_explanation
from isthmus.search.explain import explanation_json
from isthmus.search.fetch_fields import check_docvalue_fields
from isthmus.search.geo_queries import check_sort_field, geo_sort_value
from isthmus.search.index_field import qualified_index
from isthmus.search.request import SearchRequest, SortField
from isthmus.search.rescore import QueryRescorer, check_window
from isthmus.search.response import compare_keys
from isthmus.search.term_patterns import DEFAULT_MAX_REGEX_LENGTH, check_query_patterns
from isthmus.search.translate import Translator
from isthmus.security.field_level import IndexRestriction

LONG_MAX = 2**63 - 1
# Sort keys a shard computes without reading the document.
_SOURCELESS_SORTS = frozenset({"_score", "_doc", "_shard_doc", "_index"})
LONG_MIN = -(2**63)


@dataclass(slots=True)
class ShardHit:
    index: str
    shard: int
    doc_id: str
    score: float | None
    source: bytes
    seq_no: int
    version: int
    primary_term: int
    sort: list[Any] | None = None
    order: int = 0  # position in the shard, the final tie-breaker
    # With ``collapse``: the value the hit stands for, and its group's hits (best first) when
    # the request shows inner hits.
    collapse_key: Any = None
    group: list[ShardHit] | None = None
    explanation: dict[str, Any] | None = None  # with ``explain``: how the score came about
    # With ``include_named_queries_score``: each named query the hit matches, with its score.
    named_scores: dict[str, float] | None = None
    routing: str | None = None  # the document's ``_routing``, when it was written with one
    # With a nested query's ``inner_hits``: by inner hits name, each object's score (offset).
    inner_scores: dict[str, dict[int, float]] | None = None


@dataclass
class ShardResult:
    index: str
    shard: int
    total: int
    max_score: float | None
    hits: list[ShardHit]
    agg_sources: list[tuple[str, float | None, bytes]] = field(default_factory=list)
    # With ``terminate_after``: whether collection stopped before every match (else None).
    terminated_early: bool | None = None
    # The can-match pre-filter skipped the shard (asked of another cluster's shard): no hits.
    skipped: bool = False


def hit_count(result: tantivy.SearchResult) -> int:
    """The total of a ``search(count=True)`` (missing from tantivy's type stubs)."""
    return int(getattr(result, "count"))  # noqa: B009


def stored_fields(doc: tantivy.Document) -> tuple[str, bytes, int, int, int, str | None]:
    """``_id``, ``_src``, ``_seq_no``, ``_version``, ``_primary_term`` and ``_routing`` (None
    when the document has none) of a stored document."""
    routing = doc.get_first("_routing")
    return (
        str(doc.get_first("_id")),
        bytes(doc.get_first("_src") or b""),
        int(doc.get_first("_seq_no") or 0),
        int(doc.get_first("_version") or 0),
        int(doc.get_first("_primary_term") or 0),
        None if routing is None else str(routing),
    )


def _fetch(
    searcher: tantivy.Searcher, addr: tantivy.DocAddress
) -> tuple[str, bytes, int, int, int, str | None]:
    return stored_fields(searcher.doc(addr))


def build_query(
    req_query: dsl.Query,
    schema: IndexSchema,
    mapping: Mapping,
    now_ms: int,
    filters: Sequence[dict[str, Any]] | None,
    restriction: IndexRestriction | None = None,
    index: str = "",
    searcher: tantivy.Searcher | None = None,
) -> tantivy.Query:
    """The request's query (FLS applied), narrowed by alias filters and DLS levels."""
    tr, gates = narrowed_translator(schema, mapping, now_ms, filters, restriction, index, searcher)
    if restriction is not None:
        req_query = restriction.query(req_query, mapping)
    query = tr.translate(req_query)
    for either in gates:
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, query),
                (tantivy.Occur.Must, tantivy.Query.const_score_query(either, 0.0)),
            ]
        )
    return query


def narrowed_translator(
    schema: IndexSchema,
    mapping: Mapping,
    now_ms: int,
    filters: Sequence[dict[str, Any]] | None,
    restriction: IndexRestriction | None,
    index: str,
    searcher: tantivy.Searcher | None,
) -> tuple[Translator, list[tantivy.Query]]:
    """A translator for one shard whose knn clauses pick among what the alias filters and
    DLS admit, and those narrowing gates (each one zero-score conjunct of the query)."""
    tr = Translator(schema, mapping, now_ms, index, searcher)
    # Each narrowing is one zero-score conjunct: any alias filter, then each DLS level (one of
    # its role queries must match). Role queries see every field: FLS does not apply to them.
    narrowing: list[list[dsl.Query]] = []
    if filters:
        narrowing.append([dsl.parse_query(f) for f in filters])
    if restriction is not None:
        narrowing.extend(list(level) for level in restriction.queries)
    gates = [
        tantivy.Query.boolean_query([(tantivy.Occur.Should, tr.translate(q)) for q in alternatives])
        for alternatives in narrowing
    ]
    tr.prefilters = tuple(gates)  # knn picks its nearest among what they admit, as ES does
    return tr, gates


def _with_post_filter(query: tantivy.Query, post: tantivy.Query | None) -> tantivy.Query:
    if post is None:
        return query
    return tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Must, query),
            (tantivy.Occur.Must, tantivy.Query.const_score_query(post, 0.0)),
        ]
    )


def check_sort(req: SearchRequest, mapping: Mapping, index: str) -> None:
    for sort in req.sort:
        if sort.field in ("_score", "_doc", "_shard_doc", "_index"):
            continue
        if sort.field == "_id":
            raise id_fielddata_error()
        spec = mapping.field(sort.field)
        if check_sort_field(sort.field, sort.geo, spec):
            continue
        if spec is None:
            if sort.unmapped_type is None:
                raise QueryShardError(
                    f"No mapping found for [{sort.field}] in order to sort on",
                    extra={"index_uuid": "", "index": index},
                )
            continue
        if spec.type == TEXT:
            raise IllegalArgumentError(
                f"Fielddata is disabled on [{sort.field}] in [{index}]. Text fields are not "
                "optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please "
                "use a keyword field instead. Alternatively, set fielddata=true on "
                f"[{sort.field}] in order to load field data by uninverting the inverted index. "
                "Note that this can use significant memory."
            )
        if spec.type == DENSE_VECTOR:  # ES's VectorIndexFieldData.sortField
            raise IllegalArgumentError(
                f"Field [{spec.path}] of type [{DENSE_VECTOR}] doesn't support sort"
            )
        if spec.type == COMPLETION:  # no fielddata: MappedFieldType.fielddataBuilder
            raise IllegalArgumentError(
                f"Fielddata is not supported on field [{spec.path}] of type [{COMPLETION}]"
            )


def sort_value(source: dict[str, Any], sort: SortField, mapping: Mapping) -> Any:
    """The value a document sorts by for one key (ES default mode: min for asc, max for desc)."""
    spec = mapping.field(sort.field)
    if spec is None:
        return None
    values = source_values(source, spec)
    if sort.geo is not None:
        return geo_sort_value(values, sort.geo, sort.descending)
    if not values:
        return None
    return max(values) if sort.descending else min(values)


def render_missing(value: Any, sort: SortField, mapping: Mapping) -> Any:
    """ES shows a missing numeric/date sort value as the long extreme that sorts it last."""
    spec = mapping.field(sort.field)
    if value is not None:
        return indexed_value(spec, value) if spec is not None else value
    if spec is not None and (spec.type in INTEGER_TYPES or spec.type == DATE):
        return LONG_MIN if sort.descending else LONG_MAX
    if spec is not None and spec.type in FLOAT_TYPES:
        return float("-inf") if sort.descending else float("inf")
    return None


def query_shard(
    *,
    index: str,
    shard: int,
    schema: IndexSchema,
    searcher: tantivy.Searcher,
    mapping: Mapping,
    req: SearchRequest,
    filters: Sequence[dict[str, Any]] | None,
    now_ms: int,
    collect_all: bool = False,
    max_window: int = 10000,
    restriction: IndexRestriction | None = None,
    max_regex_length: int = DEFAULT_MAX_REGEX_LENGTH,
    index_boost: float = 1.0,
    cluster_alias: str | None = None,
    max_rescore_window: int = 10000,
    max_docvalue_fields: int = 100,
    shard_doc: Callable[[Any], int] | None = None,
    term_stats: TermStats | None = None,
) -> ShardResult:
    """Query (and fetch) one shard; see the module docstring for the three paths.
    ``index_boost`` (``indices_boost``) multiplies every score of the shard, as ES boosts the
    shard's query. ``cluster_alias`` is set when another cluster's search runs here: queries and
    sorts on ``_index`` then see ``<alias>:<index>``, as ES's remote shards do. ``shard_doc``
    (a point in time's reader) gives each document's ``_shard_doc`` value from its address.
    ``term_stats`` (``dfs_query_then_fetch``): every match is scored with these global term
    statistics (:mod:`isthmus.search.dfs`) instead of the shard's own."""
    doc_index = qualified_index(cluster_alias, index)
    if not collect_all and req.from_ + req.size > max_window:
        raise IllegalArgumentError(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{max_window}] but was [{req.from_ + req.size}]. See the scroll api for a more "
            "efficient way to request large data sets. This limit can be set by changing the "
            "[index.max_result_window] index level setting."
        )
    check_sort(req, mapping, index)
    check_docvalue_fields(mapping, req.docvalue_fields, index, max_docvalue_fields)
    if req.collapse is not None:
        # A field field-level security hides is not there to collapse on (nor to group by).
        visible = restriction is None or restriction.shows_field(req.collapse.field)
        check_collapse_field(req.collapse, mapping if visible else Mapping())
    if req.rescore:
        if req.sort and not req.sorts_by_score_only:
            raise IllegalArgumentError("Cannot use [sort] option in conjunction with [rescore].")
        check_window(req.rescore, max_rescore_window)
    # The index's regexp limits, as ES's shards apply them while building the query.
    check_query_patterns(req.query, max_regex_length)
    check_query_patterns(req.post_filter, max_regex_length)
    query = build_query(
        req.query, schema, mapping, now_ms, filters, restriction, doc_index, searcher
    )
    if index_boost != 1.0:
        query = tantivy.Query.boost_query(query, index_boost)
    post = None
    if req.post_filter is not None:
        post_filter = req.post_filter
        if restriction is not None:
            post_filter = restriction.query(post_filter, mapping)
        post = Translator(schema, mapping, now_ms, doc_index, searcher).translate(post_filter)
    # A field FLS hides sorts as missing everywhere (its index order would leak its values).
    hidden_sorts = {
        s.field
        for s in req.sort
        if restriction is not None and not restriction.shows_mapped_field(s.field, mapping)
    }
    hits_query = _with_post_filter(query, post)
    window = req.from_ + req.size
    num_docs = max(searcher.num_docs, 1)
    # What tantivy is asked for: never more than the shard holds. Its top-k collector allocates
    # for the limit up front, so a huge index.max_result_window with a huge size would try to
    # allocate tens of gigabytes and abort the node.
    limit = max(min(window, num_docs), 1)
    hits: list[ShardHit] = []
    total: int
    max_score: float | None = None
    terminated_early = None if req.terminate_after is None else False
    simple_field_sort = (
        len(req.sort) == 1
        and req.sort[0].field not in ("_score", "_doc", "_shard_doc")
        and req.sort[0].missing in (None, "_last")
        and schema.sort_field(mapping.field(req.sort[0].field)) is not None
        and req.sort[0].field not in hidden_sorts
    )
    general = (
        collect_all
        or term_stats is not None
        or bool(req.rescore)
        or req.terminate_after is not None
        or req.search_after is not None
        or req.min_score is not None
        or (req.sort and not req.sorts_by_score_only and not simple_field_sort)
    )
    if not general and req.sorts_by_score_only:
        result = searcher.search(hits_query, limit, count=True)
        total = hit_count(result)
        for pos, (score, addr) in enumerate(result.hits[:window]):
            doc_id, src, seq, ver, term, routing = _fetch(searcher, addr)
            hits.append(
                ShardHit(
                    index, shard, doc_id, score, src, seq, ver, term, None, pos, routing=routing
                )
            )
        max_score = hits[0].score if hits else None
    elif not general:
        sort = req.sort[0]
        tfield = schema.sort_field(mapping.field(sort.field))
        assert tfield is not None
        order = tantivy.Order.Desc if sort.descending else tantivy.Order.Asc
        result = searcher.search(
            hits_query, limit, count=True, order_by_field=tfield.name, order=order
        )
        total = hit_count(result)
        for pos, (value, addr) in enumerate(result.hits[:window]):
            doc_id, src, seq, ver, term, routing = _fetch(searcher, addr)
            sort_vals = [render_missing(value, sort, mapping)]
            hit = ShardHit(index, shard, doc_id, None, src, seq, ver, term, sort_vals, pos)
            hit.routing = routing
            hits.append(hit)
    else:
        result = searcher.search(hits_query, num_docs, count=True)
        total = hit_count(result)
        matched = list(result.hits)
        if term_stats is not None:
            matched = dfs_scored(matched, searcher, schema, hits_query, term_stats)
        if req.terminate_after is not None:
            matched, terminated_early = first_collected(matched, req.terminate_after)
            total = len(matched)
        for rescorer in req.rescore:
            rescore_query = build_query(
                rescorer.query, schema, mapping, now_ms, None, restriction, doc_index, searcher
            )
            matched = rescored(matched, rescorer, searcher, rescore_query, num_docs)
        scored: list[tuple[list[Any], ShardHit]] = []
        # Keys that need no document (scores, positions, _shard_doc, _index): documents are
        # read for the kept hits only (a point-in-time page over a large shard reads a page).
        lazy = all(s.field in _SOURCELESS_SORTS or s.field in hidden_sorts for s in req.sort)
        addresses: dict[int, Any] = {}
        for pos, (score, addr) in enumerate(matched):
            if req.min_score is not None and score < req.min_score:
                continue
            if lazy:
                addresses[pos] = addr
                hit = ShardHit(index, shard, "", score, b"", 0, 0, 0, None, pos)
            else:
                doc_id, src, seq, ver, term, routing = _fetch(searcher, addr)
                source = orjson.loads(src)
                hit = ShardHit(
                    index, shard, doc_id, score, src, seq, ver, term, None, pos, routing=routing
                )
            key = []
            for sort in req.sort:
                if sort.field == "_score":
                    key.append(score)
                elif sort.field == "_shard_doc" and shard_doc is not None:
                    key.append(shard_doc(addr))
                elif sort.field in ("_doc", "_shard_doc"):
                    key.append(pos)
                elif sort.field in hidden_sorts:
                    key.append(None)
                elif sort.field == "_index":
                    key.append(doc_index)
                else:
                    key.append(sort_value(source, sort, mapping))
            scored.append((key, hit))
        if req.min_score is not None:
            total = len(scored)
        sorts = req.sort or (SortField("_score", "desc"),)
        if req.sort:

            def cmp(a: tuple[list[Any], ShardHit], b: tuple[list[Any], ShardHit]) -> int:
                return compare_keys(a[0], b[0], sorts)

            scored.sort(key=functools.cmp_to_key(cmp))
        elif not req.rescore:  # a rescored window stays ahead of the other hits
            scored.sort(key=lambda kh: (-(kh[1].score or 0.0), kh[1].order))
        if req.search_after is not None:
            after = list(req.search_after)
            scored = [kh for kh in scored if compare_keys(kh[0], after, sorts) > 0]
        limit = len(scored) if collect_all else window
        for key, hit in scored[:limit]:
            if lazy:
                fetched = _fetch(searcher, addresses[hit.order])
                hit.doc_id, hit.source, hit.seq_no, hit.version, hit.primary_term = fetched[:5]
                hit.routing = fetched[5]
            if req.sort:
                hit.sort = [render_missing(v, s, mapping) for v, s in zip(key, sorts, strict=True)]
            hits.append(hit)
        max_score = max((h.score for h in hits if h.score is not None), default=None)
    if req.sort and not req.sorts_by_score_only and not req.track_scores:
        for hit in hits:
            hit.score = None
        max_score = None
    agg_sources: list[tuple[str, float | None, bytes]] = []
    if req.aggs:
        everything = list(searcher.search(query, num_docs, count=False).hits)
        if req.terminate_after is not None:
            everything, _ = first_collected(everything, req.terminate_after)
        for score, addr in everything:
            doc_id, src, _seq, _ver, _term, _routing = _fetch(searcher, addr)
            agg_sources.append((doc_id, score, src))
    if req.explain:
        global_view = (
            None if term_stats is None else dfs_view(searcher, schema, hits_query, term_stats)
        )
        for hit in hits:
            hit.explanation = explain_hit(searcher, schema, hits_query, hit.doc_id, global_view)
    if hits and nested.asks_inner_hits(req.query):
        shown = restriction.query(req.query, mapping) if restriction is not None else req.query
        ids = {h.doc_id for h in hits}
        found = nested.inner_hit_scores(shown, mapping, searcher, now_ms, doc_index, ids)
        for hit in hits:
            hit.inner_scores = found.get(hit.doc_id)
    named = dsl.named_queries(req.query) + dsl.named_queries(req.post_filter)
    if req.include_named_scores and named:
        built = [
            (
                q.name,
                build_query(q, schema, mapping, now_ms, None, restriction, doc_index, searcher),
            )
            for q in named
        ]
        for hit in hits:
            hit.named_scores = named_scores(searcher, schema, built, hit.doc_id)
    return ShardResult(index, shard, total, max_score, hits, agg_sources, terminated_early)


def find_doc(searcher: tantivy.Searcher, schema: IndexSchema, doc_id: str) -> Any:
    """The address of the live document ``doc_id`` in a shard's view, or None."""
    found = searcher.search(tantivy.Query.term_query(schema.schema, "_id", doc_id), 1).hits
    return found[0][1] if found else None


def explain_hit(
    searcher: tantivy.Searcher,
    schema: IndexSchema,
    query: tantivy.Query,
    doc_id: str,
    global_view: DfsView | None = None,
) -> dict[str, Any] | None:
    """ES's ``_explanation`` of a hit's score under ``query`` (None: not found any more);
    with ``global_view`` (``dfs_query_then_fetch``) its values and statistics are global."""
    addr = find_doc(searcher, schema, doc_id)
    if addr is None:
        return None
    engine = query.explain(searcher, addr).to_json()
    if global_view is None:
        return explanation_json(engine)
    paths, stats, candidates = global_view
    tree = global_explanation(orjson.loads(engine), paths, stats, candidates)
    return explanation_json(orjson.dumps(tree).decode())


def named_scores(
    searcher: tantivy.Searcher,
    schema: IndexSchema,
    named: list[tuple[str | None, tantivy.Query]],
    doc_id: str,
) -> dict[str, float]:
    """The named queries a document matches, each with the score it gives the document."""
    addr = find_doc(searcher, schema, doc_id)
    if addr is None:
        return {}
    this_doc = tantivy.Query.term_query(schema.schema, "_id", doc_id)
    out: dict[str, float] = {}
    for name, query in named:
        if name is None or name in out:
            continue
        both = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, query), (tantivy.Occur.Must, this_doc)]
        )
        if hit_count(searcher.search(both, 1, count=True)):
            out[name] = float(orjson.loads(query.explain(searcher, addr).to_json())["value"])
    return out


def rescored(
    matched: list[tuple[float, tantivy.DocAddress]],
    rescorer: QueryRescorer,
    searcher: tantivy.Searcher,
    rescore_query: tantivy.Query,
    num_docs: int,
) -> list[tuple[float, tantivy.DocAddress]]:
    """The shard's matches with the top ``window_size`` re-scored and re-ordered ahead of the
    rest (ES's query rescorer)."""
    ranked = sorted(matched, key=lambda m: -m[0])
    window, rest = ranked[: rescorer.window_size], ranked[rescorer.window_size :]
    if not window:
        return ranked
    scores = {
        (addr.segment_ord, addr.doc): score
        for score, addr in searcher.search(rescore_query, num_docs).hits
    }
    rescored_window = [
        (rescorer.combine(score, scores.get((addr.segment_ord, addr.doc))), addr)
        for score, addr in window
    ]
    rescored_window.sort(key=lambda m: -m[0])
    return rescored_window + rest


def first_collected(
    matched: list[tuple[float, tantivy.DocAddress]], limit: int
) -> tuple[list[tuple[float, tantivy.DocAddress]], bool]:
    """The matches a shard collects under ``terminate_after``: the first ``limit`` in index
    order (ES's collector stops there), kept in their ranked order; and whether any were left."""
    if len(matched) <= limit:
        return matched, False
    ranked = list(enumerate(matched))
    first = sorted(ranked, key=lambda t: (t[1][1].segment_ord, t[1][1].doc))[:limit]
    return [m for _, m in sorted(first, key=lambda t: t[0])], True


def count_shard(
    *,
    schema: IndexSchema,
    searcher: tantivy.Searcher,
    mapping: Mapping,
    query: dsl.Query,
    filters: Sequence[dict[str, Any]] | None,
    now_ms: int,
    restriction: IndexRestriction | None = None,
    index: str = "",
) -> int:
    tq = build_query(query, schema, mapping, now_ms, filters, restriction, index, searcher)
    return hit_count(searcher.search(tq, 1, count=True))
