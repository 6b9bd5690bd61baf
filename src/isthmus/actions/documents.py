"""Document actions: index, create, get, delete, update, mget and bulk.

The order of a write is fixed: resolve the write index (auto-creating it when allowed), parse
the source against the mapping (errors here write nothing), publish any dynamic mapping update
to the cluster metadata, route to the shard, write durably, then honour ``refresh``. The
response is built only from what the engine acknowledged.

The rooms: ``document_items`` (the item, its checks and response body),
``document_routing`` (target index, shard, mapping), ``document_updates`` and
``document_reads``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import orjson

from isthmus.actions.document_items import (
    ItemOutcome,
    WriteItem,
    check_routing,
    located,
    shards_section,
    validate_id,
)
from isthmus.actions.document_reads import DocumentReads
from isthmus.actions.document_updates import DocumentUpdates
from isthmus.actions.shard_ops_wire import decode_op, decode_result, encode_op, encode_result
from isthmus.actions.shard_replication import (
    DEFAULT_WRITE_TIMEOUT,
    Replicated,
    ShardWrites,
    check_peer,
    request_description,
    shard_of,
)
from isthmus.cluster.allocation_service import parse_active_shards
from isthmus.cluster.data_streams import BACKING_PREFIX, check_timestamp, parent_of
from isthmus.cluster.data_streams import check_write as check_stream_write
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    ActionRequestValidationError,
    DocumentParsingError,
    IllegalArgumentError,
    IllegalStateError,
    IsthmusError,
    MapperParsingError,
    ShardNotFoundError,
    UnavailableShardsError,
)
from isthmus.index.engine import DeleteOp, IndexOp, Op, OpResult
from isthmus.index.service import Shard
from isthmus.settings.values import parse_time
from isthmus.transport.actions import ActionRegistry
from isthmus.wire.names import BULK_SHARD_ACTION, UPDATE_SHARD_ACTION

# How long a batch sent to the primary's node may take (its own replication included).
FORWARD_TIMEOUT_S = 120.0
# How often a write waiting for wait_for_active_shards copies looks at the routing table.
ACTIVE_POLL_S = 0.05


class DocumentActions(DocumentReads, DocumentUpdates):
    """Index, create, delete, update (single or in bulk), get and mget."""

    # --- the write pipeline -------------------------------------------------------------------

    async def execute(
        self,
        items: list[WriteItem],
        refresh: str | None,
        timeout: str | None = None,
        wait_for_active_shards: int | str | None = None,
    ) -> list[ItemOutcome]:
        """Run writes in order; one item's failure never affects another. ``timeout``: how
        long a batch waits for its shard's primary (a cluster of several nodes; ES's 1m) and
        for ``wait_for_active_shards`` active copies (None: the index's
        ``index.write.wait_for_active_shards``, 1 by default)."""
        outcomes: list[ItemOutcome] = []
        batches: dict[ShardId, list[tuple[int, Op]]] = defaultdict(list)
        shard_meta: dict[ShardId, IndexMetadata] = {}

        async def flush() -> None:
            if not batches:
                return
            pending = list(batches.items())
            batches.clear()

            async def run(shard_id: ShardId, entries: list[tuple[int, Op]]) -> None:
                try:
                    ops = [op for _, op in entries]
                    await self._enough_copies(
                        shard_id,
                        lambda: request_description(shard_id, ops),
                        wait_for_active_shards,
                        timeout,
                    )
                    replicated: Replicated | None = None
                    if self.distributed:
                        results, replicated = await self._write_routed(
                            shard_id, [op for _, op in entries], refresh, timeout
                        )
                    else:
                        shard = self.indices.shard(shard_id)
                        assert shard is not None
                        meta = self.cluster.state.indices[shard_meta[shard_id].name]
                        results = await shard.write([op for _, op in entries], meta.mapping)
                except IsthmusError as exc:  # nothing of the batch was written (a full disk)
                    for pos, _op in entries:
                        outcomes[pos].error = exc
                    return
                shards = None
                if replicated is not None:
                    total = 1 + shard_meta[shard_id].number_of_replicas
                    shards = shards_section(total, replicated)
                for (pos, _op), result in zip(entries, results, strict=True):
                    outcomes[pos].result = result
                    outcomes[pos].shards = shards
                    if result.error is not None:
                        outcomes[pos].error = result.error

            await asyncio.gather(*(run(sid, entries) for sid, entries in pending))

        targets: dict[tuple[str, bool], IndexMetadata] = {}
        single: dict[str, Shard] = {}
        for item in items:
            outcome = ItemOutcome(item.action, item.index, item.id)
            outcomes.append(outcome)
            try:
                key = (item.index, item.require_alias)
                meta = targets.get(key) or await self._write_target(item.index, item.require_alias)
                targets[key] = meta
                # Data streams are append-only (create only); their backing indices likewise.
                check_stream_write(
                    self.cluster.state, item.index, item.action, if_seq_no=item.if_seq_no
                )
                outcome.index = meta.name
                if item.action == "update":
                    check_routing(meta, item.routing, item.id)
                    await flush()
                    if item.id is not None:
                        sid = self._shard_id(meta, item.routing or item.id)
                        await self._enough_copies(
                            sid,
                            partial(str, f"update {{[{meta.name}][{item.id}]}}"),
                            wait_for_active_shards,
                            timeout,
                        )
                    await self._update(item, meta, outcome, timeout, refresh)
                    continue
                op = await self._prepare(item, meta, outcome)
                check_routing(meta, item.routing, outcome.id)
                if self.distributed:  # the shard's primary may be on another node
                    sid = self._shard_id(meta, item.routing or outcome.id or "")
                    outcome.shard = sid.shard
                    batches[sid].append((len(outcomes) - 1, op))
                    shard_meta[sid] = meta
                    continue
                if meta.number_of_shards == 1:  # no hashing, and one lookup per index
                    shard = single.get(meta.uuid) or single.setdefault(
                        meta.uuid, self._shard(meta, "")
                    )
                else:
                    shard = self._shard(meta, item.routing or outcome.id or "")
                outcome.shard = shard.shard_id.shard
                batches[shard.shard_id].append((len(outcomes) - 1, op))
                shard_meta[shard.shard_id] = meta
            except IsthmusError as exc:
                outcome.error = exc
        await flush()
        await self._refresh(outcomes, refresh)
        return outcomes

    async def _enough_copies(
        self,
        shard_id: ShardId,
        describe: Callable[[], str],
        wanted: int | str | None,
        timeout: str | None,
    ) -> None:
        """ES's check before a primary writes (ReplicationOperation.checkActiveShardCount):
        the shard must have ``wanted`` active copies (``all``: every copy), waited for up to
        ``timeout``, else ES's 503 ``unavailable_shards_exception``. A cluster of one has one
        active copy of each shard, its primary."""
        meta = self.cluster.state.by_uuid(shard_id.index_uuid)
        if meta is None:
            return
        if wanted is None:
            raw = meta.settings.get("index.write.wait_for_active_shards")
            wanted = 1 if raw is None else parse_active_shards(raw)
        copies = 1 + meta.number_of_replicas
        needed = copies if wanted == "all" else int(wanted)
        if needed <= 1:
            return
        limit = timeout or DEFAULT_WRITE_TIMEOUT
        deadline = time.monotonic() + parse_time(limit, "timeout").millis / 1000
        while True:
            active = self._active_copies(shard_id)
            if active >= needed:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(ACTIVE_POLL_S, left))
        label = "ALL" if wanted == "all" else str(wanted)
        raise UnavailableShardsError(
            f"{shard_id} Not enough active copies to meet shard count of [{label}] (have "
            f"{active}, needed {needed}). Timeout: [{limit}], request: "
            f"[{describe()}]",
            extra={"shard": str(shard_id.shard), "index": shard_id.index_name},
        )

    def _active_copies(self, shard_id: ShardId) -> int:
        """Started (or relocating) copies of ``shard_id`` in the routing table (one: a cluster
        of one, whose primary is open here)."""
        routing = self.cluster.state.routing.get(shard_id.index_uuid)
        if not self.distributed or routing is None or shard_id.shard >= len(routing.shards):
            return 1
        return sum(1 for c in routing.shards[shard_id.shard].copies if c.active)

    # --- a cluster of several nodes: the batch goes to its shard's primary ---------------------

    def use_shard_writes(self, writes: ShardWrites, registry: ActionRegistry[Any]) -> None:
        """Write through ``writes`` (primary and replicas on several nodes) and answer the
        batches and updates other nodes send to this node's primaries."""
        self.shard_writes = writes
        name = writes.peers.cluster_name

        async def bulk(payload: Any, ctx: Any) -> Any:
            return await self._on_bulk_shard(check_peer(payload, name, BULK_SHARD_ACTION))

        async def update(payload: Any, ctx: Any) -> Any:
            return await self._on_update_shard(check_peer(payload, name, UPDATE_SHARD_ACTION))

        registry.register(BULK_SHARD_ACTION, bulk)
        registry.register(UPDATE_SHARD_ACTION, update)

    async def _write_routed(
        self, shard_id: ShardId, ops: list[Op], refresh: str | None, timeout: str | None
    ) -> tuple[list[OpResult], Replicated]:
        """The batch's results on its primary, and how its replication went."""
        writes = self.shard_writes
        assert writes is not None
        replicated = Replicated()

        async def here(shard: Shard) -> list[OpResult]:
            nonlocal replicated
            meta = self.cluster.state.indices[shard_id.index_name]
            replicated = Replicated()
            return await writes.write_on_primary(shard, ops, meta, refresh, replicated)

        async def there(node_id: str) -> list[OpResult]:
            answer = await writes.peers.request(
                node_id,
                BULK_SHARD_ACTION,
                {
                    "index": shard_id.index_name,
                    "index_uuid": shard_id.index_uuid,
                    "shard": shard_id.shard,
                    "ops": [encode_op(op) for op in ops],
                    "refresh": refresh or "false",
                },
                FORWARD_TIMEOUT_S,
            )
            nonlocal replicated
            rows = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(rows, list) or len(rows) != len(ops):
                raise IllegalStateError(f"{shard_id} the primary answered a malformed batch")
            replicated = Replicated.from_json(answer.get("replicated"))
            return [decode_result(r) for r in rows]

        results: list[OpResult] = await writes.routed(
            shard_id, timeout, lambda: request_description(shard_id, ops), here, there
        )
        return results, replicated

    async def _on_bulk_shard(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A batch another node sent to this node's primary: parsed again against the current
        mapping (a dynamic update is published as for a local write), stored, replicated."""
        writes = self.shard_writes
        assert writes is not None
        shard = shard_of(self.indices, self.cluster.state, payload)
        if writes.primary_here(shard.shard_id) is None:
            sid = shard.shard_id
            raise ShardNotFoundError(sid.index_name, sid.index_uuid, sid.shard)
        raw_ops = payload.get("ops")
        if not isinstance(raw_ops, list):
            raise IllegalArgumentError("a shard batch needs [ops]")
        decoded = [decode_op(o) for o in raw_ops]
        results: list[OpResult | None] = [None] * len(decoded)
        ready: list[tuple[int, Op]] = []
        for pos, op in enumerate(decoded):
            if isinstance(op, IndexOp):
                try:
                    source = orjson.loads(op.source)
                    if not isinstance(source, dict):
                        raise MapperParsingError("failed to parse")
                    op = replace(op, values=await self._parse(shard.meta, source, op.id, op.source))
                except orjson.JSONDecodeError:
                    results[pos] = OpResult(
                        op.id, None, error=MapperParsingError("failed to parse")
                    )
                    continue
                except IsthmusError as exc:
                    results[pos] = OpResult(op.id, None, error=exc)
                    continue
            ready.append((pos, op))
        refresh = payload.get("refresh")
        refresh = refresh if isinstance(refresh, str) else None
        replicated = Replicated()
        if ready:
            meta = self.cluster.state.indices[shard.shard_id.index_name]
            ops = [op for _, op in ready]
            stored = await writes.write_on_primary(shard, ops, meta, refresh, replicated)
            for (pos, _op), result in zip(ready, stored, strict=True):
                results[pos] = result
            done = [r.seq_no for r in stored if r.error is None and r.result is not None]
            if done and refresh == "true":
                await shard.refresh()
            elif done and refresh == "wait_for":
                await shard.wait_for_refresh(max(done))
        return {
            "results": [encode_result(r) for r in results if r is not None],
            "replicated": replicated.to_json(),
        }

    async def _prepare(self, item: WriteItem, meta: IndexMetadata, outcome: ItemOutcome) -> Op:
        if item.action == "delete":
            if item.id is None:
                raise ActionRequestValidationError("Validation Failed: 1: id is missing;")
            validate_id(item.id)
            return DeleteOp(
                item.id, item.if_seq_no, item.if_primary_term, item.version, item.version_type
            )
        doc_id = item.id if item.id is not None else self.ids.next()
        validate_id(doc_id)
        outcome.id = doc_id
        source = item.source
        if not isinstance(source, dict):
            raise MapperParsingError(
                "failed to parse", caused_by=MapperParsingError("document must be a JSON object")
            )
        if meta.name.startswith(BACKING_PREFIX) and parent_of(self.cluster.state, meta.name):
            check_timestamp(source, item.raw)
        current = self.cluster.state.indices.get(meta.name, meta)
        try:
            parsed = current.mapping.parse_document(source, doc_id)
        except DocumentParsingError as exc:
            raise located(exc, item.raw) from None
        values = (
            parsed.values
            if parsed.mapping_update is None
            else await self._parse(meta, source, doc_id, item.raw)
        )
        return IndexOp(
            doc_id,
            item.raw if item.raw is not None else orjson.dumps(source),
            values,
            create=item.action == "create",
            if_seq_no=item.if_seq_no,
            if_primary_term=item.if_primary_term,
            auto_id=item.id is None,
            version=item.version,
            version_type=item.version_type,
            routing=item.routing,
        )

    async def _refresh(self, outcomes: list[ItemOutcome], refresh: str | None) -> None:
        if refresh in (None, "false"):
            return
        touched: dict[ShardId, int] = {}
        for outcome in outcomes:
            if outcome.result is not None and outcome.result.result is not None:
                meta = self.cluster.state.indices.get(outcome.index)
                if meta is None:
                    continue
                sid = ShardId(meta.uuid, outcome.shard, meta.name)
                touched[sid] = max(touched.get(sid, -1), outcome.result.seq_no)
        for sid, seq_no in touched.items():
            shard = self.indices.shard(sid)
            if shard is None:
                continue
            if refresh == "wait_for":
                await shard.wait_for_refresh(seq_no)
            else:
                await shard.refresh()
