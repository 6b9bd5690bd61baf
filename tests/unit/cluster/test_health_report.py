"""``GET /_health_report`` bodies: ES's schema, status rules, verbose, size and feature."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.cluster.health_report import (
    IndexShards,
    disk,
    health_report,
    master_is_stable,
    parse_size,
    remote_clusters,
    shards_availability,
)
from isthmus.errors import IllegalArgumentError, ResourceNotFoundError


def remote(status: str, cause: str | None = None, **error: Any) -> dict[str, Any]:
    last_error = None if status == "green" else {"stage": "tcp", "cause": cause, **error}
    return {
        "status": status,
        "connected": status in ("green", "yellow"),
        "mode": "sniff",
        "security_model": "certificate",
        "last_success": None,
        "last_error": last_error,
        "consecutive_failures": 0 if status == "green" else 2,
    }


def test_the_worst_indicator_decides_and_unknown_ranks_below_yellow() -> None:
    green = master_is_stable("id", "n")
    unknown = disk(None, [], "id", "n")
    assert health_report("c", [green, unknown])["status"] == "unknown"
    yellow = shards_availability([IndexShards("logs", 1, 1, 1)])
    assert health_report("c", [green, unknown, yellow])["status"] == "yellow"
    red = remote_clusters({"a": remote("red", "tcp_refused")})
    body = health_report("c", [green, yellow, red])
    assert body["status"] == "red"
    assert list(body) == ["cluster_name", "status", "indicators"]
    assert list(body["indicators"]) == [
        "master_is_stable",
        "shards_availability",
        "remote_clusters",
    ]


def test_one_feature_drops_the_status_and_an_unknown_one_is_not_found() -> None:
    indicators = [master_is_stable("id", "n"), remote_clusters({})]
    body = health_report("c", indicators, feature="remote_clusters")
    assert "status" not in body and list(body["indicators"]) == ["remote_clusters"]
    with pytest.raises(ResourceNotFoundError, match="Did not find indicator ilm"):
        health_report("c", indicators, feature="ilm")


def test_verbose_false_drops_details_and_diagnosis_but_keeps_impacts() -> None:
    red = remote_clusters({"a": remote("red", "tcp_refused")})
    full = health_report("c", [red])["indicators"]["remote_clusters"]
    assert set(full) == {"status", "symptom", "details", "impacts", "diagnosis"}
    quiet = health_report("c", [red], verbose=False)["indicators"]["remote_clusters"]
    assert set(quiet) == {"status", "symptom", "impacts"}


def test_remote_clusters_indicator_groups_diagnoses_by_cause() -> None:
    remotes = {
        "a": remote("red", "tcp_refused"),
        "b": remote("red", "tcp_refused"),
        "c": remote("red", None, candidates=["api_key_invalid", "api_key_unknown"]),
        "d": remote("yellow", "connection_unreliable"),
        "e": remote("green"),
    }
    ind = remote_clusters(remotes)
    assert ind.status == "red"
    assert ind.symptom == "Of 5 remote clusters, 3 unavailable [a, b, c], 1 degraded [d]."
    assert [i.severity for i in ind.impacts] == [2, 3]
    body = health_report("c", [ind], size=1)["indicators"]["remote_clusters"]
    ids = [d["id"] for d in body["diagnosis"]]
    assert ids == [
        "isthmus:health:remote_clusters:diagnosis:tcp_refused",
        "isthmus:health:remote_clusters:diagnosis:tcp_undecided",
        "isthmus:health:remote_clusters:diagnosis:connection_unreliable",
    ]
    assert body["diagnosis"][0]["affected_resources"] == {"remote_clusters": ["a"]}  # size=1
    assert "api_key_invalid, api_key_unknown" in body["diagnosis"][1]["cause"]
    assert remote_clusters({}).status == "green"
    without_role = remote_clusters({}, client_role=False)
    assert without_role.status == "green" and "[remote_cluster_client]" in without_role.symptom
    assert remote_clusters({"e": remote("green")}).symptom == (
        "All 1 remote cluster is connected and healthy."
    )


def test_shards_and_disk_follow_es_wording() -> None:
    ok = shards_availability([IndexShards("a", 1, 0, 1)])
    assert (ok.status, ok.symptom) == ("green", "This cluster has all shards available.")
    missing = shards_availability([IndexShards("a", 2, 1, 1), IndexShards("b", 1, 0, 1)])
    assert missing.status == "red"
    assert missing.symptom == (
        "This cluster has 1 unavailable primary shard, 2 unavailable replica shards."
    )
    assert missing.details["started_primaries"] == 2
    flooded = disk(3, ["logs"], "id", "n")
    assert flooded.status == "red"
    assert flooded.symptom.startswith("1 index is not allowed to be updated.")
    assert disk(2, [], "id", "n").status == "yellow"
    assert disk(1, [], "id", "n").status == "green"


def test_size_must_be_a_positive_integer() -> None:
    assert parse_size(None) == 1000
    assert parse_size("5") == 5
    with pytest.raises(IllegalArgumentError):
        parse_size("-1")
    with pytest.raises(IllegalArgumentError):
        parse_size("x")
