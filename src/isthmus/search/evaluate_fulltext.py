"""Full-text queries in memory: match, match_phrase(_prefix), multi_match.  [no I/O]

On a ``text`` field the query text is analysed exactly as the field was
(:func:`isthmus.search.analysis.analyze`) and each token becomes one optional clause: ``and``
requires all, ``or`` requires ``minimum_should_match`` of them (at least one; a single token is a
plain term query, which ``minimum_should_match`` does not touch, as in Lucene). Fuzziness allows
Damerau-Levenshtein edits per token. On any other field ``match`` is a term query on the value
coerced to the field's type, and a value that cannot be coerced is a 400 unless ``lenient``.

Phrases use :func:`isthmus.search.phrase.phrase_matches` (Lucene's sloppy-phrase rule, exact).
``match_phrase_prefix`` lets its last term match any token with that prefix; the index caps the
expansion at ``max_expansions`` terms of the whole shard, which one document cannot see, so the
cap is not applied here.

``multi_match`` over ``best_fields``/``most_fields``/``phrase``/``phrase_prefix``/``bool_prefix``
matches when one field matches (the types differ in scoring only). ``cross_fields`` blends the
``text`` fields: each query term may be found in any of them and the operator counts terms; other
fields take the whole query as a term, each on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isthmus.errors import ParsingError, QueryShardError
from isthmus.index.mapping import KEYWORD, TEXT, FieldSpec
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl
from isthmus.search.analysis import analyze
from isthmus.search.evaluate_fields import (
    EvalDoc,
    Predicate,
    always,
    as_term_text,
    field_terms,
    field_values,
    fuzzy_test,
    never,
    prefix_test,
    string_only,
    term_test,
    token_positions,
)
from isthmus.search.phrase import phrase_matches
from isthmus.search.term_patterns import fuzzy_matches


def match_test(
    spec: FieldSpec,
    query: Any,
    *,
    now_ms: int,
    operator: str = "or",
    msm: str | int | None = None,
    fuzziness: str | int | None = None,
    prefix_length: int = 0,
    zero_terms_query: str = "none",
    lenient: bool = False,
    last_is_prefix: bool = False,
) -> Predicate:
    """A ``match`` (or, with ``last_is_prefix``, ``match_bool_prefix``) on one field."""
    if spec.type != TEXT:
        return exact_test(
            spec,
            query,
            now_ms=now_ms,
            fuzziness=fuzziness,
            prefix_length=prefix_length,
            lenient=lenient,
            as_prefix=last_is_prefix,
        )
    tokens = analyze(as_term_text(query))
    if not tokens:
        return always if zero_terms_query == "all" else never
    last = len(tokens) - 1
    checks = [
        _token_check(tok, fuzziness, prefix_length, prefix=last_is_prefix and i == last)
        for i, tok in enumerate(tokens)
    ]
    need = clauses_needed(operator, msm, len(checks))

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


def clauses_needed(operator: str, msm: str | int | None, clauses: int) -> int:
    """Optional clauses a match needs: all under ``and``; else ``minimum_should_match`` (a lone
    term is a plain term query, which msm does not touch), never fewer than one."""
    if operator == "and" or clauses == 1:
        return clauses
    return max(1, dsl.minimum_should_match(msm, clauses))


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


def exact_test(
    spec: FieldSpec,
    query: Any,
    *,
    now_ms: int,
    fuzziness: str | int | None = None,
    prefix_length: int = 0,
    lenient: bool = False,
    as_prefix: bool = False,
) -> Predicate:
    """``match`` on a non-text field: the keyword analyser keeps the value whole, other types
    parse it; a parse failure is the request's 400 unless ``lenient``."""
    try:
        if spec.type == KEYWORD:
            text = as_term_text(query)
            if as_prefix:
                return prefix_test(spec, text)
            if fuzziness is not None and dsl.fuzzy_distance(fuzziness, text) > 0:
                return fuzzy_test(spec, text, fuzziness, prefix_length)
        elif fuzziness is not None:
            raise string_only("fuzzy", spec, wildcard_type=False)
        return term_test(spec, query, now_ms=now_ms)
    except (QueryShardError, ParsingError):
        if lenient:
            return never
        raise


def phrase_test(
    spec: FieldSpec,
    query: Any,
    *,
    now_ms: int,
    slop: int = 0,
    prefix: bool = False,
    lenient: bool = False,
) -> Predicate:
    """``match_phrase`` / ``match_phrase_prefix`` on one field."""
    if spec.type != TEXT:
        return exact_test(spec, query, now_ms=now_ms, lenient=lenient, as_prefix=prefix)
    tokens = analyze(as_term_text(query))
    if not tokens:
        return never
    if prefix and len(tokens) == 1:
        return prefix_test(spec, tokens[0])
    # The prefix term gets its own key: it may share positions with an exact term.
    keys = [*tokens[:-1], ("*" + tokens[-1]) if prefix else tokens[-1]]

    def pred(doc: EvalDoc) -> bool:
        positions = token_positions(field_values(doc, spec))
        lists: list[list[int]] = []
        for i, tok in enumerate(tokens):
            if prefix and i == len(tokens) - 1:
                found = sorted(p for t, ps in positions.items() if t.startswith(tok) for p in ps)
            else:
                found = positions.get(tok, [])
            if not found:
                return False
            lists.append(found)
        return phrase_matches(keys, lists, slop)

    return pred


def multi_match_test(q: dsl.MultiMatch, mapping: IndexMapping, *, now_ms: int) -> Predicate:
    if q.fuzziness is not None and q.type in ("cross_fields", "phrase", "phrase_prefix"):
        raise ParsingError(f"Fuzziness not allowed for type [{q.type}]")
    specs: dict[str, FieldSpec] = {}
    for pattern, _boost in q.fields:
        for spec in mapping.resolve(pattern):
            specs.setdefault(spec.path, spec)
    # ES makes an all-fields ("*") multi_match lenient: most fields cannot parse the text.
    lenient = q.lenient or any(pattern == "*" for pattern, _ in q.fields)
    preds: list[Predicate] = []
    if q.type == "cross_fields":
        text_specs = [s for s in specs.values() if s.type == TEXT]
        if text_specs:
            preds.append(_cross_fields(text_specs, q))
        preds.extend(
            exact_test(s, q.query, now_ms=now_ms, lenient=lenient)
            for s in specs.values()
            if s.type != TEXT
        )
    elif q.type in ("phrase", "phrase_prefix"):
        prefix = q.type == "phrase_prefix"
        preds.extend(
            phrase_test(s, q.query, now_ms=now_ms, slop=q.slop, prefix=prefix, lenient=lenient)
            for s in specs.values()
        )
    else:
        for s in specs.values():
            preds.append(
                match_test(
                    s,
                    q.query,
                    now_ms=now_ms,
                    operator=q.operator,
                    msm=q.minimum_should_match,
                    fuzziness=q.fuzziness,
                    lenient=lenient,
                    last_is_prefix=q.type == "bool_prefix",
                )
            )
    if not preds:
        return never
    return lambda doc: any(p(doc) for p in preds)


def _cross_fields(specs: list[FieldSpec], q: dsl.MultiMatch) -> Predicate:
    tokens = analyze(as_term_text(q.query))
    if not tokens:
        return never
    need = clauses_needed(q.operator, q.minimum_should_match, len(tokens))

    def pred(doc: EvalDoc) -> bool:
        present = {t for s in specs for t in field_terms(doc, s)}
        return sum(1 for tok in tokens if tok in present) >= need

    return pred


__all__ = ["clauses_needed", "exact_test", "match_test", "multi_match_test", "phrase_test"]
