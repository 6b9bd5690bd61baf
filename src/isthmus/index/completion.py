"""The ``completion`` field type: its values and how they are matched by a prefix.  [no I/O]

A value is a string, an array of strings, an object ``{"input": ..., "weight": n}`` or an
array of those; each becomes a :class:`CompletionEntry` (inputs and weight, 1 by default).
Inputs are analysed as ES's default ``simple`` analyzer does (lower case, any run of non-letters
one separator) and cut at ``max_input_length``; a suggestion prefix is analysed the same way and
matches an input it begins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

COMPLETION_DEFAULTS = {
    "analyzer": "simple",
    "preserve_separators": True,
    "preserve_position_increments": True,
    "max_input_length": 50,
}
_NON_LETTERS = re.compile(r"[^\w]+|[\d_]+")
_MAX_WEIGHT = 2**31 - 1


class CompletionEntry(NamedTuple):
    inputs: tuple[str, ...]
    weight: int


class CompletionParseError(ValueError):
    """A value a completion field refuses, with ES's message."""


def analyze_input(text: str, max_length: int = 50) -> str:
    """``text`` as the simple analyzer leaves it for prefix matching."""
    return _NON_LETTERS.sub(" ", text[:max_length].lower()).strip()


def _weight(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CompletionParseError(f"weight must be an integer, but was [{value}]")
    try:
        number = float(value)
    except ValueError:
        raise CompletionParseError(f"weight must be an integer, but was [{value}]") from None
    if number != int(number):
        raise CompletionParseError(f"weight must be an integer, but was [{value}]")
    if not 0 <= number <= _MAX_WEIGHT:
        raise CompletionParseError(
            f"weight must be in the interval [0..{_MAX_WEIGHT}], but was [{int(number)}]"
        )
    return int(number)


def parse_entry(value: Any) -> CompletionEntry:
    """One string or ``{"input", "weight"}`` object."""
    if isinstance(value, str):
        return CompletionEntry((value,), 1)
    if not isinstance(value, Mapping):
        raise CompletionParseError(f"failed to parse [{value}]: expected text or object")
    for key in value:
        if key not in ("input", "weight", "contexts"):
            raise CompletionParseError(
                f"unknown field name [{key}], must be one of [input, weight, contexts]"
            )
    raw = value.get("input")
    inputs = [i for i in (raw if isinstance(raw, list) else [raw]) if isinstance(i, str)]
    if not inputs or len(inputs) != (len(raw) if isinstance(raw, list) else 1):
        raise CompletionParseError("failed to parse [input]: expected text")
    return CompletionEntry(tuple(inputs), _weight(value.get("weight", 1)))


def best_match(entries: list[CompletionEntry], prefix: str) -> tuple[str, int] | None:
    """The input (and its weight) a document suggests for ``prefix``: the heaviest match."""
    wanted = analyze_input(prefix, len(prefix) + 1)
    best: tuple[str, int] | None = None
    for entry in entries:
        for text in entry.inputs:
            if analyze_input(text).startswith(wanted) and (best is None or entry.weight > best[1]):
                best = (text, entry.weight)
    return best
