"""Re-scoring with global term statistics (``dfs_query_then_fetch``, step 3 of
:mod:`isthmus.search.dfs`).  [no I/O beyond the shard's own searcher]

The engine explains a match as a tree (``{"value", "description", "details", "context"}``).
:func:`global_explanation` re-evaluates that tree with the summed statistics: a BM25 term node
(its context names ``Term(field=N, type=Str, "text")``) is recomputed in the engine's own f32
arithmetic, idf from the global ``n`` and ``N``, ``avgdl`` from the global tokens over ``N``, the
document's own ``freq`` and encoded length kept, and the statistics it shows are replaced; a
phrase node (which names no term) is recognised by its idf on the shard among the query's
phrases; combining nodes are recombined as the engine combines them (sums, boosts, a
disjunction max, whose tie breaker is read from the node's values since the engine describes it
as a sum, constants). A node it cannot recompute keeps its value. The hit's score is the new
tree's value (:func:`global_score`), and ``explain`` shows the new tree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import tantivy

from isthmus.index.schema import IndexSchema
from isthmus.search.dfs import (
    K1,
    TERM_RE,
    B,
    Phrase,
    TermStats,
    constants,
    f32,
    field_paths,
    idf,
    idf_sum,
    phrases,
    shard_stats,
    unescape,
)


@dataclass(frozen=True)
class _Bm25:
    """A BM25 node recomputed: its score and the global values its explanation shows."""

    score: float
    idf: float
    tf_factor: float
    avgdl: float
    n: int | None  # a term's document frequency (None: a phrase, whose idf is a sum)
    total_docs: int


def _bm25_parts(
    node: Mapping[str, Any], idf: float, n: int | None, tokens: int | None, stats: TermStats
) -> _Bm25 | None:
    """The engine's BM25 of a node's ``freq`` and ``dl`` with ``idf`` and the global avgdl."""
    if tokens is None or stats.max_doc <= 0:
        return None
    values = constants(node)
    freq = values.get("freq, occurrences of term within document")
    dl = values.get("dl, length of field")
    if freq is None or dl is None:
        return None
    avgdl = f32(f32(tokens) / f32(stats.max_doc))
    if avgdl <= 0:
        return None
    weight = f32(idf * f32(1.0 + K1))
    norm = f32(K1 * f32(f32(1.0 - B) + f32(f32(B * f32(dl)) / avgdl)))
    tf = f32(freq)
    factor = f32(tf / f32(tf + norm))
    return _Bm25(f32(weight * factor), idf, factor, avgdl, n, stats.max_doc)


def _term_bm25(
    node: Mapping[str, Any], paths: Mapping[int, tuple[str, str]], stats: TermStats
) -> _Bm25 | None:
    """A term node (its context names the term) under ``stats``."""
    for context in node.get("context") or []:
        match = TERM_RE.search(str(context))
        if match is None or int(match.group(1)) not in paths:
            continue
        path = paths[int(match.group(1))][0]
        n = stats.doc_freq.get((path, unescape(match.group(2))))
        if n is None or stats.max_doc <= 0 or n > stats.max_doc:
            return None
        return _bm25_parts(node, idf(n, stats.max_doc), n, stats.tokens.get(path), stats)
    return None


def _phrase_bm25(
    node: Mapping[str, Any], candidates: Sequence[Phrase], stats: TermStats
) -> _Bm25 | None:
    """A phrase's node (no term named) under ``stats``: the phrase is the one whose shard idf
    is the node's."""
    local_idf = next(
        (
            float(d.get("value", 0.0))
            for d in node.get("details") or []
            if d.get("description") == "idf"
        ),
        None,
    )
    if local_idf is None:
        return None
    found = [p for p in candidates if math.isclose(p.local_idf, local_idf, rel_tol=1e-6)]
    if not found or any(p.path != found[0].path for p in found):
        return None
    idf = idf_sum(found[0].path, found[0].terms, stats)
    if idf is None:
        return None
    return _bm25_parts(node, idf, None, stats.tokens.get(found[0].path), stats)


# What a BM25 node's explanation shows, by description: the value each takes from _Bm25.
_SHOWN: dict[str, Callable[[_Bm25], float | None]] = {
    "n, number of docs containing this term": lambda b: b.n,
    "N, total number of docs": lambda b: b.total_docs,
    "avgdl, average length of field": lambda b: b.avgdl,
    "freq / (freq + k1 * (1 - b + b * dl / avgdl))": lambda b: b.tf_factor,
}


def _shown(node: Mapping[str, Any], parts: _Bm25) -> dict[str, Any]:
    """A BM25 node's explanation with the global values in place of the shard's."""
    description = str(node.get("description", ""))
    value = float(node.get("value", 0.0))
    if description.startswith("TermQuery"):
        value = parts.score
    elif description.startswith("idf"):
        value = parts.idf
    else:
        show = _SHOWN.get(description)
        found = None if show is None else show(parts)
        value = value if found is None else float(found)
    out = {**node, "value": value}
    out["details"] = [_shown(d, parts) for d in node.get("details") or [] if isinstance(d, Mapping)]
    return out


def global_explanation(
    node: Mapping[str, Any],
    paths: Mapping[int, tuple[str, str]],
    stats: TermStats,
    candidates: Sequence[Phrase] = (),
) -> dict[str, Any]:
    """An engine explanation (JSON tree) re-evaluated with global statistics (step 3 of the
    module docstring), values and the statistics it shows; a node it cannot recompute keeps
    its own value."""
    value = float(node.get("value", 0.0))
    description = str(node.get("description", ""))
    details = [d for d in node.get("details") or [] if isinstance(d, Mapping)]
    if description.startswith("TermQuery"):
        parts = _term_bm25(node, paths, stats)
        if parts is None and candidates:
            parts = _phrase_bm25(node, candidates, stats)
        return dict(node) if parts is None else _shown(node, parts)
    if not details:
        return dict(node)
    new_details = [global_explanation(d, paths, stats, candidates) for d in details]
    return {**node, "value": _combined(node, value, details, new_details), "details": new_details}


def _combined(
    node: Mapping[str, Any],
    value: float,
    details: Sequence[Mapping[str, Any]],
    new_details: Sequence[Mapping[str, Any]],
) -> float:
    """A combining node's value from its re-evaluated children, as the engine combines them."""
    description = str(node.get("description", ""))
    old = [float(d.get("value", 0.0)) for d in details]
    new = [float(d.get("value", 0.0)) for d in new_details]
    if description.startswith("Boost x") and len(details) == 1:
        try:
            boost = float(description[len("Boost x") :].split(" ", 1)[0])
        except ValueError:
            boost = value / old[0] if old[0] else 1.0
        return f32(new[0] * boost)
    total = 0.0
    for item in old:
        total = f32(total + item)
    if math.isclose(value, total, rel_tol=1e-5, abs_tol=1e-7):
        summed = 0.0
        for item in new:
            summed = f32(summed + item)
        return summed
    best = max(old)
    if total != best:
        # The engine explains a disjunction max as a sum: max + tie * (sum - max).
        tie = round((value - best) / (total - best), 6)
        new_best = max(new)
        new_total = 0.0
        for item in new:
            new_total = f32(new_total + item)
        return f32(new_best + f32(f32(new_total - new_best) * tie))
    if math.isclose(value, best, rel_tol=1e-5, abs_tol=1e-7):
        return max(new)
    return value * (sum(new) / total) if total else value


def global_score(
    node: Mapping[str, Any],
    paths: Mapping[int, tuple[str, str]],
    stats: TermStats,
    candidates: Sequence[Phrase] = (),
) -> float:
    """The value of :func:`global_explanation`."""
    return float(global_explanation(node, paths, stats, candidates).get("value", 0.0))


# What re-scoring with global statistics needs on one shard: the field numbers, the global
# statistics and the query's phrases (recognised in explanations by their idf on the shard).
DfsView = tuple[dict[int, tuple[str, str]], TermStats, list[Phrase]]


def dfs_view(
    searcher: tantivy.Searcher, schema: IndexSchema, query: tantivy.Query, stats: TermStats
) -> DfsView:
    paths = field_paths(schema)
    candidates = (
        phrases(query, paths, shard_stats(searcher, schema, query))
        if "PhraseQuery" in repr(query)
        else []
    )
    return paths, stats, candidates


def dfs_scored(
    matched: list[tuple[float, tantivy.DocAddress]],
    searcher: tantivy.Searcher,
    schema: IndexSchema,
    query: tantivy.Query,
    stats: TermStats,
) -> list[tuple[float, tantivy.DocAddress]]:
    """The matches scored with global term statistics (``dfs_query_then_fetch``)."""
    if not matched:
        return matched
    paths, stats, candidates = dfs_view(searcher, schema, query, stats)
    return [
        (
            global_score(
                orjson.loads(query.explain(searcher, addr).to_json()), paths, stats, candidates
            ),
            addr,
        )
        for _score, addr in matched
    ]


__all__ = ["DfsView", "dfs_scored", "dfs_view", "global_explanation", "global_score"]
