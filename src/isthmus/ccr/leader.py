"""The leader side of cross-cluster replication: what a follower cluster asks of this one.

Transport actions (on the transport port and on the remote cluster server, one registry):

* ``indices:data/read/xpack/ccr/shard_changes``: a batch of a shard's history from a
  ``_seq_no``, never above the global checkpoint, bounded by operations and bytes (ES's
  ``ShardChangesAction``). A follower that has caught up is held until the checkpoint moves or
  its poll timeout ends (woken by the shard's writes), then answered with no operations. A
  wrong history uuid (the leader was recreated) and operations the history no longer holds are
  refused with ES's errors, which the follower treats as fatal. What the shard has just
  written is read from memory (:mod:`isthmus.index.recent_ops`) and goes onto the wire straight
  from the history's rows: serving a follower that keeps up costs ~0.6 us per operation.
* ``indices:admin/seq_no/{add,renew,remove}_retention_lease``: the follower's lease on each
  leader shard (ES's ``RetentionLeaseActions``), expiring after
  ``index.soft_deletes.retention_lease.period``.
* ``cluster:monitor/state`` asked for one index's metadata (with the data stream it backs) or
  for the indices a pattern matches (by their names or their data streams'): answered here, for
  :mod:`isthmus.actions.remote_nodes` (the same action without ``metadata`` lists the nodes).
* ``cluster:admin/xpack/security/user/has_privileges`` for index privileges: which of them the
  caller has on which indices (:mod:`isthmus.ccr.follow_privileges`, asked before following).

And ``forget_follower`` (a REST API on this cluster): remove a follower's leases.

In a cluster of several nodes a shard's requests are served by the node holding its primary
(:mod:`isthmus.ccr.placement`): the node a follower's request reaches authorizes it, then hands
it to that node under the action's ``[s]`` name and answers what it answered (its error too).
The leader index's shard history uuids are the primaries' (a replica's own history uuid is not
the one a follower checks).

Who may call: each index action is authorized by its ES action name against the caller the
transport's request filter decided (the certificate model: this cluster's roles of the same
names; the API-key model: the key's ``replication`` access, narrowed by the querying cluster),
so a key with only ``search`` access gets ES's 403 naming the privileges that would grant it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from isthmus.ccr.follow_privileges import IndexPrivilegesRequest, IndexPrivilegesResponse
from isthmus.ccr.forget_follower import forget_follower
from isthmus.ccr.placement import CcrPlacement, local_placement
from isthmus.ccr.wire import (
    ACKNOWLEDGED,
    LeaderIndexMetadataRequest,
    LeaderIndexMetadataResponse,
    LeaderIndexSummary,
    LeaderIndicesRequest,
    LeaderIndicesResponse,
    ReplicatedOp,
    RetentionLeaseRequest,
    ShardChangesRequest,
    ShardChangesResponse,
    retention_lease_id,
)
from isthmus.cluster.data_streams import parent_of, stream, streams
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.routing import ShardId
from isthmus.errors import (
    ClusterBlockError,
    IllegalArgumentError,
    IllegalStateError,
    IndexNotFoundError,
    IsthmusError,
    MissingHistoryOperationsError,
    ResourceNotFoundError,
    SecurityError,
    ShardNotFoundError,
)
from isthmus.index.engine import HistoryRow, SeqNoStats, ShardEngine
from isthmus.index.seq_no import describe_leases
from isthmus.index.service import RETENTION_LEASE_PERIOD, IndicesService, Shard
from isthmus.settings.ccr import DEFAULT_MAX_LEASES_PER_SHARD, FOLLOWING_INDEX
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import (
    ADD_RETENTION_LEASE_ACTION,
    ADD_RETENTION_LEASE_SHARD_ACTION,
    HAS_PRIVILEGES_ACTION,
    REMOVE_RETENTION_LEASE_ACTION,
    REMOVE_RETENTION_LEASE_SHARD_ACTION,
    RENEW_RETENTION_LEASE_ACTION,
    RENEW_RETENTION_LEASE_SHARD_ACTION,
    SHARD_CHANGES_ACTION,
    SHARD_CHANGES_SHARD_ACTION,
    SHARD_HISTORY_UUID_ACTION,
)

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.index_authorization import IndexAuthorization

# ES's metadata key on the "operations are no longer available" error (Ccr.java).
REQUESTED_OPS_MISSING = "requested_operations_missing"
# A batch stops after this many bytes of operations whatever the follower asks for: the answer
# is one transport frame, and frames are limited (wire.frames.FrameLimits, 64 MiB). The
# follower simply asks again from where the batch ended.
MAX_BATCH_BYTES = 32 * 1024 * 1024
# A request handed to the primary's node: its own time (a long poll's timeout) plus this margin.
FORWARD_MARGIN_S = 30.0


_SYSTEM_LEASE_ACTIONS = frozenset(
    {ADD_RETENTION_LEASE_ACTION, RENEW_RETENTION_LEASE_ACTION, REMOVE_RETENTION_LEASE_ACTION}
)


class LeaderShards:
    """Answers followers from this cluster's shards; ``authz`` None: security is off."""

    def __init__(
        self,
        state: Callable[[], ClusterMetadata],
        indices: IndicesService,
        *,
        authz: IndexAuthorization | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_leases_per_shard: int = DEFAULT_MAX_LEASES_PER_SHARD,
    ) -> None:
        self._state = state
        self._indices = indices
        self._authz = authz
        self._clock = clock
        # ccr.retention_leases.max_per_shard: what one caller with replication rights may
        # make a shard's lease table grow to.
        self._max_leases = max_leases_per_shard
        # Which node serves each shard (a cluster of several nodes: set by :meth:`distribute`).
        self.placement: CcrPlacement = local_placement(lambda: "")

    def distribute(self, placement: CcrPlacement) -> None:
        """Serve each shard on its primary's node (a cluster of several nodes)."""
        self.placement = placement

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(SHARD_CHANGES_ACTION, self._on_shard_changes)
        registry.register(ADD_RETENTION_LEASE_ACTION, self._on_add_lease)
        registry.register(RENEW_RETENTION_LEASE_ACTION, self._on_renew_lease)
        registry.register(REMOVE_RETENTION_LEASE_ACTION, self._on_remove_lease)
        registry.register(HAS_PRIVILEGES_ACTION, self._on_has_privileges)
        # What another node of this cluster hands to this one, the shard's primary.
        self._register_shard_action(registry, SHARD_CHANGES_SHARD_ACTION, self._changes_here)
        self._register_shard_action(registry, ADD_RETENTION_LEASE_SHARD_ACTION, self._add_lease)
        self._register_shard_action(registry, RENEW_RETENTION_LEASE_SHARD_ACTION, self._renew_lease)
        self._register_shard_action(
            registry, REMOVE_RETENTION_LEASE_SHARD_ACTION, self._remove_lease
        )
        self._register_shard_action(registry, SHARD_HISTORY_UUID_ACTION, self._history_uuid_here)

    def _register_shard_action(
        self,
        registry: ActionRegistry[Subject],
        action: str,
        serve: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> None:
        """A shard-level action another node of this cluster sends: already authorized by
        that node (it runs as the system), refused to nodes of another cluster."""

        async def handle(payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
            return await serve(self.placement.check_peer(payload, action))

        registry.register(action, handle)

    # --- the node that serves a shard -------------------------------------------------------

    async def on_primary(
        self,
        meta: IndexMetadata,
        number: int,
        action: str,
        payload: dict[str, Any],
        here: Callable[[], Awaitable[Any]],
        timeout_s: float = FORWARD_MARGIN_S,
    ) -> Any:
        """Run ``here`` when this node holds the primary of shard ``number`` of ``meta`` (a
        cluster of one: always), else ``action`` on the primary's node with ``payload``."""
        node = self.placement.remote_primary(ShardId(meta.uuid, number, meta.name))
        if node is None:
            return await here()
        return await self.placement.ask(node, action, payload, timeout_s)

    def primary_shard(self, meta: IndexMetadata, number: int) -> Shard:
        """This node's copy of a shard another node handed over as to its primary: a copy
        that is no longer the primary is ES's retryable shard_not_found_exception."""
        if not self.placement.runs_here(ShardId(meta.uuid, number, meta.name)):
            raise ShardNotFoundError(meta.name, meta.uuid, number)
        return self.shard(meta, number)

    # --- lookups and authorization ----------------------------------------------------------

    def authorize(self, subject: Subject | None, action: str, index: str) -> None:
        if self._authz is None:
            return
        if subject is None:
            # The certificate model's system identity, which the transport filter admits only
            # for what ES's system user may run: of these, the three lease actions (a follower
            # manages its leases "under the system context"), never shard_changes.
            if action in _SYSTEM_LEASE_ACTIONS:
                return
            raise SecurityError(f"action [{action}] is unauthorized for user [_system]")
        self._authz.narrow(subject, action, index)

    async def _on_has_privileges(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        """The caller's own index privileges (ES's has_privileges: any user may ask about
        itself), each decided as :meth:`authorize` would decide that action on that index."""
        request = IndexPrivilegesRequest.from_payload(payload)
        answer: dict[str, dict[str, bool]] = {}
        for index in request.indices:
            answer[index] = {}
            for privilege in request.privileges:
                try:
                    self.authorize(ctx.caller, privilege, index)
                    answer[index][privilege] = True
                except SecurityError:
                    answer[index][privilege] = False
        return IndexPrivilegesResponse(answer).to_payload()

    def index(self, name: str, uuid: str | None = None) -> IndexMetadata:
        """The open index ``name`` (with ``uuid`` when given: a recreated index is another)."""
        meta = self._state().indices.get(name)
        if meta is None or (uuid is not None and meta.uuid != uuid):
            raise IndexNotFoundError(name)
        if not meta.is_open:
            # ES's leader actions are single-shard actions: a closed index is refused by its
            # READ-level block (retried by the follower), not as an index_closed_exception.
            raise ClusterBlockError(
                f"index [{meta.name}] blocked by: [FORBIDDEN/4/index closed];", status=403
            )
        return meta

    def shard(self, meta: IndexMetadata, number: int) -> Shard:
        shard = self._indices.shard(ShardId(meta.uuid, number, meta.name))
        if shard is None:
            raise ShardNotFoundError(meta.name, meta.uuid, number)
        return shard

    # --- shard_changes ----------------------------------------------------------------------

    async def _on_shard_changes(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        started = self._clock()
        request = ShardChangesRequest.from_payload(payload)
        self.authorize(ctx.caller, SHARD_CHANGES_ACTION, request.leader_index)
        meta = self.index(request.leader_index, request.leader_index_uuid)
        return await self.on_primary(
            meta,
            request.shard,
            SHARD_CHANGES_SHARD_ACTION,
            request.to_payload(),
            lambda: self._changes_payload(request, started),
            request.poll_timeout_ms / 1000 + FORWARD_MARGIN_S,
        )

    async def _changes_here(self, payload: dict[str, Any]) -> Any:
        started = self._clock()
        request = ShardChangesRequest.from_payload(payload)
        meta = self.index(request.leader_index, request.leader_index_uuid)
        self.primary_shard(meta, request.shard)
        return await self._changes_payload(request, started)

    async def _changes_payload(self, request: ShardChangesRequest, started: float) -> Any:
        rows, answer = await self._changes(request, started)
        # The operations go onto the wire straight from the history's rows: a ReplicatedOp per
        # operation would only be turned into this same list (each read serves thousands).
        out = answer.to_payload()
        out["operations"] = [_op_payload(row) for row in rows]
        return out

    async def shard_changes(
        self, request: ShardChangesRequest, started: float | None = None
    ) -> ShardChangesResponse:
        """ES's ``ShardChangesAction`` on one of this node's shards."""
        rows, answer = await self._changes(request, started)
        return dataclasses.replace(answer, operations=tuple(_replicated(row) for row in rows))

    async def _changes(
        self, request: ShardChangesRequest, started: float | None
    ) -> tuple[list[HistoryRow], ShardChangesResponse]:
        """The history rows ``request`` gets, and the answer around them (without them)."""
        started = self._clock() if started is None else started
        meta = self.index(request.leader_index, request.leader_index_uuid)
        shard = self.shard(meta, request.shard)
        _check_history_uuid(shard.engine, request.expected_history_uuid)
        read: tuple[list[HistoryRow], SeqNoStats] | None = None
        if request.from_seq_no > shard.engine.global_checkpoint:
            moved = await shard.wait_for_checkpoint(
                request.from_seq_no, request.poll_timeout_ms / 1000
            )
            # The index may have gone, or been recreated, while the request waited.
            meta = self.index(request.leader_index, meta.uuid)
            shard = self.shard(meta, request.shard)
            _check_history_uuid(shard.engine, request.expected_history_uuid)
            if moved:
                read = await asyncio.to_thread(_read, shard, request)
        else:
            read = await asyncio.to_thread(_read, shard, request)
        engine = shard.engine
        # Nothing read (the poll timed out): the numbers now. The shard's lock may make this
        # wait for a write, which is why a read takes them in its own thread.
        rows, stats = read if read is not None else ([], engine.seq_no_stats())
        meta = self._state().by_uuid(meta.uuid) or meta
        return rows, ShardChangesResponse(
            operations=(),
            global_checkpoint=stats.global_checkpoint,
            max_seq_no=stats.max_seq_no,
            max_seq_no_of_updates_or_deletes=engine.max_seq_no_of_updates_or_deletes,
            mapping_version=meta.mapping_version,
            settings_version=meta.settings_version,
            aliases_version=meta.aliases_version,
            took_in_millis=max(0, int((self._clock() - started) * 1000)),
        )

    # --- retention leases -------------------------------------------------------------------

    async def _on_lease(
        self,
        ctx: TransportRequestContext[Subject],
        action: str,
        shard_action: str,
        payload: Any,
        serve: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> Any:
        request = RetentionLeaseRequest.from_payload(payload)
        self.authorize(ctx.caller, action, request.leader_index)
        meta = self.index(request.leader_index, request.leader_index_uuid)
        body = request.to_payload()
        return await self.on_primary(meta, request.shard, shard_action, body, lambda: serve(body))

    def _lease_shard(self, payload: dict[str, Any]) -> tuple[RetentionLeaseRequest, Shard]:
        request = RetentionLeaseRequest.from_payload(payload)
        meta = self.index(request.leader_index, request.leader_index_uuid)
        return request, self.primary_shard(meta, request.shard)

    async def _on_add_lease(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        return await self._on_lease(
            ctx,
            ADD_RETENTION_LEASE_ACTION,
            ADD_RETENTION_LEASE_SHARD_ACTION,
            payload,
            self._add_lease,
        )

    async def _on_renew_lease(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        return await self._on_lease(
            ctx,
            RENEW_RETENTION_LEASE_ACTION,
            RENEW_RETENTION_LEASE_SHARD_ACTION,
            payload,
            self._renew_lease,
        )

    async def _on_remove_lease(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        return await self._on_lease(
            ctx,
            REMOVE_RETENTION_LEASE_ACTION,
            REMOVE_RETENTION_LEASE_SHARD_ACTION,
            payload,
            self._remove_lease,
        )

    async def _add_lease(self, payload: dict[str, Any]) -> Any:
        request, shard = self._lease_shard(payload)
        await asyncio.to_thread(
            shard.engine.add_retention_lease,
            request.lease_id,
            request.retaining_seq_no,
            request.source,
            shard.retention_lease_period_ms,
            self._max_leases,
        )
        return ACKNOWLEDGED

    async def _renew_lease(self, payload: dict[str, Any]) -> Any:
        request, shard = self._lease_shard(payload)
        await asyncio.to_thread(
            shard.engine.renew_retention_lease,
            request.lease_id,
            request.retaining_seq_no,
            request.source,
            shard.retention_lease_period_ms,
        )
        return ACKNOWLEDGED

    async def _remove_lease(self, payload: dict[str, Any]) -> Any:
        request, shard = self._lease_shard(payload)
        await asyncio.to_thread(
            shard.engine.remove_retention_lease, request.lease_id, shard.retention_lease_period_ms
        )
        return ACKNOWLEDGED

    # --- leader index metadata --------------------------------------------------------------

    async def index_metadata(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        """``cluster:monitor/state`` for one index, or the indices matching patterns
        (authorized as the cluster action it is, as ES's cluster state is)."""
        if LeaderIndicesRequest.is_one(payload):
            return self.leader_indices(LeaderIndicesRequest.from_payload(payload)).to_payload()
        request = LeaderIndexMetadataRequest.from_payload(payload)
        answer = self.leader_index_metadata(request.index)
        if self.placement.distributed:
            answer = await self._primaries_history(answer)
        return answer.to_payload()

    async def _primaries_history(
        self, answer: LeaderIndexMetadataResponse
    ) -> LeaderIndexMetadataResponse:
        """The answer with each shard's history uuid as its primary holds it."""
        meta = self.index(answer.index, answer.uuid) if answer.state == "open" else None
        if meta is None:
            return answer
        uuids = list(answer.shard_history_uuids)
        for number in range(meta.number_of_shards):
            body = {"index": meta.name, "index_uuid": meta.uuid, "shard": number}
            try:
                got = await self.on_primary(
                    meta,
                    number,
                    SHARD_HISTORY_UUID_ACTION,
                    body,
                    functools.partial(self._history_uuid_here, body),
                )
            except IsthmusError:
                continue  # no active primary now: the follower checks again when it reads
            if isinstance(got, dict) and isinstance(got.get("history_uuid"), str):
                uuids[number] = got["history_uuid"]
        return dataclasses.replace(answer, shard_history_uuids=tuple(uuids))

    async def _history_uuid_here(self, payload: dict[str, Any]) -> Any:
        name, uuid, number = payload.get("index"), payload.get("index_uuid"), payload.get("shard")
        if not isinstance(name, str) or not isinstance(uuid, str) or not isinstance(number, int):
            raise IllegalArgumentError("a shard request needs [index], [index_uuid] and [shard]")
        meta = self.index(name, uuid)
        return {"history_uuid": self.primary_shard(meta, number).engine.history_uuid}

    def leader_indices(self, request: LeaderIndicesRequest) -> LeaderIndicesResponse:
        """The concrete indices (open and closed) whose names, or whose data stream's name,
        match a pattern (ES's auto-follow matches a backing index by its stream's name)."""
        patterns = request.patterns or ("*",)
        state = self._state()
        parents = {i: s.name for s in streams(state).values() for i in s.indices}
        found = [
            LeaderIndexSummary(
                meta.name,
                meta.uuid,
                meta.state,
                meta.creation_date,
                meta.settings.get(FOLLOWING_INDEX) == "true",
                meta.hidden,
                parents.get(name),
            )
            for name, meta in sorted(state.indices.items())
            if any(
                simple_match(candidate, pattern)
                for pattern in patterns
                for candidate in (name, parents.get(name))
                if candidate is not None
            )
        ]
        return LeaderIndicesResponse(tuple(found))

    def leader_index_metadata(self, name: str) -> LeaderIndexMetadataResponse:
        state = self._state()
        meta = state.indices.get(name)
        if meta is None:
            if name in state.aliases():
                raise IllegalArgumentError(f"cannot follow [{name}], because it is a ALIAS")
            if stream(state, name) is not None:  # its backing indices are followed one by one
                raise IllegalArgumentError(f"cannot follow [{name}], because it is a DATA_STREAM")
            raise IndexNotFoundError(name)
        parent = parent_of(state, name)
        uuids = []
        for number in range(meta.number_of_shards):
            shard = self._indices.shard(ShardId(meta.uuid, number, meta.name))
            uuids.append(shard.engine.history_uuid if shard is not None else "")
        return LeaderIndexMetadataResponse(
            index=meta.name,
            uuid=meta.uuid,
            state=meta.state,
            number_of_shards=meta.number_of_shards,
            mapping=meta.mapping.to_json(),
            settings=dict(meta.settings),
            aliases={alias: spec.to_json() for alias, spec in meta.aliases.items()},
            mapping_version=meta.mapping_version,
            settings_version=meta.settings_version,
            aliases_version=meta.aliases_version,
            shard_history_uuids=tuple(uuids),
            data_stream=parent.to_json() if parent is not None else None,
        )

    # --- forget_follower --------------------------------------------------------------------

    async def forget_follower(
        self,
        leader_index: str,
        follower_cluster: str,
        follower_index: str,
        follower_index_uuid: str,
        leader_remote_cluster: str,
    ) -> dict[str, Any]:
        """Remove the follower's lease from every shard of ``leader_index`` (on each shard's
        primary): :func:`isthmus.ccr.forget_follower.forget_follower`."""
        meta = self.index(leader_index)
        lease_id = retention_lease_id(
            follower_cluster,
            follower_index,
            follower_index_uuid,
            leader_remote_cluster,
            meta.name,
            meta.uuid,
        )
        return await forget_follower(meta, lease_id, self._remove_lease_on_primary)

    async def _remove_lease_on_primary(
        self, meta: IndexMetadata, lease_id: str, number: int
    ) -> None:
        body = RetentionLeaseRequest(meta.name, number, lease_id, leader_index_uuid=meta.uuid)
        payload = body.to_payload()
        await self.on_primary(
            meta,
            number,
            REMOVE_RETENTION_LEASE_SHARD_ACTION,
            payload,
            functools.partial(self._remove_lease, payload),
        )


def _check_history_uuid(engine: ShardEngine, expected: str) -> None:
    if engine.history_uuid != expected:
        raise IllegalStateError(
            f"unexpected history uuid, expected [{expected}], actual [{engine.history_uuid}]"
        )


def _read(shard: Shard, request: ShardChangesRequest) -> tuple[list[HistoryRow], SeqNoStats]:
    """The history rows ``request`` asks for, up to the global checkpoint, and the shard's
    numbers read after them, so they cover every operation in the answer (blocking: a thread;
    on the event loop, taking the shard's lock would stall it behind a write)."""
    engine = shard.engine
    checkpoint = engine.global_checkpoint
    start = request.from_seq_no
    if start > checkpoint:
        raise IllegalStateError(
            f"not exposing operations from [{start}] greater than the global checkpoint "
            f"[{checkpoint}]"
        )
    end = min(checkpoint, start + request.max_operation_count - 1)
    if end < start:  # max_operation_count 0
        return [], engine.seq_no_stats()
    try:
        rows = engine.changes_rows(start, end, min(request.max_batch_size, MAX_BATCH_BYTES))
    except MissingHistoryOperationsError as exc:
        leases = engine.retention_leases(_period_ms(shard))
        raise ResourceNotFoundError(
            "Operations are no longer available for replicating. Existing retention leases "
            f"[{describe_leases(leases)}]; maybe increase the retention lease period setting "
            f"[{RETENTION_LEASE_PERIOD}]?",
            caused_by=exc,
            extra={REQUESTED_OPS_MISSING: [str(start), str(end)]},
        ) from exc
    return rows, engine.seq_no_stats()


def _period_ms(shard: Shard) -> int:
    return shard.retention_lease_period_ms


def _op_payload(row: HistoryRow) -> list[Any]:
    """A history row as a replicated operation on the wire (:class:`ReplicatedOp`'s fields, in
    its order): an ``index`` keeps its source, a ``delete`` or ``noop`` carries none."""
    seq_no, term, version, kind, doc_id, source, _ts, routing = row
    if kind == "index":
        return ["index", doc_id, seq_no, term, version, source, routing]
    return ["delete" if kind == "delete" else "noop", doc_id, seq_no, term, version, None, None]


def _replicated(row: HistoryRow) -> ReplicatedOp:
    """The same operation as a value (what an in-process caller gets)."""
    return ReplicatedOp._make(_op_payload(row))
