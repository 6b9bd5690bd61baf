"""The open connections to one remote cluster, keyed by node, with liveness watching.

:class:`ClusterConnectionManager` owns the managed channels a strategy opened: it watches each one
(application pings plus a silence deadline, see below), removes it when it ends, logs what ES's
``ClusterConnectionManager`` logs, and tells its owner about every disconnect so the owner can
reconnect. It never opens connections itself; strategies do, and hand them over with
:meth:`add`.

Liveness (an Isthmus improvement over ES's defaults): with a ping interval ``p`` the manager
pings every ``p`` and the accepting side echoes each ping. A channel that has heard nothing from
its peer for ``2 * p`` is declared dead and aborted — the only way to notice a peer that is frozen
(SIGSTOP) or black-holed while the kernel keeps the TCP connection looking healthy.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.errors import IsthmusError
from isthmus.supervision import TaskSet
from isthmus.transport.channel import ChannelState, TransportChannel
from isthmus.wire import NodeIdentity

log = logging.getLogger("org.elasticsearch.transport.ClusterConnectionManager")
# Named after ES's class that keeps transport connections alive with pings, so the plain log
# shows a greppable o.e.t.TransportKeepAlive (the JSON log has the full name).
liveness_log = logging.getLogger("org.elasticsearch.transport.TransportKeepAlive")


@dataclass(eq=False)
class ManagedConnection:
    """One connection to one remote node (or, in proxy mode, one proxy socket)."""

    key: str  # the node's identity for the manager; unique per proxy socket
    node: NodeIdentity
    channel: TransportChannel
    description: str  # the node as ES's logs print it
    declared_dead: bool = False  # aborted by the liveness check (the peer went silent)

    def __repr__(self) -> str:
        return f"<ManagedConnection {self.description} {self.channel.state.value}>"


@dataclass(frozen=True)
class ManagerStats:
    connections: int
    nodes: int
    opened: int
    closed_by_remote: int
    declared_dead: int


class ClusterConnectionManager:
    """Connections to the nodes of one remote cluster."""

    def __init__(
        self,
        alias: str,
        *,
        ping_interval: float | None,
        on_disconnect: Callable[[ManagedConnection], None],
        clock: Clock = SYSTEM_CLOCK,
        on_error_answer: Callable[[ManagedConnection, str, IsthmusError], None] | None = None,
    ) -> None:
        self.alias = alias
        self.ping_interval = ping_interval if ping_interval and ping_interval > 0 else None
        self._on_disconnect = on_disconnect
        self._on_error_answer = on_error_answer
        self._clock = clock
        self._connections: dict[str, ManagedConnection] = {}
        self._rr = itertools.count()
        self._tasks = TaskSet(f"connections to [{alias}]", log)
        self._closed = False
        self._opened = 0
        self._closed_by_remote = 0
        self._dead = 0

    # --- bookkeeping -----------------------------------------------------------------------------

    def add(
        self, key: str, node: NodeIdentity, channel: TransportChannel, description: str
    ) -> bool:
        """Adopt an open, handshaken channel; False (and the channel closed) if it is redundant."""
        if self._closed:
            channel.close()
            return False
        if key in self._connections:
            log.warning(
                "existing connection to node [%s], closing new redundant connection", description
            )
            channel.close()
            return False
        conn = ManagedConnection(key, node, channel, description)
        self._connections[key] = conn
        if self._on_error_answer is not None:
            report = self._on_error_answer
            channel.on_error_answer = lambda action, exc: report(conn, action, exc)
        self._opened += 1
        log.debug("connected to node [%s]", description)
        self._tasks.spawn(self._watch(conn), name=f"watch {description}")
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._connections

    def size(self) -> int:
        return len(self._connections)

    def node_count(self) -> int:
        return len({c.node.id for c in self._connections.values()})

    def connections(self) -> tuple[ManagedConnection, ...]:
        return tuple(self._connections.values())

    def any_connection(self) -> ManagedConnection | None:
        """Round-robin over the open connections; None when there is none."""
        live = [c for c in self._connections.values() if c.channel.state is ChannelState.OPEN]
        if not live:
            return None
        return live[next(self._rr) % len(live)]

    # --- liveness --------------------------------------------------------------------------------

    async def _watch(self, conn: ManagedConnection) -> None:
        channel = conn.channel
        try:
            if self.ping_interval is None:
                await channel.wait_closed()
            else:
                await self._ping_until_closed(conn, self.ping_interval)
        finally:
            self._forget(conn)

    async def _ping_until_closed(self, conn: ManagedConnection, interval: float) -> None:
        channel = conn.channel
        tick = interval / 4
        dead_after = 2 * interval
        last_ping = self._clock.monotonic()
        while channel.state is ChannelState.OPEN:
            with contextlib.suppress(TimeoutError):
                async with self._clock.timeout(tick):
                    await channel.wait_closed()
            if channel.state is not ChannelState.OPEN:
                break
            silent = channel.silent_for()
            if silent > dead_after:
                self._dead += 1
                conn.declared_dead = True
                liveness_log.warning(
                    "remote cluster [%s]: no data from [%s] for [%.1fs] (pings every [%ss]); "
                    "closing the connection as dead",
                    self.alias,
                    channel.remote_address,
                    silent,
                    f"{interval:g}",
                )
                channel.abort(f"no data from the peer for [{silent:.1f}s]")
                break
            if self._clock.monotonic() - last_ping >= interval:
                last_ping = self._clock.monotonic()
                try:
                    await channel.ping()
                except IsthmusError:
                    break
        await channel.wait_closed()

    def _forget(self, conn: ManagedConnection) -> None:
        if self._connections.get(conn.key) is conn:
            del self._connections[conn.key]
        if self._closed:
            log.debug(
                "connection manager shut down, closing transport connection to [%s]",
                conn.description,
            )
            return
        if conn.channel.state is ChannelState.BROKEN:
            self._closed_by_remote += 1
            log.info("transport connection to [%s] closed by remote", conn.description)
        else:
            log.debug("closing unused transport connection to [%s]", conn.description)
        self._on_disconnect(conn)

    # --- lifecycle -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every connection and stop watching; idempotent."""
        self._closed = True
        for conn in list(self._connections.values()):
            conn.channel.close()
        await self._tasks.close()
        self._connections.clear()

    def stats(self) -> ManagerStats:
        return ManagerStats(
            connections=len(self._connections),
            nodes=self.node_count(),
            opened=self._opened,
            closed_by_remote=self._closed_by_remote,
            declared_dead=self._dead,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<ClusterConnectionManager [{self.alias}] {state} connections={self.size()} "
            f"nodes={self.node_count()}>"
        )
