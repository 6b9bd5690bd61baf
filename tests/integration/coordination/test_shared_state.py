"""Security documents and cluster settings shared through real etcd by two "nodes" in one process
(two stores, two replications): what one answered the other applied, concurrent writes converge,
a join replaces local documents and seeds an empty cluster, and an unreachable store fails the
write with 503 and catches up when it is back. The processes-and-REST side is
tests/integration/test_multinode_shared_state.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.cluster.settings_replication import SettingsReplication
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.errors import CoordinationError, CoordinationUnavailableError
from isthmus.security.replication import SecurityReplication, _Write
from isthmus.security.store import SecurityStore
from isthmus.testing.etcd import EtcdTestCluster

NODES = ("node-a", "node-b")


def _name(prefix: bytes) -> str:
    return prefix.decode().strip("/")


@contextlib.asynccontextmanager
async def _replica(
    folder: Path,
    cluster: str,
    node: str,
    client: EtcdClient,
    live: tuple[str, ...] = NODES,
    **options: Any,
) -> AsyncIterator[SecurityReplication]:
    store = SecurityStore(folder / node)
    replication = SecurityReplication(
        store, cluster, node, live_nodes=lambda: live, ack_timeout=5.0, **options
    )

    async def ready() -> EtcdClient:
        return client

    task = asyncio.create_task(replication.run(ready))
    try:
        while replication.info().applied_revision == 0:  # joined
            await asyncio.sleep(0.01)
        yield replication
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


async def test_a_write_answered_by_one_node_is_applied_by_the_other(
    etcd: EtcdTestCluster, unique_prefix: bytes, tmp_path: Path
) -> None:
    cluster = _name(unique_prefix)
    async with (
        etcd.client() as client,
        _replica(tmp_path, cluster, "node-a", client) as a,
        _replica(tmp_path, cluster, "node-b", client) as b,
    ):
        a.store.put("users", "alice", {"username": "alice", "password": "hash-1"})
        await a.store.committed()
        assert b.store.get("users", "alice") == {"username": "alice", "password": "hash-1"}
        b.store.delete("users", "alice")
        await b.store.committed()
        assert a.store.get("users", "alice") is None
        # Concurrent writes of one document end as etcd ordered them, on both nodes.
        for i in range(20):
            a.store.put("roles", "r", {"v": f"a{i}"})
            b.store.put("roles", "r", {"v": f"b{i}"})
        await asyncio.gather(a.store.committed(), b.store.committed())
        assert a.store.get("roles", "r") == b.store.get("roles", "r")

    write = _Write(1, "users", "alice", b'{"password": "secret-hash"}')
    assert "secret-hash" not in repr(write)


async def test_joining_takes_the_clusters_documents_and_seeds_an_empty_cluster(
    etcd: EtcdTestCluster, unique_prefix: bytes, tmp_path: Path
) -> None:
    cluster = _name(unique_prefix)
    first = SecurityStore(tmp_path / "node-a")
    first.put("users", "elastic", {"username": "elastic", "password": "first-hash"})
    first.close()
    second = SecurityStore(tmp_path / "node-b")
    second.put("users", "elastic", {"username": "elastic", "password": "second-hash"})
    second.put("users", "alone", {"username": "alone", "password": "x"})
    second.close()
    async with etcd.client() as client, _replica(tmp_path, cluster, "node-a", client) as a:
        assert (a.store.get("users", "elastic") or {})["password"] == "first-hash"
        async with _replica(tmp_path, cluster, "node-b", client) as b:
            assert (b.store.get("users", "elastic") or {})["password"] == "first-hash"
            assert b.store.get("users", "alone") is None


async def test_an_unreachable_store_fails_the_write_which_is_put_once_it_is_back(
    tmp_path: Path,
) -> None:
    with EtcdTestCluster(tmp_path / "etcd", 1) as etcd:
        async with (
            etcd.client(request_timeout=0.5) as client,
            _replica(tmp_path, "c", "node-a", client, ("node-a",), commit_timeout=0.5) as a,
        ):
            etcd.kill_member("m1")
            a.store.put("api_keys", "k1", {"id": "k1", "hash": "h"})
            with pytest.raises(CoordinationUnavailableError) as failed:
                await a.store.committed()
            assert failed.value.status == 503
            assert a.store.get("api_keys", "k1") is not None  # this node's copy has it
            etcd.restart_member("m1")
            a.commit_timeout = 10.0
            await a.store.committed()
            assert (await client.get(b"/isthmus/c/security/doc/api_keys/k1")).first()


async def test_concurrent_settings_updates_keep_each_others_keys(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    cluster = _name(unique_prefix)
    applied: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def replica(node: str) -> SettingsReplication:
        async def apply(p: dict[str, Any], t: dict[str, Any]) -> None:
            applied[node] = (p, t)

        return SettingsReplication(cluster, apply, dict, node_id=node, live_nodes=lambda: NODES)

    async with etcd.client() as client:

        async def ready() -> EtcdClient:
            return client

        replicas = [replica(n) for n in NODES]
        tasks = [asyncio.create_task(r.run(ready)) for r in replicas]
        try:
            while any(r.info().applied_revision == 0 for r in replicas):
                await asyncio.sleep(0.01)

            def setting(key: str) -> Any:
                def change(p: dict[str, Any], t: dict[str, Any]) -> Any:
                    return {**p, key: "v"}, t

                return change

            acks = await asyncio.gather(
                *(replicas[i % 2].update(setting(f"k{i}")) for i in range(10))
            )
            assert all(acks)
            want = {f"k{i}": "v" for i in range(10)}
            assert applied["node-a"][0] == want and applied["node-b"][0] == want
            assert sum(r.info().conflicts for r in replicas) > 0  # they did collide
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_refused_write_fails_only_the_request_that_made_it(
    etcd: EtcdTestCluster, unique_prefix: bytes, tmp_path: Path
) -> None:
    cluster = _name(unique_prefix)
    async with (
        etcd.client() as client,
        _replica(tmp_path, cluster, "node-a", client, live=("node-a",)) as a,
    ):
        # Over etcd's request limit (1.5 MiB): etcd refuses it, this node takes the cluster's
        # version back and the request that wrote it fails.
        a.store.put("roles", "huge", {"metadata": "x" * (2 << 20)})
        with pytest.raises(CoordinationError, match="refused the change"):
            await a.store.committed()
        assert a.store.get("roles", "huge") is None
        # Later writes are committed and answered as such (the old refusal is not theirs).
        for i in range(2):
            a.store.put("roles", f"small{i}", {"v": i})
            await a.store.committed()
            assert a.store.get("roles", f"small{i}") == {"v": i}
