"""``_stats``: the sections of ES's indices stats, summed over shards, for the metrics asked.

ES names its metrics after ``CommonStatsFlags.Flag``; ``/_stats/<metric>`` (a comma list) shows
only those sections, ``_all`` (the default) every one. A name ES does not know is its 400 with a
"did you mean"; ``_all`` mixed with names is refused. Isthmus keeps the sections listed in
:data:`TRACKED`; a known metric it does not track is shown as no section rather than invented
numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from isthmus.errors import IllegalArgumentError
from isthmus.xcontent import did_you_mean

# ES's CommonStatsFlags rest names (the metrics ``/_stats/{metric}`` accepts).
METRICS = (
    "store",
    "indexing",
    "get",
    "search",
    "merge",
    "flush",
    "refresh",
    "query_cache",
    "fielddata",
    "docs",
    "warmer",
    "completion",
    "segments",
    "translog",
    "request_cache",
    "recovery",
    "bulk",
    "shard_stats",
    "mappings",
    "dense_vector",
    "sparse_vector",
)
# The sections Isthmus measures, in the order ES's CommonStats writes them.
TRACKED = ("docs", "shard_stats", "store", "indexing")


def parse_metrics(path: str, raw: str | None) -> frozenset[str]:
    """The metrics a request asks for (every one when none or ``_all`` is named)."""
    names = {m.strip() for m in (raw or "_all").split(",") if m.strip()} or {"_all"}
    if names == {"_all"}:
        return frozenset(METRICS)
    if "_all" in names:
        raise IllegalArgumentError(f"request [{path}] contains _all and individual metrics [{raw}]")
    unknown = sorted(names - set(METRICS))
    if unknown:
        noun = "metric" if len(unknown) == 1 else "metrics"
        pieces = [f"[{name}]" + _arrow(did_you_mean(name, METRICS)) for name in unknown]
        raise IllegalArgumentError(
            f"request [{path}] contains unrecognized {noun}: {', '.join(pieces)}"
        )
    return frozenset(names)


def _arrow(tail: str) -> str:
    # did_you_mean() answers " did you mean [x]?"; ES's unrecognized() joins it with " ->".
    return f" ->{tail}" if tail else ""


@dataclass(frozen=True, slots=True)
class ShardNumbers:
    """What one shard copy contributes to the sections."""

    docs: int
    deleted: int
    store_bytes: int
    index_total: int
    noop_updates: int


def sections(shards: Iterable[ShardNumbers], metrics: frozenset[str]) -> dict[str, Any]:
    """The summed sections of the asked metrics (ES's CommonStats body)."""
    docs = deleted = size = indexed = noops = count = 0
    for shard in shards:
        docs += shard.docs
        deleted += shard.deleted
        size += shard.store_bytes
        indexed += shard.index_total
        noops += shard.noop_updates
        count += 1
    every = {
        "docs": {"count": docs, "deleted": deleted},
        "shard_stats": {"total_count": count},
        "store": {
            "size_in_bytes": size,
            "total_data_set_size_in_bytes": size,
            "reserved_in_bytes": 0,
        },
        "indexing": {"index_total": indexed, "noop_update_total": noops},
    }
    return {name: every[name] for name in TRACKED if name in metrics}


__all__ = ["METRICS", "TRACKED", "ShardNumbers", "parse_metrics", "sections"]
