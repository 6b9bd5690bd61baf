"""FakeClock keeps asyncio's semantics for sleep and timeout, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.testing.fake_clock import FakeClock, until


async def test_sleeps_wake_in_deadline_order_at_their_instants() -> None:
    clock = FakeClock(start=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("late", 2.0))
        tg.create_task(sleeper("early", 0.5))
        tg.create_task(sleeper("never", 10.0))
        await clock.advance(1.999)
        assert woke == [("early", 0.5)]
        await clock.advance(0.001)
        assert woke == [("early", 0.5), ("late", 2.0)]
        assert clock.monotonic() == 2.0
        assert clock.next_deadline == 10.0
        await clock.advance(8.0)
    assert woke[-1] == ("never", 10.0)
    assert clock.next_deadline is None


async def test_timeout_raises_timeout_error_at_its_deadline_only() -> None:
    clock = FakeClock()
    never = asyncio.Event()

    async def bounded() -> None:
        async with clock.timeout(1.0):
            await never.wait()

    task = asyncio.ensure_future(bounded())
    await clock.advance(0.999)
    assert not task.done()
    await clock.advance(0.001)
    assert task.done()
    with pytest.raises(TimeoutError):
        await task


async def test_a_block_that_ends_in_time_is_not_cancelled_later() -> None:
    clock = FakeClock()
    async with clock.timeout(1.0) as cm:
        await asyncio.sleep(0)
    await clock.advance(5.0)  # the cancelled deadline does not fire into this task
    assert not cm.expired()
    async with clock.timeout(None):
        await clock.advance(100.0)


async def test_an_outer_cancel_is_not_turned_into_a_timeout() -> None:
    clock = FakeClock()
    started = asyncio.Event()

    async def bounded() -> None:
        async with clock.timeout(1.0):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(bounded())
    await until(started.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_zero_timeout_expires_without_advancing() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError):
        async with clock.timeout(0):
            await asyncio.Event().wait()


async def test_advance_until_jumps_timer_to_timer_and_gives_up_at_its_limit() -> None:
    clock = FakeClock(start=0.0)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(0.25)
            ticks.append(clock.monotonic())

    task = asyncio.ensure_future(ticker())
    assert await clock.advance_until(lambda: len(ticks) == 3, limit=5) == 0.75
    with pytest.raises(TimeoutError, match=r"after \[0.1s\]"):
        await clock.advance_until(lambda: False, limit=0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [FakeClock(), SYSTEM_CLOCK]
    assert [type(c).__name__ for c in clocks] == ["FakeClock", "SystemClock"]
    assert "FakeClock now=" in repr(clocks[0])
