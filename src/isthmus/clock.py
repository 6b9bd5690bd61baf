"""Time as a dependency: what a component that reads the time, sleeps or sets deadlines takes.

Components with timing behaviour (channels, connection managers, remote-cluster strategies) take a
:class:`Clock` as a constructor parameter whose default, :data:`SYSTEM_CLOCK`, is exactly what
they used before: ``time.monotonic``, ``asyncio.sleep`` and ``asyncio.timeout``. Tests pass
:class:`isthmus.testing.fake_clock.FakeClock` instead, so that pings, silence deadlines and
request timeouts run in virtual time: instantly, and at exact instants.

A clock only measures and waits; it never decides what a deadline means (that stays with the
component, which also chooses the error a missed deadline becomes).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class Clock(Protocol):
    """Monotonic time, sleeping, and deadlines, all on one time line."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` on this clock."""
        ...

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[object]:
        """A block that is cancelled after ``seconds`` on this clock and then raises
        ``TimeoutError`` (as ``asyncio.timeout``); ``None`` sets no deadline."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``asyncio.sleep`` and ``asyncio.timeout``."""

    # time.monotonic itself, not a wrapper: channels read it on every received chunk.
    monotonic = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    # asyncio.timeout itself: a request with a deadline pays no extra call for the indirection.
    timeout = staticmethod(asyncio.timeout)

    def __repr__(self) -> str:
        return "<SystemClock>"


SYSTEM_CLOCK: Clock = SystemClock()
