"""``POST /{index}/_ccr/forget_follower``: the leader cluster's side of cross-cluster replication.

Run on the cluster that holds the leader index, it removes one follower's retention leases from
every shard of that index (ES's ``ForgetFollowerAction``; needs the ``manage_leader_index``
index privilege) and answers with ES's broadcast ``_shards`` summary: a shard that holds no such
lease is a failed shard. It does not stop a follower that still follows (it adds its leases back
at its next renewal). The follower side's APIs are in :mod:`isthmus.http.handlers.ccr`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.errors import IllegalArgumentError, XContentParseError
from isthmus.http.handlers.common import json_object
from isthmus.http.router import Request, Route, route
from isthmus.xcontent import unknown_field

if TYPE_CHECKING:
    from isthmus.ccr.leader import LeaderShards

FORGET_FOLLOWER_ACTION = "indices:admin/xpack/ccr/forget_follower"
_FIELDS = ("follower_cluster", "follower_index", "follower_index_uuid", "leader_remote_cluster")


@dataclass(frozen=True)
class CcrLeaderApiDeps:
    leader: LeaderShards


def forget_follower_body(body: dict[str, Any] | None) -> dict[str, str]:
    """The request's four strings, refused as ES's parser refuses them."""
    body = body or {}
    for key, value in body.items():
        if key not in _FIELDS:
            raise unknown_field(FORGET_FOLLOWER_ACTION, key, _FIELDS)
        if not isinstance(value, str):
            raise XContentParseError(
                f"[{FORGET_FOLLOWER_ACTION}] {key} doesn't support values of type: "
                f"{_json_kind(value)}"
            )
    missing = [key for key in _FIELDS if key not in body]
    if missing:
        raise IllegalArgumentError(f"[{FORGET_FOLLOWER_ACTION}] [{missing[0]}] is required")
    return {key: body[key] for key in _FIELDS}


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return (
        "VALUE_NULL"
        if value is None
        else "VALUE_NUMBER"
        if not isinstance(value, bool)
        else "VALUE_BOOLEAN"
    )


def routes(s: CcrLeaderApiDeps) -> list[Route]:
    async def forget_follower(req: Request) -> dict[str, Any]:
        fields = forget_follower_body(json_object(req, required=True))
        index = req.path_params["index"]
        if "," in index or "*" in index:
            raise IllegalArgumentError(f"forget follower needs one leader index, got [{index}]")
        return await s.leader.forget_follower(index, **fields)

    return [
        route(
            "POST",
            "/{index}/_ccr/forget_follower",
            forget_follower,
            params=("timeout",),
            action=FORGET_FOLLOWER_ACTION,
        )
    ]
