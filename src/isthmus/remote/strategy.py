"""What sniff and proxy modes share: one connect round at a time, reconnects, node selection.

A :class:`RemoteStrategy` owns the :class:`ClusterConnectionManager` of one remote cluster alias
and decides when to open connections. Only one connect round runs at a time; callers that ask
while one runs wait for the same round and share its outcome (ES's listener queue). There is no
retry timer: a round starts when the alias is configured, when a node disconnects and more
connections are wanted, or when a caller needs the remote (:meth:`ensure_connected`).
Subclasses implement :meth:`_round` (how to find and open connections) and :meth:`mode_info`.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from isthmus.errors import (
    AlreadyClosedError,
    ConnectQueueFullError,
    ConnectTransportError,
    IsthmusError,
)
from isthmus.remote.connection_manager import ClusterConnectionManager, ManagedConnection
from isthmus.remote.connector import Connector
from isthmus.remote.health import AliasHealth
from isthmus.remote.security_model import SecurityModel
from isthmus.supervision import TaskSet
from isthmus.transport.channel import TransportChannel
from isthmus.transport.connect_trace import ConnectAttempt

if TYPE_CHECKING:
    from isthmus.settings.remote import RemoteClusterConfig

MAX_PENDING_CONNECT_CALLERS = 1000


class RemoteStrategy(ABC):
    """Connection policy for one remote cluster alias."""

    logger_name = "org.elasticsearch.transport.RemoteConnectionStrategy"

    def __init__(
        self,
        config: RemoteClusterConfig,
        connector: Connector,
        *,
        health: AliasHealth | None = None,
    ) -> None:
        self.alias = config.alias
        self.config = config
        self.connector = connector
        # Told of every attempt, failed round and lost connection (remote/health.py).
        self.health = health or AliasHealth(
            config.alias, SecurityModel.CERTIFICATE, config.mode.value, clock=connector.clock
        )
        self._failed_attempts = 0  # in the current round
        self.log = logging.getLogger(self.logger_name)
        ping = config.ping_schedule.seconds if config.ping_schedule.millis > 0 else None
        self.manager = ClusterConnectionManager(
            self.alias,
            ping_interval=ping,
            on_disconnect=self._on_disconnect,
            clock=connector.clock,
            on_error_answer=lambda conn, action, exc: self.health.on_error_answer(conn, exc),
        )
        self.remote_cluster_name: str | None = None  # pinned by the first successful handshake
        self._tasks = TaskSet(f"remote cluster [{self.alias}]", self.log)
        self._in_flight: asyncio.Future[None] | None = None
        self._waiting = 0
        self._closed = False
        self.rounds = 0
        self.last_error: IsthmusError | None = None

    # --- what subclasses provide -----------------------------------------------------------------

    @abstractmethod
    async def _round(self) -> None:
        """Open connections until enough are open; raise when none could be opened."""

    @abstractmethod
    def max_connections(self) -> int: ...

    @abstractmethod
    def mode_info(self) -> dict[str, Any]:
        """The mode-specific fields of ``_remote/info``, in ES's order."""

    def connected_count(self) -> int:
        """What ``connected`` is derived from: nodes (sniff) or sockets (proxy)."""
        return self.manager.node_count()

    # --- connecting ------------------------------------------------------------------------------

    def is_connected(self) -> bool:
        return self.connected_count() > 0

    async def connect(self) -> None:
        """Run a connect round, or join the one in flight; raises the round's failure."""
        if self._closed:
            raise AlreadyClosedError("connect handler is already closed")
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = self._tasks.spawn(self._run_round(), name="connect round")
        elif self._waiting >= MAX_PENDING_CONNECT_CALLERS:
            raise ConnectQueueFullError("connect listener queue is full")
        self._waiting += 1
        round_ = self._in_flight
        try:
            await asyncio.shield(round_)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if round_.cancelled() and (current is None or current.cancelling() == 0):
                # The round was cancelled by close(), not our caller: say what happened.
                raise AlreadyClosedError("connect handler is already closed") from None
            raise
        finally:
            self._waiting -= 1

    async def _run_round(self) -> None:
        self.rounds += 1
        self._failed_attempts = 0
        try:
            if self.manager.size() < self.max_connections():
                await self._round()
        except IsthmusError as exc:
            self.last_error = exc
            self.health.on_round_failed(exc, attempts_failed=self._failed_attempts > 0)
            raise
        self.last_error = None

    async def _open(
        self, host: str, port: int, *, server_name: str | None, node_name: str = ""
    ) -> TransportChannel:
        """One connect attempt (TCP, TLS, handshake) through the connector, reported to the
        alias's health with the phases it reached."""
        attempt = ConnectAttempt(
            f"{host}:{port}",
            self.connector.clock.monotonic(),
            tls=self.connector.ssl_context is not None,
        )
        pinned = self.remote_cluster_name is not None
        self.health.on_attempt_started(attempt)
        try:
            channel = await self.connector.open(
                host,
                port,
                server_name=server_name,
                expected_cluster_name=self.remote_cluster_name,
                attempt=attempt,
                node_name=node_name,
            )
        except asyncio.CancelledError:
            self.health.on_attempt_abandoned(attempt)
            raise
        except BaseException as exc:
            attempt.error, attempt.ended = exc, self.connector.clock.monotonic()
            self._failed_attempts += 1
            self.health.on_attempt_ended(attempt, pinned_cluster=pinned)
            raise
        attempt.ended = self.connector.clock.monotonic()
        self.health.on_attempt_ended(attempt, pinned_cluster=pinned)
        return channel

    async def ensure_connected(self) -> None:
        """Connect first if nothing is connected; return at once otherwise."""
        if not self.is_connected():
            await self.connect()

    def connect_in_background(self, reason: str) -> None:
        """Start (or join) a round without waiting; its outcome is logged, not raised."""
        if self._closed:
            return

        async def run() -> None:
            try:
                await self.connect()
            except IsthmusError as exc:
                self.log.debug("[%s] failed to connect %s\n%s", self.alias, reason, exc.log_lines())
            else:
                self.log.debug("[%s] successfully connected %s", self.alias, reason)

        self._tasks.spawn(run(), name=f"connect {reason}")

    def _on_disconnect(self, conn: ManagedConnection) -> None:
        self.health.on_connection_closed(conn, remaining=self.manager.size())
        if self._closed or self.manager.size() >= self.max_connections():
            return
        self.connect_in_background(f"after disconnect of {conn.description}")

    def any_channel(self) -> TransportChannel:
        """A channel to the remote (round robin); ConnectTransportError if there is none."""
        conn = self.manager.any_connection()
        if conn is None:
            raise ConnectTransportError(f"Unable to connect to [{self.alias}]")
        return conn.channel

    # --- lifecycle -------------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        await self._tasks.close()
        await self.manager.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} [{self.alias}] connected={self.connected_count()}/"
            f"{self.max_connections()} rounds={self.rounds}>"
        )
