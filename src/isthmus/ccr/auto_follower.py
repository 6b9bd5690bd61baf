"""The auto-follow coordinator: follows new leader indices that match a pattern.

ES's ``AutoFollowCoordinator``: for each remote alias that active patterns name, it reads the
remote's index list every :data:`POLL_INTERVAL_S`, and for each pattern follows every open
leader index that matches it and was not handled by the pattern yet (those existing when the
pattern was created count as handled; a closed one waits until it is opened; a hidden one only
for a pattern starting with ``.``, or a data stream's backing index, matched by its stream's
name: its follower joins the local replicated stream). A follower may itself be followed, as
in ES. A follower is made exactly as ``PUT _ccr/follow`` makes it, as the user who created the pattern, with the pattern's name
template, settings and parameters. What fails is counted and kept in ``recent_auto_follow_errors``
(ES's keys: ``<pattern>`` for a failed read of the remote, ``<pattern>:<leader index>`` for a
failed follow); a failed follow is tried again after an exponential back-off (at most a minute).

In a cluster of several nodes only the elected master coordinates (ES runs the coordinator on
the master): every node polling would race to create the same followers. Its counters are the
master's: another node asks the master for them (``GET _ccr/stats`` is a master read in ES).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from isthmus.ccr.auto_follow import AutoFollowPattern, missing, patterns_of, with_patterns
from isthmus.ccr.leader_client import LeaderClient
from isthmus.ccr.params import PutFollowRequest
from isthmus.ccr.placement import CcrPlacement
from isthmus.ccr.service import CcrService
from isthmus.ccr.shard_task import error_body
from isthmus.ccr.wire import LeaderIndexSummary
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.errors import IsthmusError
from isthmus.wire.names import AUTO_FOLLOW_STATS_ACTION

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.transport.actions import ActionRegistry, TransportRequestContext

log = logging.getLogger("org.elasticsearch.xpack.ccr.action.AutoFollowCoordinator")

POLL_INTERVAL_S = 1.0
MAX_RECENT_ERRORS = 256
# A leader index whose follow failed is tried again after 1, 2, 4 ... polls, at most this long
# (ES tries again when the remote's metadata changes; a poll every second would retry, and log,
# every second).
RETRY_MAX_S = 60.0


@dataclass
class ClusterCheck:
    """``auto_followed_clusters`` entry: when this remote was last read."""

    checked_at: float
    metadata_version: int = 0


class AutoFollower:
    def __init__(
        self,
        ccr: CcrService,
        *,
        subject_lookup: Callable[[str], Subject | None] | None = None,
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.ccr = ccr
        self.cluster = ccr.cluster
        self._subject_lookup = subject_lookup
        self.interval_s = interval_s
        self.successful = 0
        self.failed_follows = 0
        self.failed_remote_reads = 0
        self.errors: OrderedDict[str, tuple[int, BaseException]] = OrderedDict()
        self.clusters: dict[str, ClusterCheck] = {}
        # Who created each pattern, while this node runs (after a restart: looked up by name).
        self.subjects: dict[str, Subject | None] = {}
        # (pattern, leader uuid) → (failed attempts, when to try again).
        self._backoff: dict[tuple[str, str], tuple[int, float]] = {}
        # A cluster of several nodes: the elected master's node id (None: none now), and how
        # to ask it (set by isthmus.ccr.assembly.distribute_ccr).
        self.master: Callable[[], str | None] | None = None
        self.placement: CcrPlacement | None = None

    def coordinating(self) -> bool:
        """Whether this node runs the coordinator now (a cluster of several nodes: the master)."""
        if self.master is None or self.placement is None:
            return True
        return self.master() == self.placement.local_node_id

    def register(self, registry: ActionRegistry[Subject]) -> None:
        async def handle(payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
            assert self.placement is not None
            self.placement.check_peer(payload, AUTO_FOLLOW_STATS_ACTION)
            return self.stats()

        registry.register(AUTO_FOLLOW_STATS_ACTION, handle)

    async def cluster_stats(self) -> dict[str, Any]:
        """``auto_follow_stats`` as the coordinating node (the master) counts them."""
        master = self.master() if self.master is not None else None
        if self.coordinating() or master is None or self.placement is None:
            return self.stats()
        try:
            answer = await self.placement.ask(master, AUTO_FOLLOW_STATS_ACTION, {}, 10.0)
        except (IsthmusError, OSError, TimeoutError) as exc:
            log.debug("the master did not answer its auto-follow stats: %s", exc)
            return self.stats()
        return answer if isinstance(answer, dict) else self.stats()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.coordinating():
                await self.round()

    async def round(self) -> None:
        """One poll of every remote that active patterns name."""
        by_alias: dict[str, dict[str, AutoFollowPattern]] = {}
        for name, pattern in patterns_of(self.cluster.state.customs).items():
            if pattern.active:
                by_alias.setdefault(pattern.remote_cluster, {})[name] = pattern
        for alias, patterns in by_alias.items():
            await self._check(alias, patterns)

    def _record(self, key: str, exc: BaseException) -> None:
        self.errors.pop(key, None)
        self.errors[key] = (int(time.time() * 1000), exc)
        while len(self.errors) > MAX_RECENT_ERRORS:
            self.errors.popitem(last=False)

    async def _check(self, alias: str, patterns: dict[str, AutoFollowPattern]) -> None:
        # The remote is read as the user of the alias's first pattern (ES reads it with one
        # pattern's headers; the API-key model sends cluster state requests as the system).
        first = min(patterns)
        client = LeaderClient(self.ccr.remote, alias, self._subject(first, patterns[first]))
        wanted = sorted({p for pattern in patterns.values() for p in pattern.leader_index_patterns})
        try:
            leader_indices = await client.list_indices(tuple(wanted))
        except IsthmusError as exc:
            self.failed_remote_reads += 1
            for name in patterns:
                self._record(name, exc)
            log.warning(
                "failure while fetching cluster state for auto follow pattern [%s]: %s", alias, exc
            )
            return
        self.clusters[alias] = ClusterCheck(time.monotonic())
        for name, pattern in patterns.items():
            handled: list[str] = []
            for leader in leader_indices:
                if leader.uuid in pattern.followed:
                    continue
                if not pattern.matches(leader.name, leader.data_stream):
                    continue
                if leader.hidden and not pattern.names_hidden() and leader.data_stream is None:
                    continue  # a hidden index only for a pattern starting with '.'
                if leader.state != "open":
                    continue  # followed once it is opened
                waiting = self._backoff.get((name, leader.uuid))
                if waiting is not None and time.monotonic() < waiting[1]:
                    continue  # failed recently: tried again after its back-off
                if await self._follow(name, pattern, leader):
                    handled.append(leader.uuid)
            if handled:
                await self._mark_handled(name, handled)

    async def _follow(
        self, name: str, pattern: AutoFollowPattern, leader: LeaderIndexSummary
    ) -> bool:
        leader_index, leader_uuid = leader.name, leader.uuid
        try:
            request = PutFollowRequest(
                follower_index=pattern.follower_name(leader_index),
                remote_cluster=pattern.remote_cluster,
                leader_index=leader_index,
                parameters=pattern.parameters,
                settings=dict(pattern.settings),
                data_stream_name=pattern.data_stream_name(leader.data_stream),
            )
            await self.ccr.follow(request, self._subject(name, pattern))
        except IsthmusError as exc:
            self.failed_follows += 1
            attempts = self._backoff.get((name, leader_uuid), (0, 0.0))[0] + 1
            delay = min(RETRY_MAX_S, self.interval_s * 2 ** (attempts - 1))
            self._backoff[(name, leader_uuid)] = (attempts, time.monotonic() + delay)
            self._record(f"{name}:{leader_index}", exc)
            log.warning(
                "failure while auto-following leader index [%s] with pattern [%s]: %s",
                leader_index,
                name,
                exc,
            )
            return False
        self.successful += 1
        self._backoff.pop((name, leader_uuid), None)
        self.errors.pop(f"{name}:{leader_index}", None)
        log.info(
            "auto followed leader index [%s] as follow index [%s]",
            leader_index,
            pattern.follower_name(leader_index),
        )
        return True

    def _subject(self, name: str, pattern: AutoFollowPattern) -> Subject | None:
        if name in self.subjects:
            return self.subjects[name]
        if pattern.user is not None and self._subject_lookup is not None:
            return self._subject_lookup(pattern.user)
        return None

    async def _mark_handled(self, name: str, uuids: list[str]) -> None:
        def change(state: ClusterMetadata) -> ClusterMetadata:
            patterns = patterns_of(state.customs)
            current = patterns.get(name)
            if current is None:
                return state  # deleted meanwhile
            patterns[name] = current.handled(uuids)
            return replace(state, customs=with_patterns(state.customs, patterns))

        await self.cluster.submit(f"auto-follow [{name}] handled leader indices", change)

    # --- the pattern APIs ------------------------------------------------------------------

    async def put(self, name: str, pattern: AutoFollowPattern, subject: Subject | None) -> None:
        """``PUT /_ccr/auto_follow/<name>``: the leader indices that match now count as handled
        (only indices created afterwards are followed); an updated pattern keeps what it
        handled before."""
        self.ccr.remote.get(pattern.remote_cluster)  # ES's no such remote cluster
        client = LeaderClient(self.ccr.remote, pattern.remote_cluster, subject, policy="reconnect")
        existing = await client.list_indices(pattern.leader_index_patterns)
        current = {i.uuid for i in existing if pattern.matches(i.name, i.data_stream)}
        stored = replace(pattern, user=subject.username if subject is not None else None)
        self.subjects[name] = subject

        def change(state: ClusterMetadata) -> ClusterMetadata:
            patterns = patterns_of(state.customs)
            before = patterns.get(name)
            kept = before.followed if before is not None else ()
            patterns[name] = replace(stored, followed=kept).handled(sorted(current))
            return replace(state, customs=with_patterns(state.customs, patterns))

        await self.cluster.submit(f"put-auto-follow-pattern [{name}]", change)

    def get(self, name: str | None) -> dict[str, Any]:
        patterns = patterns_of(self.cluster.state.customs)
        if name is not None:
            if name not in patterns:
                raise missing(name)
            patterns = {name: patterns[name]}
        return {
            "patterns": [{"name": n, "pattern": p.to_json()} for n, p in sorted(patterns.items())]
        }

    async def delete(self, name: str) -> None:
        def change(state: ClusterMetadata) -> ClusterMetadata:
            patterns = patterns_of(state.customs)
            if name not in patterns:
                raise missing(name)
            del patterns[name]
            return replace(state, customs=with_patterns(state.customs, patterns))

        await self.cluster.submit(f"delete-auto-follow-pattern [{name}]", change)

    async def activate(self, name: str, active: bool) -> None:
        """``POST /_ccr/auto_follow/<name>/pause`` and ``/resume``."""

        def change(state: ClusterMetadata) -> ClusterMetadata:
            patterns = patterns_of(state.customs)
            if name not in patterns:
                raise missing(name)
            if patterns[name].active == active:
                return state
            patterns[name] = replace(patterns[name], active=active)
            return replace(state, customs=with_patterns(state.customs, patterns))

        await self.cluster.submit(f"activate-auto-follow-pattern [{name}]", change)

    def stats(self) -> dict[str, Any]:
        """``GET _ccr/stats``'s ``auto_follow_stats``."""
        now = time.monotonic()
        return {
            "number_of_failed_follow_indices": self.failed_follows,
            "number_of_failed_remote_cluster_state_requests": self.failed_remote_reads,
            "number_of_successful_follow_indices": self.successful,
            "recent_auto_follow_errors": [
                {"leader_index": key, "timestamp": ts, "auto_follow_exception": error_body(exc)}
                for key, (ts, exc) in self.errors.items()
            ],
            "auto_followed_clusters": [
                {
                    "cluster_name": alias,
                    "time_since_last_check_millis": int((now - check.checked_at) * 1000),
                    "last_seen_metadata_version": check.metadata_version,
                }
                for alias, check in sorted(self.clusters.items())
            ],
        }

    def __repr__(self) -> str:
        return (
            f"<AutoFollower clusters={len(self.clusters)} followed={self.successful} "
            f"failed={self.failed_follows}>"
        )
