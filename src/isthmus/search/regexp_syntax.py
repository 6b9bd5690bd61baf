"""Lucene's regular-expression and wildcard languages, parsed into a small tree.  [no I/O]

This module owns *what a pattern means*; :mod:`isthmus.search.term_patterns` turns the tree into
a linear-time matcher and :mod:`isthmus.search.regexp_automaton` measures what determinizing it
would cost. Nothing here backtracks: the parser reads each character once.

Lucene's regexp grammar (``org.apache.lucene.util.automaton.RegExp`` with ES's default flags):
every pattern is anchored at both ends; ``^``/``$`` are ordinary characters; ``.`` is any
character (newlines included); ``?``/``*``/``+``/``{n}``/``{n,}``/``{n,m}`` repeat; ``|`` is
union; ``()`` groups (and ``()`` alone is the empty string); ``[...]``/``[^...]`` are classes
with ``a-z`` ranges; ``\\d \\s \\w`` (and upper case negations) are shorthand classes; ``\\x``
quotes any other character; ``"..."`` is a literal string; ``@`` any string; ``#`` the empty
language; ``<n-m>`` a decimal interval. Intersection ``&`` and complement ``~`` are refused (they
have no linear-time form without building the automaton ourselves).

A wildcard (``*`` any run, ``?`` one character, ``\\`` quotes) is a tree of the same kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.errors import NotImplementedYet, QueryShardError

MAX_CODE_POINT = 0x10FFFF
Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Chars:
    """One character out of ``ranges`` (sorted, disjoint, inclusive code point ranges)."""

    ranges: Ranges


@dataclass(frozen=True)
class Concat:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Union:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    node: Node
    low: int
    high: int | None  # None: unbounded


@dataclass(frozen=True)
class Nothing:
    """The empty language (``#``): matches no string, not even the empty one."""


Node = Chars | Concat | Union | Repeat | Nothing

ANY_CHAR = Chars(((0, MAX_CODE_POINT),))
EMPTY = Concat(())
_DIGIT: Ranges = ((ord("0"), ord("9")),)
_SPACE: Ranges = ((9, 13), (32, 32))
_WORD: Ranges = (
    (ord("0"), ord("9")),
    (ord("A"), ord("Z")),
    (ord("_"), ord("_")),
    (ord("a"), ord("z")),
)


def normalize(ranges: list[tuple[int, int]]) -> Ranges:
    """Sorted, merged, disjoint ranges."""
    out: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return tuple(out)


def complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    start = 0
    for low, high in ranges:
        if low > start:
            out.append((start, low - 1))
        start = high + 1
    if start <= MAX_CODE_POINT:
        out.append((start, MAX_CODE_POINT))
    return tuple(out)


def literal(text: str) -> Node:
    return Concat(tuple(Chars(((ord(c), ord(c)),)) for c in text))


def parse_wildcard(pattern: str) -> Node:
    """A Lucene wildcard as a tree (``*`` any run, ``?`` one character, ``\\`` quotes one)."""
    parts: list[Node] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            parts.append(Repeat(ANY_CHAR, 0, None))
        elif ch == "?":
            parts.append(ANY_CHAR)
        else:
            if ch == "\\" and i + 1 < len(pattern):
                i += 1
                ch = pattern[i]
            parts.append(Chars(((ord(ch), ord(ch)),)))
        i += 1
    return Concat(tuple(parts))


def parse_regexp(pattern: str) -> Node:
    """A Lucene regexp as a tree; malformed patterns raise ES's ``query_shard_exception``."""
    return _Parser(pattern).parse()


class _Parser:
    """Recursive descent over Lucene's grammar: union > concatenation > repetition > atom.

    Nesting depth is bounded by the pattern length, itself bounded by ``index.max_regex_length``
    before any parsing; groups deeper than :data:`_MAX_DEPTH` are refused outright so that no
    pattern can exhaust the interpreter's stack.
    """

    _MAX_DEPTH = 200

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0
        self.depth = 0

    def fail(self, message: str) -> QueryShardError:
        return QueryShardError(f"failed to create query: {message}")

    def more(self) -> bool:
        return self.pos < len(self.text)

    def peek(self, chars: str) -> bool:
        return self.more() and self.text[self.pos] in chars

    def take(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def parse(self) -> Node:
        node = self.union()
        if self.more():
            raise self.fail(f"end-of-string expected at position {self.pos}")
        return node

    def union(self) -> Node:
        options = [self.concat()]
        while self.peek("|"):
            self.pos += 1
            options.append(self.concat())
        return options[0] if len(options) == 1 else Union(tuple(options))

    def concat(self) -> Node:
        parts: list[Node] = []
        while self.more() and not self.peek("|)"):
            if self.peek("&~"):
                raise NotImplementedYet(
                    f"regexp operator [{self.text[self.pos]}] (intersection/complement) is not supported"
                )
            parts.append(self.repeat())
        return parts[0] if len(parts) == 1 else Concat(tuple(parts))

    def repeat(self) -> Node:
        node = self.atom()
        while self.peek("?*+{"):
            op = self.take()
            if op == "?":
                node = Repeat(node, 0, 1)
            elif op == "*":
                node = Repeat(node, 0, None)
            elif op == "+":
                node = Repeat(node, 1, None)
            else:
                low = self.integer()
                high: int | None = low
                if self.peek(","):
                    self.pos += 1
                    high = self.integer() if not self.peek("}") else None
                if not self.peek("}"):
                    raise self.fail(f"expected '}}' at position {self.pos}")
                self.pos += 1
                if high is not None and high < low:
                    raise self.fail(f"invalid repetition {{{low},{high}}}")
                node = Repeat(node, low, high)
        return node

    def integer(self) -> int:
        start = self.pos
        while self.peek("0123456789"):
            self.pos += 1
        if start == self.pos:
            raise self.fail(f"integer expected at position {self.pos}")
        return int(self.text[start : self.pos])

    def atom(self) -> Node:
        ch = self.take()
        if ch == ".":
            return ANY_CHAR
        if ch == "@":
            return Repeat(ANY_CHAR, 0, None)
        if ch == "#":
            return Nothing()
        if ch == "(":
            return self.group()
        if ch == "[":
            return self.char_class()
        if ch == '"':
            end = self.text.find('"', self.pos)
            if end < 0:
                raise self.fail(f"expected '\"' at position {len(self.text)}")
            node = literal(self.text[self.pos : end])
            self.pos = end + 1
            return node
        if ch == "<":
            return self.interval()
        if ch in "*+?{":
            raise self.fail(f"unexpected '{ch}' at position {self.pos - 1}")
        self.pos -= 1
        return Chars(self.char_or_shorthand())

    def group(self) -> Node:
        if self.peek(")"):
            self.pos += 1
            return EMPTY
        self.depth += 1
        if self.depth > self._MAX_DEPTH:
            raise self.fail(f"groups nested deeper than {self._MAX_DEPTH} at position {self.pos}")
        node = self.union()
        self.depth -= 1
        if not self.peek(")"):
            raise self.fail(f"expected ')' at position {self.pos}")
        self.pos += 1
        return node

    def char_or_shorthand(self) -> Ranges:
        """One character (``\\`` quotes the next) or a ``\\d \\s \\w`` shorthand class."""
        ch = self.take()
        if ch != "\\":
            return ((ord(ch), ord(ch)),)
        if not self.more():
            raise self.fail(f"unexpected end-of-string at position {self.pos}")
        ch = self.take()
        shorthand = {"d": _DIGIT, "s": _SPACE, "w": _WORD}.get(ch.lower())
        if shorthand is None:
            return ((ord(ch), ord(ch)),)
        return shorthand if ch.islower() else complement(shorthand)

    def char_class(self) -> Node:
        negated = self.peek("^")
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        while self.more() and not self.peek("]"):
            first = self.char_or_shorthand()
            is_single = len(first) == 1 and first[0][0] == first[0][1]
            is_range = (
                is_single
                and self.peek("-")
                and self.pos + 1 < len(self.text)
                and self.text[self.pos + 1] != "]"
            )
            if is_range:
                self.pos += 1
                last = self.char_or_shorthand()
                if len(last) != 1 or last[0][0] != last[0][1] or last[0][0] < first[0][0]:
                    raise self.fail(f"invalid character class range at position {self.pos}")
                ranges.append((first[0][0], last[0][0]))
                continue
            ranges.extend(first)
        if not self.more():
            raise self.fail(f"expected ']' at position {self.pos}")
        self.pos += 1
        merged = normalize(ranges)
        return Chars(complement(merged) if negated else merged)

    def interval(self) -> Node:
        end = self.text.find(">", self.pos)
        body = self.text[self.pos : end] if end >= 0 else ""
        low_s, _, high_s = body.partition("-")
        if not (low_s.isdigit() and high_s.isdigit() and low_s.isascii() and high_s.isascii()):
            raise self.fail(f"expected '>' at position {self.pos}")
        self.pos = end + 1
        low, high = sorted((int(low_s), int(high_s)))
        # Lucene: bounds of equal length fix the digit count (zero-padded); otherwise any number
        # of leading zeros is accepted.
        if len(low_s) == len(high_s):
            width = len(low_s)
            return _same_width(str(low).zfill(width), str(high).zfill(width))
        by_length = []
        for length in range(len(str(low)), len(str(high)) + 1):
            first = max(low, 10 ** (length - 1) if length > 1 else 0)
            last = min(high, 10**length - 1)
            by_length.append(_same_width(str(first), str(last)))
        zeros = Repeat(Chars(((ord("0"), ord("0")),)), 0, None)
        return Concat((zeros, Union(tuple(by_length))))


def _same_width(low: str, high: str) -> Node:
    """Every digit string of ``len(low)`` characters between ``low`` and ``high`` inclusive.

    The tree has O(digits) nodes whatever the span, so ``<0-999999999>`` costs nothing.
    """
    if low == high:
        return literal(low)
    width = len(low)
    if low == "0" * width and high == "9" * width:
        return Repeat(Chars(_DIGIT), width, width)
    if width == 1:
        return Chars(((ord(low), ord(high)),))
    if low[0] == high[0]:
        return Concat((literal(low[0]), _same_width(low[1:], high[1:])))
    rest = width - 1
    options: list[Node] = [Concat((literal(low[0]), _same_width(low[1:], "9" * rest)))]
    if int(high[0]) - int(low[0]) > 1:
        middle = Chars(((ord(low[0]) + 1, ord(high[0]) - 1),))
        options.append(Concat((middle, Repeat(Chars(_DIGIT), rest, rest))))
    options.append(Concat((literal(high[0]), _same_width("0" * rest, high[1:]))))
    return Union(tuple(options))


__all__ = [
    "ANY_CHAR",
    "EMPTY",
    "Chars",
    "Concat",
    "Node",
    "Nothing",
    "Repeat",
    "Union",
    "complement",
    "literal",
    "parse_regexp",
    "parse_wildcard",
]
