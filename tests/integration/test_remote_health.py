"""Live remote health on real nodes: ``GET /_isthmus/remote/health`` and ``GET /_health_report``
through the official client, as a remote goes down and comes back, with a wrong credential,
black-holed (in a network namespace), and behind authentication."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    Lab,
    LabSpec,
)
from isthmus.testing.netns import Netns, NetnsHTTPConnection, NetnsUnavailable
from isthmus.testing.process import NodeProcess

FAST = {"isthmus.remote.health.probe_interval": "1s"}


def health(es: Elasticsearch, alias: str | None = None) -> dict[str, Any]:
    path = "/_isthmus/remote/health" + (f"/{alias}" if alias else "")
    body: dict[str, Any] = es.perform_request("GET", path).body
    return body


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still false after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_remote_going_down_and_up(tmp_path: Path) -> None:
    remote = NodeProcess(tmp_path / "remote", {"cluster.name": "remote", "node.name": "r1"})
    local = NodeProcess(tmp_path / "local", {"cluster.name": "local", "node.name": "l1", **FAST})
    try:
        remote.start()
        local.start()
        seed = remote.transport_address()
        remote.settings["transport.port"] = int(seed.rsplit(":", 1)[1])  # same port after restart
        es = Elasticsearch(local.url, request_timeout=30)
        es.cluster.put_settings(persistent={"cluster.remote.far.seeds": [seed]})
        wait_for(lambda: health(es)["remotes"]["far"]["status"] == "green")
        far = health(es, "far")["remotes"]["far"]
        assert far["remote"]["cluster_name"] == "remote"
        assert far["nodes"][seed]["node_name"] == "r1"
        assert far["latency"]["handshake"]["samples"] >= 1
        report = es.health_report()
        assert report["indicators"]["remote_clusters"]["status"] == "green"
        assert report["indicators"]["master_is_stable"]["status"] == "green"
        assert report["status"] in ("green", "yellow")  # replicas may be unassigned

        remote.kill()

        def refused() -> bool:
            # A reconnect racing the dying process may still be accepted and then closed
            # (stage handshake); the next probe meets the closed port.
            entry = health(es)["remotes"]["far"]
            error = entry["last_error"] or {}
            return bool(entry["status"] == "red" and error.get("stage") == "tcp")

        wait_for(refused, timeout=5)
        far = health(es)["remotes"]["far"]
        assert far["last_error"]["cause"] in ("tcp_refused", "connection_unreliable")
        assert far["connected"] is False
        # The probes keep trying while nobody uses the alias: failures keep counting.
        failures = far["consecutive_failures"]
        wait_for(lambda: health(es)["remotes"]["far"]["consecutive_failures"] > failures, 5)
        indicator = es.health_report(feature="remote_clusters")
        assert "status" not in indicator  # one indicator asked for: no top-level status
        rc = indicator["indicators"]["remote_clusters"]
        assert rc["status"] == "red" and "[far]" in rc["symptom"]
        assert rc["impacts"][0]["impact_areas"] == ["search"]
        diagnosis = rc["diagnosis"][0]
        assert diagnosis["affected_resources"] == {"remote_clusters": ["far"]}
        assert diagnosis["help_url"].startswith("https://")
        quiet = es.health_report(feature="remote_clusters", verbose=False)
        assert "details" not in quiet["indicators"]["remote_clusters"]
        assert "diagnosis" not in quiet["indicators"]["remote_clusters"]

        remote.start()
        # Nobody searches: only the background probe can find it again.
        elapsed = wait_for(lambda: health(es)["remotes"]["far"]["status"] == "green", 10)
        print(f"\nremote back: green again after {elapsed:.2f}s (probe interval 1s)")
        assert health(es)["remotes"]["far"]["consecutive_failures"] == 0
    finally:
        local.kill()
        remote.kill()


def test_errors_and_unknown_names_are_es_errors(node: NodeProcess, es: Elasticsearch) -> None:
    with pytest.raises(ApiError) as missing:
        es.health_report(feature="no_such_indicator")
    assert missing.value.meta.status == 404
    assert missing.value.body["error"]["type"] == "resource_not_found_exception"
    assert missing.value.body["error"]["reason"] == "Did not find indicator no_such_indicator"
    with pytest.raises(ApiError) as unknown_alias:
        health(es, "nowhere")
    assert unknown_alias.value.meta.status == 404
    assert unknown_alias.value.body["error"]["type"] == "no_such_remote_cluster_exception"
    for params in (
        {"size": "-1"},
        {"size": "99999999999999999999999"},  # beyond a Java int
        {"timeout": "xyz"},
        {"timeout": "-5s"},
    ):
        with pytest.raises(ApiError) as bad:
            es.perform_request("GET", "/_health_report", params=params)
        assert bad.value.meta.status == 400, params
    assert es.health_report(feature="disk")["indicators"]["disk"]["status"] == "green"


def test_wrong_credentials_show_the_authentication_stage_and_no_secret(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    with Lab(tmp_path, LabSpec(credential="wrong_secret")) as lab:
        lab.start()
        assert lab.key is not None and lab.credential is not None
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential, str(lab.key["api_key"])):
            record_secret(secret)
        assert lab.local is not None
        admin = Elasticsearch(lab.local.url, basic_auth=("elastic", ELASTIC_PASSWORD))
        try:
            admin.perform_request("GET", f"/_resolve/cluster/{ALIAS}:*")
        except ApiError:
            pass  # any use makes a connect attempt; its outcome is what health shows
        wait_for(lambda: health(admin)["remotes"][ALIAS]["last_error"] is not None)
        body = health(admin)
        entry = body["remotes"][ALIAS]
        assert entry["security_model"] == "api_key"
        assert entry["credentials"]["present"] is True
        assert entry["credentials"]["expiry_known"] is False
        error = entry["last_error"]
        assert error["stage"] == "authentication"
        assert error["cause"] is None  # a 401 alone cannot tell a wrong secret from the others
        assert "api_key_invalid" in error["candidates"]
        text = orjson.dumps(body).decode() + orjson.dumps(admin.health_report().body).decode()
        for secret in (lab.credential, str(lab.key["api_key"]), str(lab.key["encoded"])):
            assert secret not in text
        # The endpoint is behind authentication and the monitor privilege (the lab user has
        # monitor; a user without it is refused).
        user = Elasticsearch(lab.local.url, basic_auth=(USER, USER_PASSWORD))
        assert ALIAS in health(user)["remotes"]
        anonymous = Elasticsearch(lab.local.url)
        with pytest.raises(ApiError) as unauthenticated:
            health(anonymous)
        assert unauthenticated.value.meta.status == 401
        admin.security.put_role(name="no_monitor", cluster=[], indices=[])
        admin.security.put_user(username="nomon", password="nomon-pw-123", roles=["no_monitor"])
        nomon = Elasticsearch(lab.local.url, basic_auth=("nomon", "nomon-pw-123"))
        with pytest.raises(ApiError) as forbidden:
            health(nomon)
        assert forbidden.value.meta.status == 403
        assert "cluster:monitor/isthmus/remote/health" in str(forbidden.value.body)
        with pytest.raises(ApiError) as forbidden_report:
            nomon.health_report()
        assert forbidden_report.value.meta.status == 403


def test_a_credential_refused_on_an_open_connection_turns_the_alias_yellow(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """A changed credential is sent with the next request and refused there (401) while the
    connections stay open: only the traffic can tell, and health shows it."""
    with Lab(tmp_path, LabSpec()) as lab:
        lab.start()
        assert lab.key is not None and lab.local is not None and lab.credential is not None
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, lab.credential, str(lab.key["api_key"])):
            record_secret(secret)
        assert lab.wait_connected()["connected"]
        admin = Elasticsearch(lab.local.url, basic_auth=("elastic", ELASTIC_PASSWORD))
        entry = health(admin)["remotes"][ALIAS]
        assert entry["status"] == "green"
        # TLS (remote_cluster_client): its latency and the remote certificate's expiry are read.
        assert entry["latency"]["tls"]["samples"] >= 1
        assert entry["certificate"]["not_after"] is not None
        assert entry["certificate"]["expiring"] is False
        good = lab.credential
        wrong = base64.b64encode(f"{lab.key['id']}:{'x' * 22}".encode()).decode()
        record_secret(wrong)
        lab.set_credential(wrong)
        user = Elasticsearch(lab.local.url, basic_auth=(USER, USER_PASSWORD))
        with pytest.raises(ApiError) as refused:
            user.search(index=f"{ALIAS}:{INDEX}")
        assert refused.value.meta.status == 401
        entry = health(admin)["remotes"][ALIAS]
        assert entry["connected"] is True
        assert entry["status"] == "yellow"
        assert entry["last_error"]["stage"] == "authentication"
        assert "api_key_invalid" in entry["last_error"]["candidates"]
        assert wrong not in orjson.dumps(entry).decode()
        lab.set_credential(good)
        assert user.search(index=f"{ALIAS}:{INDEX}")["hits"]["total"]["value"] == 3


# --- black-holed, in a private network namespace -----------------------------------------------

REMOTE_TRANSPORT_PORT = 9300
LOCAL_TRANSPORT_PORT = 9301


@pytest.fixture
def netns() -> Iterator[Netns]:
    try:
        ns = Netns.create("isthmus-health")
    except NetnsUnavailable as exc:
        pytest.skip(f"cannot create a network namespace: {exc}")
    try:
        yield ns
    finally:
        ns.delete()


def _get(conn: NetnsHTTPConnection, path: str) -> Any:
    conn.request("GET", path)
    resp = conn.getresponse()
    return orjson.loads(resp.read())


def test_a_black_holed_remote_shows_the_tcp_stage_within_the_probe_timeout(
    tmp_path: Path, netns: Netns
) -> None:
    remote = NodeProcess(
        tmp_path / "remote",
        {"cluster.name": "remote", "node.name": "r1", "transport.port": REMOTE_TRANSPORT_PORT},
        wrap=netns.wrap,
    )
    seed = f"127.0.0.1:{REMOTE_TRANSPORT_PORT}"
    local = NodeProcess(
        tmp_path / "local",
        {
            "cluster.name": "local",
            "node.name": "l1",
            "transport.port": LOCAL_TRANSPORT_PORT,
            "cluster.remote.far.seeds": [seed],
            **FAST,
        },
        wrap=netns.wrap,
    )
    try:
        netns.prepare_blackhole([REMOTE_TRANSPORT_PORT])
        remote.start()
        local.start()
        host, port = str(local.http_address).rsplit(":", 1)
        conn = NetnsHTTPConnection(host, int(port), 10.0, netns)
        wait_for(lambda: _get(conn, "/_isthmus/remote/health")["remotes"]["far"]["connected"])
        started = time.monotonic()
        netns.blackhole_on()

        def tcp_error() -> bool:
            far = _get(conn, "/_isthmus/remote/health/far")["remotes"]["far"]
            error = far["last_error"]
            return bool(error and error["stage"] == "tcp" and not far["connected"])

        wait_for(tcp_error, timeout=10)
        elapsed = time.monotonic() - started
        print(f"\nblack-holed remote: last_error.stage=tcp after {elapsed:.2f}s")
        assert elapsed <= 3.0 + 1.0 + 0.5  # 3 s + one probe interval, and CI slack
        far = _get(conn, "/_isthmus/remote/health/far")["remotes"]["far"]
        assert far["last_error"]["cause"] == "tcp_timeout"
        assert far["status"] == "red"
        conn.close()
    finally:
        local.kill()
        remote.kill()
