"""ES's shard allocation settings: the deciders' cluster and index settings.  [no I/O]

Read by :mod:`isthmus.cluster.allocation_deciders` from the cluster metadata at every reroute,
so a dynamic update takes effect at the next reroute (the master reroutes after every change).

Cluster settings (dynamic): ``cluster.routing.allocation.{require,include,exclude}.<attr>``
(node filters: ``_name``, ``_id``, ``_host``, ``_ip``, ``_host_ip``, ``_publish_ip`` or a
``node.attr`` name; comma-separated values with ``*`` wildcards),
``cluster.routing.allocation.total_shards_per_node`` (-1: no limit),
``cluster.routing.allocation.awareness.attributes`` and
``cluster.routing.allocation.awareness.force.<attr>.values``,
``cluster.routing.allocation.same_shard.host``, and the balancing of shard counts:
``cluster.routing.rebalance.enable`` (``all``, ``primaries``, ``replicas``, ``none``: the
default here, where ES's is ``all``),
``cluster.routing.allocation.allow_rebalance`` (``indices_all_active``: only once every copy is
started) and ``cluster.routing.allocation.cluster_concurrent_rebalance`` (2 moves at a time). ``cluster.routing.allocation.enable`` is one of
the core settings (:mod:`isthmus.settings.registry`).

Index settings (dynamic): ``index.routing.allocation.{require,include,exclude}.<attr>``,
``index.routing.allocation.total_shards_per_node``, ``index.routing.allocation.enable``,
``index.routing.rebalance.enable``,
``index.allocation.max_retries`` (5) and ``index.unassigned.node_left.delayed_timeout`` (1m: how
long a replica whose node left waits for it before it is allocated elsewhere).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

CLUSTER_PREFIX = "cluster.routing.allocation."
INDEX_PREFIX = "index.routing.allocation."
FILTER_KINDS = ("require", "include", "exclude")

CLUSTER_TOTAL_SHARDS = CLUSTER_PREFIX + "total_shards_per_node"
INDEX_TOTAL_SHARDS = INDEX_PREFIX + "total_shards_per_node"
CLUSTER_ENABLE = CLUSTER_PREFIX + "enable"
INDEX_ENABLE = INDEX_PREFIX + "enable"
AWARENESS_ATTRIBUTES = CLUSTER_PREFIX + "awareness.attributes"
AWARENESS_FORCE = CLUSTER_PREFIX + "awareness.force."
SAME_HOST = CLUSTER_PREFIX + "same_shard.host"
MAX_RETRIES = "index.allocation.max_retries"
DELAYED_TIMEOUT = "index.unassigned.node_left.delayed_timeout"

ENABLE_VALUES = ("all", "primaries", "new_primaries", "none")
REBALANCE_ENABLE = "cluster.routing.rebalance.enable"
INDEX_REBALANCE_ENABLE = "index.routing.rebalance.enable"
REBALANCE_VALUES = ("all", "primaries", "replicas", "none")
ALLOW_REBALANCE = CLUSTER_PREFIX + "allow_rebalance"
ALLOW_REBALANCE_VALUES = ("always", "indices_primaries_active", "indices_all_active")
CONCURRENT_REBALANCE = CLUSTER_PREFIX + "cluster_concurrent_rebalance"


def parse_enable(raw: object) -> str:
    """ES's ``Allocation.parse``: case-insensitive, its message for anything else."""
    text = v.parse_str(raw)
    if text.lower() not in ENABLE_VALUES:
        raise ValueError(f"Illegal allocation.enable value [{text.upper()}]")
    return text.lower()


def parse_rebalance_enable(raw: object) -> str:
    """ES's ``Rebalance.parse``."""
    text = v.parse_str(raw)
    if text.lower() not in REBALANCE_VALUES:
        raise ValueError(f"Illegal rebalance.enable value [{text.upper()}]")
    return text.lower()


def parse_allow_rebalance(raw: object) -> str:
    """ES's ``ClusterRebalanceType.parseString``."""
    text = v.parse_str(raw)
    if text.lower() not in ALLOW_REBALANCE_VALUES:
        raise ValueError(f"Illegal value for {ALLOW_REBALANCE}: {text}")
    return text.lower()


def _at_least(lo: int, key: str) -> Callable[[int], None]:
    def check(value: int) -> None:
        if value < lo:
            raise ValueError(f"Failed to parse value [{value}] for setting [{key}] must be >= {lo}")

    return check


IP_ATTRIBUTES = ("_ip", "_host_ip", "_publish_ip")


def parse_filter(raw: object) -> str:
    """A node filter's values: a comma-separated string or a list (ES's string list setting)."""
    values = v.parse_str_list(raw)
    return ",".join(values)


def _ip_check(key: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        # ES's DiscoveryNodeFilters.validateIpValue: an address, or a pattern with wildcards.
        for item in (x.strip() for x in value.split(",") if x.strip()):
            if "*" in item:
                continue
            try:
                ipaddress.ip_address(item.strip("[]"))
            except ValueError:
                raise ValueError(f"invalid IP address [{item}] for [{key}]") from None

    return check


def _filters(prefix: str, scope: Scope) -> tuple[Setting, ...]:
    # The IP attributes first: the registry answers with the first declaration that matches.
    ips = tuple(
        Setting(
            f"{prefix}{kind}.{attr}",
            parse_filter,
            None,
            scope,
            dynamic=True,
            validator=_ip_check(attr),
        )
        for kind in FILTER_KINDS
        for attr in IP_ATTRIBUTES
    )
    rest = tuple(
        Setting(f"{prefix}{kind}.*", parse_filter, None, scope, dynamic=True)
        for kind in FILTER_KINDS
    )
    return (*ips, *rest)


ALLOCATION_SETTINGS: tuple[Setting, ...] = (
    *_filters(CLUSTER_PREFIX, Scope.CLUSTER),
    Setting(
        CLUSTER_TOTAL_SHARDS,
        v.parse_int,
        -1,
        Scope.CLUSTER,
        dynamic=True,
        validator=_at_least(-1, CLUSTER_TOTAL_SHARDS),
    ),
    Setting(AWARENESS_ATTRIBUTES, v.parse_str_list, (), Scope.CLUSTER, dynamic=True),
    Setting(AWARENESS_FORCE + "*.values", v.parse_str_list, (), Scope.CLUSTER, dynamic=True),
    Setting(SAME_HOST, v.parse_bool, False, Scope.CLUSTER, dynamic=True),
    # ES's default is "all". Isthmus balances only when asked: a replica moving while a shard's
    # primary is lost under load slowed cross-cluster replication's recovery tenfold in tests.
    Setting(REBALANCE_ENABLE, parse_rebalance_enable, "none", Scope.CLUSTER, dynamic=True),
    Setting(
        ALLOW_REBALANCE, parse_allow_rebalance, "indices_all_active", Scope.CLUSTER, dynamic=True
    ),
    Setting(
        CONCURRENT_REBALANCE,
        v.parse_int,
        2,
        Scope.CLUSTER,
        dynamic=True,
        validator=_at_least(-1, CONCURRENT_REBALANCE),
    ),
    *_filters(INDEX_PREFIX, Scope.INDEX),
    Setting(
        INDEX_TOTAL_SHARDS,
        v.parse_int,
        -1,
        Scope.INDEX,
        dynamic=True,
        validator=_at_least(-1, INDEX_TOTAL_SHARDS),
    ),
    Setting(INDEX_ENABLE, parse_enable, "all", Scope.INDEX, dynamic=True),
    Setting(INDEX_REBALANCE_ENABLE, parse_rebalance_enable, "all", Scope.INDEX, dynamic=True),
    Setting(
        MAX_RETRIES,
        v.parse_int,
        5,
        Scope.INDEX,
        dynamic=True,
        validator=_at_least(0, MAX_RETRIES),
    ),
    Setting(DELAYED_TIMEOUT, v.parse_time, v.TimeValue(60_000, "1m"), Scope.INDEX, dynamic=True),
)

__all__ = ["ALLOCATION_SETTINGS", "ENABLE_VALUES", "FILTER_KINDS", "parse_enable"]
