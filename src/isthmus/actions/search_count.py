"""``_count`` (coordinating side): each shard counts its matches in the search pool; the
counts are summed, with ``terminate_after`` applied per shard as ES's collector does.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from isthmus.actions.search_query_phase import SearchQueryPhase
from isthmus.actions.search_shard import count_shard
from isthmus.actions.search_targets import _restriction
from isthmus.errors import (
    IllegalArgumentError,
    IsthmusError,
    ParsingError,
    SearchPhaseExecutionError,
)
from isthmus.search import dsl
from isthmus.security.field_level import IndexRestrictions


class SearchCount(SearchQueryPhase):
    """``_count`` over the shards (in a cluster of several nodes, wherever they are)."""

    async def count(
        self,
        expression: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None = None,
    ) -> dict[str, Any]:
        """``_count``; ``restrictions`` as for :meth:`search`."""
        body = dict(body or {})
        for key in body:
            if key != "query":
                raise ParsingError(f"request does not support [{key}]")
        query: dsl.Query = dsl.parse_query(body["query"]) if "query" in body else dsl.MatchAll()
        if "q" in params:
            qs: dict[str, Any] = {"query": params["q"]}
            if "df" in params:
                qs["default_field"] = params["df"]
            if "default_operator" in params:
                qs["default_operator"] = params["default_operator"]
            query = dsl.parse_query({"query_string": qs})
        if self.distributed:
            return await self._count_across_nodes(expression, body, params, restrictions)
        now_ms = int(self.clock() * 1000)
        targets = self._targets(expression, params)
        jobs = []
        for target in targets:
            for shard in self.routed_shards(target.index, params):
                schema, searcher = shard.engine.view()
                jobs.append(
                    self.indices.run_search(
                        functools.partial(
                            count_shard,
                            schema=schema,
                            searcher=searcher,
                            mapping=target.index.mapping,
                            query=query,
                            filters=list(target.filters) if target.filters else None,
                            now_ms=now_ms,
                            restriction=_restriction(restrictions, target.index.name),
                            index=target.index.name,
                        )
                    )
                )
        counts = await asyncio.gather(*jobs, return_exceptions=True)
        limit = count_terminate_after(params)
        if limit is not None:
            # Each shard stops counting at terminate_after, as its collector would.
            stopped = any(isinstance(c, int) and c > limit for c in counts)
            counts = [min(c, limit) if isinstance(c, int) else c for c in counts]
        failures = [c for c in counts if isinstance(c, BaseException)]
        for failure in failures:
            if not isinstance(failure, IsthmusError):
                raise failure
        if failures and len(failures) == len(counts):
            first = failures[0]
            assert isinstance(first, IsthmusError)
            raise SearchPhaseExecutionError(
                "all shards failed",
                caused_by=first,
                status=first.http_status,
                extra={"phase": "query", "grouped": True},
            )
        return {
            "count": sum(c for c in counts if isinstance(c, int)),
            **({} if limit is None else {"terminated_early": stopped}),
            "_shards": {
                "total": len(counts),
                "successful": len(counts) - len(failures),
                "skipped": 0,
                "failed": len(failures),
            },
        }

    async def _count_across_nodes(
        self,
        expression: str | None,
        body: Mapping[str, Any],
        params: Mapping[str, str],
        restrictions: IndexRestrictions | None,
    ) -> dict[str, Any]:
        """``_count`` in a cluster of several nodes: a search for the total only, whose shards
        on other nodes are asked there (ES's count is such a search too)."""
        limit = count_terminate_after(params)
        search_body = {**body, "size": 0, "track_total_hits": True}
        search_params = {k: v for k, v in params.items() if k in _COUNT_SEARCH_PARAMS}
        if limit is not None:
            search_params["terminate_after"] = str(limit)
        req = self.parse(expression, search_body, search_params)
        partial = await self.search_partial(expression, req, search_params, restrictions)
        out: dict[str, Any] = {"count": partial.total}
        if limit is not None:
            out["terminated_early"] = bool(partial.terminated_early)
        out["_shards"] = self.shards_section(partial)
        return out


# What a count hands its search: how to read ``q`` and which shards and copies it reaches.
_COUNT_SEARCH_PARAMS = frozenset(
    {
        "q",
        "df",
        "default_operator",
        "analyzer",
        "analyze_wildcard",
        "lenient",
        "preference",
        "routing",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
    }
)


def count_terminate_after(params: Mapping[str, str]) -> int | None:
    """``_count``'s ``terminate_after`` parameter (0: none; negative: ES's error)."""
    raw = params.get("terminate_after")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise IllegalArgumentError(
            f"Failed to parse int parameter [terminate_after] with value [{raw}]"
        ) from None
    if value < 0:
        raise IllegalArgumentError("terminateAfter must be > 0")
    return value or None
