"""Query tree → tantivy query, for one index generation.

Pure construction of tantivy query objects (no searching here). The rules that make results match
Elasticsearch's: ``match`` analyses its text exactly as text fields were indexed
(``search.analysis``); ``term`` does not; filter clauses score 0; ``bool`` with only ``should``
needs one of them; ``minimum_should_match`` above one is a conjunction over clause combinations
used as a zero-score filter beside the scoring disjunction, so scores stay Lucene's sums.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tantivy

from isthmus.errors import IllegalArgumentError, IsthmusError, QueryShardError
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
    Mapping,
    coerce,
)
from isthmus.index.schema import IndexSchema
from isthmus.search import dsl, field_queries, geo_queries, knn, nested
from isthmus.search.analysis import analyze
from isthmus.search.index_field import index_field_matches, is_index_field_query
from isthmus.search.term_patterns import TermPattern, regexp_regex, wildcard_regex

_REGEX_META = set('\\.+*?()|[]{}^$#&-~"<>@')
MAX_MSM_COMBINATIONS = 256


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
class Translator:
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

    # --- entry --------------------------------------------------------------------------------

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

    # --- helpers ------------------------------------------------------------------------------

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

    def _keyword_regex(self, spec: FieldSpec, name: str, regex: str) -> tantivy.Query:
        """A regex over a keyword field's terms; a key under a flattened field matches within
        its ``key\\0value`` pair terms (it has no field of its own)."""
        if spec.flattened_key is not None:
            pairs = self.schema.keyed_pairs(spec)
            if pairs is None:
                return tantivy.Query.empty_query()
            name, regex = pairs, field_queries.keyed_regex(spec.flattened_key, regex)
        return tantivy.Query.regex_query(self._s, name, regex)

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

    # --- query types --------------------------------------------------------------------------

    def _q_MatchAll(self, q: dsl.MatchAll) -> tantivy.Query:
        return tantivy.Query.all_query()

    def _q_MatchNone(self, q: dsl.MatchNone) -> tantivy.Query:
        return tantivy.Query.empty_query()

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
            return self._keyword_regex(spec, name, "(?i)" + regex_escape(value))
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
            return self._keyword_regex(spec, name, regex_escape(_as_text(q.query)) + ".*")
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
                return self._keyword_regex(spec, name, regex_escape(q.query) + ".*")
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
            return field_queries.string_range(self._s, pairs, bounds)
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
        return field_queries.string_range(self._s, name, (lo_s, hi_s, include_lower, include_upper))

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

    def _pattern(self, field: str, regex: str, case_insensitive: bool) -> tantivy.Query:
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
        return tantivy.Query.const_score_query(tantivy.Query.regex_query(self._s, name, regex), 1.0)

    def _q_Prefix(self, q: dsl.Prefix) -> tantivy.Query:
        return self._pattern(q.field, regex_escape(q.value) + ".*", q.case_insensitive)

    def _q_Wildcard(self, q: dsl.Wildcard) -> tantivy.Query:
        return self._lucene_pattern(q.field, wildcard_regex(q.value), q.case_insensitive)

    def _q_Regexp(self, q: dsl.Regexp) -> tantivy.Query:
        pattern = regexp_regex(q.value, False, q.max_determinized_states)
        return self._lucene_pattern(q.field, pattern, q.case_insensitive)

    def _lucene_pattern(
        self, field: str, pattern: TermPattern, case_insensitive: bool
    ) -> tantivy.Query:
        """Lucene syntax goes to tantivy as term_patterns' engine text (same meaning as the
        in-memory evaluation; tantivy cannot write the empty language, so it becomes none)."""
        if pattern.matches_nothing:
            return tantivy.Query.empty_query()
        return self._pattern(field, pattern.syntax, case_insensitive)

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
        return nested.to_tantivy(q, self.schema, self.mapping, self.searcher, self.now_ms)

    def _q_ConstantScore(self, q: dsl.ConstantScore) -> tantivy.Query:
        return tantivy.Query.const_score_query(self.translate(q.filter), q.boost)

    def _q_DisMax(self, q: dsl.DisMax) -> tantivy.Query:
        return tantivy.Query.disjunction_max_query(
            [self.translate(c) for c in q.queries], q.tie_breaker
        )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_bound(
    value: float | None, inclusive: bool, *, lower_side: bool
) -> tuple[int | None, bool]:
    if value is None:
        return None, True
    import math

    if value == int(value):
        return int(value), inclusive
    return (math.ceil(value) if lower_side else math.floor(value)), True
