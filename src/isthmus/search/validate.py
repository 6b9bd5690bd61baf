"""``_validate/query``: a query checked without running it, and its Lucene-style text.  [no I/O]

A body that does not parse is answered 200 with ``valid: false`` (and, with ``explain``, the
parser's message as ``error``), as ES's REST handler does. A query that parses is built on one
shard per index (every shard with ``all_shards``); building can still fail there (a value the
field cannot hold, a regexp over the limit), which makes that index's entry invalid. With
``explain`` each index's entry shows the query in Lucene's query syntax (:func:`lucene_text`),
the form ES prints (``+title:quick #tag:a``); the rendering covers the common queries and names
the others by their kind.
"""

from __future__ import annotations

from typing import Any

from isthmus.errors import IsthmusError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.search import dsl
from isthmus.search.analysis import analyze

BODY_KEYS = ("query",)


def lucene_text(query: dsl.Query, mapping: IndexMapping) -> str:
    """``query`` as Lucene's ``Query.toString()`` would print it (approximately)."""
    text = _render(query, mapping)
    return f"({text})^{query.boost:g}" if query.boost != 1.0 else text


def _render(q: dsl.Query, mapping: IndexMapping) -> str:
    if isinstance(q, dsl.MatchAll):
        return "*:*"
    if isinstance(q, dsl.MatchNone):
        return 'MatchNoDocsQuery("")'
    if isinstance(q, dsl.Term):
        return f"{q.field}:{q.value}"
    if isinstance(q, dsl.Terms):
        return f"{q.field}:({' '.join(str(v) for v in q.values)})"
    if isinstance(q, dsl.Match):
        return _match(q, mapping)
    if isinstance(q, dsl.MatchPhrase):
        return f'{q.field}:"{" ".join(analyze(str(q.query)))}{"*" if q.prefix else ""}"'
    if isinstance(q, dsl.Range):
        low = q.gte if q.gte is not None else q.gt
        high = q.lte if q.lte is not None else q.lt
        opening = "[" if q.gt is None else "{"
        closing = "]" if q.lt is None else "}"
        return f"{q.field}:{opening}{_bound(low)} TO {_bound(high)}{closing}"
    if isinstance(q, dsl.Exists):
        return f"FieldExistsQuery [field={q.field}]"
    if isinstance(q, dsl.Ids):
        return f"_id:({' '.join(q.values)})"
    if isinstance(q, dsl.Prefix):
        return f"{q.field}:{q.value}*"
    if isinstance(q, dsl.Wildcard):
        return f"{q.field}:{q.value}"
    if isinstance(q, dsl.Regexp):
        return f"{q.field}:/{q.value}/"
    if isinstance(q, dsl.Fuzzy):
        return f"{q.field}:{q.value}~{q.fuzziness}"
    if isinstance(q, dsl.Bool):
        return _bool(q, mapping)
    if isinstance(q, dsl.ConstantScore):
        return f"ConstantScore({lucene_text(q.filter, mapping)})"
    if isinstance(q, dsl.DisMax):
        inner = " | ".join(lucene_text(s, mapping) for s in q.queries)
        return f"({inner})~{q.tie_breaker:g}"
    return f"{type(q).__name__}Query"


def _bound(value: Any) -> str:
    return "*" if value is None else str(value)


def _match(q: dsl.Match, mapping: IndexMapping) -> str:
    spec = mapping.field(q.field)
    tokens = analyze(str(q.query)) if spec is None or spec.type == "text" else [str(q.query)]
    if isinstance(q, dsl.MatchBoolPrefix) and tokens:
        tokens[-1] += "*"
    if len(tokens) == 1:
        return f"{q.field}:{tokens[0]}"
    prefix = "+" if q.operator == "and" else ""
    return " ".join(f"{prefix}{q.field}:{t}" for t in tokens)


def _bool(q: dsl.Bool, mapping: IndexMapping) -> str:
    parts = []
    for marker, clauses in (("+", q.must), ("", q.should), ("-", q.must_not), ("#", q.filter)):
        for clause in clauses:
            text = lucene_text(clause, mapping)
            nested = isinstance(clause, dsl.Bool) or (" " in text and not text.startswith("("))
            parts.append(f"{marker}({text})" if nested else f"{marker}{text}")
    return " ".join(parts) if parts else "*:*"


def invalid_body(exc: IsthmusError, explain: bool) -> dict[str, Any]:
    """The answer to a body that does not parse: ES's REST handler answers it itself."""
    return {"valid": False, "error": error_text(exc)} if explain else {"valid": False}


def error_text(exc: IsthmusError) -> str:
    """An ``error`` as ES prints it (its detailed message): the exception's Java class and
    message, then each cause's, joined by ``; ``."""
    parts = []
    err: IsthmusError | None = exc
    while err is not None:
        parts.append(f"{err.java_name()}: {err.reason}")
        err = err.caused_by
    return "; ".join(parts)


__all__ = ["BODY_KEYS", "error_text", "invalid_body", "lucene_text"]
