"""In-memory query evaluation: does one document match a query tree?  [no I/O]

This module owns Elasticsearch's *matching* semantics (not scoring) for the typed tree of
:mod:`isthmus.search.dsl`, applied to the values the index holds for a document: the normalised
values of :func:`isthmus.index.mapping.source_values`, and for ``text`` fields the tokens of
:func:`isthmus.search.analysis.analyze`. Filter aggregations use it, and tests use it as an oracle
for the tantivy translation, so it must agree with what the index would answer.

A query is compiled once (:func:`compile_query`: field lookups, value coercion, date math, regex
compilation, and the 400 errors those can raise) into a predicate over :class:`EvalDoc`. Term
level building blocks live in ``evaluate_fields``, full-text queries in ``evaluate_fulltext``.

Rules worth knowing:

* A field missing from the mapping matches nothing, as in ES.
* ``term``/``terms``/``prefix``/``wildcard``/``regexp``/``fuzzy`` are not analysed: on a ``text``
  field they test each analysed token (so ``term: {title: "Hello"}`` never matches), on a
  ``keyword`` field the whole value. Wildcard and regexp patterns are not lower-cased either.
* ``range`` on dates uses date math and ES rounding (``gt``/``lte`` round up, ``gte``/``lt``
  down); on ``keyword`` it compares strings, on ``text`` each token; one value must satisfy all
  bounds.
* ``bool``: with no ``must``/``filter`` clause at least one ``should`` clause must match,
  otherwise ``should`` is optional unless ``minimum_should_match`` says more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isthmus.errors import NotImplementedYet
from isthmus.index.mapping import BOOLEAN, DATE, KEYWORD, TEXT, FieldSpec
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl, evaluate_typed, geo_queries
from isthmus.search.evaluate_fields import (
    EvalDoc,
    Predicate,
    always,
    as_term_text,
    bound_test,
    date_bound,
    field_terms,
    field_values,
    fuzzy_test,
    never,
    prefix_test,
    query_bool,
    range_number,
    string_only,
    term_test,
)
from isthmus.search.evaluate_fulltext import match_test, multi_match_test, phrase_test
from isthmus.search.index_field import index_field_matches, is_index_field_query
from isthmus.search.term_patterns import regexp_regex, wildcard_regex


def matches(query: dsl.Query, doc: EvalDoc, mapping: IndexMapping, *, now_ms: int) -> bool:
    """Whether ``doc`` matches ``query`` under ``mapping`` (``now_ms`` anchors date math)."""
    return compile_query(query, mapping, now_ms=now_ms)(doc)


def compile_query(query: dsl.Query, mapping: IndexMapping, *, now_ms: int) -> Predicate:
    """``query`` as a reusable predicate; raises the request's 400 errors up front."""
    return _Compiler(mapping, now_ms).compile(query)


def _index_test(query: dsl.Query) -> Predicate:
    """A query on ``_index``: decided once per index name (its errors raised up front)."""
    index_field_matches(query, "")
    decided: dict[str, bool] = {}

    def test(doc: EvalDoc) -> bool:
        found = decided.get(doc.index)
        if found is None:
            found = decided[doc.index] = index_field_matches(query, doc.index)
        return found

    return test


class _Compiler:
    def __init__(self, mapping: IndexMapping, now_ms: int) -> None:
        from isthmus.search import nested  # nested evaluates its inner query with this module

        self.mapping = mapping
        self.now_ms = now_ms
        self._dispatch: dict[type[dsl.Query], Callable[[Any], Predicate]] = {
            dsl.MatchAll: lambda q: always,
            dsl.MatchNone: lambda q: never,
            dsl.Term: self._term,
            dsl.Terms: self._terms,
            dsl.Ids: lambda q: _id_test(set(q.values), False),
            dsl.Exists: self._exists,
            dsl.Range: self._range,
            dsl.Prefix: self._prefix,
            dsl.Wildcard: self._wildcard,
            dsl.Regexp: self._regexp,
            dsl.Fuzzy: self._fuzzy,
            dsl.Match: self._match,
            dsl.MatchBoolPrefix: self._match,
            dsl.MatchPhrase: self._match_phrase,
            dsl.MultiMatch: lambda q: multi_match_test(q, self.mapping, now_ms=self.now_ms),
            dsl.Bool: self._bool,
            dsl.ConstantScore: lambda q: self.compile(q.filter),
            dsl.DisMax: self._dis_max,
            geo_queries.GeoDistance: self._geo,
            geo_queries.GeoBoundingBox: self._geo,
            nested.Nested: lambda q: nested.evaluate(q, self.mapping, self.now_ms),
        }

    def compile(self, query: dsl.Query) -> Predicate:
        if is_index_field_query(query):
            return _index_test(query)
        handler = self._dispatch.get(type(query))
        if handler is None:
            raise NotImplementedYet(f"query [{type(query).__name__}] cannot be evaluated in memory")
        return handler(query)

    # --- compound ---------------------------------------------------------------------------

    def _bool(self, q: dsl.Bool) -> Predicate:
        required = [self.compile(c) for c in (*q.must, *q.filter)]
        excluded = [self.compile(c) for c in q.must_not]
        optional = [self.compile(c) for c in q.should]
        if q.minimum_should_match is not None:
            need = dsl.minimum_should_match(q.minimum_should_match, len(optional))
        else:
            need = 1 if optional and not required else 0

        def pred(doc: EvalDoc) -> bool:
            if not all(p(doc) for p in required) or any(p(doc) for p in excluded):
                return False
            if need == 0:
                return True
            hits = 0
            for p in optional:
                if p(doc):
                    hits += 1
                    if hits >= need:
                        return True
            return False

        return pred

    def _geo(self, q: geo_queries.GeoQuery) -> Predicate:
        name = "geo_distance" if isinstance(q, geo_queries.GeoDistance) else "geo_bounding_box"
        spec = geo_queries.geo_spec(q, self.mapping, name)
        if spec is None:
            return never
        test = geo_queries.point_test(q)
        return lambda doc: any(test(p) for p in field_values(doc, spec))

    def _dis_max(self, q: dsl.DisMax) -> Predicate:
        preds = [self.compile(c) for c in q.queries]
        return lambda doc: any(p(doc) for p in preds)

    # --- term level -------------------------------------------------------------------------

    def _term(self, q: dsl.Term) -> Predicate:
        if q.field == "_id":
            return _id_test({as_term_text(q.value)}, q.case_insensitive)
        spec = self.mapping.field(q.field)
        if spec is None or q.value is None:
            return never
        typed = evaluate_typed.term(spec, q.value, self.now_ms)
        if typed is not None:
            return typed
        return term_test(spec, q.value, now_ms=self.now_ms, case_insensitive=q.case_insensitive)

    def _terms(self, q: dsl.Terms) -> Predicate:
        if q.field == "_id":
            return _id_test({as_term_text(v) for v in q.values}, False)
        spec = self.mapping.field(q.field)
        if spec is None:
            return never
        preds = [term_test(spec, v, now_ms=self.now_ms) for v in q.values if v is not None]
        return lambda doc: any(p(doc) for p in preds)

    def _string_field(
        self, kind: str, field: str, *, wildcard_type: bool = True
    ) -> FieldSpec | None:
        """The field of a prefix/wildcard/regexp/fuzzy query: only strings are allowed."""
        spec = self.mapping.field(field)
        if spec is not None and spec.type not in (TEXT, KEYWORD):
            raise string_only(kind, spec, wildcard_type=wildcard_type)
        return spec

    def _prefix(self, q: dsl.Prefix) -> Predicate:
        if q.field == "_id":
            if q.case_insensitive:
                folded = q.value.lower()
                return lambda doc: doc.id.lower().startswith(folded)
            return lambda doc: doc.id.startswith(q.value)
        spec = self._string_field("prefix", q.field)
        return never if spec is None else prefix_test(spec, q.value, q.case_insensitive)

    def _wildcard(self, q: dsl.Wildcard) -> Predicate:
        spec = self._string_field("wildcard", q.field)
        if spec is None:
            return never
        pattern = wildcard_regex(q.value, q.case_insensitive)
        return lambda doc: any(pattern.fullmatch(t) for t in field_terms(doc, spec))

    def _regexp(self, q: dsl.Regexp) -> Predicate:
        spec = self._string_field("regexp", q.field)
        if spec is None:
            return never
        pattern = regexp_regex(q.value, q.case_insensitive, q.max_determinized_states)
        return lambda doc: any(pattern.fullmatch(t) for t in field_terms(doc, spec))

    def _fuzzy(self, q: dsl.Fuzzy) -> Predicate:
        spec = self._string_field("fuzzy", q.field, wildcard_type=False)
        if spec is None or q.value is None:
            return never
        term = as_term_text(q.value)
        return fuzzy_test(spec, term, q.fuzziness, q.prefix_length, q.transpositions)

    def _exists(self, q: dsl.Exists) -> Predicate:
        if q.field in ("_id", "_index", "_source"):
            return always
        specs = self.mapping.resolve(q.field)
        if not specs and "*" not in q.field:
            # An object path exists when any field below it does.
            specs = self.mapping.resolve(q.field + ".*")
        if not specs:
            return never
        # Any non-null value counts (an empty text value still writes a norm, so ES finds it);
        # keyword values over ignore_above are not indexed and do not count.
        return lambda doc: any(field_values(doc, s) for s in specs)

    def _range(self, q: dsl.Range) -> Predicate:
        spec = self.mapping.field(q.field)
        if spec is None:
            return never
        typed = evaluate_typed.range_(spec, q, self.now_ms)
        if typed is not None:
            return typed
        bounds = [
            (op, b)
            for op, b in (("gte", q.gte), ("gt", q.gt), ("lt", q.lt), ("lte", q.lte))
            if b is not None
        ]
        tests: list[Callable[[Any], bool]] = []
        for op, bound in bounds:
            edge: Any
            if spec.type == DATE:
                # ES rounding: gt and lte round up (exclude/include the whole unit).
                edge = date_bound(
                    spec,
                    bound,
                    now_ms=self.now_ms,
                    fmt=q.format,
                    time_zone=q.time_zone,
                    round_up=op in ("gt", "lte"),
                )
            elif spec.type in (TEXT, KEYWORD):
                edge = as_term_text(bound)
            elif spec.type == BOOLEAN:
                edge = query_bool(bound)
            else:
                edge = range_number(bound)
            tests.append(bound_test(op, edge))
        # A range on a text field compares each token (a Lucene term range, bounds as given).
        values = field_terms if spec.type == TEXT else field_values
        # One value must satisfy every bound (a point inside the range), not different values.
        return lambda doc: any(all(t(v) for t in tests) for v in values(doc, spec))

    # --- full text --------------------------------------------------------------------------

    def _match(self, q: dsl.Match) -> Predicate:
        spec = self.mapping.field(q.field)
        if spec is None:
            return never
        typed = evaluate_typed.term(spec, q.query, self.now_ms)
        if typed is not None:
            return typed
        return match_test(
            spec,
            q.query,
            now_ms=self.now_ms,
            operator=q.operator,
            msm=q.minimum_should_match,
            fuzziness=q.fuzziness,
            prefix_length=q.prefix_length,
            zero_terms_query=q.zero_terms_query,
            lenient=q.lenient,
            last_is_prefix=isinstance(q, dsl.MatchBoolPrefix),
        )

    def _match_phrase(self, q: dsl.MatchPhrase) -> Predicate:
        spec = self.mapping.field(q.field)
        if spec is None:
            return never
        return phrase_test(spec, q.query, now_ms=self.now_ms, slop=q.slop, prefix=q.prefix)


def _id_test(ids: set[str], case_insensitive: bool) -> Predicate:
    if case_insensitive:
        lowered = {i.lower() for i in ids}
        return lambda doc: doc.id.lower() in lowered
    return lambda doc: doc.id in ids


__all__ = ["EvalDoc", "Predicate", "compile_query", "matches"]
