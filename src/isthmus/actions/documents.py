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
from collections import defaultdict

import orjson

from isthmus.actions.document_items import (
    ItemOutcome,
    WriteItem,
    check_routing,
    located,
    validate_id,
)
from isthmus.actions.document_reads import DocumentReads
from isthmus.actions.document_updates import DocumentUpdates
from isthmus.cluster.data_streams import BACKING_PREFIX, check_timestamp, parent_of
from isthmus.cluster.data_streams import check_write as check_stream_write
from isthmus.cluster.metadata import IndexMetadata
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    ActionRequestValidationError,
    DocumentParsingError,
    IsthmusError,
    MapperParsingError,
)
from isthmus.index.engine import DeleteOp, IndexOp, Op
from isthmus.index.service import Shard


class DocumentActions(DocumentReads, DocumentUpdates):
    """Index, create, delete, update (single or in bulk), get and mget."""

    # --- the write pipeline -------------------------------------------------------------------

    async def execute(self, items: list[WriteItem], refresh: str | None) -> list[ItemOutcome]:
        """Run writes in order; one item's failure never affects another."""
        outcomes: list[ItemOutcome] = []
        batches: dict[ShardId, list[tuple[int, Op]]] = defaultdict(list)
        shard_meta: dict[ShardId, IndexMetadata] = {}

        async def flush() -> None:
            if not batches:
                return
            pending = list(batches.items())
            batches.clear()

            async def run(shard_id: ShardId, entries: list[tuple[int, Op]]) -> None:
                shard = self.indices.shard(shard_id)
                assert shard is not None
                meta = self.cluster.state.indices[shard_meta[shard_id].name]
                try:
                    results = await shard.write([op for _, op in entries], meta.mapping)
                except IsthmusError as exc:  # nothing of the batch was written (a full disk)
                    for pos, _op in entries:
                        outcomes[pos].error = exc
                    return
                for (pos, _op), result in zip(entries, results, strict=True):
                    outcomes[pos].result = result
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
                    await self._update(item, meta, outcome)
                    continue
                op = await self._prepare(item, meta, outcome)
                check_routing(meta, item.routing, outcome.id)
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
