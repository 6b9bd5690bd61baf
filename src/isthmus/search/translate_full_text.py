"""Full-text queries → tantivy queries: ``match``, ``match_bool_prefix``, ``match_phrase``,
``match_phrase_prefix`` and ``multi_match``.  [no I/O]

``match`` analyses its text exactly as text fields were indexed (``search.analysis``); on other
field types it is a term query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tantivy

from isthmus.errors import QueryShardError
from isthmus.index.field_types import DATE_NANOS, IP
from isthmus.index.mapping import KEYWORD, TEXT, FieldSpec
from isthmus.search import dsl
from isthmus.search.analysis import analyze
from isthmus.search.translate_core import _as_text, regex_escape
from isthmus.search.translate_term_level import TermLevelTranslator


class FullTextTranslator(TermLevelTranslator):
    """The full-text query family (a match on a non-text field is a term-level query)."""

    def _text_terms(
        self, spec: FieldSpec, name: str, text: str, fuzziness: Any
    ) -> list[tantivy.Query]:
        out = []
        for token in analyze(text):
            distance = dsl.fuzzy_distance(fuzziness, token)
            if distance:
                out.append(
                    tantivy.Query.fuzzy_term_query(self._s, name, token, distance, True, False)
                )
            else:
                out.append(tantivy.Query.term_query(self._s, name, token))
        return out

    def _q_Match(self, q: dsl.Match) -> tantivy.Query:
        found = self._field(q.field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        if spec.type in (IP, DATE_NANOS):  # a term query, CIDR blocks and date rounding included
            try:
                return self._q_Term(dsl.Term(field=q.field, value=q.query))
            except QueryShardError:
                if q.lenient:
                    return tantivy.Query.empty_query()
                raise
        if spec.type != TEXT:
            value = self._typed(spec, q.query, lenient=q.lenient)
            if value is None:
                return tantivy.Query.empty_query()
            distance = dsl.fuzzy_distance(q.fuzziness, str(value)) if spec.type == KEYWORD else 0
            if distance:
                return tantivy.Query.fuzzy_term_query(self._s, name, value, distance, True, False)
            return self._term(spec, name, value)
        terms = self._text_terms(spec, name, _as_text(q.query), q.fuzziness)
        if not terms:
            return (
                tantivy.Query.all_query()
                if q.zero_terms_query == "all"
                else tantivy.Query.empty_query()
            )
        if len(terms) == 1:
            return terms[0]  # a lone term is a term query: minimum_should_match does not apply
        if q.operator == "and":
            return self._bool([(tantivy.Occur.Must, t) for t in terms])
        needed = dsl.minimum_should_match(q.minimum_should_match, len(terms))
        return self._should_at_least(terms, max(needed, 1))

    def _q_MatchBoolPrefix(self, q: dsl.MatchBoolPrefix) -> tantivy.Query:
        """A bool of the analysed terms (fuzzy as asked) with the last one a prefix query;
        ``operator``/``minimum_should_match`` count every clause, the prefix included."""
        found = self._field(q.field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        if spec.type == KEYWORD:
            # The keyword analyzer keeps the text whole: one prefix on the whole value.
            return self._keyword_regex(spec, name, regex_escape(_as_text(q.query)) + ".*", q)
        if spec.type != TEXT:
            return self._q_Match(dsl.Match(field=q.field, query=q.query, lenient=q.lenient))
        tokens = analyze(_as_text(q.query))
        if not tokens:
            return tantivy.Query.empty_query()
        *head, last = tokens
        clauses = self._text_terms(spec, name, " ".join(head), q.fuzziness) if head else []
        clauses.append(
            tantivy.Query.const_score_query(
                tantivy.Query.regex_query(self._s, name, regex_escape(last) + ".*"), 1.0
            )
        )
        if len(clauses) == 1:
            return clauses[0]
        if q.operator == "and":
            return self._bool([(tantivy.Occur.Must, c) for c in clauses])
        needed = dsl.minimum_should_match(q.minimum_should_match, len(clauses))
        return self._should_at_least(clauses, max(needed, 1))

    def _q_MatchPhrase(self, q: dsl.MatchPhrase) -> tantivy.Query:
        found = self._field(q.field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        if spec.type != TEXT:
            if q.prefix and spec.type == KEYWORD:
                return self._keyword_regex(spec, name, regex_escape(q.query) + ".*", q)
            return self._q_Match(dsl.Match(field=q.field, query=q.query))
        tokens = analyze(q.query)
        if not tokens:
            return tantivy.Query.empty_query()
        if q.prefix:
            if len(tokens) == 1:
                return tantivy.Query.regex_query(self._s, name, regex_escape(tokens[0]) + ".*")
            return tantivy.Query.phrase_prefix_query(
                self._s, name, list[str | tuple[int, str]](tokens)
            )
        if len(tokens) == 1:
            return tantivy.Query.term_query(self._s, name, tokens[0])
        return tantivy.Query.phrase_query(
            self._s, name, list[str | tuple[int, str]](tokens), q.slop
        )

    def _expand_fields(self, fields: Sequence[tuple[str, float]]) -> list[tuple[FieldSpec, float]]:
        out: list[tuple[FieldSpec, float]] = []
        seen: set[str] = set()
        for pattern, boost in fields:
            for spec in self.mapping.resolve(pattern):
                if spec.path not in seen and self.schema.field(spec.path) is not None:
                    if pattern == "*" and spec.type not in (TEXT, KEYWORD):
                        continue  # ES's default "*" skips fields the text cannot be parsed for
                    seen.add(spec.path)
                    out.append((spec, boost))
        return out

    def _q_MultiMatch(self, q: dsl.MultiMatch) -> tantivy.Query:
        fields = self._expand_fields(q.fields)
        if not fields:
            return tantivy.Query.empty_query()
        per_field: list[tantivy.Query] = []
        lenient = q.lenient or any(p == "*" or "*" in p for p, _ in q.fields)
        for spec, boost in fields:
            if q.type == "bool_prefix":
                sub: dsl.Query = dsl.MatchBoolPrefix(
                    field=spec.path,
                    query=q.query,
                    operator=q.operator,
                    minimum_should_match=q.minimum_should_match,
                    fuzziness=q.fuzziness,
                    lenient=lenient,
                )
            elif q.type in ("phrase", "phrase_prefix"):
                sub = dsl.MatchPhrase(
                    field=spec.path,
                    query=_as_text(q.query),
                    slop=q.slop,
                    prefix=q.type == "phrase_prefix",
                )
            else:
                sub = dsl.Match(
                    field=spec.path,
                    query=q.query,
                    operator=q.operator,
                    minimum_should_match=q.minimum_should_match,
                    fuzziness=q.fuzziness,
                    lenient=lenient,
                )
            query = self.translate(sub)
            per_field.append(tantivy.Query.boost_query(query, boost) if boost != 1.0 else query)
        if q.type in ("most_fields", "bool_prefix"):
            # ES scores bool_prefix as most_fields (every field's score adds up).
            return self._bool([(tantivy.Occur.Should, f) for f in per_field])
        if q.type == "cross_fields":
            return self._cross_fields(q, fields)
        return tantivy.Query.disjunction_max_query(per_field, q.tie_breaker)

    def _cross_fields(
        self, q: dsl.MultiMatch, fields: list[tuple[FieldSpec, float]]
    ) -> tantivy.Query:
        per_token = []
        for token in analyze(_as_text(q.query)):
            alts = []
            for spec, boost in fields:
                name = self.schema.by_path[spec.path].name
                value = token if spec.type == TEXT else _as_text(q.query)
                alt = tantivy.Query.term_query(self._s, name, value)
                alts.append(tantivy.Query.boost_query(alt, boost) if boost != 1.0 else alt)
            per_token.append(tantivy.Query.disjunction_max_query(alts, q.tie_breaker))
        if not per_token:
            return tantivy.Query.empty_query()
        if q.operator == "and":
            return self._bool([(tantivy.Occur.Must, t) for t in per_token])
        needed = dsl.minimum_should_match(q.minimum_should_match, len(per_token))
        return self._should_at_least(per_token, max(needed, 1))
