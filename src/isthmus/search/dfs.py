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
   (:mod:`isthmus.search.dfs_rescore`): a BM25 term node is recomputed in the engine's own f32
   arithmetic (idf from the summed ``n`` and ``N``, ``avgdl`` from the summed tokens over
   ``N``; the document's own ``freq`` and encoded length are kept), and its ancestors are
   recombined as the engine combines them (sums, boosts, disjunction max, constants).

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import tantivy

from isthmus.index.schema import IndexSchema

K1 = 1.2
B = 0.75
# A string term (text, keyword and keyword-like fields) in the engine's description of a query.
TERM_RE = re.compile(r'Term\(field=(\d+), type=Str, "((?:[^"\\]|\\.)*)"\)')
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


def f32(x: float) -> float:
    """``x`` rounded to the engine's 32-bit float."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def unescape(text: str) -> str:
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
            match = TERM_RE.search(repr(probe))
            if match is not None:
                found[int(match.group(1))] = (tfield.path, tfield.name)
        _PATHS[schema] = found
    return found


def query_terms(query: tantivy.Query) -> set[tuple[int, str]]:
    """The string terms (engine field number, text) of a built query."""
    return {(int(m.group(1)), unescape(m.group(2))) for m in TERM_RE.finditer(repr(query))}


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
    values = constants(node)
    total_docs = values.get("N, total number of docs")
    avgdl = values.get("avgdl, average length of field")
    if total_docs is None or avgdl is None:
        return None
    return int(total_docs), round(avgdl * total_docs)


def constants(node: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping):
            continue
        out.setdefault(str(item.get("description", "")), float(item.get("value", 0.0)))
        stack.extend(item.get("details") or [])
    return out


def idf(n: int, total: int) -> float:
    x = f32(f32(f32(total - n) + 0.5) / f32(n + 0.5))
    return f32(math.log(f32(1.0 + x)))


@dataclass(frozen=True)
class Phrase:
    """A phrase of the query: its field, its terms in order, and its idf on this shard."""

    path: str
    terms: tuple[str, ...]
    local_idf: float


def idf_sum(path: str, terms: tuple[str, ...], stats: TermStats) -> float | None:
    total = 0.0
    for text in terms:
        n = stats.doc_freq.get((path, text))
        if n is None or n > stats.max_doc:
            return None
        total = f32(total + idf(n, stats.max_doc))
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
        terms = tuple(unescape(t.group(2)) for t in TERM_RE.finditer(match.group(2)))
        idf = idf_sum(path, terms, local)
        if terms and idf is not None:
            out.append(Phrase(path, terms, idf))
    return out


__all__ = [
    "K1",
    "TERM_RE",
    "B",
    "Phrase",
    "TermStats",
    "constants",
    "f32",
    "field_paths",
    "idf",
    "idf_sum",
    "phrases",
    "query_terms",
    "shard_stats",
    "unescape",
]
