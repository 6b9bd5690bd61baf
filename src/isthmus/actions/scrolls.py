"""Scroll contexts: who owns them, how many may be open, how long they live.

A scroll context keeps the ordered hits of one search so later pages come from the same point in
time. It is bound to the subject that opened it (ES binds scroll and async-search ids to the
authenticated user; Isthmus binds PIT ids too, see :mod:`isthmus.actions.pit_contexts`): anyone else is told
it does not exist, so an id never leaks what it searched. The number of open contexts is bounded by ``search.max_open_scroll_context`` and their
keep-alive by ``search.max_keep_alive``, with ES's errors.

Local hits are kept without their ``_source`` (the context holds ids and sort values, not the
documents); a page reads each document's source as of the hit's ``_seq_no`` from the shard's
operation history, which is what the hit saw. Hits of other clusters keep their bytes (they
cannot be read again here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.errors import (
    IllegalArgumentError,
    SearchContextMissingError,
    TooManyScrollContextsError,
)
from isthmus.security.ownership import Owner
from isthmus.settings.values import human_time

if TYPE_CHECKING:
    from isthmus.actions.search_shard import ShardHit
    from isthmus.index.mapping import Mapping as IndexMapping
    from isthmus.search.request import SearchRequest
    from isthmus.security.authz import Subject
    from isthmus.security.field_level import IndexRestrictions

MAX_OPEN_SETTING = "search.max_open_scroll_context"
MAX_KEEP_ALIVE_SETTING = "search.max_keep_alive"


@dataclass
class ScrollContext:
    request: SearchRequest
    hits: list[tuple[ShardHit, IndexMapping]]
    position: int
    expires_at: float
    keep_alive_ms: int
    total: int
    shards: int
    owner: Owner | None
    restrictions: IndexRestrictions | None = None


def check_keep_alive(keep_alive_ms: int, max_keep_alive_ms: int) -> None:
    """ES's limit on a scroll's keep-alive, with its message."""
    if keep_alive_ms > max_keep_alive_ms:
        raise IllegalArgumentError(
            f"Keep alive for request ({human_time(keep_alive_ms)}) is too large. It must be less "
            f"than ({human_time(max_keep_alive_ms)}). This limit can be set by changing the "
            f"[{MAX_KEEP_ALIVE_SETTING}] cluster level setting."
        )


class ScrollStore:
    """The open scroll contexts of this node, by id."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._contexts: dict[str, ScrollContext] = {}

    def expire(self) -> int:
        """Free the contexts whose keep-alive ran out; how many."""
        if not self._contexts:
            return 0
        now = self.clock()
        expired = [k for k, c in self._contexts.items() if c.expires_at <= now]
        for key in expired:
            del self._contexts[key]
        return len(expired)

    def open(self, scroll_id: str, ctx: ScrollContext, max_open: int) -> None:
        self.expire()
        if len(self._contexts) >= max_open:
            raise TooManyScrollContextsError(
                "Trying to create too many scroll contexts. Must be less than or equal to: "
                f"[{max_open}]. This limit can be set by changing the [{MAX_OPEN_SETTING}] "
                "setting."
            )
        self._contexts[scroll_id] = ctx

    def find(self, scroll_id: str, subject: Subject | None) -> ScrollContext:
        """The context, when ``subject`` owns it; ES's 404 otherwise (never "not yours")."""
        self.expire()
        ctx = self._contexts.get(scroll_id)
        if ctx is None or not Owner.may_access(ctx.owner, subject):
            raise SearchContextMissingError(f"No search context found for id [{scroll_id}]")
        return ctx

    def clear(self, ids: list[str], subject: Subject | None) -> int:
        """Free the contexts ``subject`` owns among ``ids`` (``_all``: all of its own)."""
        self.expire()
        if ids == ["_all"]:
            ids = list(self._contexts)
        freed = 0
        for scroll_id in ids:
            ctx = self._contexts.get(scroll_id)
            if ctx is not None and Owner.may_access(ctx.owner, subject):
                del self._contexts[scroll_id]
                freed += 1
        return freed

    def __len__(self) -> int:
        return len(self._contexts)

    def held_shard_contexts(self) -> int:
        """The shard contexts the open scrolls stand for, expired or not (ES counts a scroll's
        context on each of its shards); nothing is expired by asking."""
        return sum(ctx.shards for ctx in list(self._contexts.values()))

    def __repr__(self) -> str:
        return f"<ScrollStore open={len(self._contexts)}>"


__all__ = [
    "MAX_KEEP_ALIVE_SETTING",
    "MAX_OPEN_SETTING",
    "ScrollContext",
    "ScrollStore",
    "TooManyScrollContextsError",
    "check_keep_alive",
    "human_time",
]
