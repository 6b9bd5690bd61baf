"""``nested`` fields: the nested query and the nested aggregation.  [no I/O]

ES indexes each object of a ``nested`` array as a hidden document of its own, so a query inside
``nested`` must match within one object (``author: kim`` and ``stars: 5`` in the same comment),
and the object's fields are not searchable from the root. Here the objects stay in the parent's
``_source``: each is re-rooted as a small source of its own (``{"comments": {...}}``, so field
paths stay the full ``comments.author``) and the inner query is evaluated in memory against it
(``search.evaluate``: ES's matching rules). The parents with a matching object become an ``_id``
set, so the query composes in ``bool`` like any other.

Scores: each matching object is scored as ES scores its hidden document (the engine over an
in-memory index of the path's objects, :mod:`isthmus.search.nested_scoring`), and a parent's
score joins its matching objects' scores by ``score_mode`` (``avg``, ``max``, ``min``, ``sum``,
``none``: 0), times the boost.

The ``reverse_nested`` aggregation (under a ``nested`` one) goes back from the objects to their
parents (or to an enclosing nested ``path``): each distinct document once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
import tantivy

from isthmus.errors import IllegalArgumentError, ParsingError, QueryShardError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.schema import IndexSchema
from isthmus.search import dsl
from isthmus.search.aggs_bucket import Bucket, SingleBucketResult
from isthmus.search.aggs_core import Agg, AggContext, AggDoc, AggResult, AggsSpec, Params
from isthmus.search.aggs_nested import ObjectDoc, mark_inside_nested
from isthmus.search.evaluate import compile_query
from isthmus.search.evaluate_fields import EvalDoc
from isthmus.search.nested_scoring import SCORE_MODES, object_scores, parent_scores

_QUERY_KEYS = {"path", "query", "score_mode", "ignore_unmapped", "inner_hits", "boost", "_name"}


@dataclass(frozen=True)
class Nested(dsl.Query):
    path: str = ""
    query: dsl.Query = field(default_factory=dsl.MatchAll)
    score_mode: str = "avg"
    ignore_unmapped: bool = False
    inner_hits: NestedInnerHits | None = None


@dataclass(frozen=True)
class NestedInnerHits:
    """``inner_hits`` of a nested query: the matching objects shown under each hit."""

    name: str
    from_: int = 0
    size: int = 3
    source: bool = True


def parse_nested(body: Any) -> dsl.Query:
    if not isinstance(body, Mapping):
        raise ParsingError("[nested] query malformed, no start_object after query name")
    for key in body:
        if key not in _QUERY_KEYS:
            raise ParsingError(f"[nested] query does not support [{key}]")
    if "path" not in body:
        raise ParsingError("[nested] requires 'path' field")
    if "query" not in body:
        raise ParsingError("[nested] requires 'query' field")
    mode = str(body.get("score_mode", "avg")).lower()
    if mode not in SCORE_MODES:
        raise ParsingError(f"illegal score_mode for nested query [{mode}]")
    try:
        boost = float(body.get("boost", 1.0))
    except (TypeError, ValueError):
        raise ParsingError(f"[boost] failed to parse value [{body.get('boost')}]") from None
    return Nested(
        path=str(body["path"]),
        query=dsl.parse_query(body["query"]),
        score_mode=mode,
        ignore_unmapped=body.get("ignore_unmapped", False) is True,
        boost=boost,
        inner_hits=_parse_inner_hits(body["inner_hits"], str(body["path"]))
        if "inner_hits" in body
        else None,
    )


_INNER_HITS_KEYS = {"name", "from", "size", "_source"}


def _parse_inner_hits(raw: Any, path: str) -> NestedInnerHits:
    if not isinstance(raw, Mapping):
        raise ParsingError("[inner_hits] must be an object")
    for key in raw:
        if key not in _INNER_HITS_KEYS:
            raise IllegalArgumentError(f"[inner_hits] option [{key}] is not supported by Isthmus")
    numbers = {}
    for key, default in (("from", 0), ("size", 3)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParsingError(f"[inner_hits] failed to parse field [{key}]")
        numbers[key] = value
    return NestedInnerHits(
        name=str(raw.get("name", path)),
        from_=numbers["from"],
        size=numbers["size"],
        source=raw.get("_source", True) is not False,
    )


def inner_hits(
    query: dsl.Query | None,
    index: str,
    doc_id: str,
    source: Mapping[str, Any],
    mapping: IndexMapping,
    now_ms: int,
    scores: Mapping[str, Mapping[int, float]] | None = None,
) -> dict[str, Any]:
    """The ``inner_hits`` of one hit: for each nested query asking for them, the hit's
    objects that match its inner query (``source`` is what the caller may see), best first
    as ES orders them by default; ``scores``: each inner hits name's object scores
    (:func:`inner_hit_scores`; an object without one scores 1.0)."""
    out: dict[str, Any] = {}
    for q in _nested_queries(query):
        spec = q.inner_hits
        if spec is None or not check_path(q.path, mapping, True):
            continue
        pred = compile_query(q.query, mapping, now_ms=now_ms)
        known = (scores or {}).get(spec.name, {})
        objects = [
            (known.get(offset, 1.0), offset, obj)
            for offset, obj in enumerate(nested_objects(source, q.path))
            if pred(EvalDoc(doc_id, obj))
        ]
        objects.sort(key=lambda o: (-o[0], o[1]))
        hits = []
        for score, offset, obj in objects[spec.from_ : spec.from_ + spec.size]:
            hit: dict[str, Any] = {
                "_index": index,
                "_id": doc_id,
                "_nested": {"field": q.path, "offset": offset},
                "_score": score,
            }
            if spec.source:
                hit["_source"] = _unrooted(obj, q.path)
            hits.append(hit)
        out[spec.name] = {
            "hits": {
                "total": {"value": len(objects), "relation": "eq"},
                "max_score": objects[0][0] if objects else None,
                "hits": hits,
            }
        }
    return out


def inner_hit_scores(
    query: dsl.Query | None,
    mapping: IndexMapping,
    searcher: tantivy.Searcher,
    now_ms: int,
    index: str,
    doc_ids: set[str],
) -> dict[str, dict[str, dict[int, float]]]:
    """For the documents ``doc_ids`` of a shard: each nested query's (by its inner hits name)
    score of each of their objects, as the query phase computes it for ``inner_hits``."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for q in _nested_queries(query):
        if q.inner_hits is None or not check_path(q.path, mapping, True):
            continue
        scores = object_scores(q.query, q.path, mapping, searcher, now_ms, index)
        for (parent, offset), score in (scores or {}).items():
            if parent in doc_ids:
                out.setdefault(parent, {}).setdefault(q.inner_hits.name, {})[offset] = score
    return out


def asks_inner_hits(query: dsl.Query | None) -> bool:
    return any(q.inner_hits is not None for q in _nested_queries(query))


def _nested_queries(query: dsl.Query | None) -> list[Nested]:
    """The nested queries of a query tree, in tree order."""
    out: list[Nested] = []
    stack: list[Any] = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(reversed(node))
        elif isinstance(node, dsl.Query):
            if isinstance(node, Nested):
                out.append(node)
            stack.extend(
                reversed([getattr(node, f.name) for f in fields(node) if f.name != "name"])
            )
    return out


def _unrooted(rooted: Mapping[str, Any], path: str) -> Any:
    node: Any = rooted
    for part in path.split("."):
        node = node[part]
    return node


def nested_objects(source: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    """The objects of ``path`` in ``source``, each re-rooted under ``path``."""
    found: list[Any] = []
    _collect_objects(source, path.split("."), found)
    out = []
    for obj in found:
        rooted: Any = obj
        for part in reversed(path.split(".")):
            rooted = {part: rooted}
        out.append(rooted)
    return out


def _collect_objects(node: Any, parts: list[str], out: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect_objects(item, parts, out)
        return
    if not isinstance(node, Mapping):
        return
    if not parts:
        out.append(node)
        return
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in node:
            _collect_objects(node[key], parts[i:], out)


def check_path(path: str, mapping: IndexMapping, ignore_unmapped: bool) -> bool:
    """Whether ``path`` is a nested object (False: unmapped and ignored); ES's errors."""
    if path in mapping.nested_paths:
        return True
    mapped = path in mapping.object_paths() or mapping.field(path) is not None
    if not mapped:
        if ignore_unmapped:
            return False
        raise QueryShardError(f"[nested] failed to find nested object under path [{path}]")
    raise QueryShardError(f"[nested] nested object under path [{path}] is not of nested type")


def matching_objects(q: Nested, mapping: IndexMapping, now_ms: int) -> Any:
    """A function: a parent's source → how many of its objects match ``q.query``."""
    pred = compile_query(q.query, mapping, now_ms=now_ms)

    def count(doc_id: str, source: Mapping[str, Any]) -> int:
        return sum(1 for obj in nested_objects(source, q.path) if pred(EvalDoc(doc_id, obj)))

    return count


def evaluate(q: Nested, mapping: IndexMapping, now_ms: int) -> Any:
    """The in-memory predicate of a nested query (filter aggregations, nested in nested)."""
    if not check_path(q.path, mapping, q.ignore_unmapped):
        return lambda doc: False
    count = matching_objects(q, mapping, now_ms)
    return lambda doc: count(doc.id, doc.source) > 0


def to_tantivy(
    q: Nested,
    schema: IndexSchema,
    mapping: IndexMapping,
    searcher: tantivy.Searcher | None,
    now_ms: int,
    index: str = "",
) -> tantivy.Query:
    if not check_path(q.path, mapping, q.ignore_unmapped) or searcher is None:
        return tantivy.Query.empty_query()
    pred = compile_query(q.query, mapping, now_ms=now_ms)
    matches: dict[str, list[int]] = {}
    for _score, addr in searcher.search(tantivy.Query.all_query(), max(searcher.num_docs, 1)).hits:
        doc = searcher.doc(addr)
        doc_id = str(doc.get_first("_id"))
        source = orjson.loads(bytes(doc.get_first("_src") or b"{}"))
        offsets = [
            offset
            for offset, obj in enumerate(nested_objects(source, q.path))
            if pred(EvalDoc(doc_id, obj))
        ]
        if offsets:
            matches[doc_id] = offsets
    scores = None
    if matches and q.score_mode != "none":
        scores = object_scores(q.query, q.path, mapping, searcher, now_ms, index)
    by_score: dict[float, list[str]] = {}
    for doc_id, score in parent_scores(matches, scores, q.score_mode).items():
        by_score.setdefault(score, []).append(doc_id)
    if not by_score:
        return tantivy.Query.empty_query()
    parts = [
        (
            tantivy.Occur.Should,
            tantivy.Query.const_score_query(
                tantivy.Query.term_set_query(schema.schema, "_id", list[Any](ids)), score
            ),
        )
        for score, ids in by_score.items()
    ]
    return parts[0][1] if len(parts) == 1 else tantivy.Query.boolean_query(parts)


# --- the nested aggregation -----------------------------------------------------------------


class NestedAgg(Agg):
    """``{"nested": {"path": p}}``: one bucket holding every object of ``p`` of the matched
    documents, as documents of their own for the sub-aggregations."""

    type_name = "nested"
    accepts_subs = True

    def __init__(
        self, name: str, subs: AggsSpec, meta: Mapping[str, Any] | None, path: str
    ) -> None:
        super().__init__(name, subs, meta)
        self.path = path
        mark_inside_nested(subs)
        # The object documents stay referenced for the request: the aggregation context keys
        # its value cache by object identity.
        self._held: list[list[AggDoc]] = []

    def collect(self, docs: Sequence[AggDoc], ctx: AggContext) -> AggResult:
        if self.path not in ctx.mapping.nested_paths:
            if self.path in ctx.mapping.object_paths() or ctx.mapping.field(self.path):
                raise QueryShardError(f"[nested] nested path [{self.path}] is not nested")
            inner: list[AggDoc] = []
        else:
            inner = [
                ObjectDoc(doc.index, doc.id, doc.score, obj, parent=doc, path=self.path)
                for doc in docs
                for obj in nested_objects(doc.source, self.path)
            ]
        self._held.append(inner)
        return self.result(
            SingleBucketResult(Bucket(None, len(inner), self.subs.collect(inner, ctx)))
        )


NESTED_AGG_PARAMS = {"path"}


def parse_nested_agg(name: str, p: Params, subs: AggsSpec, meta: Mapping[str, Any] | None) -> Agg:
    path = p.string("path")
    if path is None:
        raise ParsingError(f"[nested] Missing [path] field for nested aggregation [{name}]")
    return NestedAgg(name, subs, meta, path)
