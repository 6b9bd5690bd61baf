"""Cross-cluster replication APIs, follower side (``/<follower>/_ccr/*``, ``/_ccr/stats``).

Each route names ES's action, so the guard authorizes it as ES does: ``put_follow`` and
``unfollow`` are index actions on the follower (``manage_follow_index``), pause and resume are
cluster actions (``manage_ccr``), info and stats are ``cluster:monitor/ccr/*`` (``monitor``).
Auto-follow patterns (``/_ccr/auto_follow[/<name>[/pause|/resume]]``) are
``cluster:admin/xpack/ccr/auto_follow_pattern/*`` (``manage_ccr``).
``PUT _ccr/follow`` also needs what ES's follow checks next: ``manage_ccr`` (it starts the follow
as resume does) and ``write`` and ``monitor`` on the follower (the follow task writes there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.ccr.auto_follow import parse_put_pattern
from isthmus.ccr.follower_index import CcrMetadata, FollowTaskRecord
from isthmus.ccr.params import parse_put_follow, parse_resume_body
from isthmus.cluster.resolve import IndicesOptions, resolve
from isthmus.errors import ResourceNotFoundError
from isthmus.http.handlers.common import MASTER_PARAMS, json_object
from isthmus.http.router import Request, Route, route
from isthmus.wire.names import INDICES_STATS_ACTION

if TYPE_CHECKING:
    from isthmus.ccr.auto_follower import AutoFollower
    from isthmus.ccr.service import CcrService
    from isthmus.security.index_authorization import IndexAuthorization

PUT_FOLLOW_ACTION = "indices:admin/xpack/ccr/put_follow"
RESUME_FOLLOW_ACTION = "cluster:admin/xpack/ccr/resume_follow"
PAUSE_FOLLOW_ACTION = "cluster:admin/xpack/ccr/pause_follow"
UNFOLLOW_ACTION = "indices:admin/xpack/ccr/unfollow"
FOLLOW_INFO_ACTION = "cluster:monitor/ccr/follow_info"
FOLLOW_STATS_ACTION = "cluster:monitor/ccr/follow_stats"
CCR_STATS_ACTION = "cluster:monitor/ccr/stats"
PUT_PATTERN_ACTION = "cluster:admin/xpack/ccr/auto_follow_pattern/put"
GET_PATTERN_ACTION = "cluster:admin/xpack/ccr/auto_follow_pattern/get"
DELETE_PATTERN_ACTION = "cluster:admin/xpack/ccr/auto_follow_pattern/delete"
ACTIVATE_PATTERN_ACTION = "cluster:admin/xpack/ccr/auto_follow_pattern/activate"
# What the follow task does on the follower, checked at follow time (ES checks the user's
# privileges stored with the task when it writes).
_FOLLOWER_WRITE = "indices:data/write/bulk_shard_operations[s]"
_FOLLOWER_MONITOR = INDICES_STATS_ACTION


@dataclass(frozen=True)
class CcrApiDeps:
    """What the CCR handlers use. ``authz`` is None exactly when security is off."""

    ccr: CcrService
    authz: IndexAuthorization | None
    auto_follow: AutoFollower


def routes(s: CcrApiDeps) -> list[Route]:
    service = s.ccr

    async def put_follow(req: Request) -> dict[str, Any]:
        name = req.path_params["index"]
        request = parse_put_follow(
            name,
            json_object(req, required=True),
            req.params.get("wait_for_active_shards"),
            req.params.get("timeout"),
        )
        if s.authz is not None and req.subject is not None:
            authorizer = s.authz.authorizer
            authorizer.check_cluster(req.subject, RESUME_FOLLOW_ACTION)
            authorizer.check_indices(req.subject, _FOLLOWER_WRITE, [name])
            authorizer.check_indices(req.subject, _FOLLOWER_MONITOR, [name])
        return await service.follow(request, req.subject)

    async def pause(req: Request) -> dict[str, Any]:
        return await service.pause(req.path_params["index"])

    async def resume(req: Request) -> dict[str, Any]:
        params = parse_resume_body(json_object(req))
        return await service.resume(req.path_params["index"], params, req.subject)

    async def unfollow(req: Request) -> dict[str, Any]:
        return await service.unfollow(req.path_params["index"])

    def _targets(expression: str | None) -> list[Any]:
        options = IndicesOptions(expand_open=True, expand_closed=True, forbid_closed=False)
        return [t.index for t in resolve(service.cluster.state, expression or "_all", options)]

    async def info(req: Request) -> dict[str, Any]:
        out = []
        for meta in _targets(req.path_params.get("index")):
            ccr = CcrMetadata.of(meta)
            if ccr is None:
                continue
            record = FollowTaskRecord.of(meta)
            entry: dict[str, Any] = {
                "follower_index": meta.name,
                "remote_cluster": ccr.remote_cluster,
                "leader_index": ccr.leader_index_name,
                "status": "active" if record is not None else "paused",
            }
            if record is not None:
                entry["parameters"] = record.parameters.resolved().to_json()
            out.append(entry)
        return {"follower_indices": out}

    async def follow_stats(expression: str | None) -> dict[str, Any]:
        # Followers' tasks run on their primaries' nodes: asked there (isthmus.ccr.follow_stats).
        return await service.stats.response(_targets(expression))

    async def stats(req: Request) -> dict[str, Any]:
        expression = req.path_params.get("index")
        out = await follow_stats(expression)
        if not out["indices"] and expression not in (None, "_all", "*"):
            raise ResourceNotFoundError(
                f"No shard follow tasks for follower indices [{expression}]"
            )
        return out

    async def ccr_stats(req: Request) -> dict[str, Any]:
        return {
            "auto_follow_stats": await s.auto_follow.cluster_stats(),
            "follow_stats": await follow_stats(None),
        }

    async def put_pattern(req: Request) -> dict[str, Any]:
        name = req.path_params["name"]
        pattern = parse_put_pattern(name, json_object(req, required=True))
        await s.auto_follow.put(name, pattern, req.subject)
        return {"acknowledged": True}

    async def get_pattern(req: Request) -> dict[str, Any]:
        return s.auto_follow.get(req.path_params.get("name"))

    async def delete_pattern(req: Request) -> dict[str, Any]:
        await s.auto_follow.delete(req.path_params["name"])
        return {"acknowledged": True}

    async def pause_pattern(req: Request) -> dict[str, Any]:
        await s.auto_follow.activate(req.path_params["name"], False)
        return {"acknowledged": True}

    async def resume_pattern(req: Request) -> dict[str, Any]:
        await s.auto_follow.activate(req.path_params["name"], True)
        return {"acknowledged": True}

    return [
        route(
            "PUT",
            "/{index}/_ccr/follow",
            put_follow,
            params=("wait_for_active_shards", *MASTER_PARAMS),
            action=PUT_FOLLOW_ACTION,
        ),
        route(
            "POST",
            "/{index}/_ccr/pause_follow",
            pause,
            params=MASTER_PARAMS,
            action=PAUSE_FOLLOW_ACTION,
        ),
        route(
            "POST",
            "/{index}/_ccr/resume_follow",
            resume,
            params=MASTER_PARAMS,
            action=RESUME_FOLLOW_ACTION,
        ),
        route(
            "POST", "/{index}/_ccr/unfollow", unfollow, params=MASTER_PARAMS, action=UNFOLLOW_ACTION
        ),
        route("GET", "/{index}/_ccr/info", info, params=MASTER_PARAMS, action=FOLLOW_INFO_ACTION),
        route(
            "GET", "/{index}/_ccr/stats", stats, params=MASTER_PARAMS, action=FOLLOW_STATS_ACTION
        ),
        route("GET", "/_ccr/stats", ccr_stats, params=MASTER_PARAMS, action=CCR_STATS_ACTION),
        route(
            "PUT",
            "/_ccr/auto_follow/{name}",
            put_pattern,
            params=MASTER_PARAMS,
            action=PUT_PATTERN_ACTION,
        ),
        route(
            "GET", "/_ccr/auto_follow", get_pattern, params=MASTER_PARAMS, action=GET_PATTERN_ACTION
        ),
        route(
            "GET",
            "/_ccr/auto_follow/{name}",
            get_pattern,
            params=MASTER_PARAMS,
            action=GET_PATTERN_ACTION,
        ),
        route(
            "DELETE",
            "/_ccr/auto_follow/{name}",
            delete_pattern,
            params=MASTER_PARAMS,
            action=DELETE_PATTERN_ACTION,
        ),
        route(
            "POST",
            "/_ccr/auto_follow/{name}/pause",
            pause_pattern,
            params=MASTER_PARAMS,
            action=ACTIVATE_PATTERN_ACTION,
        ),
        route(
            "POST",
            "/_ccr/auto_follow/{name}/resume",
            resume_pattern,
            params=MASTER_PARAMS,
            action=ACTIVATE_PATTERN_ACTION,
        ),
    ]
