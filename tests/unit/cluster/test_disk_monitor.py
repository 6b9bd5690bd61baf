"""The disk monitor with a scripted disk reading and clock: no sleeping, no disk to fill."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from isthmus.cluster.disk_monitor import DiskThresholdMonitor
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.service import ClusterService
from isthmus.cluster.store import ClusterStore
from isthmus.errors import StorageFullError
from isthmus.index.mapping import Mapping
from isthmus.settings.disk import FLOOD, Stage

GB = 1024**3
RO_AD = "index.blocks.read_only_allow_delete"


class Disk:
    """A disk whose free space the test sets."""

    def __init__(self, total: int = 100 * GB) -> None:
        self.total = total
        self.free = total
        self.reads: list[str] = []

    def __call__(self, path: str) -> tuple[int, int, int]:
        self.reads.append(path)
        return self.total, self.total - self.free, self.free


class FullStore(ClusterStore):
    """A store on a disk with no room left: every save fails as a full disk does."""

    full = False

    def save(self, meta: ClusterMetadata) -> None:
        if self.full:
            raise StorageFullError("No space left on device")
        super().save(meta)


async def with_index(cluster: ClusterService, name: str) -> None:
    meta = IndexMetadata(name, f"{name}-uuid", {}, Mapping({}))
    await cluster.submit("create", lambda s: replace(s, indices={**s.indices, name: meta}))


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    store = FullStore(tmp_path / "_state")
    cluster = ClusterService(store)
    disk = Disk()
    now = [0.0]
    settings: dict[str, Any] = {}
    monitor = DiskThresholdMonitor(
        cluster,
        tmp_path / "data",
        "nodeid",
        "node-0",
        lambda: settings,
        disk_usage=disk,
        clock=lambda: now[0],
    )
    cluster.add_applier(monitor.on_cluster_change)
    yield store, cluster, disk, monitor, settings
    store.close()


async def test_flood_blocks_then_release(setup: Any, caplog: pytest.LogCaptureFixture) -> None:
    store, cluster, disk, monitor, _ = setup
    await with_index(cluster, "a")
    await monitor.check()
    assert monitor.stage is Stage.NONE and RO_AD not in cluster.state.indices["a"].settings

    disk.free = 2 * GB
    with caplog.at_level(logging.INFO):
        decision = await monitor.check()
    assert decision.block == ("a",)
    assert cluster.state.indices["a"].settings[RO_AD] == "true"
    assert store.load().indices["a"].settings[RO_AD] == "true"  # persisted
    assert "flood stage disk watermark [95%] exceeded on [nodeid][node-0][" in caplog.text
    assert monitor.stats().blocked_indices == 1

    disk.free = 50 * GB
    decision = await monitor.check()
    assert decision.release == ("a",)
    assert RO_AD not in cluster.state.indices["a"].settings
    assert repr(monitor).endswith("stage=none checks=3>")


async def test_block_applies_in_memory_when_the_store_is_full(setup: Any) -> None:
    store, cluster, disk, monitor, _ = setup
    await with_index(cluster, "a")
    store.full = True
    disk.free = 0
    await monitor.check()
    assert cluster.state.indices["a"].settings[RO_AD] == "true"
    # An ordinary change still refuses to be acknowledged without being durable.
    with pytest.raises(StorageFullError):
        await with_index(cluster, "b")
    store.full = False
    await with_index(cluster, "b")  # persists everything, the in-memory block included
    assert store.load().indices["a"].settings[RO_AD] == "true"


async def test_a_new_index_on_a_flooded_node_is_checked_at_once(setup: Any) -> None:
    _, cluster, disk, monitor, _ = setup
    disk.free = GB
    await monitor.check()
    runner = asyncio.create_task(monitor.run())
    try:
        await with_index(cluster, "late")
        for _ in range(200):
            if cluster.state.indices["late"].settings.get(RO_AD) == "true":
                break
            await asyncio.sleep(0.005)
        assert cluster.state.indices["late"].settings.get(RO_AD) == "true"
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


async def test_settings_are_read_at_each_check(setup: Any) -> None:
    _, cluster, disk, monitor, settings = setup
    await with_index(cluster, "a")
    disk.free = 20 * GB  # 80 % used: fine by default
    assert (await monitor.check()).stage is Stage.NONE
    settings.update(
        {
            "cluster.routing.allocation.disk.watermark.low": "30gb",
            "cluster.routing.allocation.disk.watermark.high": "25gb",
            FLOOD: "21gb",
        }
    )
    assert (await monitor.check()).block == ("a",)
    settings["cluster.routing.allocation.disk.threshold_enabled"] = "false"
    decision = await monitor.check()
    assert decision.release == ("a",)
    assert len(disk.reads) == 2  # a disabled monitor does not even read the disk


def test_a_full_cluster_store_reports_storage_full(tmp_path: Path) -> None:
    """SQLite really full (its page limit), not a fake: the store raises StorageFullError."""
    store = ClusterStore(tmp_path / "_state")
    try:
        store.save(ClusterMetadata("c"))
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        big = ClusterMetadata("c", persistent={"x": "y" * 100_000})
        with pytest.raises(StorageFullError, match="No space left on device"):
            store.save(big)
        assert store.load() == ClusterMetadata("c")
    finally:
        store.close()


async def test_a_full_disk_report_checks_at_once_unless_already_flooded(setup: Any) -> None:
    _, _, disk, monitor, _ = setup
    monitor.storage_full()
    assert monitor._wake.is_set()
    disk.free = 0
    await monitor.check()  # clears the wake-up; now over the flood stage
    monitor.storage_full()
    assert not monitor._wake.is_set()
