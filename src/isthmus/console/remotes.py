"""The remote clusters view's data: one row per alias, from what the node already keeps.

A row joins three things the node holds in memory, and asks nothing of any remote: the alias's
live health (:mod:`isthmus.remote.health`, the same entry as ``GET /_isthmus/remote/health``),
its settings (mode, addresses, ``skip_unavailable``; a credential only as "present") and its last
hour of events (:class:`isthmus.remote.health_records.Timeline`). Stages and causes are given in
plain words beside their codes (the page shows the words, tests read the codes).
Cost: a few dictionary walks per alias per poll, and only while a page polls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from isthmus.console.words import cause_words, stage_words
from isthmus.http.handlers.health import HealthApiDeps, remote_health

if TYPE_CHECKING:
    from isthmus.remote.cluster import RemoteClusterConnection


def remotes_view(
    deps: HealthApiDeps, key_expiry: Callable[[str], Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The remote clusters view: every alias's row, with the time it describes. ``key_expiry``:
    an API-key alias's credential expiry when the console knows it (the key it created is
    still the keystore's; :mod:`isthmus.console.key_records`)."""
    health = remote_health(deps)
    rows = []
    for alias, entry in health["remotes"].items():
        connection = deps.remote.get(alias)
        line = row(alias, entry, connection)
        if key_expiry is not None and line["security_model"] == "api_key":
            line["credentials"] = {**line["credentials"], **key_expiry(alias)}
        rows.append(line)
    return {
        "as_of": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "cluster_name": health["cluster_name"],
        "node": health["node"],
        "remote_cluster_client": deps.remote.enabled,
        "probe": health["probe"],
        "remotes": rows,
    }


def row(alias: str, entry: dict[str, Any], connection: RemoteClusterConnection) -> dict[str, Any]:
    """One alias's row: the health entry's figures the page shows, the settings, the timeline."""
    info = connection.info()
    error = entry.get("last_error")
    if error is not None:
        error = {
            **error,
            "stage_words": stage_words(error.get("stage")),
            "cause_words": cause_words(error.get("cause")),
        }
    handshake = entry["latency"]["handshake"]
    settings: dict[str, Any] = {"skip_unavailable": info.get("skip_unavailable")}
    for key in ("seeds", "proxy_address", "server_name"):
        if info.get(key) not in (None, "", []):
            settings[key] = info[key]
    return {
        "alias": alias,
        "status": entry["status"],
        "connected": entry["connected"],
        "mode": entry["mode"],
        "security_model": entry["security_model"],
        "settings": settings,
        "connections": entry["connections"],
        "last_success": entry["last_success"],
        "last_error": error,
        "consecutive_failures": entry["consecutive_failures"],
        "flaps": entry["flaps"],
        "handshake_ms": {"p50": handshake["p50_ms"], "p99": handshake["p99_ms"]},
        "credentials": entry["credentials"],
        "certificate": entry["certificate"],
        "remote": entry["remote"],
        "timeline": connection.strategy.health.timeline_json(),
    }
