"""Typed reading of parsed request bodies, with Elasticsearch's x-content errors.  [no I/O]

A request body arrives as plain JSON values; every parser that turns a body into a typed request
reads its fields through these functions, so a wrong type or an impossible value is answered the
way ES's object parsers answer it (HTTP 400, never a Python exception escaping as a 500):

* a value of the wrong JSON kind: ``x_content_parse_exception``
  ``[<parser>] <field> doesn't support values of type: <TOKEN>``;
* a value of the right kind that does not convert (``"size": "ten"``):
  ``x_content_parse_exception`` ``[<parser>] failed to parse field [<field>]`` caused by the
  ``illegal_argument_exception`` the conversion raised.

The token names are Jackson's (``START_OBJECT``, ``VALUE_STRING``...), as ES prints them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from isthmus.errors import IllegalArgumentError, IsthmusError, ParsingError, XContentParseError
from isthmus.errors.requests import BodyKey

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def token(value: Any) -> str:
    """The Jackson token a JSON value starts with."""
    if isinstance(value, Mapping):
        return "START_OBJECT"
    if isinstance(value, list | tuple):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if value is None:
        return "VALUE_NULL"
    return "VALUE_STRING"


def wrong_type(parser: str, field: str, value: Any) -> XContentParseError:
    return XContentParseError(f"[{parser}] {field} doesn't support values of type: {token(value)}")


def failed_field(parser: str, field: str, cause: str) -> XContentParseError:
    return XContentParseError(
        f"[{parser}] failed to parse field [{field}]", caused_by=IllegalArgumentError(cause)
    )


def as_object(parser: str, field: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise wrong_type(parser, field, value)
    return value


def as_list(parser: str, field: str, value: Any) -> list[Any]:
    """An array; a single value stands for a one-element array, as in ES's object parsers."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        raise wrong_type(parser, field, value)
    return [value]


def as_str(parser: str, field: str, value: Any) -> str:
    """A string; numbers and booleans are accepted as their text (ES's ``text()`` does so)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise wrong_type(parser, field, value)


def as_bool(parser: str, field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise failed_field(
            parser,
            field,
            f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
        )
    raise wrong_type(parser, field, value)


def as_int(
    parser: str,
    field: str,
    value: Any,
    *,
    lo: int = INT_MIN,
    hi: int = INT_MAX,
) -> int:
    """A whole number within ``[lo, hi]`` (a 32-bit int unless told); a numeric string and a
    float with no fraction are accepted, as ES coerces them."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong_type(parser, field, value)
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise failed_field(parser, field, f'For input string: "{value}"')
        number = int(value)
    else:
        try:
            number = int(value.strip())
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                raise failed_field(parser, field, f'For input string: "{value}"') from None
            if not math.isfinite(as_float) or as_float != int(as_float):
                raise failed_field(parser, field, f'For input string: "{value}"') from None
            number = int(as_float)
    if not lo <= number <= hi:
        kind = "int" if (lo, hi) == (INT_MIN, INT_MAX) else "long"
        raise failed_field(parser, field, f"Numeric value ({value}) out of range of {kind}")
    return number


def as_long(parser: str, field: str, value: Any) -> int:
    return as_int(parser, field, value, lo=LONG_MIN, hi=LONG_MAX)


def as_float(parser: str, field: str, value: Any) -> float:
    """A finite number (a numeric string is accepted)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong_type(parser, field, value)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise failed_field(parser, field, f'For input string: "{value}"') from None
    if not math.isfinite(number):
        raise failed_field(parser, field, f"[{field}] must be a finite number but was [{value}]")
    return number


# How deeply a request body (other than a document, see index.mapping) may nest. ES's parser
# allows 1000 levels; bodies here are stored (settings, metadata, alias filters) and sent back
# (aggregation ``meta``) through a JSON encoder that stops at 254, and walked by code that must
# not meet Python's recursion limit. The deepest legitimate bodies (30 nested queries, 40 nested
# aggregations) need well under this.
MAX_BODY_DEPTH = 200


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def did_you_mean(unknown: str, candidates: Iterable[str], *, threshold: float = 0.5) -> str:
    """ES's "did you mean" tail (its parsers' and REST handlers' suggestions): the candidates
    whose Lucene Levenshtein similarity (1 - distance / longer length) is above ``threshold``
    (0.5; ES's settings validation asks for 0.7), best first, then by name; ``""`` when none
    is close."""
    scored = []
    for candidate in set(candidates):
        longest = max(len(unknown), len(candidate))
        similarity = 1.0 - _levenshtein(unknown, candidate) / longest if longest else 1.0
        if similarity > threshold:
            scored.append((-similarity, candidate))
    names = [c for _, c in sorted(scored)]
    if not names:
        return ""
    if len(names) == 1:
        return f" did you mean [{names[0]}]?"
    return f" did you mean any of [{', '.join(names)}]?"


def unknown_field(
    parser: str,
    key: str,
    candidates: Iterable[str],
    error: type[IsthmusError] = XContentParseError,
    *,
    parent: str | None = None,
) -> IsthmusError:
    """ES's object-parser error for a key the parser does not declare:
    ``[<parser>] unknown field [<key>]`` with its "did you mean" over ``candidates`` (the
    parser's declared fields, ES's full list even where Isthmus implements fewer). ``error`` is
    the exception the ES parser's caller lets out (``x_content_parse_exception`` for an
    ObjectParser read directly, ``parsing_exception`` where a query/aggregation parser wraps it).
    ``parent``: the body key holding the parsed object, when known, so the error can show the
    unknown key's location (ES's ``[line:col]``)."""
    err = error(f"[{parser}] unknown field [{key}]{did_you_mean(key, candidates)}")
    if parent is not None:
        at(err, parent, key)
    return err


def failed_field_at(parser: str, field: str, cause: IsthmusError) -> XContentParseError:
    """ES's ObjectParser error around whatever the parser of ``field`` threw:
    ``[<parser>] failed to parse field [<field>]``, at the token the inner parser stopped on
    (the value where ``cause`` is located, when it is)."""
    err = XContentParseError(f"[{parser}] failed to parse field [{field}]", caused_by=cause)
    where = getattr(cause, "body_key", None)
    if isinstance(where, BodyKey):
        err.body_key = BodyKey(where.path, rooted=where.rooted, at_value=True)
    return err


def at(err: IsthmusError, *path: str, rooted: bool = False, at_value: bool = False) -> IsthmusError:
    """``err`` marked with where in the request body it arose (see ``BodyKey``); errors of
    other kinds carry no location in ES and are returned unmarked."""
    if isinstance(err, ParsingError | XContentParseError) and err.body_key is None:
        err.body_key = BodyKey(tuple(path), rooted=rooted, at_value=at_value)
    return err


def check_depth(value: Any, limit: int = MAX_BODY_DEPTH) -> None:
    """Refuse a parsed body nested deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise XContentParseError(
                f"Document nesting depth ({depth}) exceeds the maximum allowed ({limit})"
            )
        for child in node.values() if isinstance(node, Mapping) else node:
            if isinstance(child, Mapping | list):
                stack.append((child, depth + 1))


# --- token locations: where in the raw body a parse error arose ------------------------------
#
# orjson gives no token positions, so a parse error marked with a ``BodyKey`` is located only
# when it is reported: the raw body is scanned once for the key, and the location is shown as
# ES's Jackson parser shows it (1-based line and column, the column counted in bytes of the
# UTF-8 body): a ``[line:col] `` prefix on an x_content_parse_exception's reason, ``line`` and
# ``col`` fields on a parsing_exception. A body that is not one JSON object (NDJSON, YAML) or is
# larger than _MAX_LOCATED_BODY is not scanned, and an error whose key is not found keeps no
# location rather than a wrong one.

_MAX_LOCATED_BODY = 1 << 20
_WHITESPACE = b" \t\r\n"


def locate_in_body(err: IsthmusError, raw: bytes | None) -> None:
    """Give every marked parse error in ``err``'s cause chain its location in ``raw``."""
    chain: list[ParsingError | XContentParseError] = []
    node: IsthmusError | None = err
    while node is not None:
        if isinstance(node, ParsingError | XContentParseError) and node.body_key is not None:
            chain.append(node)
        node = node.caused_by
    if not chain or not raw or len(raw) > _MAX_LOCATED_BODY:
        return
    keys = _keys(raw)
    if keys is None:
        return
    for marked in chain:
        where = marked.body_key
        assert where is not None
        found = _find(keys, where)
        marked.body_key = None  # located once
        if found is None:
            continue
        line, col = _line_col(raw, found)
        if isinstance(marked, XContentParseError):
            marked.reason = f"[{line}:{col}] {marked.reason}"
            marked.args = (marked.reason,)
        else:
            marked.extra.update(line=line, col=col)


def _find(keys: list[tuple[tuple[str, ...], int, int]], where: BodyKey) -> int | None:
    """The offset of the first key (in document order) at ``where``'s path, whose ``*``
    names stand for any key (a query's field name)."""
    size = len(where.path)
    for path, key_at, value_at in keys:
        tail = path if where.rooted else path[-size:]
        if len(tail) == size and all(w in ("*", k) for w, k in zip(where.path, tail, strict=True)):
            return value_at if where.at_value else key_at
    return None


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _keys(raw: bytes) -> list[tuple[tuple[str, ...], int, int]] | None:
    """Every object key of a JSON document: its path from the root (array levels add no
    name), the offset of its opening quote and of its value. None when ``raw`` is not exactly
    one JSON object."""
    out: list[tuple[tuple[str, ...], int, int]] = []
    # One frame per open container: its kind, and for an object the key whose value is read.
    stack: list[list[Any]] = []
    expect_key = False
    i, n = _skip(raw, 0), len(raw)
    if i >= n or raw[i] != ord("{"):
        return None
    while i < n:
        c = raw[i]
        if c in b"{[":
            stack.append(["o" if c == ord("{") else "a", None])
            expect_key = c == ord("{")
            i += 1
        elif c in b"}]":
            stack.pop()
            expect_key = False
            i += 1
            if not stack:
                return out if _skip(raw, i) == n else None
        elif c == ord(","):
            expect_key = stack[-1][0] == "o"
            i += 1
        elif c == ord('"'):
            end = _string_end(raw, i)
            if end is None:
                return None
            if expect_key:
                try:
                    key = orjson.loads(raw[i:end])
                except orjson.JSONDecodeError:
                    return None
                colon = _skip(raw, end)
                if colon >= n or raw[colon] != ord(":"):
                    return None
                prefix = tuple(frame[1] for frame in stack[:-1] if frame[0] == "o")
                out.append(((*prefix, key), i, _skip(raw, colon + 1)))
                stack[-1][1] = key
                expect_key = False
                i = colon + 1
            else:
                i = end
        elif c in _WHITESPACE or c == ord(":"):
            i += 1
        else:  # a number or a literal: up to the next delimiter
            while i < n and raw[i] not in b",}] \t\r\n":
                i += 1
    return None


def _skip(raw: bytes, i: int) -> int:
    while i < len(raw) and raw[i] in _WHITESPACE:
        i += 1
    return i


def _string_end(raw: bytes, start: int) -> int | None:
    """The offset just past the string opening at ``start`` (escapes skipped)."""
    i = start + 1
    while True:
        j = raw.find(b'"', i)
        if j < 0:
            return None
        backslashes = 0
        while raw[j - 1 - backslashes] == ord("\\"):
            backslashes += 1
        if backslashes % 2 == 0:
            return j + 1
        i = j + 1
