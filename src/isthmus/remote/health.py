"""Live health of each remote cluster alias, fed by its real traffic and by background probes.

:class:`RemoteHealth` keeps one :class:`AliasHealth` per configured alias. The alias's strategy
reports to it through small explicit calls (it is handed its :class:`AliasHealth` when built; no
globals): every connect attempt as it starts and ends (with the phases it reached, see
:mod:`isthmus.transport.connect_trace`), every connection that ended (closed by the remote, or
declared dead by the liveness check), every connect round that failed after its attempts, and
every request that wanted a channel. :mod:`isthmus.remote.health_probe` adds probes for aliases
without traffic. Each failure is classified by :mod:`isthmus.remote.health_classify` into the
doctor's stage and cause code.

What is kept is bounded: latency samples in fixed-size windows, flaps as records pruned to the
window, one record per remote address. :meth:`AliasHealth.report` joins it with the live view of
the alias's connections (open vs wanted, last data heard on each) into the JSON of
``GET /_isthmus/remote/health``; nothing here opens a connection or sleeps.

Flaps: a flap is one loss of the link, an open connection that went down on its own (see
``FLAP_BURST``), counted per connection because the strategy reopens a lost connection at once:
the alias as a whole rarely goes down while a path that cuts idle connections takes them one by
one.

Credential expiry: a cross-cluster API key's expiry is known only to the remote cluster, and
neither the remote cluster handshake nor node discovery tells it to the caller, so it is reported
as unknown (the doctor, given both clusters, reads it from the remote's key record). The remote's
TLS certificate expiry is read from each successful handshake and turns the alias yellow ahead of
it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.doctor.model import Stage, Status
from isthmus.errors import IsthmusError, SecurityError
from isthmus.remote.health_classify import (
    Failure,
    classify_answer,
    classify_attempt,
    classify_phase,
    classify_round,
)
from isthmus.remote.health_records import (
    TIMELINE_WINDOW,
    History,
    LatencyWindow,
    NodeRecord,
    Timeline,
    TimelineEvent,
    iso,
    node_json,
)
from isthmus.remote.security_model import SecurityModel
from isthmus.transport.channel_info import ChannelState

if TYPE_CHECKING:
    from isthmus.remote.connection_manager import ManagedConnection
    from isthmus.remote.strategy import RemoteStrategy
    from isthmus.transport.connect_trace import ConnectAttempt

FLAP_WINDOW = 300.0  # seconds over which flaps are counted
# A flap is one loss of the link: an open connection that went down on its own (closed by the
# remote or a middlebox, declared dead). Connections lost within FLAP_BURST of the first loss of
# a flap are the same flap: one outage (a restart, a cut path) ends every connection at once.
FLAP_BURST = 1.0
FLAPS_YELLOW = 2  # the link was lost twice in the window
MAX_FLAPS = 1024  # flap records kept per alias (the oldest forgotten first)
CERTIFICATE_WARNING = dt.timedelta(days=7)  # yellow this long before the remote's cert expires
STUCK_AFTER = 3.0  # an attempt in flight this long is reported at the phase it is stuck in
MAX_ADDRESSES = 256  # remote addresses remembered per alias


@dataclass
class Flap:
    """One loss of the link: when it started (monotonic, and wall clock for the report), when
    its last connection went down, and how many connections it took."""

    started: float
    first: float
    last: float
    connections: int = 1


class AliasHealth:
    """The health of one alias; its strategy calls the ``on_*`` methods as things happen."""

    def __init__(
        self,
        alias: str,
        model: SecurityModel,
        mode: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.alias = alias
        self.model = model
        self.mode = mode
        self._clock = clock
        self._wall = wall
        self.outcome = History()
        # The latest data heard on an open connection: shown as a success, kept once the
        # connections close so last_success never goes back (it does not clear a failure).
        self.last_heard: float | None = None
        self.nodes: dict[str, NodeRecord] = {}
        self.latency = {p: LatencyWindow() for p in ("connect", "tls", "handshake")}
        self._flaps: deque[Flap] = deque(maxlen=MAX_FLAPS)
        self._up: bool | None = None  # None until the first connect or failure
        self._in_flight: dict[int, ConnectAttempt] = {}
        self._stuck: set[int] = set()  # in-flight attempts already reported as stuck
        self.remote: dict[str, str | None] = {}
        self.peer_not_after: dt.datetime | None = None
        self.last_traffic: float | None = None  # monotonic: a request wanted this alias
        self.last_probe: float | None = None  # wall clock
        self.attempts = 0
        # When the keystore was last reloaded (wall clock): an authentication or authorization
        # error from before it was about the credential the alias had then.
        self.credentials_reloaded: float | None = None
        self.timeline = Timeline()  # the last hour's events (the console shows them)

    @property
    def api_key(self) -> bool:
        return self.model is SecurityModel.API_KEY

    def _node(self, address: str) -> NodeRecord:
        record = self.nodes.get(address)
        if record is None:
            if len(self.nodes) >= MAX_ADDRESSES:  # bounded: forget the oldest address seen
                del self.nodes[next(iter(self.nodes))]
            record = self.nodes[address] = NodeRecord(address)
        return record

    # --- events ----------------------------------------------------------------------------------

    def on_attempt_started(self, attempt: ConnectAttempt) -> None:
        self._in_flight[id(attempt)] = attempt
        self.attempts += 1

    def on_attempt_ended(self, attempt: ConnectAttempt, *, pinned_cluster: bool) -> None:
        """An attempt finished; ``pinned_cluster``: a remote cluster name was already pinned."""
        self._in_flight.pop(id(attempt), None)
        already_counted = id(attempt) in self._stuck
        self._stuck.discard(id(attempt))
        wall = self._wall()
        node = self._node(attempt.address)
        if attempt.succeeded:
            for window, seconds in (
                (self.latency["connect"], attempt.connect_seconds()),
                (self.latency["tls"], attempt.tls_seconds()),
                (self.latency["handshake"], attempt.handshake_seconds()),
            ):
                window.add(seconds)
            node.outcome.succeeded(wall)
            node.node_id, node.node_name = attempt.remote_node_id, attempt.remote_node_name
            self.outcome.succeeded(wall)
            self.remote = {
                "cluster_name": attempt.remote_cluster_name,
                "cluster_uuid": attempt.remote_cluster_uuid,
                "version": attempt.remote_version,
            }
            if attempt.peer_not_after is not None:
                self.peer_not_after = attempt.peer_not_after
            self.timeline.add(TimelineEvent(wall, "connected"))
            self._up = True
            return
        failure = classify_attempt(attempt, api_key=self.api_key, pinned_cluster=pinned_cluster)
        node.outcome.failed(failure, wall, attempt.address, count=not already_counted)
        self.outcome.failed(failure, wall, attempt.address, count=not already_counted)
        self._failed_event(failure, wall)
        if self._up is None:
            self._up = False

    def on_attempt_abandoned(self, attempt: ConnectAttempt) -> None:
        """The attempt was cancelled (the alias closed): it says nothing about the remote."""
        self._in_flight.pop(id(attempt), None)
        self._stuck.discard(id(attempt))

    def on_round_failed(self, exc: IsthmusError, *, attempts_failed: bool) -> None:
        """A connect round failed. When its attempts failed they were recorded already; a
        round whose attempts succeeded failed later (node discovery, no gateway node)."""
        if not attempts_failed:
            failure, wall = classify_round(exc, api_key=self.api_key), self._wall()
            self.outcome.failed(failure, wall, None, count=True)
            self._failed_event(failure, wall)

    def on_connection_closed(self, conn: ManagedConnection, *, remaining: int) -> None:
        """A managed connection ended; ``remaining``: connections still open to the alias."""
        if conn.channel.state is not ChannelState.BROKEN and not conn.declared_dead:
            return  # closed by us (unused, shut down): not a fault
        address = conn.node.publish_address or conn.channel.remote_address
        reason = conn.channel.broken_reason or "closed"
        if conn.declared_dead:
            failure = Failure(
                Stage.TCP,
                "tcp_timeout",
                f"no data from [{address}] within the liveness deadline ({reason})",
            )
        else:
            failure = Failure(
                Stage.TCP, "connection_unreliable", f"[{address}] closed by remote ({reason})"
            )
        wall = self._wall()
        self._node(address).outcome.failed(failure, wall, address, count=True, lost=True)
        self.outcome.failed(failure, wall, address, count=True, lost=True)
        self.timeline.add(TimelineEvent(wall, "lost", failure.stage.value, failure.cause))
        self._lost(wall)
        if remaining == 0:
            self._up = False

    def on_error_answer(self, conn: ManagedConnection, exc: IsthmusError) -> None:
        """A request on an open connection was answered with an error. Only a refused
        credential or identity (401) is the link's health: a user's missing privilege or a
        missing index is that request's business, and a broken channel is reported when it
        ends."""
        if not isinstance(exc, SecurityError) or exc.http_status != 401:
            return
        failure = classify_answer(exc, self.api_key, exc.reason)
        if failure is None:
            return
        address = conn.node.publish_address or conn.channel.remote_address
        wall = self._wall()
        self._node(address).outcome.failed(failure, wall, address, count=True)
        self.outcome.failed(failure, wall, address, count=True)
        self._failed_event(failure, wall)

    def on_credentials_reloaded(self) -> None:
        self.credentials_reloaded = self._wall()

    def on_use(self) -> None:
        """A request wanted a channel to this alias (real traffic: no probe needed)."""
        self.last_traffic = self._clock.monotonic()

    def check_stuck(self, after: float = STUCK_AFTER) -> None:
        """Report attempts in flight for ``after`` seconds at the phase they are stuck in (a
        black-holed address otherwise shows nothing until the connect timeout, 30 s)."""
        now = self._clock.monotonic()
        for key, attempt in list(self._in_flight.items()):
            if key in self._stuck or now - attempt.started < after:
                continue
            self._stuck.add(key)
            waited = now - attempt.started
            failure = classify_phase(
                attempt,
                f"no answer from [{attempt.address}] after [{waited:.1f}s] (still connecting)",
            )
            wall = self._wall()
            self._node(attempt.address).outcome.failed(failure, wall, attempt.address, count=True)
            self.outcome.failed(failure, wall, attempt.address, count=True)
            self._failed_event(failure, wall)

    def _failed_event(self, failure: Failure, wall: float) -> None:
        self.timeline.add(TimelineEvent(wall, "failed", failure.stage.value, failure.cause))

    def timeline_json(self, window: float = TIMELINE_WINDOW) -> list[dict[str, Any]]:
        """The events of the last ``window`` seconds, oldest first."""
        return [e.to_json() for e in self.timeline.since(self._wall() - window)]

    def _lost(self, wall: float) -> None:
        """An open connection went down on its own: a flap, or part of the one just begun.

        Counted per connection, not per alias: the strategy reopens a lost connection at once,
        so with several connections (proxy sockets, sniffed nodes) the alias as a whole rarely
        goes down while a path that cuts idle connections takes them one after another."""
        now = self._clock.monotonic()
        last = self._flaps[-1] if self._flaps else None
        if last is not None and now - last.started <= FLAP_BURST:
            last.last, last.connections = wall, last.connections + 1
        else:
            self._flaps.append(Flap(now, wall, wall))
        self._prune_flaps(now)

    def _prune_flaps(self, now: float) -> None:
        while self._flaps and now - self._flaps[0].started > FLAP_WINDOW:
            self._flaps.popleft()

    def flaps(self) -> int:
        """Losses of the link within the window."""
        self._prune_flaps(self._clock.monotonic())
        return len(self._flaps)

    def flaps_json(self) -> dict[str, Any]:
        """``flaps`` of the report: the losses in the window, the connections they took, and
        when the first began and the last ended."""
        count = self.flaps()
        return {
            "count": count,
            "window_seconds": int(FLAP_WINDOW),
            "connections_lost": sum(f.connections for f in self._flaps),
            "first": iso(self._flaps[0].first) if count else None,
            "last": iso(self._flaps[-1].last) if count else None,
        }

    # --- report ----------------------------------------------------------------------------------

    def status(self, strategy: RemoteStrategy) -> Status:
        if not strategy.is_connected():
            if self.outcome.failing:
                return Status.RED
            return Status.UNKNOWN
        # Sniff mode opens at most one connection per gateway node, so fewer than wanted is
        # normal for a small cluster; a gateway that fails shows as a failing outcome instead.
        short = self.mode == "proxy" and strategy.manager.size() < strategy.max_connections()
        if (
            short
            or self.flaps() >= FLAPS_YELLOW
            or self.outcome.failing
            or self._certificate_expiring()
        ):
            return Status.YELLOW
        return Status.GREEN

    def _certificate_expiring(self) -> bool:
        if self.peer_not_after is None:
            return False
        now = dt.datetime.fromtimestamp(self._wall(), dt.UTC)
        return self.peer_not_after - now < CERTIFICATE_WARNING

    def report(self, strategy: RemoteStrategy, stuck_after: float = STUCK_AFTER) -> dict[str, Any]:
        """This alias's entry of ``GET /_isthmus/remote/health`` (attempts in flight for
        ``stuck_after`` seconds, the probe timeout, are reported stuck first)."""
        self.check_stuck(stuck_after)
        mono, wall = self._clock.monotonic(), self._wall()
        heard: dict[str, float] = {}
        counts: dict[str, int] = {}
        for conn in strategy.manager.connections():
            address = conn.node.publish_address or conn.channel.remote_address
            counts[address] = counts.get(address, 0) + 1
            at = wall - max(0.0, mono - conn.channel.last_received)
            heard[address] = max(heard.get(address, at), at)
        outcome = self.outcome.to_json()
        if heard:  # pings and answers heard on open connections are successes too
            self.last_heard = max(self.last_heard or 0.0, *heard.values())
        if self.last_heard is not None and (
            self.outcome.last_success is None or self.last_heard > self.outcome.last_success
        ):
            outcome["last_success"] = iso(self.last_heard)
        return {
            "status": self.status(strategy).value,
            "connected": strategy.is_connected(),
            "mode": self.mode,
            "security_model": self.model.value,
            "connections": {"open": strategy.manager.size(), "wanted": strategy.max_connections()},
            **outcome,
            "flaps": self.flaps_json(),
            "latency": {phase: window.summary() for phase, window in self.latency.items()},
            "remote": {
                "cluster_name": self.remote.get("cluster_name"),
                "cluster_uuid": self.remote.get("cluster_uuid"),
                "version": self.remote.get("version"),
            },
            "credentials": {
                "present": self.api_key,
                # Known only to the remote cluster; no answer the caller gets carries it.
                "expiry": None,
                "expiry_known": False,
                "reloaded_at": iso(self.credentials_reloaded),
            },
            "certificate": {
                "not_after": None
                if self.peer_not_after is None
                else self.peer_not_after.isoformat(),
                "expiring": self._certificate_expiring(),
            },
            "last_probe": iso(self.last_probe),
            "nodes": {
                address: node_json(record, counts.get(address, 0), heard.get(address))
                for address, record in self._addresses(counts)
            },
        }

    def _addresses(self, counts: dict[str, int]) -> Iterable[tuple[str, NodeRecord]]:
        for address in counts:
            self._node(address)
        return sorted(self.nodes.items())

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return (
            f"<AliasHealth [{self.alias}] {state} failures={self.outcome.consecutive_failures} "
            f"attempts={self.attempts} in_flight={len(self._in_flight)}>"
        )


class RemoteHealth:
    """Every alias's :class:`AliasHealth`; the remote cluster service asks it for one when it
    builds an alias's connection, and drops it when the alias goes."""

    def __init__(
        self, *, clock: Clock = SYSTEM_CLOCK, wall: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._aliases: dict[str, AliasHealth] = {}

    def track(self, alias: str, model: SecurityModel, mode: str) -> AliasHealth:
        """The record of ``alias``; a rebuild under another model or mode starts a fresh one."""
        current = self._aliases.get(alias)
        if current is None or current.model is not model or current.mode != mode:
            current = self._aliases[alias] = AliasHealth(
                alias, model, mode, clock=self._clock, wall=self._wall
            )
        return current

    def forget(self, alias: str) -> None:
        self._aliases.pop(alias, None)

    def get(self, alias: str) -> AliasHealth | None:
        return self._aliases.get(alias)

    def __len__(self) -> int:
        return len(self._aliases)

    def __repr__(self) -> str:
        return f"<RemoteHealth aliases={len(self._aliases)}>"
