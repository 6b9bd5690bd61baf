"""Live remote health and the doctor on the lab's idle-cut pair (real nodes, the lab's relay
cutting connections idle for 1 s, no pings): the node counts the losses as flaps while the alias
stays connected; the doctor, given the local cluster's REST API only, reads them and reports the
link yellow (``connection_unreliable``), live and from a bundle offline; with the local config
directory and the remote cluster, it reads when the alias's cross-cluster key expires."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.lab.fault_scenarios import base_spec
from isthmus.lab.faults import transition
from isthmus.lab.relay_config import RelayMode
from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, USER, USER_PASSWORD, Lab, _call

IDLE_CUT = replace(base_spec("proxy"), relay_idle_cut=1.0, ping_schedule="-1")


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Lab]:
    pair = Lab(tmp_path_factory.mktemp("idle-cut"), IDLE_CUT)
    with pair:
        pair.start()
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, pair.credential):
            if secret:
                record_secret(secret)
        assert pair.key is not None
        record_secret(str(pair.key["api_key"]))
        assert pair.wait_connected()["connected"]
        yield pair


def health(lab: Lab) -> dict[str, Any]:
    body: dict[str, Any] = _call(lab.local_url, "GET", f"/_isthmus/remote/health/{ALIAS}")
    return dict(body["remotes"][ALIAS])


def doctor(lab: Lab, *extra: str) -> tuple[int, dict[str, Any], str]:
    assert lab.local is not None
    args = [
        sys.executable, "-m", "isthmus", "doctor", "--json", "--index", "logs", "--alias", ALIAS,
        "--timeout", "3", *extra,
    ]  # fmt: skip
    if "--from" not in extra:
        args += ["--local", lab.local.url, "--local-user", USER, "--local-password", USER_PASSWORD]
    env = {**os.environ, "TERM": "dumb"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, check=False)
    report = orjson.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done.returncode, report, done.stdout + done.stderr


def test_connections_cut_when_idle_are_counted_as_flaps(lab: Lab) -> None:
    """The strategy reopens each cut connection at once, so the alias rarely goes down as a
    whole (all its sockets cut at the same instant): the flaps must come from the connections
    lost, each one the relay cut, not from the alias's state."""
    assert lab.relay is not None
    cuts, before = lab.relay.stats()["idle_cuts"], health(lab)["flaps"]
    time.sleep(4.0)
    entry = health(lab)
    cut = lab.relay.stats()["idle_cuts"] - cuts
    flaps = entry["flaps"]
    assert cut >= 10, "the relay did not cut idle connections"
    assert flaps["count"] - before["count"] >= 2, (cut, entry)
    lost = flaps["connections_lost"] - before["connections_lost"]
    # Every cut is a connection the node lost (one burst may fall between the two readings).
    assert abs(lost - cut) <= 18, (lost, cut)
    assert flaps["first"] is not None and flaps["last"] >= flaps["first"]
    assert entry["connected"] is True
    assert entry["last_error"]["cause"] == "connection_unreliable"
    assert entry["status"] == "yellow"  # the losses stay in the 300 s window
    indicator = _call(lab.local_url, "GET", "/_health_report/remote_clusters")["indicators"]
    mine = indicator["remote_clusters"]
    assert mine["status"] == "yellow" and f"degraded [{ALIAS}]" in mine["symptom"]
    assert mine["details"]["remote_clusters"][ALIAS]["flaps"]["count"] >= 2


def test_the_doctor_with_local_rest_only_reports_the_unreliable_link(
    lab: Lab, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.json"
    code, report, output = doctor(lab, "--no-probe", "--bundle", str(bundle))
    assert report, output
    assert report["evidence_level"] == ["local_rest"]
    verdict = report["aliases"][ALIAS]
    assert (verdict["status"], verdict["findings"], code) == ("yellow", [], 0), output[-3000:]
    (warning,) = verdict["warnings"]
    got = (warning["stage"], warning["cause"], warning["side"], warning["nodes"])
    assert got == ("tcp", "connection_unreliable", "network", ["local-node"])
    detail = " ".join(e["detail"] for e in warning["evidence"])
    assert "the link was lost" in detail and "connections closed" in detail
    assert warning["fix"]["steps"]
    # Offline from the bundle: the same verdict (the health answer is in it).
    assert "GET /_isthmus/remote/health" in orjson.loads(bundle.read_bytes())["local"]["calls"]
    code, again, output = doctor(lab, "--from", str(bundle))
    assert code == 0 and again["aliases"][ALIAS]["warnings"] == verdict["warnings"], output


def test_the_doctor_reads_the_expiry_of_the_alias_key(
    lab: Lab, record_secret: Callable[[str], None]
) -> None:
    """The node cannot know its key's expiry; the doctor reads the key id in the local keystore
    and the key's expiration on the remote."""
    assert lab.local is not None and lab.remote is not None and lab.credential is not None
    original = lab.credential
    key = _call(
        lab.remote_url,
        "POST",
        "/_security/cross_cluster/api_key",
        {"name": "expiring-key", "access": {"search": [{"names": ["logs"]}]}, "expiration": "3d"},
    )
    record_secret(str(key["api_key"]))
    record_secret(str(key["encoded"]))
    try:
        lab.set_credential(str(key["encoded"]))
        remote = [
            "--remote", lab.remote.url, "--remote-user", "elastic",
            "--remote-password", ELASTIC_PASSWORD, "--local-config", str(lab.local.config_dir),
        ]  # fmt: skip
        _, report, output = doctor(lab, "--no-probe", *remote)
        assert report, output
        assert str(key["api_key"]) not in output and str(key["encoded"]) not in output
        warnings = report["aliases"][ALIAS]["warnings"]
        expiring = [w for w in warnings if w["cause"] == "api_key_expiring"]
        assert len(expiring) == 1, output[-3000:]
        assert key["id"] in expiring[0]["message"] and "days" in expiring[0]["message"]
        assert expiring[0]["side"] == "remote"
        # The node itself still says it cannot know.
        credentials = health(lab)["credentials"]
        assert {k: credentials[k] for k in ("present", "expiry", "expiry_known")} == {
            "present": True,
            "expiry": None,
            "expiry_known": False,
        }
        assert isinstance(credentials["reloaded_at"], str)  # the lab's key went in by a reload
    finally:
        lab.set_credential(original)


def test_without_a_probe_the_nodes_last_error_decides_a_black_hole(lab: Lab) -> None:
    """The path black-holes new connections: the local cluster says only connect_timeout
    (undecided: TCP, TLS or the handshake), the node's health says where its attempts stopped."""
    assert lab.relay is not None
    transition(lab, replace(IDLE_CUT, relay=RelayMode.BLACKHOLE))
    try:
        deadline = time.monotonic() + 15
        entry = health(lab)
        # The cut connections are lost first (connection_unreliable); then the reconnect
        # stays in TCP and is reported after the probe timeout (3 s).
        while time.monotonic() < deadline and not (
            entry["connected"] is False
            and (entry["last_error"] or {}).get("cause") == "tcp_timeout"
            and not entry["last_error"].get("lost_connection")
        ):
            time.sleep(0.3)
            entry = health(lab)
        assert entry["last_error"]["cause"] == "tcp_timeout", entry
        code, report, output = doctor(lab, "--no-probe")
        assert report, output
        (found, *_) = report["aliases"][ALIAS]["findings"]
        got = (found["stage"], found["cause"], found["side"], found["confidence"])
        assert got == ("tcp", "tcp_timeout", "network", "certain"), output[-3000:]
        assert any("_isthmus/remote/health" in e["source"] for e in found["evidence"])
        assert code == 1
    finally:
        transition(lab, IDLE_CUT)
        # Probe every second for a moment (a dynamic setting): the healed path is found at once
        # instead of at the next 10 s probe.
        _probe_interval(lab, "1s")
    try:
        assert lab.wait_connected()["connected"]
    finally:
        _probe_interval(lab, None)


def _probe_interval(lab: Lab, value: str | None) -> None:
    body = {"persistent": {"isthmus.remote.health.probe_interval": value}}
    _call(lab.local_url, "PUT", "/_cluster/settings", body)
