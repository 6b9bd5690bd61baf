"""Scores of the ``nested`` query: each object scored as the hidden document ES makes of it.
[no I/O beyond the shard's own searcher]

ES indexes every object of a ``nested`` array as a Lucene document of its own, scores the inner
query on those documents (BM25 with the statistics of the objects, not of the parents) and
joins each parent's matching objects' scores by ``score_mode``: ``avg`` (the default), ``max``,
``min``, ``sum``, or ``none`` (0). Here the objects live in the parents' ``_source``, so for a
shard's view and a nested path an in-memory engine index of the path's objects is built (the
path's own fields, as the shard's schema would hold them at the root; each object's re-rooted
source kept for deeper nested queries), the inner query is translated against it as against a
shard, and its score of each object is read back. Matching stays the in-memory evaluation of
:mod:`isthmus.search.nested` (ES's rules); an object it matches that the engine index does not
score keeps the old constant 1.0.

The object index of a (searcher, path, mapping) is kept for the few most recent ones: paging or
repeating a search over the same view builds it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import tantivy

from isthmus.errors import IsthmusError
from isthmus.index.field_types import COMPLETION, DENSE_VECTOR
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.mapping_body import nested_parent
from isthmus.index.schema import IndexSchema, storage_kind

SCORE_MODES = ("avg", "max", "min", "sum", "none")
_CACHE_SIZE = 8


@dataclass
class ObjectIndex:
    """The objects of one nested path of a shard view, as documents of an engine index."""

    schema: IndexSchema
    searcher: tantivy.Searcher
    owners: list[tuple[str, int]]  # object number → (parent _id, offset in the parent)


_cache: OrderedDict[tuple[int, str, int], tuple[tantivy.Searcher, ObjectIndex | None]] = (
    OrderedDict()
)
_cache_lock = threading.Lock()


def join_scores(scores: Sequence[float], mode: str) -> float:
    """A parent's score from its matching objects' scores (ES's ``ScoreMode``)."""
    if mode == "none" or not scores:
        return 0.0
    if mode == "max":
        return max(scores)
    if mode == "min":
        return min(scores)
    if mode == "sum":
        return float(sum(scores))
    return float(sum(scores)) / len(scores)


def object_index(
    searcher: tantivy.Searcher, mapping: IndexMapping, path: str
) -> ObjectIndex | None:
    """The shard view's objects of ``path`` as an engine index (None: the path has no indexed
    field of its own)."""
    key = (id(searcher), path, id(mapping))
    with _cache_lock:
        held = _cache.get(key)
        if held is not None and held[0] is searcher:
            _cache.move_to_end(key)
            return held[1]
    built = _build(searcher, mapping, path)
    with _cache_lock:
        # The searcher is held with its index so its id cannot be reused while cached.
        _cache[key] = (searcher, built)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def _build(searcher: tantivy.Searcher, mapping: IndexMapping, path: str) -> ObjectIndex | None:
    from isthmus.search.nested import nested_objects

    nested = mapping.nested_paths
    fields = {
        p: storage_kind(s)
        for p, s in mapping.fields.items()
        if s.indexed
        and s.type not in (DENSE_VECTOR, COMPLETION)
        and nested_parent(s.source_path, nested) == path
    }
    if not fields:
        return None
    schema = IndexSchema(fields)
    index = tantivy.Index(schema.schema)
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    owners: list[tuple[str, int]] = []
    for _score, addr in searcher.search(tantivy.Query.all_query(), max(searcher.num_docs, 1)).hits:
        doc = searcher.doc(addr)
        parent = str(doc.get_first("_id"))
        source = orjson.loads(bytes(doc.get_first("_src") or b"{}"))
        for offset, obj in enumerate(nested_objects(source, path)):
            try:
                values = mapping.parse_document(obj, parent, stored=True).values
            except (IsthmusError, ValueError):  # an object the mapping refuses: not scored
                values = {}
            number = str(len(owners))
            writer.add_document(schema.document(number, orjson.dumps(obj), values, 0, 0, 0))
            owners.append((parent, offset))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return ObjectIndex(schema, index.searcher(), owners)


def object_scores(
    query: Any,
    path: str,
    mapping: IndexMapping,
    searcher: tantivy.Searcher,
    now_ms: int,
    index: str,
) -> dict[tuple[str, int], float] | None:
    """The engine's score of each object of ``path`` the inner ``query`` matches, by (parent
    _id, offset); None when the path has nothing the engine indexes."""
    from isthmus.search.translate import Translator

    objects = object_index(searcher, mapping, path)
    if objects is None or not objects.owners:
        return None
    translated = Translator(objects.schema, mapping, now_ms, index, objects.searcher).translate(
        query
    )
    out: dict[tuple[str, int], float] = {}
    for score, addr in objects.searcher.search(translated, len(objects.owners)).hits:
        number = int(str(objects.searcher.doc(addr).get_first("_id")))
        out[objects.owners[number]] = float(score)
    return out


def parent_scores(
    matches: Mapping[str, list[int]],
    scores: Mapping[tuple[str, int], float] | None,
    mode: str,
) -> dict[str, float]:
    """Each parent's joined score from its matching objects (offsets) and their scores."""
    out = {}
    for parent, offsets in matches.items():
        if scores is None:
            each = [1.0 for _ in offsets]
        else:
            each = [scores.get((parent, offset), 1.0) for offset in offsets]
        out[parent] = join_scores(each, mode)
    return out


__all__ = ["SCORE_MODES", "join_scores", "object_index", "object_scores", "parent_scores"]
