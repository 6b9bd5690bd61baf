"""Highlighting of ``text`` fields from the stored source.  [no I/O]

The terms to mark are the analysed terms the query looks for on that field (collected from the
query tree); fragments are cut around them with ES's defaults (100 characters, 5 fragments).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.cluster.patterns import simple_match
from isthmus.index.mapping import KEYWORD, TEXT, source_values
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl
from isthmus.search.analysis import analyze, analyze_with_offsets
from isthmus.search.request_hits import Highlight


def query_terms(query: dsl.Query, field: str | None = None) -> dict[str, set[str]]:
    """Field → the terms (analysed) a query tree looks for; ``*`` for field-less queries."""
    out: dict[str, set[str]] = {}

    def add(fld: str, words: list[str]) -> None:
        out.setdefault(fld, set()).update(words)

    def walk(q: dsl.Query) -> None:
        if isinstance(q, dsl.Match):
            add(q.field, analyze(str(q.query)))
        elif isinstance(q, dsl.MatchPhrase):
            add(q.field, analyze(q.query))
        elif isinstance(q, dsl.MultiMatch):
            for fld, _ in q.fields:
                add(fld, analyze(str(q.query)))
        elif isinstance(q, dsl.Term):
            add(q.field, [str(q.value)])
        elif isinstance(q, dsl.Terms):
            add(q.field, [str(v) for v in q.values])
        elif isinstance(q, dsl.Bool):
            for clause in (*q.must, *q.should, *q.filter):
                walk(clause)
        elif isinstance(q, dsl.ConstantScore):
            walk(q.filter)
        elif isinstance(q, dsl.DisMax):
            for clause in q.queries:
                walk(clause)

    walk(query)
    return out


def _terms_for(field: str, terms: Mapping[str, set[str]], require_match: bool) -> set[str]:
    found: set[str] = set()
    for pattern, words in terms.items():
        if pattern == field or simple_match(field, pattern) or not require_match:
            found |= words
    return found


def _fragments(text: str, words: set[str], spec: Highlight, opts: Mapping[str, Any]) -> list[str]:
    """Marked fragments of ``text``: the whole value when it fits in one fragment, else
    passages of about ``fragment_size`` characters, each starting at a match, never repeated."""
    pre, post = spec.pre_tags[0], spec.post_tags[0]
    size = int(opts.get("fragment_size", spec.fragment_size))
    count = int(opts.get("number_of_fragments", spec.number_of_fragments))
    spans = [(s, e) for tok, s, e in analyze_with_offsets(text) if tok in words]
    if not spans:
        return []
    if count == 0 or len(text) <= size:
        return [_mark(text, spans, pre, post)]
    frags: list[str] = []
    i = 0
    while i < len(spans) and len(frags) < count:
        begin = spans[i][0]
        end = max(spans[i][1], min(len(text), begin + size))
        if end < len(text):
            cut = text.rfind(" ", spans[i][1], end)
            end = cut if cut > 0 else end
        inside = [(s - begin, e - begin) for s, e in spans[i:] if e <= end]
        frags.append(_mark(text[begin:end], inside, pre, post))
        i += len(inside)
    return frags


def _mark(text: str, spans: list[tuple[int, int]], pre: str, post: str) -> str:
    out = []
    last = 0
    for s, e in spans:
        out.append(text[last:s])
        out.append(pre + text[s:e] + post)
        last = e
    out.append(text[last:])
    return "".join(out)


def highlight(
    source: Mapping[str, Any], mapping: IndexMapping, query: dsl.Query, spec: Highlight
) -> dict[str, list[str]]:
    terms = query_terms(query)
    out: dict[str, list[str]] = {}
    for pattern, opts in spec.fields.items():
        for fspec in mapping.resolve(pattern):
            if fspec.type not in (TEXT, KEYWORD):
                continue
            words = _terms_for(fspec.path, terms, spec.require_field_match)
            if fspec.type == TEXT:
                words = {w for t in words for w in analyze(t)}
            if not words:
                continue
            frags: list[str] = []
            for value in source_values(source, fspec):
                if fspec.type == KEYWORD:
                    if value in words:
                        frags.append(f"{spec.pre_tags[0]}{value}{spec.post_tags[0]}")
                else:
                    frags.extend(_fragments(value, words, spec, opts))
            if frags:
                out[fspec.path] = frags
    return out
