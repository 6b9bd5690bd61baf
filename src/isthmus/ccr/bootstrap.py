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

Each file's CRC32 is checked against the leader's. A failure leaves nothing behind: the shard
directories written so far are removed and every opened session is cleared.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid as uuid_lib
import zlib
from pathlib import Path

from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.wire import (
    FileChunkRequest,
    LeaderIndexMetadataResponse,
    RestoreSessionRequest,
    RestoreShard,
    ShardChangesRequest,
)
from isthmus.errors import IllegalStateError, IsthmusError, ResourceNotFoundError
from isthmus.index.store_snapshot import install_snapshot

log = logging.getLogger("org.elasticsearch.xpack.ccr.repository.CcrRepository")

CHUNK_BYTES = 1024 * 1024  # ES's ccr.indices.recovery.chunk_size default
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
    client: LeaderClient, leader: LeaderIndexMetadataResponse, shard_dirs: dict[int, Path]
) -> None:
    """Copy the given shards of ``leader`` into their (not yet opened) shard directories."""
    try:
        for number, shard_dir in shard_dirs.items():
            await _restore_shard(client, RestoreShard(leader.index, leader.uuid, number), shard_dir)
    except BaseException:
        for shard_dir in shard_dirs.values():
            await asyncio.to_thread(shutil.rmtree, shard_dir, True)
        raise


async def _restore_shard(client: LeaderClient, shard: RestoreShard, shard_dir: Path) -> None:
    session = RestoreSessionRequest(uuid_lib.uuid4().hex, shard)
    opened = await client.put_restore_session(session)
    downloads = shard_dir / _DOWNLOADS
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
        await asyncio.to_thread(install_snapshot, store, shard_dir)
    finally:
        await asyncio.to_thread(shutil.rmtree, downloads, True)
        try:
            await client.clear_restore_session(session)
        except IsthmusError as exc:  # the leader drops idle sessions itself
            log.debug(
                "failed to clear restore session [%s] of %s: %s", session.session_uuid, shard, exc
            )
