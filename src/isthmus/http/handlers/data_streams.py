"""Data stream APIs: ``/_data_stream`` (create, get, delete, stats, promote) and
``<target>/_rollover``.

Authorized as index actions on the stream's name (ES: ``create_index``/``manage`` to create,
``delete_index``/``manage`` to delete, ``view_index_metadata`` to get, ``manage`` to roll over,
``manage_follow_index``/``manage`` to promote);
the guard narrows wildcards to the streams the caller may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus import ES_COMPAT_VERSION
from isthmus.cluster.resolve import IndicesOptions
from isthmus.http.handlers.common import MASTER_PARAMS, bool_param, json_object
from isthmus.http.router import Request, Response, Route, route

if TYPE_CHECKING:
    from isthmus.actions.data_streams import DataStreamActions

GET_PARAMS = ("expand_wildcards", "include_defaults", "verbose", "master_timeout")
ROLLOVER_PARAMS = ("dry_run", "lazy", "wait_for_active_shards", *MASTER_PARAMS)


@dataclass(frozen=True)
class DataStreamsApiDeps:
    data_streams: DataStreamActions


def _warned(body: dict[str, Any], warnings: list[str]) -> Response:
    """ES sends each warning as a ``Warning`` header (``299 Elasticsearch-<version>``)."""
    from isthmus.actions.cluster import BUILD_HASH

    prefix = f"299 Elasticsearch-{ES_COMPAT_VERSION}-{BUILD_HASH}"
    headers: dict[str, str | list[str]] = {"Warning": [f'{prefix} "{w}"' for w in warnings]}
    return Response(200, body, headers=headers if warnings else {})


def routes(s: DataStreamsApiDeps) -> list[Route]:
    act = s.data_streams

    async def create(req: Request) -> dict[str, Any]:
        return await act.create(req.path_params["index"])

    async def get(req: Request) -> dict[str, Any]:
        IndicesOptions.from_params(req.params)  # ES's error for a wildcard state it lacks
        return act.get(req.path_params.get("index"), req.params)

    async def delete(req: Request) -> dict[str, Any]:
        IndicesOptions.from_params(req.params)  # refused before anything is deleted
        return await act.delete(req.path_params["index"])

    async def stats(req: Request) -> dict[str, Any]:
        IndicesOptions.from_params(req.params)
        return await act.stats(req.path_params.get("index"))

    async def rollover(req: Request) -> dict[str, Any]:
        # ES's boolean parameters: another value is refused before anything rolls over.
        bool_param(req, "dry_run")
        bool_param(req, "lazy")
        return await act.rollover(
            req.path_params["index"],
            req.path_params.get("new_index"),
            json_object(req),
            req.params,
        )

    async def promote(req: Request) -> Response:
        warnings = await act.promote(req.path_params["index"])
        return _warned({"acknowledged": True}, warnings)

    get_action, stats_action = "indices:admin/data_stream/get", "indices:monitor/data_stream/stats"
    return [
        route("PUT", "/_data_stream/{index}", create, params=MASTER_PARAMS, action="indices:admin/data_stream/create"),
        route("GET", "/_data_stream", get, params=GET_PARAMS, action=get_action),
        route("GET", "/_data_stream/{index}", get, params=GET_PARAMS, action=get_action),
        route("DELETE", "/_data_stream/{index}", delete, params=("expand_wildcards", *MASTER_PARAMS), action="indices:admin/data_stream/delete"),
        route("GET", "/_data_stream/_stats", stats, params=("expand_wildcards",), action=stats_action),
        route("GET", "/_data_stream/{index}/_stats", stats, params=("expand_wildcards",), action=stats_action),
        route("POST", "/_data_stream/_promote/{index}", promote, params=MASTER_PARAMS, action="indices:admin/data_stream/promote"),
        route("POST", "/{index}/_rollover", rollover, params=ROLLOVER_PARAMS, action="indices:admin/rollover"),
        route("POST", "/{index}/_rollover/{new_index}", rollover, params=ROLLOVER_PARAMS, action="indices:admin/rollover"),
    ]  # fmt: skip


__all__ = ["DataStreamsApiDeps", "routes"]
