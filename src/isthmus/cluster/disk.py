"""What a disk usage reading means: ES's DiskThresholdMonitor decisions.  [no I/O]

:func:`decide` takes one reading of ``path.data``, the thresholds in force
(``settings/disk.py``) and the previous :class:`MonitorState`, and returns the new
state, the log lines ES writes, and the block changes to make:

* Over the flood stage, every index with a shard on the node gets
  ``index.blocks.read_only_allow_delete`` (WARN on every check).
* Over the high watermark, a WARN at most once per ``reroute_interval`` (this single node has
  nowhere to move shards); over the low watermark, one INFO when it is first passed.
* Below the high watermark every read-only-allow-delete block is released (ES 7.4+); with
  ``threshold_enabled: false`` every such block is released once.

The async monitor (``cluster/disk_monitor.py``) only measures, logs and submits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from isthmus.cluster.blocks import READ_ONLY_ALLOW_DELETE, Level, index_blocks
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.settings.disk import DiskThresholds, Stage, format_bytes, one_decimal


@dataclass(frozen=True, slots=True)
class DiskUsage:
    node_id: str
    node_name: str
    path: str
    total: int
    free: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (
            f"[{self.node_id}][{self.node_name}][{self.path}] free: {format_bytes(self.free)}"
            f"[{one_decimal(self.free_percent, '%')}]"
        )


def stage_of(usage: DiskUsage, thresholds: DiskThresholds) -> Stage:
    low, high, flood = thresholds.free_thresholds(usage.total)
    if usage.free < flood:
        return Stage.FLOOD
    if usage.free < high:
        return Stage.HIGH
    if usage.free < low:
        return Stage.LOW
    return Stage.NONE


@dataclass(frozen=True, slots=True)
class MonitorState:
    """What the previous checks saw: the stage, and when the high watermark was last reported."""

    stage: Stage = Stage.NONE
    last_high_report_s: float | None = None
    released_on_disable: bool = False


@dataclass(frozen=True)
class Decision:
    stage: Stage
    logs: tuple[tuple[int, str], ...]
    block: tuple[str, ...]  # indices to mark read-only-allow-delete
    release: tuple[str, ...]  # indices whose read-only-allow-delete block is lifted


def decide(
    usage: DiskUsage | None,
    thresholds: DiskThresholds,
    previous: MonitorState,
    metadata: ClusterMetadata,
    now_s: float,
) -> tuple[Decision, MonitorState]:
    """One check of ES's DiskThresholdMonitor for this (single) node; every index is on it."""
    blocked = sorted(
        name
        for name, meta in metadata.indices.items()
        if meta.settings.get(READ_ONLY_ALLOW_DELETE) == "true"
    )
    if not thresholds.enabled:
        # ES releases the monitor's blocks once when the thresholds are switched off.
        lifted = () if previous.released_on_disable else tuple(blocked)
        return Decision(Stage.NONE, (), (), lifted), MonitorState(released_on_disable=True)
    if usage is None:
        return Decision(previous.stage, (), (), ()), previous
    stage = stage_of(usage, thresholds)
    logs: list[tuple[int, str]] = []
    state = replace(previous, stage=stage, released_on_disable=False)
    total = usage.total
    block: tuple[str, ...] = ()
    release: tuple[str, ...] = ()
    if stage is Stage.FLOOD:
        logs.append(
            (
                logging.WARNING,
                f"flood stage disk watermark [{thresholds.describe(Stage.FLOOD, total)}] exceeded "
                f"on {usage}, all indices on this node will be marked read-only",
            )
        )
        # Indices already refusing writes (index.blocks.write, read_only) are left as they are.
        block = tuple(
            sorted(
                name
                for name, meta in metadata.indices.items()
                if not any(Level.WRITE in b.levels for b in index_blocks(meta))
            )
        )
    elif stage is Stage.HIGH:
        last = previous.last_high_report_s
        if last is None or now_s - last >= thresholds.reroute_interval_s:
            state = replace(state, last_high_report_s=now_s)
            logs.append(
                (
                    logging.WARNING,
                    f"high disk watermark [{thresholds.describe(Stage.HIGH, total)}] exceeded on "
                    f"{usage}, shards will be relocated away from this node; currently relocating "
                    "away shards totalling [0] bytes; the node is expected to continue to exceed "
                    "the high disk watermark when these relocations are complete",
                )
            )
    elif stage is Stage.LOW:
        if previous.stage is Stage.NONE:
            logs.append(
                (
                    logging.INFO,
                    f"low disk watermark [{thresholds.describe(Stage.LOW, total)}] exceeded on "
                    f"{usage}, replicas will not be assigned to this node",
                )
            )
        elif previous.stage >= Stage.HIGH:
            logs.append(
                (
                    logging.INFO,
                    f"high disk watermark [{thresholds.describe(Stage.HIGH, total)}] no longer "
                    f"exceeded on {usage}, but low disk watermark "
                    f"[{thresholds.describe(Stage.LOW, total)}] is still exceeded",
                )
            )
    elif previous.stage is not Stage.NONE:
        logs.append(
            (
                logging.INFO,
                f"low disk watermark [{thresholds.describe(Stage.LOW, total)}] no longer exceeded "
                f"on {usage}",
            )
        )
    if stage <= Stage.LOW and blocked:
        release = tuple(blocked)
        shown = ", ".join(f"[{n}/{metadata.indices[n].uuid}]" for n in release)
        logs.append(
            (
                logging.INFO,
                f"releasing read-only block on indices [{shown}] since they are now allocated "
                "to nodes with sufficient disk space",
            )
        )
    if stage < Stage.HIGH:
        state = replace(state, last_high_report_s=None)
    return Decision(stage, tuple(logs), block, release), state
