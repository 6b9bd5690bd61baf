"""The keep-alive reaper of search contexts (ES's ``SearchService.Reaper``).

Point-in-time reader contexts and scroll contexts each live ``keep_alive`` past their last use.
Every lookup already refuses an expired one, but an abandoned context (a client that never
comes back) would hold its shard searcher, and with it the segment files it maps, until the
next request happened to touch its store. ES frees them in the background every
``search.keep_alive_interval`` (a static node setting, default ``1m``); so does this loop, on
the event loop that owns the stores (no lock needed). With nothing open, a round is one
emptiness check per store: the loop costs one wake-up per interval.

The PIT rule ``search.default_keep_alive <= search.max_keep_alive`` is checked here too, at
startup and on every dynamic update (:func:`watch_keep_alives`), with ES's message. What the
stores hold is ``_nodes/stats``' ``indices.search.open_contexts`` (and ``scroll_current``), read
without expiring anything, so the reaper's work shows there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from isthmus.errors import NodeStartupError, SettingsError
from isthmus.settings.search_contexts import (
    DEFAULT_KEEP_ALIVE,
    KEEP_ALIVE_INTERVAL,
    MAX_KEEP_ALIVE,
    validate_keep_alives,
)

if TYPE_CHECKING:
    from isthmus.actions.assembly import NodeActions

# A zero interval is legal in ES (its scheduler then runs the reaper back to back); here a round
# at most every millisecond keeps the event loop serving.
_MIN_SLEEP_S = 0.001


class ExpiringStore(Protocol):
    def expire(self) -> int: ...

    def held_shard_contexts(self) -> int: ...


@dataclass(frozen=True)
class ReaperStats:
    interval_s: float
    rounds: int
    freed: int


class ContextReaper:
    """Frees expired search contexts of ``stores`` every ``interval_s`` seconds."""

    def __init__(
        self,
        stores: Sequence[ExpiringStore],
        interval_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.stores = tuple(stores)
        self.interval_s = interval_s
        self._sleep = sleep
        self._rounds = 0
        self._freed = 0

    def reap(self) -> int:
        """One round: every store frees what expired; how many contexts were freed."""
        freed = sum(store.expire() for store in self.stores)
        self._rounds += 1
        self._freed += freed
        return freed

    async def run(self) -> None:
        """Reap until cancelled (the node's task group owns the task)."""
        while True:
            await self._sleep(max(self.interval_s, _MIN_SLEEP_S))
            self.reap()

    def open_contexts(self) -> int:
        """The shard contexts the stores hold now (``open_contexts`` of ``_nodes/stats``)."""
        return sum(store.held_shard_contexts() for store in self.stores)

    def stats(self) -> ReaperStats:
        return ReaperStats(self.interval_s, self._rounds, self._freed)

    def __repr__(self) -> str:
        return (
            f"<ContextReaper every={self.interval_s}s stores={len(self.stores)} "
            f"rounds={self._rounds} freed={self._freed}>"
        )


class _SettingsGroups(Protocol):
    def add_group(
        self,
        prefix: str,
        validate: Callable[[Mapping[str, Any], Mapping[str, Any], Any], None],
        apply: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None: ...

    def effective(self) -> dict[str, Any]: ...

    # ``_nodes/stats`` ``indices.search``: what the search contexts hold now.
    search_contexts: Callable[[], dict[str, int]] | None


def watch_keep_alives(settings: _SettingsGroups) -> None:
    """Refuse a start, and any dynamic update, whose default keep-alive exceeds the maximum."""
    try:
        validate_keep_alives(settings.effective())
    except SettingsError as exc:
        raise NodeStartupError.configuration(exc.reason) from None

    async def nothing(flat: Mapping[str, Any]) -> None:
        return None  # the actions read both settings when they need them

    for key in (DEFAULT_KEEP_ALIVE, MAX_KEEP_ALIVE):
        settings.add_group(
            key, lambda previous, current, layers: validate_keep_alives(current), nothing
        )


def context_reaper(
    actions: NodeActions, node_settings: Any, settings: _SettingsGroups
) -> ContextReaper:
    """The node's reaper over its scroll and point-in-time contexts, paced by
    ``search.keep_alive_interval``."""
    watch_keep_alives(settings)
    scrolls = actions.search.scrolls
    stores: list[ExpiringStore] = [scrolls]
    if actions.pit is not None:
        stores.append(actions.pit.store)
    reaper = ContextReaper(stores, float(node_settings.get(KEEP_ALIVE_INTERVAL).seconds))

    def search_contexts() -> dict[str, int]:
        return {
            "open_contexts": reaper.open_contexts(),
            "scroll_current": scrolls.held_shard_contexts(),
        }

    settings.search_contexts = search_contexts
    return reaper


__all__ = ["ContextReaper", "ReaperStats", "context_reaper", "watch_keep_alives"]
