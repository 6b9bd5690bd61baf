"""Partial updates (``_update`` and bulk ``update`` items): the body's typed shape, the
read-merge-write loop with ``retry_on_conflict``, noop detection and the ``get`` the
response carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from isthmus import xcontent
from isthmus.actions.document_items import ItemOutcome, WriteItem
from isthmus.actions.document_routing import DocumentRouting
from isthmus.cluster.metadata import IndexMetadata
from isthmus.errors import (
    ActionRequestValidationError,
    DocumentMissingError,
    IllegalArgumentError,
    VersionConflictError,
)
from isthmus.index.engine import IndexOp, OpResult
from isthmus.search.request import parse_source
from isthmus.search.source_filter import filter_source

# The fields ES's UpdateRequest parser declares.
UPDATE_FIELDS = (
    "script",
    "scripted_upsert",
    "upsert",
    "doc",
    "doc_as_upsert",
    "detect_noop",
    "_source",
    "if_seq_no",
    "if_primary_term",
)


def check_update_body(body: Mapping[str, Any]) -> None:
    """The typed shape of an update body (ES's UpdateRequest parser: an unknown field is its
    x_content_parse_exception with a "did you mean"; ``doc`` and ``upsert`` are objects, the
    flags booleans), checked before the document is read."""
    for key in body:
        if key not in UPDATE_FIELDS:
            raise xcontent.unknown_field("UpdateRequest", key, UPDATE_FIELDS)
    for key in ("if_seq_no", "if_primary_term"):
        if key in body:
            xcontent.as_long("UpdateRequest", key, body[key])
    for key in ("doc", "upsert"):
        if key in body:
            xcontent.as_object("UpdateRequest", key, body[key])
    for key in ("doc_as_upsert", "detect_noop", "scripted_upsert"):
        if key in body:
            xcontent.as_bool("UpdateRequest", key, body[key])


def _body_long(body: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key)
    return default if value is None else xcontent.as_long("UpdateRequest", key, value)


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class DocumentUpdates(DocumentRouting):
    async def _update(self, item: WriteItem, meta: IndexMetadata, outcome: ItemOutcome) -> None:
        if item.id is None:
            raise ActionRequestValidationError("Validation Failed: 1: id is missing;")
        body = item.source if isinstance(item.source, Mapping) else {}
        check_update_body(body)
        if "script" in body:
            raise IllegalArgumentError("scripted updates are not supported by Isthmus")
        if "doc" not in body and "upsert" not in body:
            raise ActionRequestValidationError("Validation Failed: 1: script or doc is missing;")
        if "if_seq_no" in body or "if_primary_term" in body:
            # The body's pair (ES's UpdateRequest parser reads it after the URL's) wins.
            item.if_seq_no = _body_long(body, "if_seq_no", item.if_seq_no)
            item.if_primary_term = _body_long(body, "if_primary_term", item.if_primary_term)
            if (item.if_seq_no is None) != (item.if_primary_term is None):
                raise ActionRequestValidationError(
                    "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"
                    if item.if_primary_term is None
                    else "Validation Failed: 1: ifPrimaryTerm is set, but seqNo is unassigned;"
                )
        shard = self._shard(meta, item.routing or item.id)
        outcome.shard = shard.shard_id.shard
        attempts = item.retry_on_conflict + 1
        for attempt in range(attempts):
            current = await shard.get(item.id)
            if current is None:
                if body.get("doc_as_upsert"):
                    new_source = dict(body["doc"])
                elif "upsert" in body:
                    new_source = dict(body["upsert"])
                else:
                    raise DocumentMissingError(
                        f"[{item.id}]: document missing",
                        extra={
                            "index_uuid": meta.uuid,
                            "shard": str(outcome.shard),
                            "index": meta.name,
                        },
                    )
                values = await self._parse(meta, new_source, item.id)  # checks it first
                op = IndexOp(
                    item.id, orjson.dumps(new_source), values, create=True, routing=item.routing
                )
            else:
                # ES compares if_seq_no/if_primary_term when it reads the document for the
                # update, so a stale pair conflicts even when the update would be a noop.
                if item.if_seq_no is not None and (
                    item.if_seq_no != current.seq_no or item.if_primary_term != current.primary_term
                ):
                    raise VersionConflictError(
                        f"[{item.id}]: version conflict, required seqNo [{item.if_seq_no}], "
                        f"primary term [{item.if_primary_term}]. current document has seqNo "
                        f"[{current.seq_no}] and primary term [{current.primary_term}]",
                        extra={
                            "index_uuid": meta.uuid,
                            "shard": str(outcome.shard),
                            "index": meta.name,
                        },
                    )
                old_source = orjson.loads(current.source)
                new_source = deep_merge(old_source, body.get("doc") or {})
                if body.get("detect_noop", True) and new_source == old_source:
                    shard.noop_updates += 1
                    outcome.result = OpResult(
                        item.id, "noop", current.seq_no, current.primary_term, current.version
                    )
                    outcome.get = self._update_get(
                        body, new_source, current.seq_no, current.primary_term, current.routing
                    )
                    return
                values = await self._parse(meta, new_source, item.id)  # checks it first
                op = IndexOp(
                    item.id,
                    orjson.dumps(new_source),
                    values,
                    if_seq_no=current.seq_no,
                    if_primary_term=current.primary_term,
                    routing=item.routing,  # ES's update writes with the request's routing
                )
            latest = self.cluster.state.indices[meta.name]
            (result,) = await shard.write([op], latest.mapping)
            if result.error is None:
                outcome.result = result
                outcome.get = self._update_get(
                    body, new_source, result.seq_no, result.primary_term, item.routing
                )
                return
            if not isinstance(result.error, VersionConflictError) or attempt == attempts - 1:
                raise result.error

    @staticmethod
    def _update_get(
        body: Mapping[str, Any],
        source: dict[str, Any],
        seq_no: int,
        term: int,
        routing: str | None,
    ) -> dict[str, Any] | None:
        if "_source" not in body:
            return None
        flt = parse_source(body["_source"])
        if not flt.enabled:
            return None
        shown = (
            filter_source(source, flt.includes, flt.excludes)
            if flt.includes or flt.excludes
            else source
        )
        out: dict[str, Any] = {"_seq_no": seq_no, "_primary_term": term}
        if routing is not None:  # ES's GetResult: the metadata fields come before `found`
            out["_routing"] = routing
        out["found"] = True
        out["_source"] = shown
        return out
