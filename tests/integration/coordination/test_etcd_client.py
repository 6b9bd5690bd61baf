"""The etcd v3 gateway client against real etcd 3.4 members on unix sockets: typed results,
transaction fences, leases, watches (one response per transaction, resumed from a revision,
compaction), fail-over between endpoints and errors that never leak httpx."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import (
    Compare,
    Delete,
    DeleteResult,
    Get,
    Put,
    PutResult,
    RangeResult,
)
from isthmus.errors import CoordinationError, CoordinationUnavailableError, WatchCompactedError
from isthmus.testing.etcd import EtcdTestCluster


async def test_put_get_prefix_and_delete(etcd: EtcdTestCluster, unique_prefix: bytes) -> None:
    async with etcd.client() as client:
        first = await client.put(unique_prefix + b"a", b"1")
        await client.put(unique_prefix + b"b", b"2")
        await client.put(unique_prefix[:-1] + b"0", b"outside")  # the next key after the prefix
        found = await client.get(unique_prefix, prefix=True)
        assert [(kv.key, kv.value) for kv in found.kvs] == [
            (unique_prefix + b"a", b"1"),
            (unique_prefix + b"b", b"2"),
        ]
        assert found.count == 2
        a = found.kvs[0]
        assert a.create_revision == a.mod_revision == first.revision and a.version == 1
        assert (await client.get(unique_prefix + b"missing")).first() is None
        deleted = await client.delete(unique_prefix, prefix=True)
        assert deleted.deleted == 2
        assert (await client.get(unique_prefix, prefix=True)).kvs == ()


async def test_txn_fences_on_create_mod_version_and_value(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    key = unique_prefix + b"master"
    async with etcd.client() as client:
        absent = Compare.create_revision(key, 0)
        won = await client.txn([absent], [Put(key, b"n1")], [Get(key)])
        assert won.succeeded and isinstance(won.responses[0], PutResult)
        lost = await client.txn([absent], [Put(key, b"n2")], [Get(key)])
        assert not lost.succeeded
        holder = lost.responses[0]
        assert isinstance(holder, RangeResult)
        kv = holder.kvs[0]
        assert kv.value == b"n1" and kv.create_revision == won.revision

        async def holds(*compare: Compare) -> bool:
            return (await client.txn(list(compare), [], [])).succeeded

        assert await holds(Compare.create_revision(key, won.revision))
        assert await holds(Compare.mod_revision(key, kv.mod_revision), Compare.version(key, 1))
        assert await holds(Compare.value(key, b"n1"))
        assert not await holds(Compare.value(key, b"n2"))
        assert not await holds(Compare.create_revision(key, won.revision + 1))
        changed = await client.txn(
            [Compare.mod_revision(key, kv.mod_revision)], [Put(key, b"n1b"), Delete(key + b"x")]
        )
        assert changed.succeeded and isinstance(changed.responses[1], DeleteResult)
        stale = await client.txn([Compare.mod_revision(key, kv.mod_revision)], [Put(key, b"x")])
        assert not stale.succeeded
        assert (await client.get(key)).kvs[0].value == b"n1b"


async def test_leases_bind_keys_and_revoke_deletes_them(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    async with etcd.client() as client:
        lease = await client.lease_grant(5)
        assert lease.id > 0 and lease.ttl == 5
        await client.put(unique_prefix + b"node", b"x", lease=lease.id)
        assert (await client.lease_keepalive(lease.id)).ttl == 5
        ttl = await client.lease_time_to_live(lease.id, keys=True)
        assert ttl.granted_ttl == 5 and ttl.keys == (unique_prefix + b"node",)
        assert (await client.get(unique_prefix + b"node")).kvs[0].lease == lease.id
        assert await client.lease_revoke(lease.id) is True
        assert (await client.get(unique_prefix + b"node")).kvs == ()
        assert await client.lease_revoke(lease.id) is False
        assert (await client.lease_keepalive(lease.id)).ttl <= 0
        assert (await client.lease_time_to_live(lease.id)).ttl == -1


async def test_watch_delivers_a_txn_at_once_and_resumes_from_a_revision(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    async with etcd.client() as client:
        before = await client.put(unique_prefix + b"a", b"0")
        txn = await client.txn(
            [],
            [
                Put(unique_prefix + b"a", b"1"),
                Put(unique_prefix + b"b", b"2"),
                Delete(unique_prefix + b"c"),
            ],
        )
        await client.delete(unique_prefix + b"a")
        # From a past revision: history replayed in order, each transaction whole (a replay
        # may batch several revisions in one response).
        stream = client.watch(unique_prefix, prefix=True, start_revision=before.revision)
        groups = []
        async with contextlib.aclosing(stream):
            assert (await anext(stream)).created
            async with asyncio.timeout(5):
                while len(groups) < 3:
                    groups += (await anext(stream)).by_revision()
        assert [revision for revision, _ in groups] == [
            before.revision,
            txn.revision,
            txn.revision + 1,
        ]
        assert [e.kv.value for e in groups[0][1]] == [b"0"]
        assert [(e.type, e.kv.key, e.kv.value) for e in groups[1][1]] == [
            ("PUT", unique_prefix + b"a", b"1"),
            ("PUT", unique_prefix + b"b", b"2"),
        ]
        assert [(e.type, e.kv.key) for e in groups[2][1]] == [("DELETE", unique_prefix + b"a")]
        # Live: a transaction written after the watch started arrives as one response.
        stream = client.watch(unique_prefix, prefix=True)
        async with contextlib.aclosing(stream):
            assert (await anext(stream)).created
            live = await client.txn(
                [], [Put(unique_prefix + b"x", b"1"), Put(unique_prefix + b"y", b"2")]
            )
            response = await anext(stream)
        assert [(e.kv.key, e.kv.mod_revision) for e in response.events] == [
            (unique_prefix + b"x", live.revision),
            (unique_prefix + b"y", live.revision),
        ]


async def test_watch_of_a_compacted_revision_says_so(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    async with etcd.client() as client:
        old = await client.put(unique_prefix + b"k", b"1")
        now = await client.put(unique_prefix + b"k", b"2")
        await client.compact(now.revision)
        with pytest.raises(CoordinationError) as compacted_read:
            await client.get(unique_prefix + b"k", revision=old.revision)
        assert "compacted" in compacted_read.value.reason
        stream = client.watch(unique_prefix, prefix=True, start_revision=old.revision)
        async with contextlib.aclosing(stream):
            with pytest.raises(WatchCompactedError) as raised:
                async for _ in stream:
                    pass
        assert raised.value.compact_revision == now.revision


async def test_too_large_a_request_is_the_stores_error(etcd: EtcdTestCluster) -> None:
    async with etcd.client() as client:
        with pytest.raises(CoordinationError) as raised:
            await client.put(b"/too-large", b"x" * 2_000_000)
    assert raised.value.reason == "etcdserver: request is too large"
    assert raised.value.code == 3


async def test_fails_over_past_a_dead_endpoint_and_names_every_endpoint_when_all_fail(
    etcd: EtcdTestCluster, tmp_path: Path
) -> None:
    dead = f"unix://{tmp_path / 'nobody.client:1'}"
    async with EtcdClient([dead, etcd.endpoints[1]], request_timeout=1.0) as client:
        await client.put(b"/failover", b"1")
        assert client.info().current == etcd.endpoints[1]
        assert client.info().failovers == 1
    async with EtcdClient([dead, "http://127.0.0.1:9"], request_timeout=0.5) as client:
        with pytest.raises(CoordinationUnavailableError) as raised:
            await client.get(b"/x")
    reason = raised.value.reason
    assert dead in reason and "http://127.0.0.1:9" in reason and "httpx" not in reason
    assert raised.value.http_status == 503
    assert raised.value.es_type == "master_not_discovered_exception"
    with pytest.raises(CoordinationError, match=r"invalid etcd endpoint \[ftp://x\]"):
        EtcdClient(["ftp://x"])


async def _create(client: EtcdClient, key: bytes, value: bytes) -> None:
    """Create ``key`` once, retrying while the cluster elects a new leader (m1 may have been
    it): the create-if-absent fence makes a retry of a write that did land harmless."""
    async with asyncio.timeout(5):
        while True:
            try:
                await client.txn([Compare.create_revision(key, 0)], [Put(key, value)])
                return
            except CoordinationUnavailableError:
                await asyncio.sleep(0.05)


async def test_a_watch_resumes_on_another_member_when_its_member_dies(tmp_path: Path) -> None:
    cluster = EtcdTestCluster(tmp_path / "etcd", 3)
    cluster.start()
    try:
        async with cluster.client() as watcher, cluster.client(members=["m2"]) as writer:
            stream = watcher.watch(b"/r/", prefix=True)
            async with contextlib.aclosing(stream):
                assert (await anext(stream)).created
                await writer.put(b"/r/1", b"before")
                assert [e.kv.value for e in (await anext(stream)).events] == [b"before"]
                cluster.kill_member("m1")  # the member the watch streams from
                started = time.monotonic()
                await _create(writer, b"/r/2", b"during")  # while the watch reconnects
                await _create(writer, b"/r/3", b"after")
                seen: list[bytes] = []
                async with asyncio.timeout(5):
                    while len(seen) < 2:
                        seen += [e.kv.value for e in (await anext(stream)).events]
                assert seen == [b"during", b"after"]  # nothing lost, nothing twice
                assert time.monotonic() - started < 3
                assert watcher.info().current != cluster.endpoints[0]
    finally:
        cluster.stop()
