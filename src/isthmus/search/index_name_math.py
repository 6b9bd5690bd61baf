"""Date math in index names: ``<logs-{now/d}>`` is ``logs-2024.03.05``.  [no I/O]

ES's DateMathExpressionResolver: an expression is date math only when it starts with ``<`` and
ends with ``>``. Inside, text is kept, and each ``{math}``, ``{math{format}}`` or
``{math{format|time_zone}}`` placeholder is the date ``math`` resolves to (``now`` anchored),
written with ``format`` (default ``uuuu.MM.dd``) in ``time_zone`` (default UTC). ``\\`` escapes
a brace; an unescaped ``}`` outside a placeholder, a placeholder left open and an empty result
are ES's ``parse_exception`` texts. Every API that takes an index in its path resolves these
before anything else sees the name (as ES's resolver does), URL-encoded or not.
"""

from __future__ import annotations

from isthmus.errors import ElasticsearchParseError
from isthmus.index.dates import format_date
from isthmus.search.datemath import resolve_date_math, resolve_time_zone, zone_offset_ms

DEFAULT_FORMAT = "uuuu.MM.dd"


def is_date_math(part: str) -> bool:
    return part.startswith("<") and part.endswith(">")


def resolve_index_expression(expression: str, now_ms: int) -> str:
    """A comma list with each ``<...>`` part (or excluded ``-<...>`` part) resolved."""
    if "<" not in expression:
        return expression
    parts = []
    for part in expression.split(","):
        stripped = part.strip()
        if stripped.startswith("-") and is_date_math(stripped[1:]):
            parts.append("-" + resolve_name(stripped[1:], now_ms))
        else:
            parts.append(resolve_name(stripped, now_ms) if is_date_math(stripped) else part)
    return ",".join(parts)


def resolve_name(expression: str, now_ms: int) -> str:
    """One name: as is unless it is a ``<...>`` date math expression."""
    if not is_date_math(expression):
        return expression
    text = expression[1:-1]
    shown = expression[1:]  # ES quotes the expression from after "<" to its end
    out: list[str] = []
    placeholder: list[str] = []
    in_placeholder = in_format = escape = False
    for i, c in enumerate(text, start=1):  # positions count from the expression's "<"
        escaped, escape = escape, False
        if c == "\\":
            if escaped:
                out.append(c)
            else:
                escape = True
            continue
        if in_placeholder:
            if c == "{":
                if in_format and not escaped:
                    raise ElasticsearchParseError(
                        f"invalid dynamic name expression [{shown}]. invalid character in "
                        f"placeholder at position [{i}]"
                    )
                in_format = True
                placeholder.append(c)
            elif c == "}":
                if in_format:
                    in_format = bool(escaped)
                    placeholder.append(c)
                else:
                    out.append(_evaluate("".join(placeholder), now_ms))
                    placeholder = []
                    in_placeholder = False
            else:
                placeholder.append(c)
            continue
        if c == "{" and not escaped:
            in_placeholder = True
        elif c == "}" and not escaped:
            raise ElasticsearchParseError(
                f"invalid dynamic name expression [{shown}]. invalid character at position [{i}]. "
                "`{` and `}` are reserved characters and should be escaped when used as part of "
                "the index name using `\\` (e.g. `\\{text\\}`)"
            )
        else:
            out.append(c)
    if in_placeholder:
        raise ElasticsearchParseError(
            f"invalid dynamic name expression [{shown}]. date math placeholder is open ended"
        )
    if not out:
        raise ElasticsearchParseError("nothing captured")
    return "".join(out)


def _evaluate(placeholder: str, now_ms: int) -> str:
    """``math``, ``math{format}`` or ``math{format|zone}`` → the formatted date."""
    brace = placeholder.find("{")
    if brace < 0:
        math, pattern, zone = placeholder, DEFAULT_FORMAT, None
    else:
        if placeholder.rfind("}") != len(placeholder) - 1:
            raise ElasticsearchParseError(
                f"invalid dynamic name expression [{placeholder}]. missing closing `}}` for "
                "date math format"
            )
        if brace == len(placeholder) - 2:
            raise ElasticsearchParseError(
                f"invalid dynamic name expression [{placeholder}]. missing date format"
            )
        math = placeholder[:brace]
        pattern, _, zone_text = placeholder[brace + 1 : -1].partition("|")
        zone = zone_text or None
    millis = resolve_date_math(math, now_ms=now_ms, time_zone=zone)
    shifted = millis + zone_offset_ms(millis, resolve_time_zone(zone))
    return format_date(shifted, pattern)


__all__ = ["DEFAULT_FORMAT", "is_date_math", "resolve_index_expression", "resolve_name"]
