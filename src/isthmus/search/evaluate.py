"""In-memory query evaluation: does one document match a query tree?  [no I/O]

This module owns Elasticsearch's *matching* semantics (not scoring) for the typed tree of
:mod:`isthmus.search.dsl`, applied to the values the index holds for a document: the normalised
values of :func:`isthmus.index.mapping.source_values`, and for ``text`` fields the tokens of
:func:`isthmus.search.analysis.analyze`. Filter aggregations use it, and tests use it as an oracle
for the tantivy translation, so it must agree with what the index would answer.

A query is compiled once (:func:`compile_query`: field lookups, value coercion, date math, regex
compilation, and the 400 errors those can raise) into a predicate over :class:`EvalDoc`.

Rules worth knowing:

* A field missing from the mapping matches nothing, as in ES.
* ``term``/``terms``/``prefix``/``wildcard``/``regexp``/``fuzzy`` are not analysed: on a ``text``
  field they test each analysed token (so ``term: {title: "Hello"}`` never matches), on a
  ``keyword`` field the whole value.
* ``match`` analyses its text on ``text`` fields; elsewhere it is a ``term`` on the value coerced
  to the field's type (a value that cannot be coerced is a 400 unless ``lenient``).
* Phrase slop is Lucene's sloppy-phrase rule, computed exactly: each phrase term is placed at a
  distinct position, its *phrase position* is its position minus its offset in the phrase, and
  the phrase matches when the spread (max - min) of phrase positions is at most ``slop``. Values
  of a multi-valued field are 100 positions apart (ES's ``position_increment_gap``).
* ``match_phrase_prefix`` lets its last term match any token with that prefix; the index caps the
  expansion at ``max_expansions`` terms of the whole shard, which one document cannot see, so the
  cap is not applied here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import MapperParsingError, ParsingError, QueryShardError
from isthmus.index.mapping import (
    BOOLEAN,
    DATE,
    KEYWORD,
    TEXT,
    FieldSpec,
    coerce,
    source_values,
)
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl
from isthmus.search.analysis import analyze
from isthmus.search.datemath import resolve_date_math
from isthmus.search.phrase import phrase_matches
from isthmus.search.term_patterns import fuzzy_matches, regexp_regex, wildcard_regex


@dataclass(frozen=True)
class EvalDoc:
    """One document as evaluation sees it: its id and its ``_source``."""

    id: str
    source: Mapping[str, Any]


Predicate = Callable[[EvalDoc], bool]

# ES's position_increment_gap for text fields: values of an array are this far apart.
POSITION_INCREMENT_GAP = 100


def matches(query: dsl.Query, doc: EvalDoc, mapping: IndexMapping, *, now_ms: int) -> bool:
    """Whether ``doc`` matches ``query`` under ``mapping`` (``now_ms`` anchors date math)."""
    return compile_query(query, mapping, now_ms=now_ms)(doc)


def compile_query(query: dsl.Query, mapping: IndexMapping, *, now_ms: int) -> Predicate:
    """``query`` as a reusable predicate; raises the request's 400 errors up front."""
    return _Compiler(mapping, now_ms).compile(query)


def _always(doc: EvalDoc) -> bool:
    return True


def _never(doc: EvalDoc) -> bool:
    return False


# --- per-document field access ------------------------------------------------------------------


def field_values(doc: EvalDoc, spec: FieldSpec) -> list[Any]:
    """Normalised values of ``spec`` in ``doc`` (keyword values over ignore_above are absent)."""
    return source_values(doc.source, spec)


def field_terms(doc: EvalDoc, spec: FieldSpec) -> list[str]:
    """The indexed terms: analysed tokens for ``text``, whole values for ``keyword``."""
    values = source_values(doc.source, spec)
    if spec.type == TEXT:
        return [tok for value in values for tok in analyze(value)]
    return [v for v in values if isinstance(v, str)]


def token_positions(values: Iterable[str]) -> dict[str, list[int]]:
    """Token → sorted positions, the way a multi-valued ``text`` field is inverted."""
    out: dict[str, list[int]] = {}
    pos = -1
    for i, value in enumerate(values):
        if i:
            pos += POSITION_INCREMENT_GAP
        for tok in analyze(value):
            pos += 1
            out.setdefault(tok, []).append(pos)
    return out


def as_term_text(value: Any) -> str:
    """A query value as the string a term query looks for (JSON booleans are ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shard_error(reason: str) -> QueryShardError:
    return QueryShardError(f"failed to create query: {reason}")


def _string_only(kind: str, spec: FieldSpec, *, wildcard_type: bool = True) -> QueryShardError:
    which = "keyword, text and wildcard fields" if wildcard_type else "keyword and text fields"
    return QueryShardError(
        f"Can only use {kind} queries on {which} - not on [{spec.path}] which is of type "
        f"[{spec.type}]"
    )


# --- the compiler -------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, mapping: IndexMapping, now_ms: int) -> None:
        self.mapping = mapping
        self.now_ms = now_ms
        self._dispatch: dict[type[dsl.Query], Callable[[Any], Predicate]] = {
            dsl.MatchAll: lambda q: _always,
            dsl.MatchNone: lambda q: _never,
            dsl.Term: self._term,
            dsl.Terms: self._terms,
            dsl.Match: self._match,
            dsl.MatchPhrase: self._match_phrase,
            dsl.MultiMatch: self._multi_match,
            dsl.Range: self._range,
            dsl.Exists: self._exists,
            dsl.Ids: self._ids,
            dsl.Prefix: self._prefix,
            dsl.Wildcard: self._wildcard,
            dsl.Regexp: self._regexp,
            dsl.Fuzzy: self._fuzzy,
            dsl.Bool: self._bool,
            dsl.ConstantScore: lambda q: self.compile(q.filter),
            dsl.DisMax: self._dis_max,
        }

    def compile(self, query: dsl.Query) -> Predicate:
        handler = self._dispatch.get(type(query))
        if handler is None:
            raise ParsingError(f"query [{type(query).__name__}] cannot be evaluated in memory")
        return handler(query)

    # --- compound ---------------------------------------------------------------------------

    def _bool(self, q: dsl.Bool) -> Predicate:
        required = [self.compile(c) for c in (*q.must, *q.filter)]
        excluded = [self.compile(c) for c in q.must_not]
        optional = [self.compile(c) for c in q.should]
        # ES rule: with no must/filter clause at least one should clause must match; otherwise
        # should clauses are optional unless minimum_should_match says more.
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

    def _dis_max(self, q: dsl.DisMax) -> Predicate:
        preds = [self.compile(c) for c in q.queries]
        return lambda doc: any(p(doc) for p in preds)

    # --- term level -------------------------------------------------------------------------

    def _term(self, q: dsl.Term) -> Predicate:
        if q.field == "_id":
            return self._id_test({as_term_text(q.value)}, q.case_insensitive)
        spec = self.mapping.field(q.field)
        if spec is None or q.value is None:
            return _never
        return self._term_on(spec, q.value, case_insensitive=q.case_insensitive)

    def _terms(self, q: dsl.Terms) -> Predicate:
        if q.field == "_id":
            return self._id_test({as_term_text(v) for v in q.values}, False)
        spec = self.mapping.field(q.field)
        if spec is None:
            return _never
        preds = [self._term_on(spec, v) for v in q.values if v is not None]
        return lambda doc: any(p(doc) for p in preds)

    def _ids(self, q: dsl.Ids) -> Predicate:
        return self._id_test(set(q.values), False)

    @staticmethod
    def _id_test(ids: set[str], case_insensitive: bool) -> Predicate:
        if case_insensitive:
            lowered = {i.lower() for i in ids}
            return lambda doc: doc.id.lower() in lowered
        return lambda doc: doc.id in ids

    def _term_on(self, spec: FieldSpec, value: Any, *, case_insensitive: bool = False) -> Predicate:
        """Exact-value test of one (unanalysed) query value against ``spec``'s indexed values."""
        if spec.type in (TEXT, KEYWORD):
            target = as_term_text(value)
            if spec.type == KEYWORD:
                try:
                    coerced = coerce(spec, target)
                except MapperParsingError:
                    return _never
                if coerced is None:  # longer than ignore_above: never indexed, never matched
                    return _never
            if case_insensitive:
                folded = target.lower()
                return lambda doc: any(t.lower() == folded for t in field_terms(doc, spec))
            return lambda doc: target in field_terms(doc, spec)
        if spec.type == DATE:
            # ES turns a date term into the range [value rounded down, value rounded up], so
            # ``now/d`` or a bare day matches the whole day.
            low = self._date_bound(spec, value, None, None, round_up=False)
            high = self._date_bound(spec, value, None, None, round_up=True)
            return lambda doc: any(low <= v <= high for v in field_values(doc, spec))
        if spec.type == BOOLEAN:
            flag = _query_bool(value)
            return lambda doc: flag in field_values(doc, spec)
        number = _query_number(spec, value)
        if number is None:
            return _never
        return lambda doc: number in field_values(doc, spec)

    def _string_field(
        self, kind: str, field: str, *, wildcard_type: bool = True
    ) -> FieldSpec | None:
        spec = self.mapping.field(field)
        if spec is not None and spec.type not in (TEXT, KEYWORD):
            raise _string_only(kind, spec, wildcard_type=wildcard_type)
        return spec

    def _prefix(self, q: dsl.Prefix) -> Predicate:
        if q.field == "_id":
            prefix_id = q.value.lower() if q.case_insensitive else q.value
            return lambda doc: (doc.id.lower() if q.case_insensitive else doc.id).startswith(
                prefix_id
            )
        spec = self._string_field("prefix", q.field)
        if spec is None:
            return _never
        return self._prefix_on(spec, q.value, q.case_insensitive)

    @staticmethod
    def _prefix_on(spec: FieldSpec, prefix: str, case_insensitive: bool = False) -> Predicate:
        if case_insensitive:
            folded = prefix.lower()
            return lambda doc: any(t.lower().startswith(folded) for t in field_terms(doc, spec))
        return lambda doc: any(t.startswith(prefix) for t in field_terms(doc, spec))

    def _wildcard(self, q: dsl.Wildcard) -> Predicate:
        spec = self._string_field("wildcard", q.field)
        if spec is None:
            return _never
        pattern = wildcard_regex(q.value, q.case_insensitive)
        return lambda doc: any(pattern.fullmatch(t) for t in field_terms(doc, spec))

    def _regexp(self, q: dsl.Regexp) -> Predicate:
        spec = self._string_field("regexp", q.field)
        if spec is None:
            return _never
        pattern = regexp_regex(q.value, q.case_insensitive)
        return lambda doc: any(pattern.fullmatch(t) for t in field_terms(doc, spec))

    def _fuzzy(self, q: dsl.Fuzzy) -> Predicate:
        spec = self._string_field("fuzzy", q.field, wildcard_type=False)
        if spec is None or q.value is None:
            return _never
        term = as_term_text(q.value)
        return self._fuzzy_on(spec, term, q.fuzziness, q.prefix_length, q.transpositions)

    @staticmethod
    def _fuzzy_on(
        spec: FieldSpec,
        term: str,
        fuzziness: str | int | None,
        prefix_length: int,
        transpositions: bool = True,
    ) -> Predicate:
        edits = dsl.fuzzy_distance(fuzziness, term)
        return lambda doc: any(
            fuzzy_matches(
                term, t, edits, prefix_length=prefix_length, transpositions=transpositions
            )
            for t in field_terms(doc, spec)
        )

    def _exists(self, q: dsl.Exists) -> Predicate:
        if q.field in ("_id", "_index", "_source"):
            return _always
        specs = self.mapping.resolve(q.field)
        if not specs and "*" not in q.field:
            # An object path exists when any field below it does.
            specs = self.mapping.resolve(q.field + ".*")
        if not specs:
            return _never
        # Any non-null value counts (an empty text value still writes a norm, so ES finds it);
        # keyword values over ignore_above are not indexed and do not count.
        return lambda doc: any(field_values(doc, s) for s in specs)

    # --- ranges -----------------------------------------------------------------------------

    def _range(self, q: dsl.Range) -> Predicate:
        spec = self.mapping.field(q.field)
        if spec is None:
            return _never
        tests: list[Callable[[Any], bool]] = []
        if spec.type == DATE:
            # ES rounding: gt and lte round up (exclude/include the whole unit), gte and lt down.
            fmt, tz = q.format, q.time_zone
            for op, bound in (("gte", q.gte), ("gt", q.gt), ("lt", q.lt), ("lte", q.lte)):
                if bound is not None:
                    edge = self._date_bound(spec, bound, fmt, tz, round_up=op in ("gt", "lte"))
                    tests.append(_bound_test(op, edge))
            return self._range_pred(spec, tests, field_values)
        convert: Callable[[Any], Any]
        if spec.type in (TEXT, KEYWORD):
            convert = as_term_text
        elif spec.type == BOOLEAN:
            convert = _query_bool
        else:
            convert = _range_number
        for op, bound in (("gte", q.gte), ("gt", q.gt), ("lt", q.lt), ("lte", q.lte)):
            if bound is not None:
                tests.append(_bound_test(op, convert(bound)))
        # A range on a text field compares each token (Lucene term range, bounds not analysed).
        values = field_terms if spec.type == TEXT else field_values
        return self._range_pred(spec, tests, values)

    @staticmethod
    def _range_pred(
        spec: FieldSpec,
        tests: list[Callable[[Any], bool]],
        values: Callable[[EvalDoc, FieldSpec], list[Any]],
    ) -> Predicate:
        # One value must satisfy every bound (a point inside the range), not different values.
        return lambda doc: any(all(t(v) for t in tests) for v in values(doc, spec))

    def _date_bound(
        self, spec: FieldSpec, value: Any, fmt: str | None, tz: str | None, *, round_up: bool
    ) -> int:
        expr = value if isinstance(value, int | float | str) else str(value)
        return resolve_date_math(
            expr, now_ms=self.now_ms, fmt=fmt or spec.format, round_up=round_up, time_zone=tz
        )

    # --- full text --------------------------------------------------------------------------

    def _match(self, q: dsl.Match) -> Predicate:
        spec = self.mapping.field(q.field)
        if spec is None:
            return _never
        return self._match_on(
            spec,
            q.query,
            q.operator,
            q.minimum_should_match,
            q.fuzziness,
            q.prefix_length,
            q.zero_terms_query,
            q.lenient,
        )

    def _match_on(
        self,
        spec: FieldSpec,
        query: Any,
        operator: str,
        msm: str | int | None,
        fuzziness: str | int | None,
        prefix_length: int,
        zero_terms_query: str,
        lenient: bool,
        last_is_prefix: bool = False,
    ) -> Predicate:
        if spec.type != TEXT:
            return self._match_exact(spec, query, fuzziness, prefix_length, lenient, last_is_prefix)
        tokens = analyze(as_term_text(query))
        if not tokens:
            return _always if zero_terms_query == "all" else _never
        last = len(tokens) - 1
        checks = [
            self._token_check(tok, fuzziness, prefix_length, prefix=last_is_prefix and i == last)
            for i, tok in enumerate(tokens)
        ]
        need = _clauses_needed(operator, msm, len(checks))

        def pred(doc: EvalDoc) -> bool:
            present = set(field_terms(doc, spec))
            if not present:
                return False
            hits = 0
            for check in checks:
                if check(present):
                    hits += 1
                    if hits >= need:
                        return True
            return False

        return pred

    @staticmethod
    def _token_check(
        tok: str, fuzziness: str | int | None, prefix_length: int, *, prefix: bool = False
    ) -> Callable[[set[str]], bool]:
        if prefix:
            return lambda present: any(t.startswith(tok) for t in present)
        edits = dsl.fuzzy_distance(fuzziness, tok)
        if edits == 0:
            return lambda present: tok in present
        return lambda present: (
            tok in present
            or any(fuzzy_matches(tok, t, edits, prefix_length=prefix_length) for t in present)
        )

    def _match_exact(
        self,
        spec: FieldSpec,
        query: Any,
        fuzziness: str | int | None,
        prefix_length: int,
        lenient: bool,
        as_prefix: bool = False,
    ) -> Predicate:
        """``match`` on a non-text field: the keyword analyser keeps the value whole, other
        types parse it; a parse failure is the request's 400 unless ``lenient``."""
        try:
            if spec.type == KEYWORD:
                text = as_term_text(query)
                if as_prefix:
                    return self._prefix_on(spec, text)
                if fuzziness is not None and dsl.fuzzy_distance(fuzziness, text) > 0:
                    return self._fuzzy_on(spec, text, fuzziness, prefix_length)
            elif fuzziness is not None:
                raise _string_only("fuzzy", spec, wildcard_type=False)
            return self._term_on(spec, query)
        except (QueryShardError, ParsingError):
            if lenient:
                return _never
            raise

    def _match_phrase(self, q: dsl.MatchPhrase) -> Predicate:
        spec = self.mapping.field(q.field)
        if spec is None:
            return _never
        return self._phrase_on(spec, q.query, q.slop, q.prefix, lenient=False)

    def _phrase_on(
        self, spec: FieldSpec, query: Any, slop: int, prefix: bool, *, lenient: bool
    ) -> Predicate:
        if spec.type != TEXT:
            return self._match_exact(spec, query, None, 0, lenient, as_prefix=prefix)
        tokens = analyze(as_term_text(query))
        if not tokens:
            return _never
        if prefix and len(tokens) == 1:
            return self._prefix_on(spec, tokens[0])

        def pred(doc: EvalDoc) -> bool:
            positions = token_positions(field_values(doc, spec))
            lists: list[list[int]] = []
            for i, tok in enumerate(tokens):
                if prefix and i == len(tokens) - 1:
                    found = sorted(
                        p for t, ps in positions.items() if t.startswith(tok) for p in ps
                    )
                else:
                    found = positions.get(tok, [])
                if not found:
                    return False
                lists.append(found)
            keys = [*tokens[:-1], ("*" + tokens[-1]) if prefix else tokens[-1]]
            return phrase_matches(keys, lists, slop)

        return pred

    def _multi_match(self, q: dsl.MultiMatch) -> Predicate:
        if q.fuzziness is not None and q.type in ("cross_fields", "phrase", "phrase_prefix"):
            raise ParsingError(f"Fuzziness not allowed for type [{q.type}]")
        specs: dict[str, FieldSpec] = {}
        for pattern, _boost in q.fields:
            for spec in self.mapping.resolve(pattern):
                specs.setdefault(spec.path, spec)
        # ES makes an all-fields ("*") multi_match lenient: most fields cannot parse the text.
        lenient = q.lenient or any(pattern == "*" for pattern, _ in q.fields)
        if not specs:
            return _never
        preds: list[Predicate] = []
        if q.type == "cross_fields":
            text_specs = [s for s in specs.values() if s.type == TEXT]
            if text_specs:
                preds.append(self._cross_fields(text_specs, q))
            for spec in specs.values():
                if spec.type != TEXT:
                    preds.append(self._match_exact(spec, q.query, None, 0, lenient))
        elif q.type in ("phrase", "phrase_prefix"):
            for spec in specs.values():
                preds.append(
                    self._phrase_on(
                        spec, q.query, q.slop, q.type == "phrase_prefix", lenient=lenient
                    )
                )
        else:
            for spec in specs.values():
                preds.append(
                    self._match_on(
                        spec,
                        q.query,
                        q.operator,
                        q.minimum_should_match,
                        q.fuzziness,
                        0,
                        "none",
                        lenient,
                        last_is_prefix=q.type == "bool_prefix",
                    )
                )
        return lambda doc: any(p(doc) for p in preds)

    def _cross_fields(self, specs: list[FieldSpec], q: dsl.MultiMatch) -> Predicate:
        """``cross_fields`` blends the text fields into one: each query term may be found in any
        of them, and operator/minimum_should_match count terms, not fields."""
        tokens = analyze(as_term_text(q.query))
        if not tokens:
            return _never
        need = _clauses_needed(q.operator, q.minimum_should_match, len(tokens))

        def pred(doc: EvalDoc) -> bool:
            present = {t for s in specs for t in field_terms(doc, s)}
            return sum(1 for tok in tokens if tok in present) >= need

        return pred


# --- query value coercion -----------------------------------------------------------------------


def _clauses_needed(operator: str, msm: str | int | None, clauses: int) -> int:
    """Optional clauses a match needs: all under ``and``; else ``minimum_should_match`` (a lone
    term is a plain term query, which msm does not touch), never fewer than one."""
    if operator == "and" or clauses == 1:
        return clauses
    return max(1, dsl.minimum_should_match(msm, clauses))


def _bound_test(op: str, bound: Any) -> Callable[[Any], bool]:
    if op == "gte":
        return lambda v: bool(v >= bound)
    if op == "gt":
        return lambda v: bool(v > bound)
    if op == "lt":
        return lambda v: bool(v < bound)
    return lambda v: bool(v <= bound)


def _query_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value)
    if text in ("true", "false"):
        return text == "true"
    if text == "":
        return False
    raise _shard_error(f"Can't parse boolean value [{text}], expected [true] or [false]")


_INT_NAMES = {"long": "a long", "integer": "an integer", "short": "a short", "byte": "a byte"}


def _query_number(spec: FieldSpec, value: Any) -> int | float | None:
    """A term value for a numeric field; None when it cannot match (a fraction on an integer
    field, as ES answers with match_none)."""
    number = _range_number(value)
    if not spec.is_integer:
        return float(number)
    if isinstance(number, float):
        if not number.is_integer():
            return None
        number = int(number)
    try:
        coerce(spec, number)
    except MapperParsingError:
        raise _shard_error(
            f"Value [{value}] is out of range for {_INT_NAMES.get(spec.type, 'a long')}"
        ) from None
    return number


def _range_number(value: Any) -> int | float:
    """A numeric bound or term: ints stay exact, everything else is read as a double."""
    if isinstance(value, bool):
        raise _shard_error(f'For input string: "{as_term_text(value)}"')
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise _shard_error(f'For input string: "{value}"') from None
    if number != number:  # NaN never compares; ES rejects it as a bound as well
        raise _shard_error(f'For input string: "{value}"')
    return number


__all__ = [
    "POSITION_INCREMENT_GAP",
    "EvalDoc",
    "Predicate",
    "as_term_text",
    "compile_query",
    "field_terms",
    "field_values",
    "matches",
    "token_positions",
]
