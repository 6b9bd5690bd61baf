"""Scroll pages: ``_search/scroll`` and clearing scrolls (the contexts live in
:mod:`isthmus.actions.scrolls`; ``_search`` with ``scroll`` opens them).

Beyond the first page a context keeps local hits without their source: each page reads its
sources back as of the hits' ``_seq_no``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from isthmus.actions.scrolls import MAX_KEEP_ALIVE_SETTING, MAX_OPEN_SETTING, check_keep_alive
from isthmus.actions.search_hits import SearchHits
from isthmus.actions.search_shard import ShardHit
from isthmus.cluster.routing import ShardId
from isthmus.errors import IllegalArgumentError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.security.authz import Subject
from isthmus.settings.values import parse_time


class SearchScroll(SearchHits):
    """Serving and clearing scroll contexts."""

    def _max_open_scrolls(self) -> int:
        return int(self.cluster.state.typed_setting(MAX_OPEN_SETTING))

    def _max_keep_alive_ms(self) -> int:
        return int(self.cluster.state.typed_setting(MAX_KEEP_ALIVE_SETTING).millis)

    async def _with_sources(
        self, page: list[tuple[ShardHit, IndexMapping]]
    ) -> list[tuple[ShardHit, IndexMapping]]:
        """A scroll page with each local hit's source read back as of the hit's ``_seq_no``:
        one read per shard of the page, in a worker thread."""
        state = self.cluster.state
        wanted: dict[ShardId, list[int]] = {}
        for hit, _ in page:
            meta = state.indices.get(hit.index)
            if not hit.source and ":" not in hit.index and meta is not None:
                key = ShardId(meta.uuid, hit.shard, meta.name)
                wanted.setdefault(key, []).append(hit.seq_no)

        def read() -> dict[ShardId, dict[int, bytes]]:
            found = {}
            for key, seq_nos in wanted.items():
                shard = self.indices.shard(key)
                if shard is not None:  # else the index is gone: its hits went with it
                    found[key] = shard.engine.sources_at(seq_nos)
            return found

        sources = await asyncio.to_thread(read) if wanted else {}
        out = []
        for hit, mapping in page:
            if hit.source or ":" in hit.index:
                out.append((hit, mapping))
                continue
            index = state.indices.get(hit.index)
            shard_sources = (
                sources.get(ShardId(index.uuid, hit.shard, index.name), {}) if index else {}
            )
            source = shard_sources.get(hit.seq_no)
            if source is not None:  # else that version's history was trimmed
                out.append((replace(hit, source=source), mapping))
        return out

    async def scroll(
        self,
        scroll_id: str | None,
        keep_alive: str | None,
        rest_total_hits_as_int: bool = False,
        subject: Subject | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        if not scroll_id:
            raise IllegalArgumentError("Validation Failed: 1: scrollId is missing;")
        ctx = self.scrolls.find(scroll_id, subject)
        if keep_alive is not None:
            keep = parse_time(keep_alive).millis
            check_keep_alive(keep, self._max_keep_alive_ms())
            ctx.keep_alive_ms = keep
        ctx.expires_at = self.clock() + ctx.keep_alive_ms / 1000
        served = ctx.hits[ctx.position : ctx.position + ctx.request.size]
        ctx.position += len(served)
        page = await self._with_sources(served)
        mappings = {h.index: m for h, m in page}
        req = ctx.request
        if rest_total_hits_as_int and not req.rest_total_hits_as_int:
            req = replace(req, rest_total_hits_as_int=True)
        return {
            "_scroll_id": scroll_id,
            "took": int((time.perf_counter() - started) * 1000),
            "timed_out": False,
            "_shards": self._shards_section(ctx.shards, [], self.node_id),
            "hits": self._hits_section(
                req,
                [h for h, _ in page],
                ctx.total,
                max((h.score for h, _ in page if h.score is not None), default=None),
                mappings,
                ctx.restrictions,
            ),
        }

    def clear_scroll(self, ids: list[str], subject: Subject | None = None) -> dict[str, Any]:
        freed = self.scrolls.clear(ids, subject)
        return {"succeeded": True, "num_freed": freed}

    @property
    def open_scrolls(self) -> int:
        return len(self.scrolls)
