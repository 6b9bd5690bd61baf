"""The keep-alive reaper (ES's SearchService.Reaper): expired point-in-time and scroll contexts
are freed in the background, with no request touching their stores; with nothing open a round
does no work; ``search.default_keep_alive`` may not exceed ``search.max_keep_alive``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from isthmus.actions.pit_contexts import PitStore, ReaderContext
from isthmus.actions.scrolls import ScrollContext, ScrollStore
from isthmus.actions.search_context_reaper import ContextReaper
from isthmus.errors import SettingsError
from isthmus.search.request import SearchRequest
from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope
from isthmus.settings.search_contexts import validate_keep_alives


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def _reader(expires: float) -> ReaderContext:
    fake: Any = None
    return ReaderContext(fake, 0, fake, fake, None, 10_000, expires)


def _scroll(expires: float) -> ScrollContext:
    return ScrollContext(SearchRequest(), [], 0, expires, 10_000, 0, 1, None)


def test_expired_contexts_are_freed_in_the_background() -> None:
    clock = Clock()
    pits, scrolls = PitStore(clock), ScrollStore(clock)
    pits.open([_reader(1010.0), _reader(1100.0)], max_open=10, owner=None)
    scrolls.open("a", _scroll(1010.0), max_open=10)
    scrolls.open("b", _scroll(1100.0), max_open=10)
    reaper = ContextReaper([pits, scrolls], interval_s=0.001)

    async def scenario() -> None:
        task = asyncio.create_task(reaper.run())
        try:
            await asyncio.sleep(0.01)
            assert reaper.stats().freed == 0  # nothing expired yet
            clock.now = 1050.0  # past the first of each, before the others
            for _ in range(200):
                await asyncio.sleep(0.001)
                if reaper.stats().freed == 2:
                    break
        finally:
            task.cancel()

    asyncio.run(scenario())
    assert reaper.stats().freed == 2 and reaper.stats().rounds > 1
    # Freed without any lookup (a lookup would have expired them itself).
    assert "open=1" in repr(pits) and "open=1" in repr(scrolls)


def test_a_round_with_nothing_open_does_no_work() -> None:
    clock = Clock()
    reaper = ContextReaper([PitStore(clock), ScrollStore(clock)], interval_s=60.0)
    for _ in range(1000):
        reaper.reap()
    assert clock.reads == 0  # not even the clock is read


def test_keep_alive_interval_is_a_static_node_setting() -> None:
    setting = find("search.keep_alive_interval", [Scope.NODE])
    assert setting is not None and not setting.dynamic
    assert setting.coerce("search.keep_alive_interval", "250ms").millis == 250
    assert setting.default.millis == 60_000
    with pytest.raises(SettingsError) as info:
        setting.coerce("search.keep_alive_interval", "1x")
    assert "search.keep_alive_interval" in info.value.reason


def test_default_keep_alive_may_not_exceed_the_maximum() -> None:
    validate_keep_alives({})  # ES's defaults: 5m <= 24h
    validate_keep_alives({"search.default_keep_alive": "1h", "search.max_keep_alive": "1h"})
    with pytest.raises(SettingsError) as info:
        validate_keep_alives({"search.default_keep_alive": "10h", "search.max_keep_alive": "5h"})
    assert info.value.reason == (
        "Default keep alive setting for request [search.default_keep_alive] should be smaller "
        "than max keep alive [search.max_keep_alive], was (10h > 5h)"
    )
    with pytest.raises(SettingsError):
        validate_keep_alives({"search.max_keep_alive": "1m"})  # below the 5m default
