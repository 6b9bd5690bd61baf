"""Global term statistics for ``search_type=dfs_query_then_fetch``.  [no I/O]

ES's DFS phase asks every shard for the statistics of the terms its query scores (document
frequency, document count, the field's total term frequency), sums them on the coordinator and
has each shard score with the sums, so an index of several shards scores as the same documents
in one shard would. The engine (tantivy) scores BM25 with its own searcher's statistics and
takes no others, so the scores are corrected after matching instead:

1. each shard reports, for every BM25-scored term of its built query (read from the engine's
   description of the query, which names each ``Term(field=N, type=Str, "text")``), its
   document frequency; its document count ``N``; and each queried field's total token count
   (``avgdl * N`` read from the engine's explanation of one document holding a term of the
   field: exact while a shard's field holds fewer than 2^24 tokens);
2. the coordinator sums them (:meth:`TermStats.add`);
3. each shard re-evaluates the engine's explanation of every match with the summed statistics
   (:func:`global_score`): a BM25 term node is recomputed in the engine's own f32 arithmetic
   (idf from the summed ``n`` and ``N``, ``avgdl`` from the summed tokens over ``N``; the
   document's own ``freq`` and encoded length are kept), and its ancestors are recombined as the
   engine combines them (sums, boosts, disjunction max with its tie breaker, constants).

The engine's explanation of a phrase does not name its terms (its idf is their sum): the phrase
is recognised among the query's phrases by that sum under the shard's own statistics
(:func:`phrases`). Explaining each match costs one lookup per match, so DFS is slower than
``query_then_fetch`` (as in ES, where it costs a round trip).
"""

from __future__ import annotations

import math
import re
import struct
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import tantivy

from isthmus.index.schema import IndexSchema

K1 = 1.2
B = 0.75
# The kinds of fields whose terms are strings (text, keyword and the keyword-like types).
_TERM_RE = re.compile(r'Term\(field=(\d+), type=Str, "((?:[^"\\]|\\.)*)"\)')
_PHRASE_RE = re.compile(r"PhraseQuery \{ field: Field\((\d+)\), phrase_terms: \[(.*?)\], slop")
_ESCAPE_RE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_PATHS: weakref.WeakKeyDictionary[IndexSchema, dict[int, tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class TermStats:
    """Statistics of a query's terms: one shard's, or their sum over shards."""

    max_doc: int = 0  # the engine's ``N`` (documents, deleted ones not yet merged away too)
    tokens: dict[str, int] = field(default_factory=dict)  # field path → total tokens
    doc_freq: dict[tuple[str, str], int] = field(default_factory=dict)  # (path, term) → n

    def add(self, other: TermStats) -> None:
        self.max_doc += other.max_doc
        for path, count in other.tokens.items():
            self.tokens[path] = self.tokens.get(path, 0) + count
        for key, count in other.doc_freq.items():
            self.doc_freq[key] = self.doc_freq.get(key, 0) + count


def _f32(x: float) -> float:
    """``x`` rounded to the engine's 32-bit float."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code.startswith("u{"):
            return chr(int(code[2:-1], 16))
        return _ESCAPES.get(code, code)

    return _ESCAPE_RE.sub(one, text)


def field_paths(schema: IndexSchema) -> dict[int, tuple[str, str]]:
    """The engine's field number → (ES path, engine field name) of the string fields of one
    schema generation (numbers differ between generations, paths do not)."""
    found = _PATHS.get(schema)
    if found is None:
        found = {}
        for tfield in schema.by_path.values():
            try:
                probe = tantivy.Query.term_query(schema.schema, tfield.name, "")
            except ValueError:
                continue  # not a string field
            match = _TERM_RE.search(repr(probe))
            if match is not None:
                found[int(match.group(1))] = (tfield.path, tfield.name)
        _PATHS[schema] = found
    return found


def query_terms(query: tantivy.Query) -> set[tuple[int, str]]:
    """The string terms (engine field number, text) of a built query."""
    return {(int(m.group(1)), _unescape(m.group(2))) for m in _TERM_RE.finditer(repr(query))}


def shard_stats(searcher: tantivy.Searcher, schema: IndexSchema, query: tantivy.Query) -> TermStats:
    """One shard's statistics of ``query``'s terms (step 1 of the module docstring)."""
    paths = field_paths(schema)
    stats = TermStats()
    probes: dict[str, tuple[str, str | None]] = {}  # path → (engine name, a term it holds)
    for number, text in sorted(query_terms(query)):
        if number not in paths:
            continue
        path, name = paths[number]
        n = int(searcher.doc_freq(name, text))
        stats.doc_freq[(path, text)] = n
        held = probes.get(path, (name, None))[1]
        probes[path] = (name, held if held is not None or n == 0 else text)
    max_doc: int | None = None
    for path, (name, probe) in probes.items():
        if probe is None:
            first = searcher.terms_with_prefix(name, "", limit=1)
            probe = str(first[0][0]) if first else None
        read = None if probe is None else _field_totals(searcher, schema, name, probe)
        if read is None:
            stats.tokens[path] = 0
            continue
        max_doc, stats.tokens[path] = read
    stats.max_doc = max_doc if max_doc is not None else int(searcher.num_docs)
    return stats


def _field_totals(
    searcher: tantivy.Searcher, schema: IndexSchema, name: str, term: str
) -> tuple[int, int] | None:
    """(N, the field's total tokens) from the explanation of a document holding ``term``."""
    query = tantivy.Query.term_query(schema.schema, name, term)
    hits = searcher.search(query, 1).hits
    if not hits:
        return None
    node = orjson.loads(query.explain(searcher, hits[0][1]).to_json())
    values = _constants(node)
    total_docs = values.get("N, total number of docs")
    avgdl = values.get("avgdl, average length of field")
    if total_docs is None or avgdl is None:
        return None
    return int(total_docs), round(avgdl * total_docs)


def _constants(node: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping):
            continue
        out.setdefault(str(item.get("description", "")), float(item.get("value", 0.0)))
        stack.extend(item.get("details") or [])
    return out


def _idf(n: int, total: int) -> float:
    x = _f32(_f32(_f32(total - n) + 0.5) / _f32(n + 0.5))
    return _f32(math.log(_f32(1.0 + x)))


@dataclass(frozen=True)
class Phrase:
    """A phrase of the query: its field, its terms in order, and its idf on this shard."""

    path: str
    terms: tuple[str, ...]
    local_idf: float


def _idf_sum(path: str, terms: tuple[str, ...], stats: TermStats) -> float | None:
    total = 0.0
    for text in terms:
        n = stats.doc_freq.get((path, text))
        if n is None or n > stats.max_doc:
            return None
        total = _f32(total + _idf(n, stats.max_doc))
    return total


def phrases(
    query: tantivy.Query, paths: Mapping[int, tuple[str, str]], local: TermStats
) -> list[Phrase]:
    """The phrases of a built query, each with its idf under the shard's statistics."""
    out = []
    for match in _PHRASE_RE.finditer(repr(query)):
        number = int(match.group(1))
        if number not in paths:
            continue
        path = paths[number][0]
        terms = tuple(_unescape(t.group(2)) for t in _TERM_RE.finditer(match.group(2)))
        idf = _idf_sum(path, terms, local)
        if terms and idf is not None:
            out.append(Phrase(path, terms, idf))
    return out


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
    values = _constants(node)
    freq = values.get("freq, occurrences of term within document")
    dl = values.get("dl, length of field")
    if freq is None or dl is None:
        return None
    avgdl = _f32(_f32(tokens) / _f32(stats.max_doc))
    if avgdl <= 0:
        return None
    weight = _f32(idf * _f32(1.0 + K1))
    norm = _f32(K1 * _f32(_f32(1.0 - B) + _f32(_f32(B * _f32(dl)) / avgdl)))
    tf = _f32(freq)
    factor = _f32(tf / _f32(tf + norm))
    return _Bm25(_f32(weight * factor), idf, factor, avgdl, n, stats.max_doc)


def _term_bm25(
    node: Mapping[str, Any], paths: Mapping[int, tuple[str, str]], stats: TermStats
) -> _Bm25 | None:
    """A term node (its context names the term) under ``stats``."""
    for context in node.get("context") or []:
        match = _TERM_RE.search(str(context))
        if match is None or int(match.group(1)) not in paths:
            continue
        path = paths[int(match.group(1))][0]
        n = stats.doc_freq.get((path, _unescape(match.group(2))))
        if n is None or stats.max_doc <= 0 or n > stats.max_doc:
            return None
        return _bm25_parts(node, _idf(n, stats.max_doc), n, stats.tokens.get(path), stats)
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
    idf = _idf_sum(found[0].path, found[0].terms, stats)
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
        return _f32(new[0] * boost)
    total = 0.0
    for item in old:
        total = _f32(total + item)
    if math.isclose(value, total, rel_tol=1e-5, abs_tol=1e-7):
        summed = 0.0
        for item in new:
            summed = _f32(summed + item)
        return summed
    best = max(old)
    if total != best:
        # The engine explains a disjunction max as a sum: max + tie * (sum - max).
        tie = round((value - best) / (total - best), 6)
        new_best = max(new)
        new_total = 0.0
        for item in new:
            new_total = _f32(new_total + item)
        return _f32(new_best + _f32(_f32(new_total - new_best) * tie))
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


__all__ = [
    "Phrase",
    "TermStats",
    "field_paths",
    "global_explanation",
    "global_score",
    "phrases",
    "query_terms",
    "shard_stats",
]
