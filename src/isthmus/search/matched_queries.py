"""Named queries: which ``_name``-d clauses of the query and ``post_filter`` a hit matches.  [no I/O]

ES reports them per hit as ``matched_queries`` (after ``sort``). Each named clause is compiled once
per index mapping into an in-memory predicate (:mod:`isthmus.search.evaluate`, the same matching
semantics as the index) and tested against the hit's ``_source`` as the response shows it to the
caller (field-level security already applied, so a hidden field never matches). A clause the
evaluator cannot run in memory is left out rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from isthmus.errors import NotImplementedYet
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl
from isthmus.search.evaluate import compile_query
from isthmus.search.evaluate_fields import EvalDoc


class MatchedQueries:
    """The named clauses of one request, compiled lazily per mapping."""

    def __init__(self, query: dsl.Query | None, post_filter: dsl.Query | None, now_ms: int):
        self.named = dsl.named_queries(query) + dsl.named_queries(post_filter)
        self.now_ms = now_ms
        self._compiled: dict[int, list[tuple[str, Callable[[EvalDoc], bool]]]] = {}

    def __bool__(self) -> bool:
        return bool(self.named)

    def _predicates(self, mapping: IndexMapping) -> list[tuple[str, Callable[[EvalDoc], bool]]]:
        key = id(mapping)
        found = self._compiled.get(key)
        if found is None:
            found = []
            for query in self.named:
                assert query.name is not None
                try:
                    found.append((query.name, compile_query(query, mapping, now_ms=self.now_ms)))
                except NotImplementedYet:
                    continue
            self._compiled[key] = found
        return found

    def of(
        self, doc_id: str, source: Mapping[str, Any], mapping: IndexMapping, index: str = ""
    ) -> list[str]:
        """The names of the clauses this document matches (each name once, in tree order);
        ``index`` is what ``_index`` holds for it (``<alias>:<index>`` for another cluster)."""
        doc = EvalDoc(doc_id, source, index=index)
        out: list[str] = []
        for name, test in self._predicates(mapping):
            if name not in out and test(doc):
                out.append(name)
        return out


__all__ = ["MatchedQueries"]
