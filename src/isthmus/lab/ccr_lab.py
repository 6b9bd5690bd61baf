"""Summon a CCR scenario (:mod:`isthmus.lab.ccr_scenarios`) on a running lab, check its
symptom, and undo what can be undone. One harness for the tests and ``isthmus lab up``.

:func:`summon` creates the scenario's leader index on the remote (a few documents), its follow
user on the local cluster (and, in the certificate model, the remote's role of the same name),
starts following as that user (unless the follow request is the symptom), does the fault, and
waits until the symptom shows: :func:`mismatches` lists in words how what ES shows differs from
what the scenario expects. :func:`heal` undoes a fault the follower recovers from (the path
healed, the leader opened) and waits until the follower has caught up by itself.

REST calls go over plain HTTP (:func:`isthmus.lab.topology._call`): the lab ships with Isthmus
and does not need the official client.

The certificate model's pair points at the remote's transport port; in proxy mode the lab's
relay stands in front of it there (:func:`route`, done by :func:`summon`), so that the path can
be black-holed in both models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from isthmus.lab.ccr_scenarios import (
    PASSWORD,
    REPLICATION_PRIVILEGES,
    CcrFault,
    CcrScenario,
    Shows,
)
from isthmus.lab.relay_config import RelayMode, parse_address
from isthmus.lab.topology import ALIAS, Lab, LabError, _call, _with_user

DOCS = 3  # documents on each leader index before following


@dataclass(frozen=True)
class Seen:
    """What the user sees: the HTTP answer of the step that shows the symptom (status, body),
    and the follower's ``_ccr/stats`` (None when it has none)."""

    status: int
    body: dict[str, Any]
    stats: dict[str, Any] | None


def user_url(lab: Lab, scenario: CcrScenario) -> str:
    assert lab.local is not None
    return _with_user(lab.local.url, scenario.user, PASSWORD)


def fill(text: str, scenario: CcrScenario, key_id: str = "") -> str:
    return (
        text.replace("{key_id}", key_id)
        .replace("{leader}", scenario.leader)
        .replace("{followed}", scenario.followed)
        .replace("{follower}", scenario.follower)
        .replace("{user}", scenario.user)
    )


def route(lab: Lab) -> None:
    """Certificate model with a relay: the relay's backend is the remote's transport port and
    the alias's proxy address is the relay (the lab builds the relay in front of the remote
    cluster server, which the certificate model does not use). Idempotent; nothing to do in
    the API-key model or without a relay."""
    if lab.relay is None or lab.spec.target != "transport" or lab.spec.mode != "proxy":
        return
    (node,) = _call(lab.remote_url, "GET", "/_nodes")["nodes"].values()
    backend = parse_address(str(node["transport_address"]))
    if lab.relay.config.backend != backend:
        routes = {name: backend for name in lab.relay.config.routes}  # `lab path sni` too
        lab.relay.configure(replace(lab.relay.config, backend=backend, routes=routes))
        lab.relay.cut()
    assert lab.relay.address is not None
    address = f"cluster.remote.{ALIAS}.proxy_address"
    settings = _call(lab.local_url, "GET", "/_cluster/settings?flat_settings=true")
    if settings.get("persistent", {}).get(address) != lab.relay.address:
        body = {"persistent": {address: lab.relay.address}}
        _call(lab.local_url, "PUT", "/_cluster/settings", body)
        lab.wait_connected()


def prepare(lab: Lab, scenario: CcrScenario) -> None:
    """The leader index (and its alias) on the remote, the follow user and its role."""
    rep = scenario.replication
    assert rep is not None
    settings = {"number_of_shards": 1, **rep.leader_settings}
    _call(lab.remote_url, "PUT", f"/{scenario.leader}", {"settings": settings})
    index(lab, scenario, *(str(n) for n in range(1, DOCS + 1)))
    if rep.follow_alias:
        _call(lab.remote_url, "PUT", f"/{scenario.leader}/_alias/{scenario.followed}")
    role: dict[str, Any] = {
        "cluster": list(rep.cluster_privileges),
        "indices": [{"names": [scenario.follower], "privileges": list(rep.index_privileges)}],
        "remote_indices": [
            {
                "clusters": [ALIAS],
                "names": [scenario.leader, scenario.followed],
                "privileges": list(REPLICATION_PRIVILEGES),
            }
        ],
    }
    _call(lab.local_url, "PUT", f"/_security/role/{scenario.user}", role)
    user = {"password": PASSWORD, "roles": [scenario.user]}
    _call(lab.local_url, "PUT", f"/_security/user/{scenario.user}", user)
    if rep.leader_role is not None:
        _call(lab.remote_url, "PUT", f"/_security/role/{scenario.user}", rep.leader_role)


def index(lab: Lab, scenario: CcrScenario, *ids: str) -> None:
    for doc_id in ids:
        doc = {"n": int(doc_id) if doc_id.isdigit() else 0, "id": doc_id}
        _call(lab.remote_url, "PUT", f"/{scenario.leader}/_doc/{doc_id}", doc)


def follow(lab: Lab, scenario: CcrScenario) -> tuple[int, dict[str, Any]]:
    """``PUT /<follower>/_ccr/follow`` as the scenario's user: (status, body)."""
    body = {"remote_cluster": ALIAS, "leader_index": scenario.followed}
    return answer_of(
        lambda: _call(user_url(lab, scenario), "PUT", f"/{scenario.follower}/_ccr/follow", body)
    )


def stats(lab: Lab, scenario: CcrScenario) -> dict[str, Any] | None:
    try:
        return _call(lab.local_url, "GET", f"/{scenario.follower}/_ccr/stats")
    except LabError:
        return None


def caught_up(lab: Lab, scenario: CcrScenario, *ids: str) -> bool:
    """The follower has the leader's documents ``ids`` and no read exception left."""
    body = stats(lab, scenario)
    if body is None:
        return False
    shards = body["indices"][0]["shards"]
    if any(s["read_exceptions"] or "fatal_exception" in s for s in shards):
        return False
    if any(s["follower_global_checkpoint"] < s["leader_global_checkpoint"] for s in shards):
        return False
    _call(lab.local_url, "POST", f"/{scenario.follower}/_refresh")
    found = _call(lab.local_url, "POST", f"/{scenario.follower}/_search", {"size": 100})
    have = {hit["_id"] for hit in found["hits"]["hits"]}
    return set(ids) <= have


def summon(lab: Lab, scenario: CcrScenario, timeout: float = 20.0) -> tuple[Seen, list[str]]:
    """Prepare, follow, do the fault, and wait for the symptom (see the module docstring)."""
    rep = scenario.replication
    assert rep is not None
    route(lab)
    prepare(lab, scenario)
    status, body = follow(lab, scenario)
    if rep.fault is CcrFault.FOLLOW:
        seen = Seen(status, body, stats(lab, scenario))
        return seen, mismatches(scenario, seen, _key_id(lab))
    if status != 200:
        return Seen(status, body, None), [f"the follow request failed: {status} {body}"]
    originals = [str(n) for n in range(1, DOCS + 1)]
    _wait(lambda: caught_up(lab, scenario, *originals), timeout)
    if rep.fault is CcrFault.WRITE:
        status, body = answer_of(
            lambda: _call(lab.local_url, "PUT", f"/{scenario.follower}/_doc/mine", {"n": 1})
        )
        seen = Seen(status, body, stats(lab, scenario))
        return seen, mismatches(scenario, seen, _key_id(lab))
    _do_fault(lab, scenario)
    deadline = time.monotonic() + timeout
    while True:
        seen = Seen(200, {}, stats(lab, scenario))
        problems = mismatches(scenario, seen, _key_id(lab))
        if not problems or time.monotonic() > deadline:
            return seen, problems
        time.sleep(0.2)


def _do_fault(lab: Lab, scenario: CcrScenario) -> None:
    rep = scenario.replication
    assert rep is not None
    leader = scenario.leader
    if rep.fault is CcrFault.BLACKHOLE:
        _path(lab, RelayMode.BLACKHOLE)
        index(lab, scenario, "while-unreachable")
    elif rep.fault is CcrFault.DELETE_LEADER:
        _call(lab.remote_url, "DELETE", f"/{leader}")
    elif rep.fault is CcrFault.CLOSE_LEADER:
        _call(lab.remote_url, "POST", f"/{leader}/_close")
    elif rep.fault is CcrFault.TRIM_HISTORY:
        _call(user_url(lab, scenario), "POST", f"/{scenario.follower}/_ccr/pause_follow")
        # Updates supersede the documents the follower has: their old operations may go once
        # no lease retains them. The paused follower's lease is no longer renewed and expires
        # after the leader's retention_lease.period (1 s); the next trim drops them.
        index(lab, scenario, "1", "2", "new")
        _call(lab.remote_url, "DELETE", f"/{leader}/_doc/new")
        _call(lab.remote_url, "POST", f"/{leader}/_refresh")
        time.sleep(3.0)
        _call(user_url(lab, scenario), "POST", f"/{scenario.follower}/_ccr/resume_follow", {})


def heal(lab: Lab, scenario: CcrScenario, timeout: float = 30.0) -> list[str]:
    """Undo a fault the follower recovers from, index one more document on the leader, and
    wait until the follower has it with no read exception left (empty: it caught up)."""
    rep = scenario.replication
    assert rep is not None and rep.symptom.recovers
    if rep.fault is CcrFault.BLACKHOLE:
        _path(lab, RelayMode.PASS)
    elif rep.fault is CcrFault.CLOSE_LEADER:
        _call(lab.remote_url, "POST", f"/{scenario.leader}/_open")
    ids = [*(str(n) for n in range(1, DOCS + 1)), "after-heal"]
    if rep.fault is CcrFault.BLACKHOLE:
        ids.append("while-unreachable")
    index(lab, scenario, "after-heal")
    if _wait(lambda: caught_up(lab, scenario, *ids), timeout):
        return []
    return [f"not caught up {timeout:g}s after the heal: {stats(lab, scenario)}"]


def _path(lab: Lab, mode: RelayMode) -> None:
    assert lab.relay is not None, "the unreachable leader needs the relay (proxy mode)"
    lab.relay.configure(replace(lab.relay.config, mode=mode))
    lab.relay.cut()
    lab.spec = replace(lab.spec, relay=mode)  # what the lab says of itself (lab.where())


def mismatches(scenario: CcrScenario, seen: Seen, key_id: str = "") -> list[str]:
    """Every way ``seen`` differs from the scenario's symptom (empty: it matches); ``key_id``:
    the id of the lab's cross-cluster key."""
    rep = scenario.replication
    assert rep is not None
    symptom = rep.symptom
    reason = fill(symptom.reason, scenario, key_id)
    if symptom.shows is Shows.ANSWER:
        error = seen.body.get("error", {}) if isinstance(seen.body.get("error"), dict) else {}
        out = []
        if seen.status != symptom.status:
            out.append(f"status {seen.status}, expected {symptom.status}: {seen.body}")
        if error.get("type") not in symptom.types:
            out.append(f"error type {error.get('type')}, expected {symptom.types[0]}")
        if reason not in str(error.get("reason", "")):
            out.append(f"error reason {error.get('reason')!r} lacks {reason!r}")
        return out
    if seen.stats is None:
        return ["the follower has no follow stats"]
    shards = seen.stats["indices"][0]["shards"]
    fatal = [s["fatal_exception"] for s in shards if "fatal_exception" in s]
    if symptom.shows is Shows.FATAL:
        if not fatal:
            return [f"no fatal_exception in the stats: {_short(seen.stats)}"]
        if fatal[0].get("type") not in symptom.types or reason not in fatal[0].get("reason", ""):
            return [f"fatal_exception {fatal[0]}, expected {symptom.types} with {reason!r}"]
        return []
    if fatal:
        return [f"a fatal_exception where ES retries: {fatal[0]}"]
    failures = [r for s in shards for r in s["read_exceptions"]]
    if not failures:
        return [f"no read_exceptions yet: {_short(seen.stats)}"]
    if not any(r["retries"] >= 1 for r in failures):
        return [f"read_exceptions not retried yet: {failures}"]
    kinds = {r["exception"].get("type") for r in failures}
    if not kinds & set(symptom.types):
        return [f"read_exceptions of types {sorted(map(str, kinds))}, expected {symptom.types}"]
    if reason and not any(reason in r["exception"].get("reason", "") for r in failures):
        return [f"no read exception says {reason!r}: {failures}"]
    return []


def _key_id(lab: Lab) -> str:
    return str((lab.key or {}).get("id", ""))


def answer_of(call: Callable[[], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """(status, body) of a REST call: 200 and its body, or its error status and body."""
    try:
        return 200, call()
    except LabError as exc:
        body = orjson.loads(exc.body) if exc.body.startswith("{") else {"raw": exc.body}
        return exc.status, body


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except LabError:
            pass
        time.sleep(0.2)
    return False


def _short(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()[:1500]


__all__ = [
    "Seen",
    "answer_of",
    "caught_up",
    "fill",
    "follow",
    "heal",
    "mismatches",
    "prepare",
    "route",
    "summon",
]
