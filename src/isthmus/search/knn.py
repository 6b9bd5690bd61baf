"""kNN search on ``dense_vector`` fields: the top-level ``knn`` option and the ``knn`` query.
[no I/O]

Search is exact (brute force over the shard's documents): the ``k`` nearest by the field's
similarity, scored as ES scores them (``index.vectors.score``), optionally restricted by a
``filter`` and a minimum ``similarity``. ``num_candidates`` is validated as ES validates it; with
an exact search every candidate is already the true nearest, so it does not change results.

The top-level option becomes part of the query tree: ``knn`` alone is the knn clause(s); with a
``query`` it is ``bool.should`` of the query and the knn clauses, so a hit is in either and its
score is the sum, as ES combines them. Each clause matches its ``k`` nearest documents with
their scores (an ``_id`` term per document, scored).

``k`` of the top-level option is global, as in ES: before the query phase the coordinator asks
every shard for its ``k`` nearest (ES's DFS phase runs the knn search) and keeps the ``k`` best of
all of them (:func:`top_level_clauses`, :func:`with_chosen`); each shard then scores only the
chosen documents it holds, so the query's hits are the union of its matches and those ``k``,
summed where both, and ``size`` cuts after. The ``knn`` *query* keeps ``k`` per shard (ES's
knn query collects ``k`` on each shard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson
import tantivy

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError, QueryShardError
from isthmus.index.field_types import DENSE_VECTOR
from isthmus.index.mapping import FieldSpec, source_values
from isthmus.index.vectors import infinite_element, passes, raw_similarity, score
from isthmus.search import dsl

if TYPE_CHECKING:
    from isthmus.search.translate import Translator

MAX_NUM_CANDIDATES = 10_000
_KNN_KEYS = {
    "field",
    "query_vector",
    "k",
    "num_candidates",
    "filter",
    "similarity",
    "boost",
    "_name",
    "query_vector_builder",
    "inner_hits",
    "rescore_vector",
}


@dataclass(frozen=True)
class Knn(dsl.Query):
    field: str = ""
    vector: tuple[float, ...] = ()
    k: int = 10
    num_candidates: int = 15
    filters: tuple[dsl.Query, ...] = ()
    similarity: float | None = None
    top_level: bool = False  # the top-level ``knn`` option (``k`` global), not the knn query
    # The global top ``k`` chosen by the coordinator: (index as queries see it, _id, score).
    chosen: tuple[tuple[str, str, float], ...] | None = None


def _int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParsingError(f"[knn] failed to parse field [{key}]")
    try:
        return int(value)
    except ValueError:
        raise ParsingError(f"[knn] failed to parse field [{key}]") from None


def parse_knn(body: Any, default_k: int, *, query: bool = False) -> Knn:
    """One knn object (top-level: ``k`` defaults to the request's ``size``; as a query,
    ``k`` defaults to ``num_candidates``)."""
    if not isinstance(body, Mapping):
        raise ParsingError("[knn] query malformed, no start_object after query name")
    for key in body:
        if key not in _KNN_KEYS:
            # ES's knn parser, read directly: its x-content error reaches the caller.
            raise xcontent.unknown_field("knn", key, _KNN_KEYS, parent="knn")
    if "field" not in body:
        raise ParsingError("[knn] requires field [field] to be configured")
    if "query_vector_builder" in body:
        raise IllegalArgumentError("[query_vector_builder] is not supported by Isthmus")
    raw_vector = body.get("query_vector")
    if not isinstance(raw_vector, list) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in raw_vector
    ):
        raise IllegalArgumentError(
            "either [query_vector] or [query_vector_builder] must be provided"
        )
    k = _int(body, "k")
    num_candidates = _int(body, "num_candidates")
    if k is None:
        k = num_candidates if query and num_candidates is not None else default_k
    if k < 1:
        raise IllegalArgumentError("[k] must be greater than 0")
    if num_candidates is None:
        num_candidates = min(round(1.5 * k), MAX_NUM_CANDIDATES)
    if num_candidates > MAX_NUM_CANDIDATES:
        raise IllegalArgumentError(f"[num_candidates] cannot exceed [{MAX_NUM_CANDIDATES}]")
    if num_candidates < k:
        raise IllegalArgumentError("[num_candidates] cannot be less than [k]")
    raw_filter = body.get("filter")
    filters: tuple[dsl.Query, ...] = ()
    if isinstance(raw_filter, list):
        filters = tuple(dsl.parse_query(f) for f in raw_filter)
    elif raw_filter is not None:
        filters = (dsl.parse_query(raw_filter),)
    similarity = body.get("similarity")
    try:
        boost = float(body.get("boost", 1.0))
        threshold = None if similarity is None else float(similarity)
    except (TypeError, ValueError):
        raise ParsingError("[knn] failed to parse field [similarity]") from None
    return Knn(
        field=str(body["field"]),
        vector=tuple(float(v) for v in raw_vector),
        k=k,
        num_candidates=num_candidates,
        filters=filters,
        similarity=threshold,
        boost=boost,
    )


def with_knn(query: dsl.Query | None, raw: Any, size: int) -> dsl.Query:
    """The request's query with its top-level ``knn`` clause(s) (see the module docstring)."""
    items = raw if isinstance(raw, list) else [raw]
    clauses = tuple(replace(parse_knn(item, size), top_level=True) for item in items)
    if query is None:
        return clauses[0] if len(clauses) == 1 else dsl.Bool(should=clauses)
    return dsl.Bool(should=(query, *clauses))


def parse_knn_query(body: Any) -> dsl.Query:
    return parse_knn(body, 10, query=True)


def top_level_clauses(query: dsl.Query) -> list[Knn]:
    """The top-level ``knn`` clauses in a request's query (where :func:`with_knn` put them)."""
    if isinstance(query, Knn):
        return [query] if query.top_level else []
    if isinstance(query, dsl.Bool):
        return [q for q in query.should if isinstance(q, Knn) and q.top_level]
    return []


def with_chosen(query: dsl.Query, chosen: list[tuple[tuple[str, str, float], ...]]) -> dsl.Query:
    """The query with each top-level clause (in :func:`top_level_clauses` order) restricted to
    the documents the coordinator chose for it."""
    picks = iter(chosen)

    def pick(q: dsl.Query) -> dsl.Query:
        return replace(q, chosen=next(picks)) if isinstance(q, Knn) and q.top_level else q

    if isinstance(query, Knn):
        return pick(query)
    if isinstance(query, dsl.Bool):
        return replace(query, should=tuple(pick(q) for q in query.should))
    return query


def global_top(
    shard_nearest: list[list[tuple[float, str, str]]], k: int
) -> tuple[tuple[str, str, float], ...]:
    """The ``k`` best of every shard's nearest (score, index, _id), best first; ties go to the
    earlier shard, as ES's merge of shard top docs breaks them."""
    ranked = [
        (-score, position, order, index, doc_id)
        for position, nearest in enumerate(shard_nearest)
        for order, (score, index, doc_id) in enumerate(nearest)
    ]
    ranked.sort()
    return tuple((index, doc_id, -neg) for neg, _p, _o, index, doc_id in ranked[:k])


def to_tantivy(q: Knn, tr: Translator) -> tantivy.Query:
    """The shard's ``k`` nearest documents (or its share of the coordinator's global choice),
    each an ``_id`` term scored by its similarity."""
    if q.chosen is not None:
        check_clause(q, tr)
        picked = [(value, doc_id) for index, doc_id, value in q.chosen if index == tr.index]
    else:
        picked = nearest(q, tr)[: q.k]
    if not picked:
        return tantivy.Query.empty_query()
    clauses = [
        (
            tantivy.Occur.Should,
            tantivy.Query.const_score_query(
                tantivy.Query.term_query(tr.schema.schema, "_id", doc_id), value
            ),
        )
        for value, doc_id in picked
    ]
    return tantivy.Query.boolean_query(clauses)


def check_clause(q: Knn, tr: Translator) -> FieldSpec:
    """The clause's dense_vector field; ES's shard errors for a clause that cannot run."""
    spec = tr.mapping.field(q.field)
    if spec is None:
        raise QueryShardError(f"field [{q.field}] does not exist in the mapping")
    if spec.type != DENSE_VECTOR:
        raise QueryShardError(
            f"[knn] queries are only supported on [dense_vector] fields, not on [{q.field}] "
            f"which is of type [{spec.es_type}]"
        )
    if spec.similarity is None:
        raise QueryShardError(
            f"to perform knn search on field [{q.field}], its mapping must have [index] set to "
            "[true]"
        )
    if spec.dims is not None and spec.dims != len(q.vector):
        raise QueryShardError(
            f"The query vector has a different number of dimensions [{len(q.vector)}] than the "
            f"document vectors [{spec.dims}]."
        )
    if spec.similarity == "cosine" and not any(q.vector):
        raise IllegalArgumentError(
            "The [cosine] similarity does not support vectors with zero magnitude. Preview of "
            f"invalid vector: [{', '.join(repr(v) for v in q.vector[:10])}]"
        )
    infinite = infinite_element(q.vector)
    if infinite is not None:
        raise IllegalArgumentError(infinite)
    return spec


def nearest(q: Knn, tr: Translator) -> list[tuple[float, str]]:
    """The shard's documents that pass the clause's filters and similarity, nearest first
    (score, _id)."""
    spec = check_clause(q, tr)
    searcher = tr.searcher
    if searcher is None or spec.dims is None or spec.similarity is None:
        return []
    # ES's pre-filters: the clause's filter, the alias filters and document-level security.
    limits = [tr.translate(f) for f in q.filters] + list(tr.prefilters)
    candidates = (
        tantivy.Query.boolean_query([(tantivy.Occur.Must, f) for f in limits])
        if limits
        else tantivy.Query.all_query()
    )
    scored: list[tuple[float, str]] = []
    for _score, addr in searcher.search(candidates, max(searcher.num_docs, 1)).hits:
        doc = searcher.doc(addr)
        vectors = source_values(orjson.loads(bytes(doc.get_first("_src") or b"{}")), spec)
        if not vectors:
            continue
        raw = raw_similarity(spec.similarity, q.vector, vectors[0])
        if passes(spec.similarity, raw, q.similarity):
            scored.append((score(spec.similarity, raw), str(doc.get_first("_id"))))
    scored.sort(key=lambda s: -s[0])
    return scored
