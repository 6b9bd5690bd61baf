"""ES's ``filter_path`` response filtering.  [no I/O]

``a.b`` keeps that path, ``*`` matches one key, ``**`` any number of levels, and a leading ``-``
excludes. Arrays are transparent: a path continues into each element. Empty objects and arrays
left by filtering are dropped, as ES drops them.
"""

from __future__ import annotations

from typing import Any

from isthmus.cluster.patterns import simple_match

_DROP = object()


def _split(expr: str) -> tuple[list[list[str]], list[list[str]]]:
    includes: list[list[str]] = []
    excludes: list[list[str]] = []
    for part in (p.strip() for p in expr.split(",")):
        if not part:
            continue
        target = excludes if part.startswith("-") else includes
        target.append(part.lstrip("-").split("."))
    return includes, excludes


def _matches_key(pattern: str, key: str) -> bool:
    return pattern == key or simple_match(key, pattern)


def _include(value: Any, paths: list[list[str]]) -> Any:
    if any(not p for p in paths):
        return value
    if isinstance(value, list):
        items = [_include(v, paths) for v in value]
        items = [v for v in items if v is not _DROP]
        return items if items else _DROP
    if not isinstance(value, dict):
        return _DROP
    out: dict[str, Any] = {}
    for key, child in value.items():
        nxt: list[list[str]] = []
        for path in paths:
            head = path[0]
            if head == "**":
                if len(path) == 1:
                    nxt.append([])  # a trailing ** keeps everything below
                    continue
                nxt.append(path)  # ** may swallow this level
                if _matches_key(path[1], key):
                    nxt.append(path[2:])
            elif _matches_key(head, key):
                nxt.append(path[1:])
        if nxt:
            kept = _include(child, nxt)
            if kept is not _DROP:
                out[key] = kept
    return out if out else _DROP


def _exclude(value: Any, paths: list[list[str]]) -> Any:
    if isinstance(value, list):
        return [_exclude(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, child in value.items():
        nxt = []
        dropped = False
        for path in paths:
            if path[0] == "**":
                nxt.append(path)
                if len(path) > 1 and _matches_key(path[1], key):
                    if len(path) == 2:
                        dropped = True
                    nxt.append(path[2:])
            elif _matches_key(path[0], key):
                if len(path) == 1:
                    dropped = True
                nxt.append(path[1:])
        if dropped:
            continue
        nxt = [p for p in nxt if p]
        kept = _exclude(child, nxt) if nxt else child
        if nxt and isinstance(child, dict) and child and not kept:
            continue  # an object the exclusions emptied is dropped, as ES drops it
        out[key] = kept
    return out


def apply_filter_path(body: Any, expr: str) -> Any:
    includes, excludes = _split(expr)
    result = body
    if includes:
        kept = _include(result, includes)
        result = {} if kept is _DROP else kept
    if excludes:
        result = _exclude(result, excludes)
    return result
