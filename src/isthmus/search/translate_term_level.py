"""Term-level queries → tantivy queries: ``term``, ``terms``, ``ids``, ``range``, ``exists``,
``prefix``, ``wildcard``, ``regexp`` and ``fuzzy``.  [no I/O]

Values are typed as the field holds them (``term`` does not analyse); a date term is the range
its rounding covers; the field types stored in a form of their own go to ``field_queries``.
"""

from __future__ import annotations

from typing import Any

import tantivy

from isthmus.errors import QueryShardError
from isthmus.index.dates import DateParseError
from isthmus.index.field_types import DATE_NANOS, GEO_POINT, IP, UNSIGNED_LONG
from isthmus.index.mapping import (
    BOOLEAN,
    DATE,
    FLOAT_TYPES,
    INTEGER_TYPES,
    KEYWORD,
    TEXT,
    FieldSpec,
)
from isthmus.search import dsl, field_queries
from isthmus.search.term_patterns import TermPattern, regexp_regex, wildcard_regex
from isthmus.search.translate_core import TranslatorCore, _as_text, regex_escape


class TermLevelTranslator(TranslatorCore):
    """The term-level query family."""

    def _q_Term(self, q: dsl.Term) -> tantivy.Query:
        if q.field == "_id":
            return tantivy.Query.term_query(self._s, "_id", _as_text(q.value))
        found = self._field(q.field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        if spec.type in (DATE, DATE_NANOS):
            # ES turns a date term into the range its rounding covers ("2024-01-01": that day).
            return self._q_Range(dsl.Range(field=q.field, gte=q.value, lte=q.value))
        if spec.type == IP:
            return field_queries.ip_term(self._s, name, q.field, q.value)
        value = self._typed(spec, q.value)
        if q.case_insensitive and spec.type in (KEYWORD, TEXT):
            return self._keyword_regex(spec, name, "(?i)" + regex_escape(value), q)
        return self._term(spec, name, value)

    def _q_Terms(self, q: dsl.Terms) -> tantivy.Query:
        clauses = []
        for value in q.values:
            clauses.append(
                (tantivy.Occur.Should, self._q_Term(dsl.Term(field=q.field, value=value)))
            )
        inner = self._bool(clauses) if clauses else tantivy.Query.empty_query()
        return tantivy.Query.const_score_query(inner, q.boost)

    def _q_Ids(self, q: dsl.Ids) -> tantivy.Query:
        clauses = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self._s, "_id", v)) for v in q.values
        ]
        inner = self._bool(clauses) if clauses else tantivy.Query.empty_query()
        return tantivy.Query.const_score_query(inner, 1.0)

    def _q_Range(self, q: dsl.Range) -> tantivy.Query:
        found = self._field(q.field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        lower, include_lower = (q.gte, True) if q.gte is not None else (q.gt, False)
        upper, include_upper = (q.lte, True) if q.lte is not None else (q.lt, False)
        if lower is None and upper is None:
            return (
                tantivy.Query.exists_query(name, False)
                if spec.type != TEXT
                else tantivy.Query.regex_query(self._s, name, ".*")
            )
        if spec.type == GEO_POINT:
            raise QueryShardError(
                f"Field [{q.field}] of type [geo_point] does not support range queries"
            )
        if spec.type in (IP, DATE_NANOS, UNSIGNED_LONG):
            return self._typed_range(q, spec, name, (lower, upper, include_lower, include_upper))
        if spec.flattened_key is not None:
            pairs = self.schema.keyed_pairs(spec)
            if pairs is None:
                return tantivy.Query.empty_query()
            bounds = field_queries.keyed_bounds(
                spec.flattened_key, lower, upper, include_lower, include_upper
            )
            return self._string_range(q, pairs, bounds)
        if spec.type == DATE:
            from isthmus.search.datemath import resolve_date_math

            fmt = q.format or spec.format
            try:
                lo = (
                    None
                    if lower is None
                    else resolve_date_math(
                        lower,
                        now_ms=self.now_ms,
                        fmt=fmt,
                        round_up=not include_lower,
                        time_zone=q.time_zone,
                    )
                )
                hi = (
                    None
                    if upper is None
                    else resolve_date_math(
                        upper,
                        now_ms=self.now_ms,
                        fmt=fmt,
                        round_up=include_upper,
                        time_zone=q.time_zone,
                    )
                )
            except DateParseError as exc:
                raise QueryShardError(f"failed to create query: {exc}") from None
            return tantivy.Query.range_query(
                self._s,
                name,
                tantivy.FieldType.Integer,
                lo,
                hi,
                include_lower or lo is None,
                include_upper or hi is None,
            )
        if spec.type in INTEGER_TYPES or spec.type in FLOAT_TYPES:
            ftype = (
                tantivy.FieldType.Integer if spec.type in INTEGER_TYPES else tantivy.FieldType.Float
            )
            lo_v = self._bound(spec, lower)
            hi_v = self._bound(spec, upper)
            if spec.type in INTEGER_TYPES:
                # An infinite bound is no bound on its own side and admits nothing on the other.
                if any(v != v for v in (lo_v, hi_v) if v is not None):  # NaN
                    raise QueryShardError('failed to create query: For input string: "NaN"')
                if lo_v == float("inf") or hi_v == float("-inf"):
                    return tantivy.Query.empty_query()
                lo_v = None if lo_v == float("-inf") else lo_v
                hi_v = None if hi_v == float("inf") else hi_v
                # Integer fields: fractional bounds tighten to the integers they admit.
                lo_v, include_lower = _int_bound(lo_v, include_lower, lower_side=True)
                hi_v, include_upper = _int_bound(hi_v, include_upper, lower_side=False)
                # A bound past the type's range: nothing beyond it, everything within it.
                least, most = INTEGER_TYPES[spec.type]
                if (lo_v is not None and lo_v > most) or (hi_v is not None and hi_v < least):
                    return tantivy.Query.empty_query()
                lo_v = None if lo_v is not None and lo_v < least else lo_v
                hi_v = None if hi_v is not None and hi_v > most else hi_v
                if lo_v is None and hi_v is None:
                    return tantivy.Query.exists_query(name, False)
            return tantivy.Query.range_query(
                self._s,
                name,
                ftype,
                lo_v,
                hi_v,
                include_lower or lo_v is None,
                include_upper or hi_v is None,
            )
        if spec.type == BOOLEAN:
            raise QueryShardError(
                f"Field [{q.field}] of type [boolean] does not support range queries"
            )
        lo_s = None if lower is None else _as_text(lower)
        hi_s = None if upper is None else _as_text(upper)
        return self._string_range(q, name, (lo_s, hi_s, include_lower, include_upper))

    def _typed_range(
        self, q: dsl.Range, spec: FieldSpec, name: str, bounds: tuple[Any, Any, bool, bool]
    ) -> tantivy.Query:
        lower, upper, inc_lo, inc_hi = bounds
        if spec.type == IP:
            return field_queries.ip_range(self._s, name, lower, upper, inc_lo, inc_hi)
        if spec.type == UNSIGNED_LONG:
            return field_queries.unsigned_range(self._s, name, lower, upper, inc_lo, inc_hi)
        return field_queries.nanos_range(
            self._s, name, spec, bounds, now_ms=self.now_ms, fmt=q.format, time_zone=q.time_zone
        )

    def _bound(self, spec: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise QueryShardError(f'failed to create query: For input string: "{value}"') from None

    def _q_Exists(self, q: dsl.Exists) -> tantivy.Query:
        specs = self.mapping.resolve(q.field)
        named = self.mapping.field(q.field)
        if not specs and named is not None:
            specs = [named]  # an alias, or a key of a flattened field
        if not specs:
            prefix = q.field + "."
            specs = [s for p, s in self.mapping.fields.items() if p.startswith(prefix)]
        clauses = []
        for spec in specs:
            tfield = self.schema.field(spec.path)
            if tfield is None:
                if spec.type in field_queries.SOURCE_ONLY_TYPES:
                    clauses.append(field_queries.source_exists(spec, self._s, self.searcher))
                continue
            if spec.type == TEXT:
                clauses.append(tantivy.Query.regex_query(self._s, tfield.name, ".*"))
            else:
                clauses.append(tantivy.Query.exists_query(tfield.name, False))
        if not clauses:
            return tantivy.Query.empty_query()
        inner = (
            clauses[0]
            if len(clauses) == 1
            else self._bool([(tantivy.Occur.Should, c) for c in clauses])
        )
        return tantivy.Query.const_score_query(inner, 1.0)

    def _pattern(
        self, field: str, regex: str, case_insensitive: bool, source: dsl.Query
    ) -> tantivy.Query:
        found = self._field(field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        if spec.flattened_key is not None:
            pairs = self.schema.keyed_pairs(spec)
            if pairs is None:
                return tantivy.Query.empty_query()
            name, regex = pairs, field_queries.keyed_regex(spec.flattened_key, regex)
        if spec.type not in (TEXT, KEYWORD):
            raise QueryShardError(
                f"Can only use wildcard queries on keyword and text fields - not on [{field}] "
                f"which is of type [{spec.type}]"
            )
        if case_insensitive:
            regex = "(?i)" + regex
        try:
            matched = tantivy.Query.regex_query(self._s, name, regex)
        except ValueError:
            # tantivy compiles a term regex into at most ~1000 automaton states, so a long
            # pattern (a 4000-character prefix, which Lucene runs) is refused: such a pattern is
            # tested on the documents' values in memory instead.
            narrow = source.value if isinstance(source, dsl.Prefix) else None
            matched = self._scanned(source, name, narrow if spec.flattened_key is None else None)
        return tantivy.Query.const_score_query(matched, 1.0)

    def _q_Prefix(self, q: dsl.Prefix) -> tantivy.Query:
        return self._pattern(q.field, regex_escape(q.value) + ".*", q.case_insensitive, q)

    def _q_Wildcard(self, q: dsl.Wildcard) -> tantivy.Query:
        return self._lucene_pattern(q.field, wildcard_regex(q.value), q.case_insensitive, q)

    def _q_Regexp(self, q: dsl.Regexp) -> tantivy.Query:
        pattern = regexp_regex(q.value, False, q.max_determinized_states)
        return self._lucene_pattern(q.field, pattern, q.case_insensitive, q)

    def _lucene_pattern(
        self, field: str, pattern: TermPattern, case_insensitive: bool, source: dsl.Query
    ) -> tantivy.Query:
        """Lucene syntax goes to tantivy as term_patterns' engine text (same meaning as the
        in-memory evaluation; tantivy cannot write the empty language, so it becomes none)."""
        if pattern.matches_nothing:
            return tantivy.Query.empty_query()
        return self._pattern(field, pattern.syntax, case_insensitive, source)

    def _q_Fuzzy(self, q: dsl.Fuzzy) -> tantivy.Query:
        found = self._field(q.field)
        if found is None:
            return tantivy.Query.empty_query()
        spec, name = found
        if spec.type not in (TEXT, KEYWORD):
            raise QueryShardError(
                f"Can only use fuzzy queries on keyword and text fields - not on [{q.field}] "
                f"which is of type [{spec.es_type}]"
            )
        value = _as_text(q.value)
        distance = dsl.fuzzy_distance(q.fuzziness, value)
        return tantivy.Query.fuzzy_term_query(
            self._s, name, value, distance, q.transpositions, False
        )


def _int_bound(
    value: float | None, inclusive: bool, *, lower_side: bool
) -> tuple[int | None, bool]:
    if value is None:
        return None, True
    import math

    if value == int(value):
        return int(value), inclusive
    return (math.ceil(value) if lower_side else math.floor(value)), True
