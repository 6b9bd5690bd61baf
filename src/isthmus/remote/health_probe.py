"""Background probes that keep the health of idle remote aliases live.

Every ``isthmus.remote.health.probe_interval`` (10 s) :class:`HealthProbes` looks at each alias:

- an alias whose requests wanted a channel within the last interval needs no probe (its traffic
  reports to its health already);
- a disconnected alias is probed by a connect round *through its own strategy*: the round joins
  the one in flight if there is one, so there is never more than one round per alias, however
  slow the remote, and the rounds of one tick start 50 ms apart (never a storm);
- a connected alias with application pings (``transport.ping_schedule``, on by default) needs
  nothing: the pings and their echoes keep its liveness; without pings, one ping per connection
  asks the remote for an echo.

Each tick also reports attempts stuck in one phase for ``probe_timeout`` (a black-holed address
shows as a TCP failure within that time rather than after the 30 s connect timeout). The loop is
owned by the node's task group; :meth:`poke` wakes it when the settings change.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.errors import IsthmusError
from isthmus.settings.remote_health import PREFIX, HealthProbeSettings

if TYPE_CHECKING:
    from isthmus.remote.service import RemoteClusterService

START_SPACING = 0.05  # seconds between two probe rounds of one tick (at most interval/4 in all)


class HealthProbes:
    """The probe loop of one node's remote cluster service."""

    def __init__(
        self,
        service: RemoteClusterService,
        settings: Callable[[], HealthProbeSettings],
        *,
        clock: Clock = SYSTEM_CLOCK,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self.settings = settings
        self._clock = clock
        self._wall = wall
        self._wake = asyncio.Event()
        self.ticks = 0
        self.probes = 0

    def poke(self) -> None:
        """Re-read the settings now (an interval change applies at once)."""
        self._wake.set()

    async def run(self) -> None:
        next_probe: float | None = None
        while True:
            current = self.settings()
            now = self._clock.monotonic()
            if current.interval is None:
                next_probe = None
            elif next_probe is None or next_probe > now + current.interval:
                next_probe = now + current.interval  # first round, or a shorter interval
            # Stuck attempts are looked at every probe_timeout, aliases probed every interval.
            step = current.timeout if next_probe is None else min(current.timeout, next_probe - now)
            with contextlib.suppress(TimeoutError):
                async with self._clock.timeout(max(step, 0.0)):
                    await self._wake.wait()
            self._wake.clear()
            self.check_stuck(current.timeout)
            due = next_probe is not None and self._clock.monotonic() >= next_probe
            if due and current.interval is not None:
                next_probe = self._clock.monotonic() + current.interval
                await self.tick(current.interval)

    def check_stuck(self, timeout: float) -> None:
        for alias in self._service.aliases():
            health = self._service.health.get(alias)
            if health is not None:
                health.check_stuck(timeout)

    async def tick(self, interval: float) -> int:
        """Probe the aliases that had no traffic in the last ``interval``; how many were."""
        self.ticks += 1
        probed = rounds_started = 0
        now = self._clock.monotonic()
        aliases = self._service.aliases()
        for alias in aliases:
            try:
                remote = self._service.get(alias)
            except IsthmusError:  # removed meanwhile, or the role is off
                continue
            health = remote.strategy.health
            if health.last_traffic is not None and now - health.last_traffic < interval:
                continue
            probed += 1
            health.last_probe = self._wall()
            strategy = remote.strategy
            if not strategy.is_connected():
                if rounds_started:
                    # Spread the rounds over a part of the interval: many aliases pointing at
                    # one dead remote must not dial it all at the same instant.
                    await self._clock.sleep(min(START_SPACING, interval / 4 / len(aliases)))
                strategy.connect_in_background("for a health probe")
                rounds_started += 1
            elif strategy.manager.ping_interval is None:
                for conn in strategy.manager.connections():
                    with contextlib.suppress(IsthmusError):
                        await conn.channel.ping()
        self.probes += probed
        return probed

    def __repr__(self) -> str:
        return f"<HealthProbes ticks={self.ticks} probes={self.probes}>"


class SettingsGroups(Protocol):
    """The cluster settings the probes follow (the node's cluster actions)."""

    def effective(self) -> Mapping[str, Any]: ...

    def add_group(
        self,
        prefix: str,
        validate: Callable[[Mapping[str, Any], Mapping[str, Any], Any], None],
        apply: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None: ...


def health_probes_for(service: RemoteClusterService, settings: SettingsGroups) -> HealthProbes:
    """The node's probe loop, reading ``isthmus.remote.health.*`` from the effective settings
    and woken when they change (each key was validated alone by the registry)."""
    probes = HealthProbes(service, lambda: HealthProbeSettings.from_settings(settings.effective()))

    async def changed(flat: Mapping[str, Any]) -> None:
        probes.poke()

    settings.add_group(PREFIX, lambda previous, current, layers: None, changed)
    return probes
