"""What remote health keeps per alias and per remote address, as bounded values.

:class:`History` is the last success and last failure (with its classified :class:`Failure`) and
the count of failures since; :class:`NodeRecord` is one remote address's history;
:class:`LatencyWindow` keeps the last samples of one latency for its p50/p99; :class:`Timeline`
the alias's recent events (connected, failed, lost) for the console's last hour. Used by
:mod:`isthmus.remote.health`, which feeds them from the strategies' events.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from isthmus.doctor.model import Status
from isthmus.remote.health_classify import Failure

LATENCY_SAMPLES = 128  # per alias and phase: p99 of the last 128 connects


def iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds")


class LatencyWindow:
    """The last ``size`` samples of one latency (seconds), for p50/p99 in milliseconds."""

    def __init__(self, size: int = LATENCY_SAMPLES) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float | None) -> None:
        if seconds is not None and seconds >= 0:
            self._samples.append(seconds)

    def __len__(self) -> int:
        return len(self._samples)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self._samples)
        if not ordered:
            return {"samples": 0, "p50_ms": None, "p99_ms": None}

        def at(q: float) -> float:
            # Nearest rank: the smallest sample with at least q of the samples at or below it.
            rank = max(1, -(-len(ordered) * q // 1))
            return round(ordered[int(rank) - 1] * 1000, 3)

        return {"samples": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99)}


@dataclass
class History:
    """The last success and the last failure of an alias or of one remote address."""

    last_success: float | None = None  # wall clock
    last_error: Failure | None = None
    last_error_at: float | None = None
    last_error_address: str | None = None
    # The last error ended an open connection (closed by the remote, declared dead) rather than
    # failing an attempt to open one.
    last_error_lost: bool = False
    consecutive_failures: int = 0

    def succeeded(self, wall: float) -> None:
        self.last_success = wall
        self.consecutive_failures = 0

    def failed(
        self,
        failure: Failure,
        wall: float,
        address: str | None,
        *,
        count: bool,
        lost: bool = False,
    ) -> None:
        self.last_error, self.last_error_at, self.last_error_address = failure, wall, address
        self.last_error_lost = lost
        if count:
            self.consecutive_failures += 1

    @property
    def failing(self) -> bool:
        """The latest outcome is a failure."""
        return self.last_error_at is not None and (
            self.last_success is None or self.last_error_at >= self.last_success
        )

    def to_json(self) -> dict[str, Any]:
        error = None
        if self.last_error is not None:
            error = {"time": iso(self.last_error_at), **self.last_error.to_json()}
            if self.last_error_address is not None:
                error["address"] = self.last_error_address
            if self.last_error_lost:
                error["lost_connection"] = True
        return {
            "last_success": iso(self.last_success),
            "last_error": error,
            "consecutive_failures": self.consecutive_failures,
        }


@dataclass
class NodeRecord:
    """What one remote address (a seed, a gateway node, the proxy) has shown."""

    address: str
    outcome: History = field(default_factory=History)
    node_id: str | None = None
    node_name: str | None = None


def node_json(record: NodeRecord, connections: int, heard: float | None) -> dict[str, Any]:
    outcome = record.outcome.to_json()
    if heard is not None and (
        record.outcome.last_success is None or heard > record.outcome.last_success
    ):
        outcome["last_success"] = iso(heard)
    if connections > 0:
        status = Status.YELLOW if record.outcome.failing else Status.GREEN
    elif record.outcome.failing:
        status = Status.RED
    else:
        status = Status.UNKNOWN
    return {
        "status": status.value,
        "node_id": record.node_id,
        "node_name": record.node_name,
        "connections": connections,
        **outcome,
    }


TIMELINE_WINDOW = 3600.0  # seconds of events a timeline answers for (the console's last hour)
TIMELINE_EVENTS = 512  # events kept per alias (the oldest forgotten first)


@dataclass(frozen=True)
class TimelineEvent:
    """One change of an alias's link: ``connected`` (it came up), ``failed`` (an attempt or
    round failed, with its stage and cause) or ``lost`` (an open connection went down)."""

    wall: float
    kind: str
    stage: str | None = None
    cause: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"time": iso(self.wall), "kind": self.kind, "stage": self.stage, "cause": self.cause}


class Timeline:
    """An alias's recent events, bounded in number. A burst of the same failure is one event (a
    connect round fails every attempt at once: one line on a timeline, not eighteen), and
    ``connected`` is kept only when the link came up again (not once per connection opened)."""

    def __init__(self, size: int = TIMELINE_EVENTS) -> None:
        self._events: deque[TimelineEvent] = deque(maxlen=size)

    def add(self, event: TimelineEvent, *, coalesce: float = 1.0) -> None:
        last = self._events[-1] if self._events else None
        if event.kind == "connected" and last is not None and last.kind == "connected":
            return
        if (
            last is not None
            and (last.kind, last.stage, last.cause) == (event.kind, event.stage, event.cause)
            and event.wall - last.wall <= coalesce
        ):
            return
        self._events.append(event)

    def since(self, wall: float) -> list[TimelineEvent]:
        return [e for e in self._events if e.wall >= wall]

    def __len__(self) -> int:
        return len(self._events)
