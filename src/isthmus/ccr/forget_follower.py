"""``POST /<leader>/_ccr/forget_follower``: remove a follower's retention lease from every shard
of a leader index (ES's ``TransportForgetFollowerAction``, a broadcast over the shards).

Each shard's lease is removed on the node holding its primary (:mod:`isthmus.ccr.leader`
hands the request over in a cluster of several nodes). The answer is ES's broadcast response:
a shard whose removal failed (no such lease, no active primary) is a failure of that shard,
with ES's ``RestStatus`` name and the error as its ``reason``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.cluster.metadata import IndexMetadata
from isthmus.errors import IsthmusError

# remove(meta, lease id, shard number): the lease removed from that shard's primary.
RemoveLease = Callable[[IndexMetadata, str, int], Awaitable[None]]


async def forget_follower(
    meta: IndexMetadata, lease_id: str, remove: RemoveLease
) -> dict[str, Any]:
    """Remove ``lease_id`` from every shard of ``meta``; ES's broadcast answer."""
    failures: list[dict[str, Any]] = []
    for number in range(meta.number_of_shards):
        try:
            await remove(meta, lease_id, number)
        except IsthmusError as exc:
            failures.append(
                {
                    "shard": number,
                    "index": meta.name,
                    "status": status_name(exc.http_status),
                    "reason": exc.to_cause(),
                }
            )
    total = meta.number_of_shards
    return {
        "_shards": {
            "total": total,
            "successful": total - len(failures),
            "failed": len(failures),
            "failures": failures,
        }
    }


def status_name(status: int) -> str:
    """ES's ``RestStatus`` name of an HTTP status, as broadcast failures show it."""
    return {
        400: "BAD_REQUEST",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        409: "CONFLICT",
        429: "TOO_MANY_REQUESTS",
    }.get(status, "INTERNAL_SERVER_ERROR")
