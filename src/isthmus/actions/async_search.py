"""Async search: ``POST /<expr>/_async_search``, ``GET``/``DELETE /_async_search/<id>``,
``GET /_async_search/status/<id>``.

A submitted search runs as a background task owned by this component; the submit call waits up
to ``wait_for_completion_timeout`` (1 s) and answers with the result or with the search's
progress: ``is_running``/``is_partial`` and, across clusters, the ``_clusters`` section with each
cluster ``running`` until it answers. As in ES, ``ccs_minimize_roundtrips`` defaults to false here.
Results are kept ``keep_alive`` (5 d) in this node's memory (ES keeps them in an index), and only
the user who submitted a search may read or delete it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from isthmus.actions.ccs_search import CrossClusterSearch
from isthmus.errors import IllegalArgumentError, IsthmusError, ResourceNotFoundError
from isthmus.rawjson import RawJson
from isthmus.search.ccs_merge import ClusterPart, clusters_section
from isthmus.security.field_level import IndexRestrictions
from isthmus.security.ownership import Owner
from isthmus.settings.values import parse_time
from isthmus.supervision import TaskSet

if TYPE_CHECKING:
    from isthmus.actions.pit import PointInTimeActions
    from isthmus.security.authz import Subject

log = logging.getLogger("org.elasticsearch.xpack.search.TransportSubmitAsyncSearchAction")

ASYNC_PARAMS = ("wait_for_completion_timeout", "keep_on_completion", "keep_alive")


@dataclass
class _Entry:
    id: str
    owner: Owner | None  # the subject that submitted it (ES binds async-search ids)
    start_ms: int
    expiration_ms: int
    keep_on_completion: bool
    parts: list[ClusterPart] = field(default_factory=list)
    task: asyncio.Task[dict[str, Any]] | None = None
    completion_ms: int | None = None
    response: dict[str, Any] | None = None
    error: IsthmusError | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class AsyncSearchActions:
    def __init__(
        self,
        ccs: CrossClusterSearch,
        clock: Callable[[], float] = time.time,
        pit: PointInTimeActions | None = None,
    ) -> None:
        self.ccs = ccs
        self.pit = pit  # a body with ``pit`` searches the point in time
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._tasks = TaskSet("async search", log)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def submit(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        subject: Subject | None,
        restrictions: IndexRestrictions | None,
    ) -> tuple[int, dict[str, Any]]:
        self._expire()
        search_params = {k: v for k, v in params.items() if k not in ASYNC_PARAMS}
        search_params.setdefault("ccs_minimize_roundtrips", "false")
        wait = parse_time(params.get("wait_for_completion_timeout", "1s")).seconds
        keep_alive = parse_time(params.get("keep_alive", "5d")).millis
        now = self._now_ms()
        entry = _Entry(
            id=_new_id(),
            owner=Owner.of(subject),
            start_ms=now,
            expiration_ms=now + keep_alive,
            keep_on_completion=params.get("keep_on_completion") == "true",
        )
        entry.task = self._tasks.spawn(
            self._run(entry, expression, body, search_params, subject, restrictions),
            name=f"async search [{entry.id}]",
        )
        self._entries[entry.id] = entry
        await self._wait(entry, wait)
        if not entry.running and not entry.keep_on_completion:
            del self._entries[entry.id]
            return self._render(entry, with_id=False)
        return self._render(entry, with_id=True)

    async def _run(
        self,
        entry: _Entry,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        subject: Subject | None,
        restrictions: IndexRestrictions | None,
    ) -> dict[str, Any]:
        try:
            if body is not None and "pit" in body and self.pit is not None:
                # Authorized on the PIT's indices (the path names none, or ES's 400).
                response = await self.pit.search_with_pit(
                    expression is not None, body, params, subject
                )
            else:
                response = await self.ccs.run(
                    expression, body, params, subject, restrictions, progress=entry.parts
                )
            limit = self._max_response_size()
            if _encoded_size(response) > limit:
                # Kept in memory until it expires: bounded as ES bounds what it stores.
                raise IllegalArgumentError(
                    f"Can't store an async search response larger than [{limit}] bytes. This "
                    f"limit can be set by changing the [{MAX_RESPONSE_SIZE_SETTING}] setting."
                )
            entry.response = response
        except IsthmusError as exc:
            entry.error = exc
        except Exception as exc:  # a bug: answered as ES's generic exception, logged once
            log.exception("async search [%s] failed", entry.id)
            entry.error = IsthmusError(f"{type(exc).__name__}: {exc}")
        finally:
            entry.completion_ms = self._now_ms()
        return entry.response or {}

    def _max_response_size(self) -> int:
        return int(self.ccs.search.cluster.state.typed_setting(MAX_RESPONSE_SIZE_SETTING))

    @staticmethod
    async def _wait(entry: _Entry, seconds: float) -> None:
        if entry.task is None or seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(entry.task), seconds)

    def _find(self, search_id: str, subject: Subject | None, *, any_owner: bool = False) -> _Entry:
        self._expire()
        entry = self._entries.get(search_id)
        if entry is None or not (any_owner or Owner.may_access(entry.owner, subject)):
            raise ResourceNotFoundError(search_id)
        return entry

    async def get(
        self, search_id: str, params: Mapping[str, str], subject: Subject | None
    ) -> tuple[int, dict[str, Any]]:
        entry = self._find(search_id, subject)
        if "keep_alive" in params:
            entry.expiration_ms = self._now_ms() + parse_time(params["keep_alive"]).millis
        if "wait_for_completion_timeout" in params:
            await self._wait(entry, parse_time(params["wait_for_completion_timeout"]).seconds)
        return self._render(entry, with_id=True)

    def status(
        self, search_id: str, subject: Subject | None, *, any_owner: bool = False
    ) -> dict[str, Any]:
        """``any_owner``: the caller holds ``monitor`` and may read every search's status."""
        entry = self._find(search_id, subject, any_owner=any_owner)
        _, rendered = self._render(entry, with_id=True)
        response = rendered.get("response", {})
        out: dict[str, Any] = {
            "id": entry.id,
            "is_running": entry.running,
            "is_partial": rendered["is_partial"],
            "start_time_in_millis": entry.start_ms,
            "expiration_time_in_millis": entry.expiration_ms,
        }
        if entry.completion_ms is not None and not entry.running:
            out["completion_time_in_millis"] = entry.completion_ms
        if "_shards" in response:
            out["_shards"] = response["_shards"]
        if "_clusters" in response:
            out["_clusters"] = response["_clusters"]
        if not entry.running:
            out["completion_status"] = 200 if entry.error is None else entry.error.http_status
        return out

    async def delete(
        self, search_id: str, subject: Subject | None, *, any_owner: bool = False
    ) -> dict[str, Any]:
        """``any_owner``: the caller may cancel tasks (ES lets it delete any async search)."""
        entry = self._find(search_id, subject, any_owner=any_owner)
        del self._entries[search_id]
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry.task
        return {"acknowledged": True}

    def _expire(self) -> None:
        now = self._now_ms()
        for search_id, entry in list(self._entries.items()):
            if entry.expiration_ms <= now:
                del self._entries[search_id]
                if entry.task is not None and not entry.task.done():
                    entry.task.cancel()

    def _render(self, entry: _Entry, *, with_id: bool) -> tuple[int, dict[str, Any]]:
        running = entry.running
        out: dict[str, Any] = {}
        if with_id:
            out["id"] = entry.id
        response = entry.response if not running else None
        if response is None and entry.error is None:
            response = self._progress(entry)
        partial = running or entry.error is not None
        if response is not None and not running:
            clusters = response.get("_clusters")
            if clusters and (clusters.get("skipped") or clusters.get("partial")):
                partial = True
            if response.get("_shards", {}).get("failed"):
                partial = True
        out["is_partial"] = partial
        out["is_running"] = running
        out["start_time_in_millis"] = entry.start_ms
        out["expiration_time_in_millis"] = entry.expiration_ms
        if not running and entry.completion_ms is not None:
            out["completion_time_in_millis"] = entry.completion_ms
        status = 200
        if entry.error is not None:
            error = entry.error.to_body()
            out["error"] = error["error"]
            status = error["status"]
        else:
            out["response"] = response
        return status, out

    def _progress(self, entry: _Entry) -> dict[str, Any]:
        """What a running search shows: no hits yet, each cluster's status so far."""
        body: dict[str, Any] = {
            "took": max(0, self._now_ms() - entry.start_ms),
            "timed_out": False,
            "terminated_early": False,
            "num_reduce_phases": 0,
            "_shards": {"total": 0, "successful": 0, "skipped": 0, "failed": 0},
        }
        if entry.parts:
            body["_clusters"] = clusters_section(entry.parts)
        body["hits"] = {"total": {"value": 0, "relation": "gte"}, "max_score": None, "hits": []}
        return body

    async def close(self) -> None:
        await self._tasks.close()
        self._entries.clear()

    def __repr__(self) -> str:
        running = sum(1 for e in self._entries.values() if e.running)
        return f"<AsyncSearchActions stored={len(self._entries)} running={running}>"


# Registered in settings/registry.py (ES's default, 10mb).
MAX_RESPONSE_SIZE_SETTING = "search.max_async_search_response_size"


def _encoded_size(response: Mapping[str, Any]) -> int:
    def default(value: Any) -> Any:
        return value.fragment() if isinstance(value, RawJson) else str(value)

    return len(orjson.dumps(response, option=orjson.OPT_NON_STR_KEYS, default=default))


def _new_id() -> str:
    """A URL-safe random id that never starts with ``_`` (the router keeps those path
    segments for endpoints such as ``_status``)."""
    while True:
        candidate = (
            base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:8])
            .decode()
            .rstrip("=")
        )
        if not candidate.startswith(("_", "-")):
            return candidate
