"""Query options: how the DSL parsers read a query's options, and what the options shared by
the back-ends mean (``minimum_should_match``, ``fuzziness``).  [no I/O]

Readers raise Elasticsearch's parsing errors for malformed options; they never look at the
query tree. Used by ``search.dsl`` and its parser modules; the back-ends reach
:func:`minimum_should_match` and :func:`fuzzy_distance` through ``search.dsl``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError, ParsingError


def minimum_should_match(spec: str | int | None, optional: int) -> int:
    """How many of ``optional`` clauses must match under an ES ``minimum_should_match`` spec.

    As in ES the result is not capped at ``optional``: asking for more clauses than there are
    matches nothing. A malformed spec is a 400 ``parsing_exception``.
    """
    if spec is None:
        return 0
    text = str(spec).strip()
    try:
        if "<" in text:
            # "3<90%": when there are more than 3 optional clauses apply 90%, else all of them.
            text = re.sub(r"\s*<\s*", "<", text)
            result = optional
            for part in text.split():
                bound, _, rule = part.partition("<")
                if optional > int(bound):
                    result = minimum_should_match(rule, optional)
            return result
        if text.endswith("%"):
            pct = float(text[:-1])
            n = int(optional * abs(pct) / 100)
            result = n if pct >= 0 else optional - n
        else:
            n = int(text)
            result = n if n >= 0 else optional + n
    except ValueError:
        raise ParsingError(f"failed to parse minimum_should_match [{spec}]") from None
    return max(0, result)


def fuzzy_distance(fuzziness: str | int | None, term: str) -> int:
    """Edit distance for ``fuzziness`` (``AUTO`` = 0 for 1-2 chars, 1 for 3-5, 2 beyond)."""
    if fuzziness is None:
        return 0
    text = str(fuzziness).upper()
    if text.startswith("AUTO"):
        low, high = 3, 6
        if ":" in text:
            try:
                lo_s, hi_s = text.split(":", 1)[1].split(",")
                low, high = int(lo_s), int(hi_s)
            except ValueError:
                raise ParsingError(
                    f"failed to find low and high distance values in [{fuzziness}]"
                ) from None
        n = len(term)
        return 0 if n < low else 1 if n < high else 2
    try:
        value = float(text)
    except ValueError:
        raise ParsingError(f"failed to parse fuzziness [{fuzziness}]") from None
    return max(0, min(2, int(value)))


def _single(name: str, body: Any) -> tuple[str, Any]:
    """ES single-field queries: ``{"term": {"field": value-or-object}}``."""
    if not isinstance(body, Mapping):
        raise ParsingError(f"[{name}] query malformed, no start_object after query name")
    keys = [k for k in body if k not in ("boost", "_name")]
    if not keys:
        raise ParsingError(f"[{name}] query malformed, no field specified")
    if len(keys) > 1:
        raise ParsingError(
            f"[{name}] query doesn't support multiple fields, found [{keys[0]}] and [{keys[1]}]"
        )
    return keys[0], body[keys[0]]


def _opts(name: str, value: Any, main: str, allowed: set[str]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        for key in value:
            if key not in allowed and key not in ("boost", "_name"):
                unsupported = ParsingError(f"[{name}] query does not support [{key}]")
                raise xcontent.at(unsupported, name, "*", key, at_value=True)
        if main not in value:
            raise (
                ParsingError(f"[{name}] query malformed, missing [{main}]")
                if main != "value"
                else ParsingError(f"[{name}] query doesn't support the empty value")
            )
        return dict(value)
    return {main: value}


def _non_negative(name: str, key: str, value: Any, message: str) -> int:
    number = xcontent.as_int(name, key, value)
    if number < 0:
        raise IllegalArgumentError(message)
    return number


def _slop(name: str, value: Any) -> int:
    return _non_negative(name, "slop", value, "No negative slop allowed.")


def _prefix_length(name: str, value: Any) -> int:
    return _non_negative(
        name, "prefix_length", value, f"[{name}] requires prefix length to be non-negative."
    )


def _max_expansions(name: str, value: Any) -> int:
    number = xcontent.as_int(name, "max_expansions", value)
    if number <= 0:
        raise IllegalArgumentError(f"[{name}] requires maxExpansions to be positive.")
    return number


def _boost(opts: Mapping[str, Any]) -> float:
    value = opts.get("boost", 1.0)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParsingError(f"[boost] failed to parse value [{value}]") from None
