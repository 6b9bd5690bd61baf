"""Logging in Elasticsearch's formats: the plain ``[time][LEVEL][logger] [node] msg`` file and
stderr lines, and an ECS JSON file beside them (``<cluster>_server.json``).

The format is part of the product: users grep it and the doctor parses it, so it follows ES's
log4j pattern ``[%d{ISO8601}][%-5p][%-25c{1.}] [%node_name] %m``. Loggers are named after the
Elasticsearch class that logs the same event (``org.elasticsearch.transport.ProxyConnectionStrategy``)
and printed abbreviated (``o.e.t.ProxyConnectionStrategy``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def abbreviate(name: str) -> str:
    """``org.elasticsearch.node.Node`` → ``o.e.n.Node`` (log4j's ``%c{1.}``)."""
    parts = name.split(".")
    return ".".join([p[:1] for p in parts[:-1]] + parts[-1:])


def es_level(record: logging.LogRecord) -> str:
    return _LEVELS.get(record.levelname, record.levelname)


def _timestamp(created: float) -> str:
    local = time.localtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f",{int(created * 1000) % 1000:03d}"


class PlainFormatter(logging.Formatter):
    def __init__(self, node_name: str) -> None:
        super().__init__()
        self.node_name = node_name

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"[{_timestamp(record.created)}][{es_level(record):<5}]"
            f"[{abbreviate(record.name):<25}] [{self.node_name}] {record.getMessage()}"
        )
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


class EcsJsonFormatter(logging.Formatter):
    def __init__(self, node_name: str, cluster_name: str) -> None:
        super().__init__()
        self.node_name = node_name
        self.cluster_name = cluster_name
        self.node_id: str | None = None
        self.cluster_uuid: str | None = None

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "@timestamp": f"{stamp}.{int(record.created * 1000) % 1000:03d}Z",
            "log.level": es_level(record),
            "message": record.getMessage(),
            "ecs.version": "1.2.0",
            "service.name": "ES_ECS",
            "event.dataset": "elasticsearch.server",
            "process.thread.name": record.threadName,
            "log.logger": record.name,
            "elasticsearch.node.name": self.node_name,
            "elasticsearch.cluster.name": self.cluster_name,
        }
        if self.node_id:
            doc["elasticsearch.node.id"] = self.node_id
        if self.cluster_uuid:
            doc["elasticsearch.cluster.uuid"] = self.cluster_uuid
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error.type"] = type(exc).__name__
            doc["error.message"] = str(exc)
            doc["error.stack_trace"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def configure(
    log_dir: Path,
    cluster_name: str,
    node_name: str,
    *,
    stderr: bool = True,
    level: int = logging.INFO,
) -> EcsJsonFormatter:
    """Route all ``org.elasticsearch.*`` and ``isthmus.*`` loggers to the files (and stderr)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    plain = PlainFormatter(node_name)
    ecs = EcsJsonFormatter(node_name, cluster_name)
    handlers: list[logging.Handler] = []
    file_handler = logging.FileHandler(log_dir / f"{cluster_name}.log", encoding="utf-8")
    file_handler.setFormatter(plain)
    handlers.append(file_handler)
    json_handler = logging.FileHandler(log_dir / f"{cluster_name}_server.json", encoding="utf-8")
    json_handler.setFormatter(ecs)
    handlers.append(json_handler)
    if stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(plain)
        handlers.append(err)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays below our lines unless it is a warning.
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return ecs


def set_level(logger_name: str, level_name: str | None) -> None:
    """Apply a dynamic ``logger.<name>`` cluster setting (``null`` resets to inherit)."""
    target = logging.getLogger(logger_name if logger_name != "_root" else "")
    if level_name is None:
        target.setLevel(logging.NOTSET)
        return
    name = level_name.upper()
    mapping = {"WARN": logging.WARNING, "TRACE": logging.DEBUG, "FATAL": logging.CRITICAL}
    target.setLevel(mapping.get(name, logging.getLevelName(name)))


# --- rate limiting --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admission:
    """What :meth:`LogThrottle.admit` decided for one event."""

    log: bool  # write this event's line in full
    suppressed: int  # events of the same key not written since its last full line


class LogThrottle:
    """Rate limit for kinds of log lines that a remote peer can trigger at will.  [no I/O]

    A hostile client can fail a TLS handshake (or break the transport protocol) hundreds of times
    a second; each failure is worth one diagnosis, not one kilobyte of WARN each time. Per
    (kind, peer host), the first event is logged in full, exactly as without a throttle; later
    events within ``interval`` seconds are only counted. The count is reported once per
    interval: with the next full line (:meth:`admit` returns it), or by :meth:`expired` for a
    peer that went quiet. At most ``burst`` full lines are written per interval across all
    peers (so that many source addresses cannot bypass the limit), and at most ``max_keys``
    peers are remembered (the least recently seen is forgotten first).
    """

    def __init__(
        self,
        interval: float = 60.0,
        *,
        burst: int = 20,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        # (kind, peer) -> [start of its window, events suppressed in it]
        self._keys: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        self._window = -float("inf")  # start of the global burst window
        self._written = 0  # full lines written in the global window
        self.suppressed_total = 0

    def admit(self, kind: str, peer: str) -> Admission:
        now = self._clock()
        if now - self._window >= self.interval:
            self._window, self._written = now, 0
        key = (kind, peer)
        state = self._keys.get(key)
        if state is not None:
            self._keys.move_to_end(key)
        fresh = state is None or now - state[0] >= self.interval
        if fresh and self._written < self.burst:
            suppressed = 0 if state is None else int(state[1])
            self._remember(key, [now, 0])
            self._written += 1
            return Admission(True, suppressed)
        if state is None:
            state = [now, 0]
            self._remember(key, state)
        state[1] += 1
        self.suppressed_total += 1
        return Admission(False, 0)

    def expired(self) -> list[tuple[str, str, int]]:
        """(kind, peer, count) for each peer whose interval has passed with events left out;
        their counts restart from zero (the caller logs the summaries)."""
        now = self._clock()
        due = []
        for (kind, peer), state in self._keys.items():
            if state[1] and now - state[0] >= self.interval:
                due.append((kind, peer, int(state[1])))
                state[0], state[1] = now, 0
        return due

    def _remember(self, key: tuple[str, str], state: list[float]) -> None:
        self._keys[key] = state
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def __repr__(self) -> str:
        return (
            f"<LogThrottle interval={self.interval}s keys={len(self._keys)} "
            f"suppressed={self.suppressed_total}>"
        )
