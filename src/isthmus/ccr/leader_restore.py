"""Restore sessions on the leader: a new follower copies a consistent snapshot of a leader
shard's store in chunks (ES's ``CcrRestoreSourceService`` and its three transport actions).

* ``indices:internal/admin/ccr/restore/session/put``: take the snapshot (SQLite's online
  backup of the shard's store, under the shard's lock, so it holds every operation up to one
  ``_seq_no`` and nothing half-written) and answer with its files and the mapping version. A
  session uuid already open answers the same session (ES does too: a retried put is harmless).
* ``.../file_chunk/get``: the next bytes of one file, read sequentially per file, with the
  offset they were read at; the session must be the requested shard's (ES's ``does not match
  requested shardId``) and the file one of its files (``invalid file name``).
* ``.../session/clear``: close the session and delete its snapshot.

In the API-key model they come as ``indices:internal/...`` through the remote cluster server,
run as the system subject within the key's ``replication`` access; in the certificate model as
``internal:admin/ccr/restore/...`` on the transport port, run by the system identity (ES's
names for the two paths).

A session unused for :data:`IDLE_TIMEOUT_S` (ES's ``ccr.indices.recovery.recovery_activity_timeout``
default) is closed, as is every session of a shard that leaves the node; both are checked when a
session action arrives, and every session goes when the node closes. Snapshots live in the
shard's directory (``_restore/``), so deleting the index deletes them too. The follower side
installs the copy with :func:`isthmus.index.store_snapshot.install_snapshot`.

In a cluster of several nodes the session is opened on the node holding the shard's primary: a
node that does not hold it hands ``session/put`` to that node (``...[s]``), and a ``file_chunk``
or ``clear`` for a session it does not have to the same node (the follower's requests may reach
any node of this cluster). A session whose node left is gone with it: the follower's copy fails
and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from isthmus.ccr.leader import LeaderShards
from isthmus.ccr.wire import (
    ACKNOWLEDGED,
    FileChunkRequest,
    FileChunkResponse,
    RestoreSessionRequest,
    RestoreSessionResponse,
    RestoreShard,
    StoreFile,
)
from isthmus.errors import IllegalArgumentError
from isthmus.index.service import Shard
from isthmus.index.store_snapshot import STORE_FILE
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import (
    INTERNAL_RESTORE_ACTIONS,
    INTERNAL_RESTORE_FILE_CHUNK_ACTION,
    INTERNAL_RESTORE_SESSION_CLEAR_ACTION,
    INTERNAL_RESTORE_SESSION_PUT_ACTION,
    RESTORE_FILE_CHUNK_ACTION,
    RESTORE_FILE_CHUNK_SHARD_ACTION,
    RESTORE_SESSION_CLEAR_ACTION,
    RESTORE_SESSION_CLEAR_SHARD_ACTION,
    RESTORE_SESSION_PUT_ACTION,
    RESTORE_SESSION_PUT_SHARD_ACTION,
)

if TYPE_CHECKING:
    from isthmus.security.authz import Subject

log = logging.getLogger("org.elasticsearch.xpack.ccr.repository.CcrRestoreSourceService")

IDLE_TIMEOUT_S = 60.0
MAX_CHUNK_BYTES = 16 * 1024 * 1024  # one answer is one transport frame (64 MiB at most)


@dataclass
class _Session:
    uuid: str
    shard: RestoreShard
    owner: Shard
    directory: Path
    files: dict[str, StoreFile]
    last_used: float
    readers: dict[str, BinaryIO] = field(default_factory=dict)

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()
        for file in self.files:
            (self.directory / file).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()


class RestoreSessions:
    """The open restore sessions of this node's leader shards."""

    def __init__(
        self,
        leader: LeaderShards,
        node_id: Callable[[], str],
        *,
        clock: Callable[[], float] = time.monotonic,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self._leader = leader
        self._node_id = node_id
        self._clock = clock
        self._idle_timeout_s = idle_timeout_s
        self._sessions: dict[str, _Session] = {}

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(RESTORE_SESSION_PUT_ACTION, self._on_put)
        registry.register(RESTORE_FILE_CHUNK_ACTION, self._on_chunk)
        registry.register(RESTORE_SESSION_CLEAR_ACTION, self._on_clear)
        # The certificate model's names: only the system identity reaches these (the transport
        # filter refuses anyone else an internal:* action), so no index check follows.
        registry.register(INTERNAL_RESTORE_SESSION_PUT_ACTION, self._on_put)
        registry.register(INTERNAL_RESTORE_FILE_CHUNK_ACTION, self._on_chunk)
        registry.register(INTERNAL_RESTORE_SESSION_CLEAR_ACTION, self._on_clear)
        # Handed over by another node of this cluster (which authorized the follower's request).
        registry.register(RESTORE_SESSION_PUT_SHARD_ACTION, self._on_put_here)
        registry.register(RESTORE_FILE_CHUNK_SHARD_ACTION, self._on_chunk_here)
        registry.register(RESTORE_SESSION_CLEAR_SHARD_ACTION, self._on_clear_here)

    def _authorize(self, ctx: TransportRequestContext[Subject], action: str, index: str) -> None:
        if ctx.action in INTERNAL_RESTORE_ACTIONS:
            return
        self._leader.authorize(ctx.caller, action, index)

    def __len__(self) -> int:
        return len(self._sessions)

    def __repr__(self) -> str:
        return f"<RestoreSessions open={len(self._sessions)}>"

    # --- actions ----------------------------------------------------------------------------

    async def _on_put(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = RestoreSessionRequest.from_payload(payload)
        self._authorize(ctx, RESTORE_SESSION_PUT_ACTION, request.shard.index)
        meta = self._leader.index(request.shard.index, request.shard.index_uuid)

        async def here() -> Any:
            return (await self.open(request)).to_payload()

        return await self._leader.on_primary(
            meta, request.shard.shard, RESTORE_SESSION_PUT_SHARD_ACTION, request.to_payload(), here
        )

    async def _on_chunk(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = FileChunkRequest.from_payload(payload)
        self._authorize(ctx, RESTORE_FILE_CHUNK_ACTION, request.shard.index)

        async def here() -> Any:
            return (await self.chunk(request)).to_payload()

        return await self._with_session(
            request.session_uuid, request.shard, RESTORE_FILE_CHUNK_SHARD_ACTION, payload, here
        )

    async def _on_clear(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = RestoreSessionRequest.from_payload(payload)
        self._authorize(ctx, RESTORE_SESSION_CLEAR_ACTION, request.shard.index)

        async def here() -> Any:
            await self.clear(request)
            return ACKNOWLEDGED

        return await self._with_session(
            request.session_uuid, request.shard, RESTORE_SESSION_CLEAR_SHARD_ACTION, payload, here
        )

    async def _with_session(
        self,
        session_uuid: str,
        shard: RestoreShard,
        action: str,
        payload: Any,
        here: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Run ``here`` when the session is this node's, else hand the request to the node of
        the shard's primary, where the session was opened."""
        if session_uuid in self._sessions or not self._leader.placement.distributed:
            return await here()
        meta = self._leader.index(shard.index, shard.index_uuid)
        return await self._leader.on_primary(meta, shard.shard, action, dict(payload), here)

    async def _on_put_here(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = RestoreSessionRequest.from_payload(
            self._leader.placement.check_peer(payload, RESTORE_SESSION_PUT_SHARD_ACTION)
        )
        meta = self._leader.index(request.shard.index, request.shard.index_uuid)
        self._leader.primary_shard(meta, request.shard.shard)
        return (await self.open(request)).to_payload()

    async def _on_chunk_here(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = FileChunkRequest.from_payload(
            self._leader.placement.check_peer(payload, RESTORE_FILE_CHUNK_SHARD_ACTION)
        )
        return (await self.chunk(request)).to_payload()

    async def _on_clear_here(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = RestoreSessionRequest.from_payload(
            self._leader.placement.check_peer(payload, RESTORE_SESSION_CLEAR_SHARD_ACTION)
        )
        await self.clear(request)
        return ACKNOWLEDGED

    # --- sessions ---------------------------------------------------------------------------

    async def open(self, request: RestoreSessionRequest) -> RestoreSessionResponse:
        await self._expire()
        meta = self._leader.index(request.shard.index, request.shard.index_uuid)
        session = self._sessions.get(request.session_uuid)
        if session is None:
            shard = self._leader.shard(meta, request.shard.shard)
            directory = shard.engine.path / "_restore" / request.session_uuid
            files = await asyncio.to_thread(_snapshot, shard, directory)
            session = _Session(
                request.session_uuid, request.shard, shard, directory, files, self._clock()
            )
            self._sessions[session.uuid] = session
            log.debug("opened session [%s] for shard %s", session.uuid, request.shard)
        else:
            self._check_shard(session, request.shard)
            session.last_used = self._clock()
        return RestoreSessionResponse(
            self._node_id(), tuple(session.files.values()), meta.mapping_version
        )

    async def chunk(self, request: FileChunkRequest) -> FileChunkResponse:
        await self._expire()
        session = self._session(request.session_uuid)
        self._check_shard(session, request.shard)
        if request.file_name not in session.files:
            raise IllegalArgumentError(f"invalid file name [{request.file_name}]")
        session.last_used = self._clock()
        size = min(request.size, MAX_CHUNK_BYTES)
        offset, chunk = await asyncio.to_thread(_read, session, request.file_name, size)
        return FileChunkResponse(offset, chunk)

    async def clear(self, request: RestoreSessionRequest) -> None:
        session = self._session(request.session_uuid)
        self._check_shard(session, request.shard)
        await self._close(session)

    def _session(self, uuid: str) -> _Session:
        session = self._sessions.get(uuid)
        if session is None:
            raise IllegalArgumentError(f"session [{uuid}] not found")
        return session

    @staticmethod
    def _check_shard(session: _Session, requested: RestoreShard) -> None:
        if session.shard != requested:
            raise IllegalArgumentError(
                f"session [{session.uuid}] shardId [{session.shard}] does not match requested "
                f"shardId [{requested}]"
            )

    async def _expire(self) -> None:
        """Close the sessions idle too long and those whose shard left the node."""
        now = self._clock()
        for session in list(self._sessions.values()):
            if session.owner.closed or now - session.last_used > self._idle_timeout_s:
                log.debug("closing idle or orphaned session [%s]", session.uuid)
                await self._close(session)

    async def _close(self, session: _Session) -> None:
        self._sessions.pop(session.uuid, None)
        await asyncio.to_thread(session.close)

    async def close(self) -> None:
        """Every session goes (the node stops)."""
        for session in list(self._sessions.values()):
            await self._close(session)


def _snapshot(shard: Shard, directory: Path) -> dict[str, StoreFile]:
    """The shard's store copied into ``directory`` (blocking: a worker thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STORE_FILE
    shard.engine.snapshot_store(target)
    checksum = 0
    with target.open("rb") as source:
        while block := source.read(1 << 20):
            checksum = zlib.crc32(block, checksum)
    return {STORE_FILE: StoreFile(STORE_FILE, target.stat().st_size, f"{checksum:08x}")}


def _read(session: _Session, name: str, size: int) -> tuple[int, bytes]:
    """The next ``size`` bytes of ``name`` and the offset they start at (sequential per file;
    the reader closes at the end of the file, so reading it again starts over)."""
    reader = session.readers.get(name)
    if reader is None:
        reader = session.readers[name] = (session.directory / name).open("rb")
    offset = reader.tell()
    chunk = reader.read(size)
    if reader.tell() >= session.files[name].length:
        reader.close()
        del session.readers[name]
    return offset, chunk
