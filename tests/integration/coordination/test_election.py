"""The master election on real etcd members: one winner whose term is the key's create
revision, observers that follow the master, failover after the holder's process is SIGKILLed
(≈ TTL), a graceful hand-over (resign: well under the TTL), and a holder that cannot renew its
lease gives mastership up before anyone else can be elected."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.coordination.election import Election, MasterInfo, MasterObserver
from isthmus.coordination.keys import ClusterKeys
from isthmus.testing.etcd import EtcdTestCluster

CAMPAIGNER = Path(__file__).with_name("campaigner.py")
SRC = Path(__file__).resolve().parents[3] / "src"
TTL = 2


def _keys(prefix: bytes) -> ClusterKeys:
    return ClusterKeys(prefix.decode().strip("/"))


class Campaigner:
    """A candidate in its own process (see campaigner.py)."""

    def __init__(self, endpoints: list[str], keys: ClusterKeys, node_id: str, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        command = [sys.executable, str(CAMPAIGNER), ",".join(endpoints), keys.cluster_name]
        self.process = subprocess.Popen(
            [*command, node_id, str(TTL), *args], stdout=subprocess.PIPE, env=env, text=True
        )

    def next_event(self) -> dict[str, object]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the campaigner exited with {self.process.poll()}"
        event: dict[str, object] = json.loads(line)
        return event

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait()


@pytest.fixture
def campaigners() -> Iterator[list[Campaigner]]:
    started: list[Campaigner] = []
    yield started
    for campaigner in started:
        campaigner.stop()


async def test_one_winner_its_term_observers_and_a_key_deleted_behind_its_back(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = _keys(unique_prefix)
    lost: list[str] = []
    seen: list[MasterInfo | None] = []
    async with etcd.client() as client:
        a = Election(
            client, keys, "node-a", description={"name": "a"}, ttl=TTL, on_lost=lost.append
        )
        b = Election(client, keys, "node-b", ttl=TTL)
        observer = MasterObserver(client, keys, on_change=seen.append)
        await observer.start()
        try:
            term = await a.campaign(timeout=5)
            assert a.is_master and a.term == term
            assert await b.try_acquire() is None and not b.is_master
            stored = (await client.get(keys.master)).kvs[0]
            assert (
                stored.create_revision == term and json.loads(stored.value)["node_id"] == "node-a"
            )
            master = await observer.wait_for(lambda m: m is not None, timeout=5)
            assert master is not None
            assert (master.node_id, master.term, master.description["name"]) == (
                "node-a",
                term,
                "a",
            )

            # An operator deleting the key: the holder drops mastership, b wins a later term.
            await client.delete(keys.master)
            second = await b.campaign(timeout=5)
            assert second > term
            assert not a.is_master and lost == ["the master key was deleted or replaced"]
            await observer.wait_for(lambda m: m is not None and m.node_id == "node-b", timeout=5)
            assert [m.node_id if m else None for m in seen] == ["node-a", None, "node-b"]
        finally:
            await a.close()
            await b.close()
            await observer.close()


async def test_failover_after_the_master_process_is_killed_takes_about_the_ttl(
    etcd: EtcdTestCluster, unique_prefix: bytes, campaigners: list[Campaigner]
) -> None:
    keys = _keys(unique_prefix)
    holder = Campaigner(etcd.endpoints, keys, "node-a")
    campaigners.append(holder)
    first = await asyncio.to_thread(holder.next_event)
    assert first["event"] == "elected"
    async with etcd.client() as client:
        b = Election(client, keys, "node-b", ttl=TTL)
        try:
            waiting = asyncio.create_task(b.campaign(timeout=10))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the holder's lease is kept alive
            holder.process.kill()
            killed = time.monotonic()
            term = await waiting
            failover = time.monotonic() - killed
        finally:
            await b.close()
    assert isinstance(first["term"], int) and term > first["term"]
    # The lease's TTL decides: not before a good part of it, and within TTL + 1 s.
    assert TTL * 0.5 < failover < TTL + 1.0, failover


async def test_resign_hands_mastership_over_at_once(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = _keys(unique_prefix)
    async with etcd.client() as client:
        a = Election(client, keys, "node-a", ttl=TTL)
        b = Election(client, keys, "node-b", ttl=TTL)
        try:
            await a.campaign(timeout=5)
            waiting = asyncio.create_task(b.campaign(timeout=5))
            await b.observer.wait_for(lambda m: m is not None, timeout=5)
            await asyncio.sleep(0.05)
            started = time.monotonic()
            await a.resign()
            assert not a.is_master  # at once, before anyone else can win
            await waiting
            handover = time.monotonic() - started
            assert b.is_master
        finally:
            await a.close()
            await b.close()
    assert handover < 0.5, handover  # measured 10-40 ms; loose on a shared machine


async def test_a_master_that_cannot_renew_gives_up_before_another_is_elected(
    tmp_path: Path,
) -> None:
    cluster = EtcdTestCluster(tmp_path / "etcd", 3)
    cluster.start()
    keys = ClusterKeys("frozen-member")
    events: list[tuple[str, float]] = []
    try:
        # a reaches the store only through m1; b through m2 and m3.
        async with (
            cluster.client(members=["m1"], request_timeout=0.5) as ca,
            cluster.client(members=["m2", "m3"], request_timeout=0.5) as cb,
        ):
            a = Election(
                ca,
                keys,
                "node-a",
                ttl=TTL,
                on_lost=lambda r: events.append(("a lost", time.monotonic())),
            )
            b = Election(
                cb,
                keys,
                "node-b",
                ttl=TTL,
                on_elected=lambda t: events.append(("b elected", time.monotonic())),
            )
            try:
                await a.campaign(timeout=5)
                waiting = asyncio.create_task(b.campaign(timeout=10))
                await asyncio.sleep(0.2)
                cluster.signal_member("m1", signal.SIGSTOP)  # a's keep-alives go nowhere
                frozen = time.monotonic()
                await waiting
            finally:
                cluster.signal_member("m1", signal.SIGCONT)
                await a.close(resign=False)
                await b.close()
    finally:
        cluster.stop()
    names = [name for name, _ in events]
    assert names == ["a lost", "b elected"], events
    assert events[0][1] - frozen < TTL
    # If m1 was etcd's raft leader, the new raft leader first renews every lease for a full
    # TTL (etcd's rule), so the failover is then election + TTL: allow for it.
    assert events[1][1] - frozen < TTL + 2.0
