"""Cluster-state publication on real etcd: whole states applied in order with only the changed
index keys written, the two fences (term, last revision) with ES's errors, a frozen master
whose publication after resuming is refused, and an applier that re-reads everything when its
watch comes back to compacted history on another member."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from isthmus.cluster.metadata import ClusterMetadata
from isthmus.coordination.election import Election
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.publication import (
    MAX_TXN_OPS,
    PublishedState,
    Publisher,
    StateApplier,
)
from isthmus.errors import CoordinationError, CoordinationUnavailableError, NotMasterError
from isthmus.testing.etcd import EtcdTestCluster

from .test_election import TTL, Campaigner


def _keys(prefix: bytes) -> ClusterKeys:
    return ClusterKeys(prefix.decode().strip("/"))


def _index(name: str, shards: int = 1) -> dict[str, object]:
    return {"name": name, "settings": {"index.number_of_shards": str(shards)}, "mappings": {}}


async def test_states_are_applied_whole_and_in_order_with_only_changes_written(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = _keys(unique_prefix)
    applied: list[PublishedState] = []
    async with etcd.client() as client:
        election = Election(client, keys, "master-a", ttl=TTL)
        applier = StateApplier(client, keys, applied.append)
        await applier.start()
        try:
            term = await election.campaign(timeout=5)
            publisher = Publisher(client, keys)
            # A realistic meta payload: the project's own cluster metadata as JSON.
            cluster = ClusterMetadata(
                "uuid-1", persistent={"cluster.routing.rebalance.enable": "all"}
            )
            meta = {k: v for k, v in cluster.to_json().items() if k != "indices"}
            r1 = await publisher.publish(term, {**meta, "version": 1}, {"u1": _index("a")})
            r2 = await publisher.publish(
                term, {**meta, "version": 2}, {"u1": _index("a"), "u2": _index("b")}
            )
            r3 = await publisher.publish(term, {**meta, "version": 3}, {"u2": _index("b", 2)})
            await applier.wait_for_revision(r3, timeout=5)
            stored_u2 = (await client.get(keys.state_index("u2"))).kvs[0]
        finally:
            await applier.close()
            await election.close()
    assert r1 < r2 < r3
    assert [(s.revision, s.meta["version"], sorted(s.indices)) for s in applied] == [
        (r1, 1, ["u1"]),
        (r2, 2, ["u1", "u2"]),
        (r3, 3, ["u2"]),
    ]
    assert applied[-1].indices["u2"] == _index("b", 2)
    assert stored_u2.create_revision == r2 and stored_u2.version == 2  # u2 written twice only
    assert applied[0].meta["cluster_uuid"] == meta["cluster_uuid"]


async def test_the_fences_refuse_an_old_term_and_a_state_changed_since(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = _keys(unique_prefix)
    async with etcd.client() as client:
        election = Election(client, keys, "master-a", ttl=TTL)
        try:
            term = await election.campaign(timeout=5)
            first, second = Publisher(client, keys), Publisher(client, keys)
            await first.publish(term, {"version": 1}, {})
            await second.publish(term, {"version": 2}, {})  # reads the store: on the latest
            with pytest.raises(NotMasterError) as stale:
                await first.publish(term, {"version": 2}, {})  # its last revision is old
            assert stale.value.reason.startswith("the cluster state changed since this master")
            assert stale.value.es_type == "not_master_exception"
            await first.publish(term, {"version": 3}, {})  # re-read after the refusal
            with pytest.raises(NotMasterError, match=r"no longer master: .*term \[1\]"):
                await Publisher(client, keys).publish(1, {"version": 9}, {})
            huge = {"u1": {"blob": "x" * 1_600_000}}  # one entry over etcd's request limit
            with pytest.raises(CoordinationError, match=r"state/index/u1\] is \[\d+\] bytes"):
                await first.publish(term, {"version": 4}, huge)
            state = (await client.get(keys.state_meta)).kvs[0]
            assert json.loads(state.value) == {"version": 3}
        finally:
            await election.close()


async def test_a_publication_beyond_one_transaction_is_applied_whole(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = _keys(unique_prefix)
    applied: list[PublishedState] = []
    count = MAX_TXN_OPS * 2 + 10  # three transactions
    async with etcd.client() as client:
        election = Election(client, keys, "master-a", ttl=TTL)
        applier = StateApplier(client, keys, applied.append)
        await applier.start()
        try:
            term = await election.campaign(timeout=5)
            publisher = Publisher(client, keys)
            indices = {f"u{i:03d}": _index(f"i{i}") for i in range(count)}
            first = await publisher.publish(term, {"version": 1}, indices)
            del indices["u000"], indices["u001"]
            second = await publisher.publish(term, {"version": 2}, indices)
            await applier.wait_for_revision(second, timeout=5)
            late = StateApplier(client, keys, lambda state: None)  # starts from a full read
            await late.start()
            await late.close()
        finally:
            await applier.close()
            await election.close()
    # Only whole states: nothing of the first transactions was delivered on its own.
    assert [(s.revision, len(s.indices)) for s in applied] == [(first, count), (second, count - 2)]
    assert late.state is not None and late.state.indices == applied[-1].indices
    assert late.state.meta == {"version": 2}


async def test_a_frozen_master_is_fenced_after_resuming(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = _keys(unique_prefix)
    applied: list[PublishedState] = []
    old = Campaigner(etcd.endpoints, keys, "master-a", "publish")
    try:
        elected = await asyncio.to_thread(old.next_event)
        assert elected["event"] == "elected"
        assert (await asyncio.to_thread(old.next_event))["event"] == "published"
        old.process.send_signal(signal.SIGSTOP)
        async with etcd.client() as client:
            applier = StateApplier(client, keys, applied.append)
            await applier.start()
            election = Election(client, keys, "master-b", ttl=TTL)
            try:
                term = await election.campaign(timeout=TTL + 3)  # after the frozen lease expired
                revision = await Publisher(client, keys).publish(term, {"by": "master-b"}, {})
                old.process.send_signal(signal.SIGCONT)
                after: list[dict[str, object]] = []
                while not after or after[-1]["event"] not in ("fenced",):
                    after.append(await asyncio.to_thread(old.next_event))
                await asyncio.sleep(0.2)  # anything the old master wrote would be seen by now
            finally:
                await applier.close()
                await election.close()
    finally:
        old.stop()
    assert after[-1]["type"] == "not_master_exception"
    # No split brain: once master-b's state is applied, nothing of master-a follows (a
    # publication of master-a in flight when it froze may still be answered after it resumed;
    # etcd committed it before master-b's term began, so it is applied before).
    by = [state.meta.get("by") for state in applied]
    first_b = by.index("master-b")
    assert "master-a" not in by[first_b:], by
    assert applied[-1].revision == revision and applied[-1].meta == {"by": "master-b"}


async def _until_served(client: EtcdClient) -> None:
    """Wait until the members behind ``client`` have a leader again."""
    async with asyncio.timeout(5):
        while True:
            try:
                await client.get(b"/probe")
                return
            except CoordinationUnavailableError:
                await asyncio.sleep(0.05)


async def test_an_applier_back_from_a_dead_member_re_reads_compacted_history(
    tmp_path: Path,
) -> None:
    cluster = EtcdTestCluster(tmp_path / "etcd", 3)
    cluster.start()
    keys = ClusterKeys("compacted")
    applied: list[PublishedState] = []
    try:
        async with (
            cluster.client(members=["m1", "m2"]) as ca,
            cluster.client(members=["m2", "m3"]) as cb,
        ):
            election = Election(cb, keys, "master", ttl=5)
            applier = StateApplier(ca, keys, applied.append)  # streams from m1
            try:
                term = await election.campaign(timeout=5)
                publisher = Publisher(cb, keys)
                first = await publisher.publish(term, {"version": 1}, {"u1": _index("a")})
                await applier.start()
                cluster.signal_member("m1", signal.SIGSTOP)  # the applier hears nothing now
                await _until_served(cb)
                await publisher.publish(
                    term, {"version": 2}, {"u1": _index("a"), "u2": _index("b")}
                )
                last = await publisher.publish(term, {"version": 3}, {"u2": _index("b")})
                await cb.compact(last)
                cluster.kill_member("m1")  # the applier's watch breaks, resumes on m2: compacted
                state = await applier.wait_for_revision(last, timeout=5)
            finally:
                await applier.close()
                await election.close()
    finally:
        cluster.stop()
    assert [s.revision for s in applied] == [first, last]  # the whole state, not a stale mix
    assert state.meta == {"version": 3} and list(state.indices) == ["u2"]
    assert applier.full_reads == 2
