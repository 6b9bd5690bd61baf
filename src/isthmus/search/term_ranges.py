"""Ranges over a field's terms (keyword values, text tokens) as one regular expression.
[no I/O]

tantivy has no range query over text, and its query parser cannot take arbitrary bound text, so
a range ``[low, high]`` in byte (code point) order is written as a regex that accepts exactly
the terms inside it. It must be *one* automaton: two regexes ANDed (``>= low`` and ``<= high``)
would let a document with two values match through different values (``["a", "z"]`` for
``m..n``). The language is built as a union of prefix-anchored pieces:

* ``>= low``: ``low`` itself (then anything), or a prefix of ``low`` followed by a greater
  character (then anything);
* ``<= high``: a proper prefix of ``high``, ``high`` itself, or a prefix followed by a smaller
  character (then anything);
* both: the common prefix, then the two sides split at the first differing character, with the
  characters strictly between them free.

The engine takes no empty alternative, so whether the empty term is in the range is reported
separately and matched as a term.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

_MAX_CHAR = 0x10FFFF


@dataclass(frozen=True)
class Pieces:
    """Regex alternatives for the non-empty strings of a range, and whether "" is in it."""

    alternatives: tuple[str, ...] = ()
    empty: bool = False

    def after(self, prefix: str) -> Pieces:
        """The same strings, each preceded by ``prefix`` (the empty one becomes ``prefix``)."""
        if not prefix:
            return self
        alts = tuple(lit(prefix) + a for a in self.alternatives)
        return Pieces(alts + ((lit(prefix),) if self.empty else ()), False)

    def __add__(self, other: Pieces) -> Pieces:
        return Pieces(self.alternatives + other.alternatives, self.empty or other.empty)


def lit(text: str) -> str:
    """``text`` as a regex literal: anything not ASCII alphanumeric as its code point."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def _chars(low: int, high: int) -> str | None:
    """The characters from ``low`` to ``high`` (code points), None when there are none."""
    if low > high:
        return None
    return f"[\\x{{{low:x}}}-\\x{{{high:x}}}]"


def _with_rest(char_class: str | None) -> tuple[str, ...]:
    return () if char_class is None else (char_class + ".*",)


def at_least(low: str, inclusive: bool) -> Pieces:
    if not low:
        return Pieces((".+",), inclusive)
    alts = [lit(low) + (".*" if inclusive else ".+")]
    for i, c in enumerate(low):
        alts += [lit(low[:i]) + a for a in _with_rest(_chars(ord(c) + 1, _MAX_CHAR))]
    return Pieces(tuple(alts))


def at_most(high: str, inclusive: bool) -> Pieces:
    alts = [lit(high[:i]) for i in range(1, len(high))]  # its proper prefixes
    if inclusive and high:
        alts.append(lit(high))
    for i, c in enumerate(high):
        alts += [lit(high[:i]) + a for a in _with_rest(_chars(0, ord(c) - 1))]
    return Pieces(tuple(alts), bool(high) or inclusive)


def between(low: str, high: str, inc_lo: bool, inc_hi: bool) -> Pieces:
    common = 0
    while common < min(len(low), len(high)) and low[common] == high[common]:
        common += 1
    prefix, lo_rest, hi_rest = low[:common], low[common:], high[common:]
    if not lo_rest and not hi_rest:  # low == high
        return Pieces((), inc_lo and inc_hi).after(prefix)
    if not hi_rest:  # high is a proper prefix of low: nothing lies between
        return Pieces()
    if not lo_rest:  # low is a proper prefix of high: what follows it, up to high's rest
        below = at_most(hi_rest, inc_hi)
        return Pieces(below.alternatives, inc_lo).after(prefix)  # low itself if inclusive
    first_lo, first_hi = ord(lo_rest[0]), ord(hi_rest[0])
    if first_lo > first_hi:
        return Pieces()
    upper = at_least(lo_rest[1:], inc_lo).after(lo_rest[0])
    middle = Pieces(_with_rest(_chars(first_lo + 1, first_hi - 1)))
    lower = at_most(hi_rest[1:], inc_hi).after(hi_rest[0])
    return (upper + middle + lower).after(prefix)


def string_range(
    schema: tantivy.Schema, name: str, bounds: tuple[str | None, str | None, bool, bool]
) -> tantivy.Query:
    """The terms of ``name`` within ``bounds`` (low, high, inclusive low, inclusive high)."""
    low, high, inc_lo, inc_hi = bounds
    if low is not None and high is not None:
        pieces = between(low, high, inc_lo, inc_hi)
    elif low is not None:
        pieces = at_least(low, inc_lo)
    elif high is not None:
        pieces = at_most(high, inc_hi)
    else:
        pieces = Pieces((".+",), True)
    queries = []
    if pieces.alternatives:
        regex = "(?s)(" + "|".join(pieces.alternatives) + ")"
        queries.append(tantivy.Query.regex_query(schema, name, regex))
    if pieces.empty:
        queries.append(tantivy.Query.term_query(schema, name, ""))
    if not queries:
        return tantivy.Query.empty_query()
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in queries])
