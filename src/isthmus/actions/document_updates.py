"""Partial updates (``_update`` and bulk ``update`` items): the body's typed shape, the
read-merge-write loop with ``retry_on_conflict``, noop detection and the ``get`` the
response carries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from isthmus import xcontent
from isthmus.actions.document_items import ItemOutcome, WriteItem, shards_section
from isthmus.actions.document_routing import DocumentRouting
from isthmus.actions.shard_ops_wire import decode_error, decode_result, encode_error, encode_result
from isthmus.actions.shard_replication import Replicated, shard_of
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    ActionRequestValidationError,
    DocumentMissingError,
    IllegalArgumentError,
    IllegalStateError,
    IsthmusError,
    ShardNotFoundError,
    VersionConflictError,
)
from isthmus.index.engine import IndexOp, Op, OpResult
from isthmus.index.service import Shard
from isthmus.search.request import parse_source
from isthmus.search.source_filter import filter_source
from isthmus.wire.names import UPDATE_SHARD_ACTION

# How long an update sent to the primary's node may take (its replication included).
UPDATE_FORWARD_TIMEOUT_S = 120.0

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


Write = Callable[[list[Op], IndexMetadata], Awaitable[list[OpResult]]]


class DocumentUpdates(DocumentRouting):
    async def _update(
        self,
        item: WriteItem,
        meta: IndexMetadata,
        outcome: ItemOutcome,
        timeout: str | None = None,
        refresh: str | None = None,
    ) -> None:
        """``refresh`` reaches the copies of a shard whose primary is elsewhere (this node's
        own copies are refreshed by the caller, as for every write)."""
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
        if self.distributed:  # the read-modify-write runs where the primary is
            sid = self._shard_id(meta, item.routing or item.id)
            outcome.shard = sid.shard
            await self._update_routed(sid, item, meta, outcome, timeout, refresh)
            return
        shard = self._shard(meta, item.routing or item.id)
        outcome.shard = shard.shard_id.shard

        async def write(ops: list[Op], latest: IndexMetadata) -> list[OpResult]:
            return await shard.write(ops, latest.mapping)

        await self._update_on(shard, item, meta, outcome, write)

    async def _update_on(
        self, shard: Shard, item: WriteItem, meta: IndexMetadata, outcome: ItemOutcome, write: Write
    ) -> None:
        """The read-merge-write loop on the shard's primary (``retry_on_conflict`` times)."""
        assert item.id is not None
        body = item.source if isinstance(item.source, Mapping) else {}
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
            (result,) = await write([op], latest)
            if result.error is None:
                outcome.result = result
                outcome.get = self._update_get(
                    body, new_source, result.seq_no, result.primary_term, item.routing
                )
                return
            if not isinstance(result.error, VersionConflictError) or attempt == attempts - 1:
                raise result.error

    # --- a cluster of several nodes ----------------------------------------------------------

    async def _update_routed(
        self,
        sid: ShardId,
        item: WriteItem,
        meta: IndexMetadata,
        outcome: ItemOutcome,
        timeout: str | None,
        refresh: str | None,
    ) -> None:
        writes = self.shard_writes
        assert writes is not None

        async def here(shard: Shard) -> None:
            replicated = Replicated()

            async def write(ops: list[Op], latest: IndexMetadata) -> list[OpResult]:
                return await writes.write_on_primary(shard, ops, latest, refresh, replicated)

            await self._update_on(shard, item, meta, outcome, write)
            outcome.shards = shards_section(1 + meta.number_of_replicas, replicated)

        async def there(node_id: str) -> None:
            answer = await writes.peers.request(
                node_id,
                UPDATE_SHARD_ACTION,
                {
                    "index": sid.index_name,
                    "index_uuid": sid.index_uuid,
                    "shard": sid.shard,
                    "item": encode_update_item(item),
                    "refresh": refresh or "false",
                },
                UPDATE_FORWARD_TIMEOUT_S,
            )
            if not isinstance(answer, dict):
                raise IllegalStateError(f"{sid} the primary answered a malformed update")
            if answer.get("error") is not None:
                raise decode_error(answer["error"])
            outcome.result = decode_result(answer.get("result"))
            get = answer.get("get")
            outcome.get = get if isinstance(get, dict) else None
            replicated = Replicated.from_json(answer.get("replicated"))
            outcome.shards = shards_section(1 + meta.number_of_replicas, replicated)

        await writes.routed(
            sid, timeout, lambda: f"update {{[{meta.name}][{item.id}]}}", here, there
        )

    async def _on_update_shard(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An update another node sent to this node's primary."""
        writes = self.shard_writes
        assert writes is not None
        shard = shard_of(self.indices, self.cluster.state, payload)
        if writes.primary_here(shard.shard_id) is None:
            sid = shard.shard_id
            raise ShardNotFoundError(sid.index_name, sid.index_uuid, sid.shard)
        item = decode_update_item(payload.get("item"))
        outcome = ItemOutcome(item.action, item.index, item.id)
        meta = self.cluster.state.indices.get(shard.shard_id.index_name, shard.meta)
        refresh = payload.get("refresh")
        refresh = refresh if refresh in ("true", "wait_for") else None
        replicated = Replicated()

        async def write(ops: list[Op], latest: IndexMetadata) -> list[OpResult]:
            return await writes.write_on_primary(shard, ops, latest, refresh, replicated)

        try:
            await self._update_on(shard, item, meta, outcome, write)
        except IsthmusError as exc:
            return {"error": encode_error(exc)}
        done = outcome.result
        if done is not None and done.result not in (None, "noop"):
            if refresh == "true":
                await shard.refresh()
            elif refresh == "wait_for":
                await shard.wait_for_refresh(done.seq_no)
        return {
            "result": None if outcome.result is None else encode_result(outcome.result),
            "get": outcome.get,
            "replicated": replicated.to_json(),
        }

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


def encode_update_item(item: WriteItem) -> dict[str, Any]:
    return {
        "index": item.index,
        "id": item.id,
        "body": item.source,
        "routing": item.routing,
        "if_seq_no": item.if_seq_no,
        "if_primary_term": item.if_primary_term,
        "retry_on_conflict": item.retry_on_conflict,
    }


def decode_update_item(value: Any) -> WriteItem:
    if not isinstance(value, dict):
        raise IllegalArgumentError("an update needs its [item]")
    doc_id, body, routing = value.get("id"), value.get("body"), value.get("routing")
    retries = value.get("retry_on_conflict", 0)
    if not isinstance(doc_id, str) or not isinstance(body, dict) or not isinstance(retries, int):
        raise IllegalArgumentError("an update needs [id], [body] and [retry_on_conflict]")
    seq_no, term = value.get("if_seq_no"), value.get("if_primary_term")
    return WriteItem(
        "update",
        str(value.get("index", "")),
        doc_id,
        source=body,
        routing=routing if isinstance(routing, str) else None,
        if_seq_no=seq_no if isinstance(seq_no, int) else None,
        if_primary_term=term if isinstance(term, int) else None,
        retry_on_conflict=retries,
    )
