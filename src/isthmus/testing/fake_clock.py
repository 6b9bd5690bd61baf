"""A clock whose time moves only when the test says so (trio's ``MockClock``, for asyncio).

:class:`FakeClock` implements :class:`isthmus.clock.Clock`. Its time stands still until the test
calls :meth:`FakeClock.advance` (move by a duration) or :meth:`FakeClock.advance_until` (jump from
timer to timer until a condition holds); every sleep and deadline due on the way fires at its own
instant, in order, and the event loop runs after each so that what it woke can react (send a
ping, answer it) before the next one fires. Timeouts and pings therefore take no wall time and
happen at exact instants a test can assert on.

Only time is virtual: the event loop still runs callbacks and I/O as usual. :func:`until` lets a
test wait for work that needs no time (an answer crossing an in-memory connection) without
sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

# Loop passes that let woken tasks and in-memory transfers finish before time moves on; an
# answer across a memory connection needs a handful.
SETTLE_PASSES = 64


def _ns(seconds: float) -> int:
    # Time is kept in integer nanoseconds so that steps add up exactly (0.199 + 0.001 == 0.2).
    return round(seconds * 1_000_000_000)


@dataclass(order=True)
class _Timer:
    deadline: int  # nanoseconds
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Virtual monotonic time with sleeps and deadlines that fire when the test advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = _ns(start)
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    # --- isthmus.clock.Clock ---------------------------------------------------------------------

    def monotonic(self) -> float:
        return self._now / 1_000_000_000

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        timer = self._call_at(self._now + _ns(seconds), wake)
        try:
            await woken
        finally:
            timer.cancel()

    def timeout(self, seconds: float | None) -> FakeTimeout:
        return FakeTimeout(self, seconds)

    # --- driving time ----------------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing each timer due on the way at its instant."""
        if seconds < 0:
            raise ValueError("time cannot go back")
        target = self._now + _ns(seconds)
        await settle()
        while (timer := self._next_timer()) is not None and timer.deadline <= target:
            await self._fire(timer)
        self._now = target
        await settle()

    async def advance_until(self, check: Callable[[], Any], *, limit: float) -> float:
        """Jump from timer to timer until ``check()`` is true; the virtual seconds that took.
        Raises ``TimeoutError`` when it is still false after ``limit`` seconds."""
        start = self._now
        end = start + _ns(limit)
        await settle()
        while not check():
            timer = self._next_timer()
            if timer is None or timer.deadline > end:
                self._now = max(self._now, end)
                raise TimeoutError(f"condition still false after [{limit}s] of virtual time")
            await self._fire(timer)
        return (self._now - start) / 1_000_000_000

    @property
    def next_deadline(self) -> float | None:
        """When the earliest pending timer fires (None: nothing is waiting on time)."""
        timer = self._next_timer()
        return None if timer is None else timer.deadline / 1_000_000_000

    # --- internals -------------------------------------------------------------------------------

    def _call_at(self, deadline: int, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(deadline, next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def _next_timer(self) -> _Timer | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0] if self._timers else None

    async def _fire(self, timer: _Timer) -> None:
        heapq.heappop(self._timers)
        self._now = max(self._now, timer.deadline)
        timer.callback()
        await settle()

    def __repr__(self) -> str:
        pending = sum(1 for t in self._timers if not t.cancelled)
        return f"<FakeClock now={self.monotonic():.3f} timers={pending}>"


class FakeTimeout:
    """``asyncio.timeout`` on a :class:`FakeClock`: asyncio's own ``Timeout`` does the
    cancelling and the ``TimeoutError``; the clock only decides when it expires."""

    def __init__(self, clock: FakeClock, seconds: float | None) -> None:
        self._clock = clock
        self._seconds = seconds
        self._inner = asyncio.timeout(None)
        self._timer: _Timer | None = None

    async def __aenter__(self) -> FakeTimeout:
        await self._inner.__aenter__()
        if self._seconds is not None:
            if self._seconds <= 0:
                self._expire()
            else:
                self._timer = self._clock._call_at(
                    self._clock._now + _ns(self._seconds), self._expire
                )
        return self

    def _expire(self) -> None:
        # A deadline at or before the loop's "now" makes asyncio cancel the block on its next pass.
        self._inner.reschedule(asyncio.get_running_loop().time())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if self._timer is not None:
            self._timer.cancel()
        await self._inner.__aexit__(exc_type, exc, tb)  # raises TimeoutError when it expired
        return None

    def expired(self) -> bool:
        return self._inner.expired()


async def settle(passes: int = SETTLE_PASSES) -> None:
    """Let the event loop run ``passes`` times without any time passing."""
    for _ in range(passes):
        await asyncio.sleep(0)


async def until(check: Callable[[], Any], *, passes: int = 10_000) -> Any:
    """Run the loop (no time passes) until ``check()`` is true and return its value; an
    ``AssertionError`` if it is still false after ``passes`` loop passes."""
    for _ in range(passes):
        if result := check():
            return result
        await asyncio.sleep(0)
    raise AssertionError(f"still false after {passes} loop passes: {check}")
