"""The core of query translation: the translator's state, its entry point and the helpers every
query family uses (field lookup, typing a value as the index holds it, bool combinators).
[no I/O]

``search.translate``'s :class:`~isthmus.search.translate.Translator` is built on this class
through the per-family translators (``translate_term_level``, ``translate_full_text``); its
entry point dispatches on the query's type to a ``_q_<Type>`` method of the family that owns it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import tantivy

from isthmus.errors import IllegalArgumentError, IsthmusError, QueryShardError
from isthmus.index.dates import DateParseError
from isthmus.index.field_types import GEO_POINT
from isthmus.index.mapping import DATE, KEYWORD, TEXT, FieldSpec, Mapping, coerce
from isthmus.index.schema import IndexSchema
from isthmus.search import dsl, field_queries
from isthmus.search.index_field import index_field_matches, is_index_field_query

_REGEX_META = set('\\.+*?()|[]{}^$#&-~"<>@')
MAX_MSM_COMBINATIONS = 256
# How much of a long prefix narrows the candidates of an in-memory evaluation (well within
# what tantivy's regex engine compiles).
_NARROWING_CHARS = 200
# The longest range bound written as a term regex (see _string_range).
_MAX_REGEX_RANGE_BOUND = 64


def regex_escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def wildcard_to_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(regex_escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else regex_escape(c))
        i += 1
    return "".join(out)


@dataclass
class TranslatorCore:
    """The translator's state and the helpers its query families share."""

    schema: IndexSchema
    mapping: Mapping
    now_ms: int
    index: str = ""  # the shard's index: what ``_index`` holds
    searcher: tantivy.Searcher | None = None  # the shard's view, for geo queries
    # What the caller may see (alias filters, DLS): knn's candidates are limited to it.
    prefilters: tuple[tantivy.Query, ...] = ()

    @property
    def _s(self) -> tantivy.Schema:
        return self.schema.schema

    def translate(self, query: dsl.Query) -> tantivy.Query:
        result: tantivy.Query
        on_index = is_index_field_query(query)
        if on_index:
            hit = index_field_matches(query, self.index)
            result = tantivy.Query.all_query() if hit else tantivy.Query.empty_query()
        else:
            result = getattr(self, "_q_" + type(query).__name__)(query)
        if query.boost != 1.0 and (
            on_index or not isinstance(query, dsl.ConstantScore | dsl.Terms)
        ):
            result = tantivy.Query.boost_query(result, query.boost)
        return result

    def _field(self, path: str) -> tuple[FieldSpec, str] | None:
        spec = self.mapping.field(path)
        tfield = self.schema.field(spec.path) if spec is not None else None  # aliases resolved
        if spec is None or tfield is None:
            return None
        return spec, tfield.name

    def _typed(self, spec: FieldSpec, value: Any, lenient: bool = False) -> Any:
        """A query value converted to the field's type, as the index holds it."""
        if spec.type == GEO_POINT:
            # ES's geometry field types refuse term-level matching (term, match, query_string).
            if lenient:
                return None
            raise QueryShardError(
                "Geometry fields do not support exact searching, use dedicated geometry queries "
                f"instead: [{spec.path}]"
            )
        try:
            if spec.type == DATE:
                from isthmus.search.datemath import resolve_date_math

                return resolve_date_math(value, now_ms=self.now_ms, fmt=spec.format)
            if spec.type in (TEXT, KEYWORD):
                return _as_text(value)
            return coerce(spec, value)
        except (DateParseError, ValueError) as exc:
            if lenient:
                return None
            raise QueryShardError(f"failed to create query: {exc}") from None
        except IsthmusError as exc:  # the field's own refusal (coerce), as when indexing
            if lenient:
                return None
            reason = exc.reason
            if spec.is_numeric:
                reason = f'For input string: "{value}"'
            raise QueryShardError(f"failed to create query: {reason}") from None

    def _keyword_regex(
        self, spec: FieldSpec, name: str, regex: str, source: dsl.Query | None = None
    ) -> tantivy.Query:
        """A regex over a keyword field's terms; a key under a flattened field matches within
        its ``key\\0value`` pair terms (it has no field of its own). ``source``: the query the
        regex stands for, evaluated document by document if tantivy refuses the regex."""
        if spec.flattened_key is not None:
            pairs = self.schema.keyed_pairs(spec)
            if pairs is None:
                return tantivy.Query.empty_query()
            name, regex = pairs, field_queries.keyed_regex(spec.flattened_key, regex)
        try:
            return tantivy.Query.regex_query(self._s, name, regex)
        except ValueError:
            if source is None:
                raise
            return self._scanned(source, name, None)

    def _string_range(
        self, source: dsl.Query, name: str, bounds: tuple[str | None, str | None, bool, bool]
    ) -> tantivy.Query:
        """A range over a field's terms (term_ranges writes it as one regex), evaluated
        document by document when its bounds make a regex tantivy refuses. The regex grows with
        the square of the bounds' length and tantivy refuses it from a few dozen characters on,
        after compiling for seconds at thousands: longer bounds go to the evaluation directly."""
        if max(len(bounds[0] or ""), len(bounds[1] or "")) > _MAX_REGEX_RANGE_BOUND:
            return self._scanned(source, name, None)
        try:
            return field_queries.string_range(self._s, name, bounds)
        except ValueError:
            return self._scanned(source, name, None)

    def _scanned(self, source: dsl.Query, name: str, narrow: str | None) -> tantivy.Query:
        """The ``_id`` terms of the documents ``source`` matches, tested one by one with the
        in-memory evaluation (the same meaning; its patterns run on RE2). This is for patterns
        tantivy cannot compile: it builds a term regex of at most ~1000 automaton states, so a
        4000-character prefix, which Lucene runs, is refused there. ``narrow``: a prefix every
        matching term of ``name`` starts with; its first characters narrow the candidates."""
        from isthmus.search.evaluate import compile_query
        from isthmus.search.evaluate_fields import EvalDoc

        if self.searcher is None:
            raise QueryShardError(
                f"failed to create query: the [{type(source).__name__.lower()}] query's pattern "
                "is too long to run here"
            )
        candidates = tantivy.Query.all_query()
        if narrow:
            flags = "(?i)" if getattr(source, "case_insensitive", False) else ""
            head = flags + regex_escape(narrow[:_NARROWING_CHARS]) + ".*"
            candidates = tantivy.Query.regex_query(self._s, name, head)
        test = compile_query(source, self.mapping, now_ms=self.now_ms)
        searcher = self.searcher
        ids: list[Any] = []
        for _score, addr in searcher.search(candidates, max(searcher.num_docs, 1)).hits:
            doc = searcher.doc(addr)
            doc_id = str(doc.get_first("_id"))
            stored = orjson.loads(bytes(doc.get_first("_src") or b"{}"))
            if test(EvalDoc(doc_id, stored, index=self.index)):
                ids.append(doc_id)
        if not ids:
            return tantivy.Query.empty_query()
        return tantivy.Query.term_set_query(self._s, "_id", ids)

    def _term(self, spec: FieldSpec, name: str, value: Any) -> tantivy.Query:
        return tantivy.Query.term_query(self._s, name, value)

    def _bool(self, clauses: Sequence[tuple[tantivy.Occur, tantivy.Query]]) -> tantivy.Query:
        return tantivy.Query.boolean_query(list(clauses))

    def _should_at_least(self, queries: list[tantivy.Query], needed: int) -> tantivy.Query:
        """Scoring disjunction of ``queries`` of which at least ``needed`` must match."""
        if needed > len(queries):
            return tantivy.Query.empty_query()  # ES: more than there are matches nothing
        if needed <= 0:
            return self._bool([(tantivy.Occur.Should, q) for q in queries])
        if needed >= len(queries):
            return self._bool([(tantivy.Occur.Must, q) for q in queries])
        if needed == 1:
            return self._bool([(tantivy.Occur.Should, q) for q in queries])
        combos = list(itertools.combinations(range(len(queries)), needed))
        if len(combos) > MAX_MSM_COMBINATIONS:
            raise IllegalArgumentError(
                f"minimum_should_match of [{needed}] over [{len(queries)}] clauses is more than "
                "Isthmus expands; use fewer optional clauses"
            )
        gate = self._bool(
            [
                (
                    tantivy.Occur.Should,
                    self._bool([(tantivy.Occur.Must, queries[i]) for i in combo]),
                )
                for combo in combos
            ]
        )
        scoring = self._bool([(tantivy.Occur.Should, q) for q in queries])
        return self._bool(
            [
                (tantivy.Occur.Must, scoring),
                (tantivy.Occur.Must, tantivy.Query.const_score_query(gate, 0.0)),
            ]
        )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
