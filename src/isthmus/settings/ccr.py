"""Cross-cluster replication settings (ES's ``CcrSettings``).  [no I/O]

- ``ccr.retention_leases.renew_interval`` (node, default ``30s``, at least ``0s``): how often a
  follow task renews the retention lease it holds on each leader shard.
- ``ccr.retention_leases.max_per_shard`` (node, default ``1000``, at least ``1``): how many
  retention leases one leader shard of this node holds at most. Anyone with replication
  privileges may add a lease (one per follower index, ES sets no bound); a bound keeps a
  key holder from growing a shard's lease table without end. An add past it is refused with
  ``illegal_argument_exception`` (renewing a held lease is not an add).
- ``index.xpack.ccr.following_index`` (index, internal): set on a follower index by
  ``PUT _ccr/follow`` and removed by ``unfollow``; while true, the index refuses client writes.
"""

from __future__ import annotations

from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

RENEW_INTERVAL = "ccr.retention_leases.renew_interval"
FOLLOWING_INDEX = "index.xpack.ccr.following_index"
MAX_LEASES_PER_SHARD = "ccr.retention_leases.max_per_shard"
DEFAULT_MAX_LEASES_PER_SHARD = 1000


def _not_negative(value: v.TimeValue) -> None:
    if value.millis < 0:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [0ms]"
        )


def _at_least_one(value: int) -> None:
    if value < 1:
        raise ValueError(
            f"Failed to parse value [{value}] for setting [{MAX_LEASES_PER_SHARD}] must be >= 1"
        )


CCR_SETTINGS: tuple[Setting, ...] = (
    Setting(
        RENEW_INTERVAL,
        v.parse_time,
        v.TimeValue(30_000, "30s"),
        Scope.NODE,
        validator=_not_negative,
    ),
    Setting(
        MAX_LEASES_PER_SHARD,
        v.parse_int,
        DEFAULT_MAX_LEASES_PER_SHARD,
        Scope.NODE,
        validator=_at_least_one,
    ),
    Setting(FOLLOWING_INDEX, v.parse_bool, False, Scope.INDEX),
)
