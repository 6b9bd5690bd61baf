"""Terms lookup: a ``terms`` query that takes its values from a field of another document.  [no I/O]

``{"terms": {"user": {"index": "users", "id": "2", "path": "followers"}}}`` matches the values
the document ``users/2`` holds at ``followers``. As in Elasticsearch the coordinating node reads
that document (a realtime get, as the caller: it needs ``read`` on the lookup index, and its
document- and field-level security apply) before the query is parsed, and the lookup becomes an
ordinary ``terms`` query with those values. A missing document gives no values (the query then
matches nothing); a missing index fails the search.

This module finds the lookups in a request body (:func:`find_lookups`) and writes the values in
(:func:`apply_lookups`); the search handler does the reads in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus import xcontent
from isthmus.errors import IllegalArgumentError

_LOOKUP_KEYS = ("index", "id", "path", "routing")
# Where a search body holds queries that may contain a terms lookup.
_QUERY_ROOTS = ("query", "post_filter")


@dataclass(frozen=True)
class TermsLookup:
    index: str
    id: str
    path: str
    routing: str | None = None


def _lookup(spec: Mapping[str, Any]) -> TermsLookup:
    for key in spec:
        if key not in _LOOKUP_KEYS:
            # ES's TermsLookup parser; its x-content error reaches the caller unwrapped.
            raise xcontent.unknown_field("terms_lookup", key, _LOOKUP_KEYS)
    values = {k: xcontent.as_str("terms_lookup", k, spec[k]) for k in spec if spec[k] is not None}
    for required in ("id", "path", "index"):
        if required not in values:
            raise IllegalArgumentError(
                f"[terms] query lookup element requires specifying the {required}."
            )
    return TermsLookup(values["index"], values["id"], values["path"], values.get("routing"))


def _terms_nodes(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``terms`` query object under the body's query roots (walked without recursion:
    the depth of a hostile body is refused later, by the query parser)."""
    found: list[dict[str, Any]] = []
    stack: list[Any] = [body.get(root) for root in _QUERY_ROOTS]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            inner = node.get("terms")
            if isinstance(inner, dict):
                found.append(inner)
            stack.extend(v for k, v in node.items() if k != "terms")
    return found


def find_lookups(body: Mapping[str, Any] | None) -> list[TermsLookup]:
    """The lookups a search body names, each once."""
    if not body:
        return []
    out: list[TermsLookup] = []
    for inner in _terms_nodes(body):
        for key, value in inner.items():
            if key not in ("boost", "_name") and isinstance(value, Mapping):
                lookup = _lookup(value)
                if lookup not in out:
                    out.append(lookup)
    return out


def extract_values(source: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a dot ``path`` of a document (arrays flattened, as ES extracts them)."""
    nodes: list[Any] = [source]
    for part in path.split("."):
        following: list[Any] = []
        for node in nodes:
            for item in node if isinstance(node, list) else [node]:
                if isinstance(item, Mapping) and part in item:
                    following.append(item[part])
        nodes = following
    values: list[Any] = []
    for node in nodes:
        for item in node if isinstance(node, list) else [node]:
            if item is not None and not isinstance(item, Mapping | list):
                values.append(item)
    return values


def apply_lookups(
    body: Mapping[str, Any], values: Mapping[TermsLookup, list[Any]]
) -> dict[str, Any]:
    """A copy of ``body`` whose lookups are replaced by the values read for them."""
    out = _copy(body)
    for inner in _terms_nodes(out):
        for key, value in list(inner.items()):
            if key not in ("boost", "_name") and isinstance(value, Mapping):
                inner[key] = list(values.get(_lookup(value), []))
    return out


def _copy(value: Mapping[str, Any]) -> dict[str, Any]:
    # Only the containers are copied: the caller's body stays as it was sent.
    root: dict[str, Any] = dict(value)
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            if isinstance(child, dict | list):
                copied = dict(child) if isinstance(child, dict) else list(child)
                node[key] = copied
                stack.append(copied)
    return root


__all__ = ["TermsLookup", "apply_lookups", "extract_values", "find_lookups"]
