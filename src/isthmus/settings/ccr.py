"""Cross-cluster replication settings (ES's ``CcrSettings``).  [no I/O]

- ``ccr.retention_leases.renew_interval`` (node, default ``30s``, at least ``0s``): how often a
  follow task renews the retention lease it holds on each leader shard.
- ``index.xpack.ccr.following_index`` (index, internal): set on a follower index by
  ``PUT _ccr/follow`` and removed by ``unfollow``; while true, the index refuses client writes.
"""

from __future__ import annotations

from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

RENEW_INTERVAL = "ccr.retention_leases.renew_interval"
FOLLOWING_INDEX = "index.xpack.ccr.following_index"


def _not_negative(value: v.TimeValue) -> None:
    if value.millis < 0:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [0ms]"
        )


CCR_SETTINGS: tuple[Setting, ...] = (
    Setting(
        RENEW_INTERVAL,
        v.parse_time,
        v.TimeValue(30_000, "30s"),
        Scope.NODE,
        validator=_not_negative,
    ),
    Setting(FOLLOWING_INDEX, v.parse_bool, False, Scope.INDEX),
)
