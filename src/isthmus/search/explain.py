"""Score explanations in Elasticsearch's shape.  [no I/O]

ES explains a score as a tree of ``{"value", "description", "details"}`` (every node has
``details``, empty for a leaf). The engine's explanation (tantivy's, as JSON) has the same
tree with engine-specific extras (``context``) that are dropped here; the descriptions are the
engine's own words (``TermQuery, product of...``), not Lucene's. A document the query does not
match is explained as ES explains it: value 0 and no details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

NO_MATCH = {"value": 0.0, "description": "no matching term", "details": []}


def explanation_json(engine_json: str) -> dict[str, Any]:
    """The engine's explanation (JSON text) as ES writes it."""
    return _convert(orjson.loads(engine_json))


def _convert(node: Any) -> dict[str, Any]:
    # Walked with an explicit stack: an explanation is as deep as the query, which the parser
    # bounds, but no recursion is needed to copy it.
    root: dict[str, Any] = {}
    stack: list[tuple[Any, dict[str, Any]]] = [(node, root)]
    while stack:
        src, dst = stack.pop()
        src = src if isinstance(src, Mapping) else {}
        dst["value"] = float(src.get("value", 0.0))
        dst["description"] = str(src.get("description", ""))
        dst["details"] = []
        for child in src.get("details") or []:
            out: dict[str, Any] = {}
            dst["details"].append(out)
            stack.append((child, out))
    return root


def explain_response(
    index: str, doc_id: str, explanation: dict[str, Any] | None, found: bool
) -> dict[str, Any]:
    """``GET /<index>/_explain/<id>``'s body: ``matched`` and the explanation when the
    document exists (a missing one has only ``matched: false``)."""
    body: dict[str, Any] = {"_index": index, "_id": doc_id, "matched": explanation is not None}
    if found:
        body["explanation"] = explanation if explanation is not None else dict(NO_MATCH)
    return body


__all__ = ["NO_MATCH", "explain_response", "explanation_json"]
