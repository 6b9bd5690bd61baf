"""``_source`` includes/excludes, with ES's path and wildcard rules.  [no I/O]

A pattern names a field path (``user.name``), an object (``user`` keeps all below it) or uses
``*`` wildcards (``user.*``, ``*.id``). Excludes win over includes. Patterns come from requests:
they are matched by :func:`simple_match` (ES's ``Regex.simpleMatch``: linear, nothing compiled or
cached per pattern), never by ``fnmatch`` (a regex per pattern, kept in an unbounded cache).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from isthmus.cluster.patterns import simple_match


def _hit(path: str, patterns: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + ".") or simple_match(path, p) for p in patterns)


def _could_lead(path: str, patterns: Sequence[str]) -> bool:
    """Whether some include pattern may match below the object at ``path``."""
    prefix = path + "."
    return any(
        p.startswith(prefix) or ("*" in p and simple_match(prefix, p.split("*")[0] + "*"))
        for p in patterns
    )


def filter_source(
    source: Mapping[str, Any], includes: Sequence[str], excludes: Sequence[str]
) -> dict[str, Any]:
    return _filter(source, "", includes, excludes)


def _filter(
    obj: Mapping[str, Any], prefix: str, includes: Sequence[str], excludes: Sequence[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if excludes and _hit(path, excludes):
            continue
        included = not includes or _hit(path, includes)
        if isinstance(value, Mapping):
            if included and not excludes:
                out[key] = value
                continue
            if included or _could_lead(path, includes):
                inner = _filter(value, path + ".", [] if included else includes, excludes)
                if inner or (included and not value):
                    out[key] = inner
            continue
        if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            if included or _could_lead(path, includes):
                # Scalars in the array belong to the array's own path: kept only if it is.
                items = [
                    _filter(v, path + ".", [] if included else includes, excludes)
                    if isinstance(v, Mapping)
                    else v
                    for v in value
                    if isinstance(v, Mapping) or included
                ]
                items = [v for v in items if v != {}]
                if items:
                    out[key] = items
            continue
        if included:
            out[key] = value
    return out
