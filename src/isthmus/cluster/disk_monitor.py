"""The disk threshold monitor: measures ``path.data`` and applies the flood-stage block.

Every ``cluster.info.update.interval`` (and at once when a disk setting changes, an index is
created on a flooded node, or a write meets a full disk) it reads the disk usage, asks
:func:`isthmus.cluster.disk.decide` what that means, writes the log lines and submits the block
changes through the cluster service. The disk reading, the clock and the settings are injected,
so tests drive :meth:`DiskThresholdMonitor.check` without sleeping or filling a disk.

The block is written with ``durable=False``: on a disk too full to persist the metadata it is
still applied in memory (it is re-derived from the disk at the next start anyway), so a full
disk never leaves writes unblocked because recording the block failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from isthmus.cluster.blocks import READ_ONLY_ALLOW_DELETE, set_read_only_allow_delete
from isthmus.cluster.disk import Decision, DiskUsage, MonitorState, decide
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.service import ClusterService
from isthmus.errors import SettingsError
from isthmus.settings.disk import DiskThresholds, Stage

log = logging.getLogger("org.elasticsearch.cluster.routing.allocation.DiskThresholdMonitor")

# (path) -> (total, used, free), as shutil.disk_usage returns it; free is what the node's user
# may still write (statvfs f_bavail), the figure ES calls usable space.
DiskUsageFn = Callable[[str], Any]


@dataclass(frozen=True)
class MonitorStats:
    checks: int
    stage: str
    last_usage: str | None
    blocked_indices: int


class DiskThresholdMonitor:
    def __init__(
        self,
        cluster: ClusterService,
        data_path: Path,
        node_id: str,
        node_name: str,
        settings: Callable[[], Mapping[str, Any]],
        *,
        disk_usage: DiskUsageFn = shutil.disk_usage,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cluster = cluster
        self._path = data_path
        self._node = (node_id, node_name)
        self._settings = settings
        self._disk_usage = disk_usage
        self._clock = clock
        self._state = MonitorState()
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()
        self.checks = 0
        self.last_usage: DiskUsage | None = None

    @property
    def stage(self) -> Stage:
        return self._state.stage

    def thresholds(self) -> DiskThresholds:
        try:
            return DiskThresholds.from_settings(self._settings())
        except SettingsError as exc:  # validated on update; a bad yml value stops the start
            log.warning("invalid disk threshold settings, using the defaults: %s", exc.reason)
            return DiskThresholds()

    def poke(self) -> None:
        """Check again now rather than at the next interval."""
        self._wake.set()

    def storage_full(self) -> None:
        """A write or refresh met a full disk: check now, unless the node is already known to
        be over the flood stage (its indices are blocked; a check per failed refresh would
        only repeat the WARN)."""
        if self._state.stage is not Stage.FLOOD:
            self.poke()

    async def on_cluster_change(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        """Cluster applier: a new index on a flooded node is blocked at once, not in 30 s."""
        if self._state.stage is Stage.FLOOD and set(new.indices) - set(old.indices):
            self.poke()

    async def read_usage(self) -> DiskUsage | None:
        try:
            total, _used, free = await asyncio.to_thread(self._disk_usage, str(self._path))
        except OSError as exc:
            log.warning("failed to read the disk usage of [%s]: %s", self._path, exc)
            return None
        return DiskUsage(self._node[0], self._node[1], str(self._path), int(total), int(free))

    async def check(self) -> Decision:
        """One measurement, its log lines, and the block changes it calls for."""
        async with self._checking:
            self._wake.clear()
            thresholds = self.thresholds()
            usage = await self.read_usage() if thresholds.enabled else None
            self.last_usage = usage
            decision, self._state = decide(
                usage, thresholds, self._state, self._cluster.state, self._clock()
            )
            self.checks += 1
            for level, message in decision.logs:
                log.log(level, "%s", message)
            if decision.release:
                await self._set_blocks(decision.release, blocked=False)
            if decision.block:
                await self._set_blocks(decision.block, blocked=True)
            return decision

    async def _set_blocks(self, names: tuple[str, ...], *, blocked: bool) -> None:
        source = "disk-threshold-monitor"
        await self._cluster.submit(
            f"{source} {'block' if blocked else 'release'} {list(names)}",
            lambda state: set_read_only_allow_delete(state, names, blocked),
            durable=False,
        )

    async def run(self) -> None:
        """Check every ``cluster.info.update.interval``, or sooner when poked. Runs until
        cancelled; one failed check is logged and the next one still runs."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("disk threshold check failed")
            interval = self.thresholds().update_interval_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    def stats(self) -> MonitorStats:
        blocked = sum(
            1
            for meta in self._cluster.state.indices.values()
            if meta.settings.get(READ_ONLY_ALLOW_DELETE) == "true"
        )
        return MonitorStats(
            self.checks,
            self._state.stage.name.lower(),
            str(self.last_usage) if self.last_usage is not None else None,
            blocked,
        )

    def __repr__(self) -> str:
        return (
            f"<DiskThresholdMonitor {self._path} stage={self._state.stage.name.lower()} "
            f"checks={self.checks}>"
        )


class SettingsGroups(Protocol):
    """The cluster settings a monitor follows (the node's cluster actions)."""

    def effective(self) -> Mapping[str, Any]: ...

    def add_group(
        self,
        prefix: str,
        validate: Callable[[Mapping[str, Any], Mapping[str, Any], Any], None],
        apply: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None: ...


def disk_monitor_for(
    cluster: ClusterService,
    settings: SettingsGroups,
    data_path: Path,
    node_id: str,
    node_name: str,
) -> DiskThresholdMonitor:
    """The node's disk threshold monitor, told of every disk setting change and new index.
    Watermarks that contradict each other in isthmus.yml stop the start, as in ES."""
    from isthmus.errors import NodeStartupError
    from isthmus.settings import disk

    try:
        DiskThresholds.from_settings(settings.effective())
    except SettingsError as exc:
        raise NodeStartupError.configuration(exc.reason) from None
    monitor = DiskThresholdMonitor(cluster, data_path, node_id, node_name, settings.effective)
    cluster.add_applier(monitor.on_cluster_change)

    async def recheck(flat: Mapping[str, Any]) -> None:
        monitor.poke()

    for prefix in (disk.PREFIX, disk.UPDATE_INTERVAL):
        settings.add_group(
            prefix,
            lambda previous, current, layers: disk.validate_update(previous, current),
            recheck,
        )
    return monitor
