"""Settings of cluster formation: ES's discovery and bootstrap settings, and Isthmus's settings of
the etcd store that coordinates a cluster of several nodes.  [no I/O]

ES's keys keep ES's meaning and messages: ``discovery.type`` (``single-node`` or
``multi-node``), ``discovery.seed_hosts`` (``host[:port]`` of master-eligible nodes to ask who the
cluster is), ``discovery.seed_providers`` (``settings``, ``file``) and
``cluster.initial_master_nodes`` (the node names of the first election, first start only). The
rules ES checks when a node starts (``ClusterBootstrapService``) are :func:`validate_discovery`.

Isthmus declares ``discovery.type`` with the default ``single-node`` where ES's is
``multi-node``: a node forms a cluster of its own unless it is told about others, so the quick
start, the lab and the demo never need etcd. :func:`forms_cluster_alone` says which path a node
takes: alone when ``discovery.type`` is ``single-node`` or nothing names other nodes or a store
(no seed hosts, no initial master nodes, no etcd endpoints); ``discovery.type: multi-node`` set
with none of them is still a cluster of one. ES's two ``single-node`` refusals apply when
``discovery.type: single-node`` is written in the settings.

The store's settings, under ``isthmus.coordination.etcd.``: ``binary`` (the etcd executable;
unset: ``etcd`` on PATH), ``endpoints`` (an external etcd cluster: then no member is started),
``client_port``/``peer_port`` (the node's own member, default 2379/2380 as etcd's),
``lease_ttl`` (how long a silent node keeps mastership and membership, default 5s),
``heartbeat_interval`` and ``election_timeout`` (the member's Raft timing, etcd's defaults 100ms
and 1s; etcd refuses an election timeout under five heartbeats), ``socket_dir`` (several nodes
on one machine: members listen on unix sockets in that folder, named after the nodes). They are parsed and validated
here; the coordination wiring reads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import DEFAULT_ROLES, Scope, Setting

SINGLE_NODE = "single-node"
MULTI_NODE = "multi-node"
DISCOVERY_TYPE = "discovery.type"
SEED_HOSTS = "discovery.seed_hosts"
SEED_PROVIDERS = "discovery.seed_providers"
INITIAL_MASTER_NODES = "cluster.initial_master_nodes"

ETCD = "isthmus.coordination.etcd."
ETCD_BINARY = ETCD + "binary"
ETCD_ENDPOINTS = ETCD + "endpoints"
ETCD_CLIENT_PORT = ETCD + "client_port"
ETCD_PEER_PORT = ETCD + "peer_port"
ETCD_LEASE_TTL = ETCD + "lease_ttl"
ETCD_HEARTBEAT = ETCD + "heartbeat_interval"
ETCD_ELECTION = ETCD + "election_timeout"
# Several nodes on one machine (tests, the lab): every member listens on unix sockets in this
# folder instead of TCP ports, so no port is ever allocated.
ETCD_SOCKET_DIR = ETCD + "socket_dir"

# The seed host providers ES ships (``file`` reads config/unicast_hosts.txt).
SEED_PROVIDER_NAMES = ("settings", "file")


def _discovery_type(raw: object) -> str:
    text = v.parse_str(raw)
    if text not in (SINGLE_NODE, MULTI_NODE):
        raise ValueError(f"Unknown discovery type [{text}]")  # DiscoveryModule
    return text


def _seed_providers(names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in SEED_PROVIDER_NAMES]
    if missing:
        raise ValueError(f"Unknown seed providers [{', '.join(missing)}]")  # DiscoveryModule


def _initial_master_nodes(names: tuple[str, ...]) -> None:
    if len(set(names)) != len(names):  # ClusterBootstrapService
        raise ValueError(
            f"setting [{INITIAL_MASTER_NODES}] contains duplicates: [{', '.join(names)}]"
        )


def _port(raw: object) -> int:
    value = v.parse_int(raw)
    if not 0 < value <= 65535:
        raise ValueError(
            f"Failed to parse value [{value}] for setting [{{key}}] must be "
            + ("<= 65535" if value > 65535 else ">= 1")
        )
    return value


def _endpoints(urls: tuple[str, ...]) -> None:
    for url in urls:
        parts = urlsplit(url)
        unix = parts.scheme in ("unix", "unixs") and bool(parts.path or parts.netloc)
        tcp = parts.scheme in ("http", "https") and bool(parts.netloc)
        if not (unix or tcp):
            raise ValueError(
                f"Failed to parse value [{url}] for setting [{{key}}]: expected "
                "http(s)://host:port or unix://path"
            )


FOLLOWER_CHECK_INTERVAL = "cluster.fault_detection.follower_check.interval"
FOLLOWER_CHECK_TIMEOUT = "cluster.fault_detection.follower_check.timeout"
FOLLOWER_CHECK_RETRY_COUNT = "cluster.fault_detection.follower_check.retry_count"


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"Failed to parse value [{value}] for setting [{{key}}] must be >= 1")


def _at_least(millis: int, text: str) -> Any:
    def check(value: v.TimeValue) -> None:
        if value.millis < millis:
            raise ValueError(
                f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [{text}]"
            )

    return check


DISCOVERY_SETTINGS: tuple[Setting, ...] = (
    Setting(DISCOVERY_TYPE, _discovery_type, SINGLE_NODE, Scope.NODE),
    Setting(SEED_HOSTS, v.parse_str_list, (), Scope.NODE),
    Setting(SEED_PROVIDERS, v.parse_str_list, (), Scope.NODE, validator=_seed_providers),
    Setting(INITIAL_MASTER_NODES, v.parse_str_list, (), Scope.NODE, validator=_initial_master_nodes),
    Setting(ETCD_BINARY, v.parse_str, None, Scope.NODE),
    Setting(ETCD_ENDPOINTS, v.parse_str_list, (), Scope.NODE, validator=_endpoints),
    Setting(ETCD_CLIENT_PORT, _port, 2379, Scope.NODE),
    Setting(ETCD_PEER_PORT, _port, 2380, Scope.NODE),
    Setting(ETCD_LEASE_TTL, v.parse_time, v.parse_time("5s"), Scope.NODE, validator=_at_least(1000, "1s")),
    Setting(ETCD_HEARTBEAT, v.parse_time, v.parse_time("100ms"), Scope.NODE, validator=_at_least(1, "1ms")),
    Setting(ETCD_ELECTION, v.parse_time, v.parse_time("1s"), Scope.NODE, validator=_at_least(1, "1ms")),
    Setting(ETCD_SOCKET_DIR, v.parse_str, None, Scope.NODE),
    # ES's FollowersChecker: how the master finds a node it cannot reach although etcd still
    # hears it (isthmus.discovery.follower_checks).
    Setting(FOLLOWER_CHECK_INTERVAL, v.parse_time, v.parse_time("1s"), Scope.NODE, validator=_at_least(100, "100ms")),
    Setting(FOLLOWER_CHECK_TIMEOUT, v.parse_time, v.parse_time("10s"), Scope.NODE, validator=_at_least(1, "1ms")),
    Setting(FOLLOWER_CHECK_RETRY_COUNT, v.parse_int, 3, Scope.NODE, validator=_positive),
)  # fmt: skip


def _get(flat: Mapping[str, Any], key: str) -> Any:
    setting = next(s for s in DISCOVERY_SETTINGS if s.key == key)
    return setting.coerce(key, flat[key]) if key in flat else setting.default


def validate_discovery(flat: Mapping[str, Any]) -> None:
    """The rules between these settings that ES (or etcd) checks when a node starts."""
    single = flat.get(DISCOVERY_TYPE) is not None and _get(flat, DISCOVERY_TYPE) == SINGLE_NODE
    if single and INITIAL_MASTER_NODES in flat:  # ClusterBootstrapService
        raise SettingsError(
            f"setting [{INITIAL_MASTER_NODES}] is not allowed when [{DISCOVERY_TYPE}] is set to "
            f"[{SINGLE_NODE}]"
        )
    roles = v.parse_str_list(flat["node.roles"]) if "node.roles" in flat else DEFAULT_ROLES
    if single and "master" not in roles:
        raise SettingsError(
            f"node with [{DISCOVERY_TYPE}] set to [{SINGLE_NODE}] must be master-eligible"
        )
    _check_socket_paths(flat)
    heartbeat, election = _get(flat, ETCD_HEARTBEAT), _get(flat, ETCD_ELECTION)
    if election.millis < 5 * heartbeat.millis:  # etcd refuses to start otherwise
        raise SettingsError(
            f"setting [{ETCD_ELECTION}] must be at least five times [{ETCD_HEARTBEAT}], "
            f"got [{election.text}] and [{heartbeat.text}]"
        )


# A unix socket's path holds at most 107 bytes (sun_path): longer, the nodes cannot dial their
# members, no master is ever elected, and nothing says why.
MAX_SOCKET_PATH = 107


def _check_socket_paths(flat: Mapping[str, Any]) -> None:
    folder = _get(flat, ETCD_SOCKET_DIR)
    if not folder:
        return
    names = [*_get(flat, INITIAL_MASTER_NODES), str(flat.get("node.name", ""))]
    # Nodes dial a member at <folder>/<name>.client:1 (discovery.formation_settings).
    longest = max(
        len(os.fsencode(os.path.join(os.path.abspath(folder), f"{n}.client:1"))) for n in names
    )
    if longest > MAX_SOCKET_PATH:
        raise SettingsError(
            f"setting [{ETCD_SOCKET_DIR}] is too long for unix sockets: [{folder}] makes "
            f"socket paths of {longest} bytes, at most {MAX_SOCKET_PATH} are possible"
        )


def forms_cluster_alone(flat: Mapping[str, Any]) -> bool:
    """Whether the node is a cluster of its own (today's path: no etcd, nothing to join)."""
    if flat.get(DISCOVERY_TYPE) is not None and _get(flat, DISCOVERY_TYPE) == SINGLE_NODE:
        return True
    return not (
        _get(flat, SEED_HOSTS) or _get(flat, INITIAL_MASTER_NODES) or _get(flat, ETCD_ENDPOINTS)
    )


__all__ = [
    "DISCOVERY_SETTINGS",
    "forms_cluster_alone",
    "validate_discovery",
]
