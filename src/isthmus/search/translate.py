"""Query tree → tantivy query, for one index generation.

Pure construction of tantivy query objects (no searching here). The rules that make results match
Elasticsearch's: ``match`` analyses its text exactly as text fields were indexed
(``search.analysis``); ``term`` does not; filter clauses score 0; ``bool`` with only ``should``
needs one of them; ``minimum_should_match`` above one is a conjunction over clause combinations
used as a zero-score filter beside the scoring disjunction, so scores stay Lucene's sums.

One room per query family: the translator's state, entry point and shared helpers in
``translate_core``, term-level queries in ``translate_term_level``, full-text queries in
``translate_full_text``; here the compound queries and the families translated elsewhere (geo,
knn, nested), and :class:`Translator`, the whole.
"""

from __future__ import annotations

import tantivy

from isthmus.search import dsl, geo_queries, knn, nested
from isthmus.search.translate_core import MAX_MSM_COMBINATIONS as MAX_MSM_COMBINATIONS
from isthmus.search.translate_core import regex_escape as regex_escape
from isthmus.search.translate_core import wildcard_to_regex as wildcard_to_regex
from isthmus.search.translate_full_text import FullTextTranslator


class Translator(FullTextTranslator):
    """Query tree → tantivy query for one index generation: every query family, and the
    compound queries that combine them."""

    def _q_MatchAll(self, q: dsl.MatchAll) -> tantivy.Query:
        return tantivy.Query.all_query()

    def _q_MatchNone(self, q: dsl.MatchNone) -> tantivy.Query:
        return tantivy.Query.empty_query()

    def _q_Bool(self, q: dsl.Bool) -> tantivy.Query:
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        clauses += [(tantivy.Occur.Must, self.translate(c)) for c in q.must]
        clauses += [
            (tantivy.Occur.Must, tantivy.Query.const_score_query(self.translate(c), 0.0))
            for c in q.filter
        ]
        clauses += [(tantivy.Occur.MustNot, self.translate(c)) for c in q.must_not]
        shoulds = [self.translate(c) for c in q.should]
        required = q.must or q.filter
        if shoulds:
            default = 0 if required else 1
            needed = (
                dsl.minimum_should_match(q.minimum_should_match, len(shoulds))
                if q.minimum_should_match is not None
                else default
            )
            if needed == 0 and required:
                clauses += [(tantivy.Occur.Should, s) for s in shoulds]
            elif needed == 0:
                clauses.append(
                    (tantivy.Occur.Should, self._bool([(tantivy.Occur.Should, s) for s in shoulds]))
                )
                clauses.append(
                    (
                        tantivy.Occur.Should,
                        tantivy.Query.const_score_query(tantivy.Query.all_query(), 0.0),
                    )
                )
            else:
                clauses.append((tantivy.Occur.Must, self._should_at_least(shoulds, needed)))
        if not any(o in (tantivy.Occur.Must, tantivy.Occur.Should) for o, _ in clauses):
            # A purely negative bool matches everything the negations leave (ES adds match_all).
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(tantivy.Query.all_query(), 0.0),
                )
            )
        return self._bool(clauses)

    def _q_GeoDistance(self, q: geo_queries.GeoDistance) -> tantivy.Query:
        return geo_queries.to_tantivy(q, self.schema, self.mapping, self.searcher)

    def _q_GeoBoundingBox(self, q: geo_queries.GeoBoundingBox) -> tantivy.Query:
        return geo_queries.to_tantivy(q, self.schema, self.mapping, self.searcher)

    def _q_Knn(self, q: knn.Knn) -> tantivy.Query:
        return knn.to_tantivy(q, self)

    def _q_Nested(self, q: nested.Nested) -> tantivy.Query:
        return nested.to_tantivy(
            q, self.schema, self.mapping, self.searcher, self.now_ms, self.index
        )

    def _q_ConstantScore(self, q: dsl.ConstantScore) -> tantivy.Query:
        return tantivy.Query.const_score_query(self.translate(q.filter), q.boost)

    def _q_DisMax(self, q: dsl.DisMax) -> tantivy.Query:
        return tantivy.Query.disjunction_max_query(
            [self.translate(c) for c in q.queries], q.tie_breaker
        )
