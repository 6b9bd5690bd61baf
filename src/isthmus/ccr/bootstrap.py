"""A new follower's first copy: read from ``_seq_no`` 0, or the leader's store when its
history no longer starts there.

A new follower shard whose leader shard still holds its whole history follows it from
``_seq_no`` 0, as the project's design chose (fast, and it needs nothing but ``shard_changes``).
When the leader has trimmed operations (its answer to a read from 0 is ES's "Operations are no
longer available"), the shard is first copied as ES's ``CcrRepository`` restore copies every
shard: before the follower index exists, the leader shard's store is copied by a restore session (``session/put`` takes a consistent snapshot on the leader, the
files come in ``file_chunk/get`` chunks of :data:`CHUNK_BYTES`, ``session/clear`` ends it) and
installed as the follower shard's store (:func:`isthmus.index.store_snapshot.install_snapshot`).
The follower then opens with the leader's documents and history, ``_seq_no``,
``_primary_term`` and ``_version`` included, and follows from the copy's local checkpoint + 1:
a leader whose old history was already trimmed is followed all the same.

Before a shard's session is opened the follower takes its retention lease on the leader shard
(ES's ``CcrRepository.acquireRetentionLeaseOnLeader``: the id the follow task uses, retaining
every operation, ES's ``RETAIN_ALL`` that the leader stores as ``_seq_no`` 0), and renews it every
``ccr.retention_leases.renew_interval`` while the chunks come: the leader cannot trim the
operations after the snapshot while the copy runs. A copy that succeeds leaves the lease to the
follow task, which renews it (its add finds it exists) from its checkpoint + 1.

Each file's CRC32 is checked against the leader's. A failure leaves nothing behind: the shard
directories written so far are removed, every opened session is cleared and every lease taken
is removed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid as uuid_lib
import zlib
from collections.abc import Iterable
from pathlib import Path

from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.wire import (
    FileChunkRequest,
    LeaderIndexMetadataResponse,
    RestoreSessionRequest,
    RestoreShard,
    RetentionLeaseRequest,
    ShardChangesRequest,
)
from isthmus.errors import (
    IllegalStateError,
    IsthmusError,
    ResourceNotFoundError,
    RetentionLeaseAlreadyExistsError,
    RetentionLeaseInvalidRetainingSeqNoError,
)
from isthmus.index.store_snapshot import install_snapshot

log = logging.getLogger("org.elasticsearch.xpack.ccr.repository.CcrRepository")

CHUNK_BYTES = 1024 * 1024  # ES's ccr.indices.recovery.chunk_size default
# ES's RetentionLeaseActions.RETAIN_ALL is -1, which its add/renew actions store as 0: the
# lease a restore holds keeps the whole (remaining) history.
RETAIN_ALL_SEQ_NO = 0
_DOWNLOADS = "_ccr_restore"


async def shards_to_copy(client: LeaderClient, leader: LeaderIndexMetadataResponse) -> list[int]:
    """The leader shards whose history no longer starts at ``_seq_no`` 0 (asked as the user
    the client reads for: a refusal is theirs to see)."""
    out = []
    for number in range(leader.number_of_shards):
        history = (
            leader.shard_history_uuids[number] if number < len(leader.shard_history_uuids) else ""
        )
        probe = ShardChangesRequest(
            leader_index=leader.index,
            shard=number,
            from_seq_no=0,
            max_operation_count=1,
            expected_history_uuid=history,
            poll_timeout_ms=0,
            leader_index_uuid=leader.uuid,
        )
        try:
            await client.shard_changes(probe)
        except ResourceNotFoundError:  # ES's "Operations are no longer available ..."
            out.append(number)
    return out


async def restore_follower(
    client: LeaderClient,
    leader: LeaderIndexMetadataResponse,
    shard_dirs: dict[int, Path],
    lease_id: str,
    renew_interval_s: float = 30.0,
) -> None:
    """Copy the given shards of ``leader`` into their (not yet opened) shard directories, each
    under the retention lease ``lease_id`` on its leader shard (kept when the copy succeeds)."""
    leased: list[RetentionLeaseRequest] = []
    try:
        for lease, shard_dir in zip(
            copy_leases(leader, shard_dirs, lease_id), shard_dirs.values(), strict=True
        ):
            await acquire_lease(client, lease)
            leased.append(lease)
            renewals = asyncio.create_task(renew_during_copy(client, lease, renew_interval_s))
            try:
                shard = RestoreShard(leader.index, leader.uuid, lease.shard)
                await _restore_shard(client, shard, shard_dir)
            finally:
                renewals.cancel()
                await asyncio.gather(renewals, return_exceptions=True)
    except BaseException:
        for shard_dir in shard_dirs.values():
            await asyncio.to_thread(shutil.rmtree, shard_dir, True)
        await release_leases(client, leased)
        raise


async def acquire_lease(client: LeaderClient, lease: RetentionLeaseRequest) -> None:
    """Add the lease; one that exists already (a retried follow) is renewed instead."""
    try:
        await client.add_lease(lease)
    except RetentionLeaseAlreadyExistsError:
        await client.renew_lease(lease)


async def renew_during_copy(
    client: LeaderClient, lease: RetentionLeaseRequest, interval_s: float
) -> None:
    """Renew the lease every ``interval_s`` until cancelled; a failure is logged (as ES's
    restore does) and the next interval tries again."""
    while True:
        await asyncio.sleep(max(interval_s, 0.05))
        try:
            await client.renew_lease(lease)
        except RetentionLeaseInvalidRetainingSeqNoError:
            continue  # ES stays silent on this one: the lease retains more than asked
        except (IsthmusError, OSError) as exc:
            log.warning(
                "[%s][%d] background renewal of retention lease [%s] failed during restore: %s",
                lease.leader_index,
                lease.shard,
                lease.lease_id,
                exc,
            )


def copy_leases(
    leader: LeaderIndexMetadataResponse, shards: Iterable[int], lease_id: str
) -> list[RetentionLeaseRequest]:
    """The leases a copy of these leader shards holds."""
    return [
        RetentionLeaseRequest(
            leader.index, number, lease_id, RETAIN_ALL_SEQ_NO, leader_index_uuid=leader.uuid
        )
        for number in shards
    ]


async def release_leases(client: LeaderClient, leases: Iterable[RetentionLeaseRequest]) -> None:
    """Remove the leases of a copy that will not be followed (a failure is only logged: the
    lease expires with the leader's ``index.soft_deletes.retention_lease.period``)."""
    for lease in leases:
        try:
            await client.remove_lease(lease)
        except (IsthmusError, OSError) as exc:
            log.debug(
                "failed to remove retention lease [%s] on [%s][%d] after a failed restore: %s",
                lease.lease_id,
                lease.leader_index,
                lease.shard,
                exc,
            )


async def _restore_shard(client: LeaderClient, shard: RestoreShard, shard_dir: Path) -> None:
    downloads = shard_dir / _DOWNLOADS
    try:
        store = await fetch_store(client, shard, downloads)
        await asyncio.to_thread(install_snapshot, store, shard_dir)
    finally:
        await asyncio.to_thread(shutil.rmtree, downloads, True)


async def fetch_store(client: LeaderClient, shard: RestoreShard, downloads: Path) -> Path:
    """Copy the leader shard's store into ``downloads`` through a restore session (each
    file's CRC32 checked, the session cleared whatever happens); the store file's path."""
    session = RestoreSessionRequest(uuid_lib.uuid4().hex, shard)
    opened = await client.put_restore_session(session)
    try:
        await asyncio.to_thread(downloads.mkdir, parents=True, exist_ok=True)
        for store_file in opened.files:
            target = downloads / Path(store_file.name).name
            checksum = 0
            received = 0
            with target.open("wb") as out:
                while received < store_file.length:
                    size = min(CHUNK_BYTES, store_file.length - received)
                    answer = await client.file_chunk(
                        FileChunkRequest(session.session_uuid, store_file.name, size, shard)
                    )
                    if answer.offset != received or not answer.chunk:
                        raise IllegalStateError(
                            f"restore of {shard} file [{store_file.name}] expected the chunk at "
                            f"[{received}] but got [{answer.offset}]"
                        )
                    out.write(answer.chunk)
                    checksum = zlib.crc32(answer.chunk, checksum)
                    received += len(answer.chunk)
            if f"{checksum:08x}" != store_file.checksum.lower().rjust(8, "0"):
                raise IllegalStateError(
                    f"restore of {shard} file [{store_file.name}] failed its checksum: "
                    f"[{checksum:08x}] instead of [{store_file.checksum}]"
                )
        store = next((downloads / Path(f.name).name for f in opened.files), None)
        if store is None:
            raise IllegalStateError(f"restore of {shard} found no store file")
        return store
    finally:
        try:
            await client.clear_restore_session(session)
        except IsthmusError as exc:  # the leader drops idle sessions itself
            log.debug(
                "failed to clear restore session [%s] of %s: %s", session.session_uuid, shard, exc
            )
