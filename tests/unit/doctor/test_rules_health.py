"""What the local node's live health and the remote's key record add to the doctor's verdict
(isthmus.doctor.rules_health), on ES's documented responses plus Isthmus's health shape: the
endpoint missing (Elasticsearch) changes nothing; flaps on a connected alias are a yellow
warning; a disconnected alias's last error is a stage result; a key expiring within 7 days is a
warning only when the doctor knows which key the alias uses."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.doctor import evidence as ev
from isthmus.doctor.bundle import Bundle, decode, encode
from isthmus.doctor.collect import credential_key_ids, read_config
from isthmus.doctor.evidence import ApiResult, ConfigEvidence, SideEvidence
from isthmus.doctor.model import Confidence, Outcome, Stage, Status
from isthmus.security.keystore import create_keystore, update_keystore
from isthmus.settings.secret import Secret
from tests.unit.doctor.rest_evidence import (
    ALIAS,
    INDEX,
    NOW,
    TEXTS,
    es,
    local,
    remote,
    report,
    search_error,
    verdict,
)

KEY_ID = "agZXJocBmA2beJfq2yKu"
HEALTHY_SEARCH = ApiResult(
    200,
    {
        "_shards": {"total": 1, "successful": 1},
        "hits": {"total": {"value": 3}},
        "_clusters": {"details": {ALIAS: {"status": "successful"}}},
    },
)


def _iso(delta: timedelta) -> str:
    return (NOW + delta).isoformat(timespec="milliseconds")


def health_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": "green",
        "connected": True,
        "mode": "proxy",
        "security_model": "api_key",
        "connections": {"open": 18, "wanted": 18},
        "last_success": _iso(-timedelta(seconds=1)),
        "last_error": None,
        "consecutive_failures": 0,
        "flaps": {
            "count": 0,
            "window_seconds": 300,
            "connections_lost": 0,
            "first": None,
            "last": None,
        },
    }
    entry.update(changes)
    return entry


def with_health(
    side: SideEvidence, entry: dict[str, Any] | None, status: int = 200
) -> SideEvidence:
    body: Any = {
        "cluster_name": "local",
        "node": {"id": "n1", "name": "local-node"},
        "remotes": {ALIAS: entry} if entry is not None else {},
    }
    if status != 200:  # Elasticsearch: no such endpoint
        body = {"error": {"type": "illegal_argument_exception"}, "status": status}
    calls = {**side.calls, ev.ISTHMUS_HEALTH: ApiResult(status, body)}
    return SideEvidence(side.url, calls, side.configs)


def healthy(configs: tuple[ConfigEvidence, ...] = ()) -> SideEvidence:
    return local(
        search=HEALTHY_SEARCH, connected=True, resolve=es("resolve_cluster_ok"), configs=configs
    )


FLAPPING = health_entry(
    flaps={
        "count": 7,
        "window_seconds": 300,
        "connections_lost": 125,
        "first": _iso(-timedelta(seconds=40)),
        "last": _iso(-timedelta(seconds=2)),
    },
    last_error={
        "time": _iso(-timedelta(seconds=2)),
        "stage": "tcp",
        "cause": "connection_unreliable",
        "message": "[127.0.0.1:9443] closed by remote (closed by peer)",
        "address": "127.0.0.1:9443",
    },
)


# --- the endpoint is never required ----------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404])
def test_elasticsearch_without_the_endpoint_gives_the_same_verdict(status: int) -> None:
    for side in (healthy(), local(search=search_error(TEXTS["connect_exception"]))):
        plain = report(side).to_json()
        assert report(with_health(side, FLAPPING, status)).to_json() == plain


# --- a fault that comes and goes -------------------------------------------------------------


def test_a_connected_alias_that_keeps_losing_its_link_is_yellow() -> None:
    rep = report(with_health(healthy(), FLAPPING))
    (v,) = rep.aliases
    assert v.status is Status.YELLOW and v.findings == () and rep.exit_code == 0
    (w,) = v.warnings
    assert (w.stage, w.cause, w.side.value, w.confidence) == (
        Stage.TCP,
        "connection_unreliable",
        "network",
        Confidence.LIKELY,
    )
    assert w.nodes == ("local-node",)
    text = " ".join(e.detail for e in w.evidence)
    assert "lost 7 times in the last 300 s (125 connections closed)" in text
    assert _iso(-timedelta(seconds=40)) in text and "closed by remote" in text
    assert w.fix is not None and any("ping_schedule" in s for s in w.fix.steps)


def test_flaps_that_all_ended_before_since_are_not_evidence() -> None:
    """--since: the losses of an earlier, healed fault (or of a reconfiguration) do not count;
    when the window began before it, the evidence says so."""
    side = with_health(healthy(), FLAPPING)
    assert report(side, since=NOW - timedelta(seconds=1)).aliases[0].status is Status.GREEN
    (w,) = report(side, since=NOW - timedelta(seconds=10)).aliases[0].warnings
    assert "began before --since" in w.evidence[0].detail
    (w,) = report(side, since=NOW - timedelta(minutes=2)).aliases[0].warnings
    assert "began before" not in w.evidence[0].detail


def test_one_loss_is_not_a_pattern() -> None:
    one = health_entry(flaps={**FLAPPING["flaps"], "count": 1})
    assert verdict(with_health(healthy(), one)).status is Status.GREEN


def test_the_logs_stating_the_same_cause_take_the_health_evidence() -> None:
    """With the local logs the closures are a failed stage: the warning joins that finding."""
    from isthmus.doctor.model import Evidence, Finding, Side, StageResult

    logged = Finding(
        Stage.TCP,
        "connection_unreliable",
        Side.NETWORK,
        "closed by remote",
        evidence=(Evidence("local log", "closed by remote"),),
        confidence=Confidence.LIKELY,
    )
    stage = StageResult(Stage.TCP, Outcome.FAILED, (logged,), logged.evidence)
    v = verdict(with_health(healthy(), FLAPPING), extra={ALIAS: [[], [stage]]})
    assert v.warnings == ()
    (f,) = v.findings
    assert f.cause == "connection_unreliable"
    assert f.evidence[0].source == "local log"
    assert any("lost 7 times" in e.detail for e in f.evidence)


# --- a disconnected alias: the node's own last error --------------------------------------


def _down(**last: Any) -> dict[str, Any]:
    error = {
        "time": _iso(-timedelta(seconds=1)),
        "stage": "tcp",
        "cause": "tcp_refused",
        "message": "[][127.0.0.1:9443] connect_exception: Connection refused",
        "address": "127.0.0.1:9443",
        **last,
    }
    return health_entry(
        status="red",
        connected=False,
        connections={"open": 0, "wanted": 18},
        last_success=_iso(-timedelta(minutes=5)),
        last_error=error,
        consecutive_failures=12,
    )


def test_the_nodes_last_error_decides_what_connected_false_cannot() -> None:
    """Without a probe (--no-probe) the local REST evidence is the generic connect failure."""
    side = local(search=search_error(TEXTS["connect_exception"]))
    assert report(side).exit_code == 2  # undecided without the health
    rep = report(with_health(side, _down()))
    (v,) = rep.aliases
    (f,) = v.findings
    assert (f.stage, f.cause, f.confidence) == (Stage.TCP, "tcp_refused", Confidence.CERTAIN)
    assert any("12 failure(s) in a row" in e.detail for e in f.evidence)
    assert rep.exit_code == 1


def test_undecided_node_facts_replace_the_generic_connect_failure() -> None:
    """The node's attempt got through TCP and failed at TLS without a decided cause: the
    generic connection_failed (TCP) is ruled out and the node's candidates remain."""
    side = local(search=search_error(TEXTS["connect_exception"]), credentials=False)
    candidates = ["tls_to_plaintext", "tls_client_untrusted", "tls_client_certificate_required"]
    entry = _down(stage="tls", cause=None, candidates=candidates, message="connect failed")
    rep = report(with_health(side, entry))
    (v,) = rep.aliases
    failed = v.failed_stage
    assert failed is not None and failed.outcome is Outcome.UNDECIDED
    assert failed.stage is Stage.TLS
    (f,) = failed.findings
    assert list(f.candidates) == candidates and f.confidence is Confidence.POSSIBLE
    assert f.side.value == "unknown"  # the candidates' sides differ
    tcp = next(r for r in v.stages if r.stage is Stage.TCP)
    assert tcp.outcome is Outcome.PASSED
    assert rep.exit_code == 2
    # With API-key credentials the wrong port (transport port) also fails at TLS: the node's
    # facts do not answer that question, which stays open.
    keyed = verdict(with_health(local(search=search_error(TEXTS["connect_exception"])), entry))
    assert keyed.failed_stage is not None
    assert "transport_port_with_credentials" in keyed.failed_stage.findings[0].candidates


def test_a_connection_lost_without_a_reconnect_since_is_likely_unreliable() -> None:
    """The node declared its connection dead (no data within the liveness deadline) and has not
    tried again yet: the link opened and was lost, whatever the node read into how."""
    side = local(search=search_error(TEXTS["connect_exception"]), credentials=False)
    entry = _down(
        cause="tcp_timeout",
        message="no data from [127.0.0.1:9443] within the liveness deadline",
        lost_connection=True,
    )
    (f,) = verdict(with_health(side, entry)).findings
    assert (f.stage, f.cause, f.confidence) == (
        Stage.TCP,
        "connection_unreliable",
        Confidence.LIKELY,
    )
    assert any("liveness deadline" in e.detail for e in f.evidence)


def test_a_last_error_older_than_the_last_success_is_history() -> None:
    side = local(search=search_error(TEXTS["connect_exception"]))
    stale = _down()
    stale["last_success"] = _iso(timedelta(seconds=0))
    assert report(with_health(side, stale)).exit_code == 2


def test_a_credential_error_from_before_the_last_reload_is_history() -> None:
    """The key the node's last error was about was replaced and reloaded since: that error says
    nothing about the current key (it made a malformed key's verdict undecided once). A network
    error is not about the credential and stays current."""
    side = local(search=search_error(TEXTS["connect_exception"]))
    refused = _down(
        stage="authentication",
        cause="api_key_unknown",
        message="unable to find apikey with id [Aaaaaaaaaaaaaaaaaaaa]",
        time=_iso(-timedelta(seconds=3)),
    )
    reloaded = {"present": True, "expiry": None, "expiry_known": False}
    reloaded["reloaded_at"] = _iso(-timedelta(seconds=1))
    before = verdict(with_health(side, refused))
    assert before.failed_stage is not None and before.failed_stage.stage is Stage.AUTHENTICATION
    after = report(with_health(side, {**refused, "credentials": reloaded}))
    assert after.exit_code == 2  # back to what connect_exception alone says
    assert all(f.cause != "api_key_unknown" for v in after.aliases for f in v.findings)
    network = _down(time=_iso(-timedelta(seconds=3)))
    (f,) = verdict(with_health(side, {**network, "credentials": reloaded})).findings
    assert f.cause == "tcp_refused"


# --- the key's expiry ------------------------------------------------------------------------


def _config(key_id: str | None = KEY_ID) -> ConfigEvidence:
    names = (f"cluster.remote.{ALIAS}.credentials",)
    ids = {ALIAS: key_id} if key_id else {}
    return ConfigEvidence("/etc/local", {"node.name": "local-node"}, names, None, ids)


def _keys(expires_in: timedelta | None, *, by_id: bool = True) -> SideEvidence:
    keys = es("api_key_cross_cluster")
    if expires_in is not None:
        keys["api_keys"][0]["expiration"] = int((NOW + expires_in).timestamp() * 1000)
    side = remote(indices=["logs"], keys={"api_keys": []} if by_id else keys)
    if by_id:
        calls = {**side.calls, ev.api_key_key(KEY_ID): ApiResult(200, keys)}
        side = SideEvidence(side.url, calls)
    return side


@pytest.mark.parametrize("by_id", [True, False])
def test_a_key_expiring_within_7_days_is_a_warning(by_id: bool) -> None:
    v = verdict(healthy((_config(),)), _keys(timedelta(days=3), by_id=by_id))
    assert v.status is Status.YELLOW and v.findings == ()
    (w,) = v.warnings
    assert (w.stage, w.cause, w.side.value) == (Stage.AUTHENTICATION, "api_key_expiring", "remote")
    assert KEY_ID in w.message and "3.0 days" in w.message
    assert w.nodes == ("remote-node",)
    assert w.fix is not None
    assert '"names":["logs-*"]' in w.fix.steps[0]  # the new key keeps the old one's access
    assert "reload_secure_settings" in w.fix.steps[2]


def test_a_key_expiring_later_or_never_is_evidence_of_a_passed_stage() -> None:
    for delta, text in ((timedelta(days=30), "30.0 days from now"), (None, "no expiration")):
        v = verdict(healthy((_config(),)), _keys(delta))
        assert v.status is Status.GREEN and v.warnings == ()
        authn = next(r for r in v.stages if r.stage is Stage.AUTHENTICATION)
        assert authn.outcome is Outcome.PASSED
        assert any(text in e.detail for e in authn.evidence)


def test_without_the_local_keystore_the_expiry_is_unknown() -> None:
    """The remote's key list alone does not say which key the alias uses: no warning, even
    for a key of the list that expires tomorrow."""
    v = verdict(healthy(), _keys(timedelta(days=1), by_id=False))
    assert v.status is Status.GREEN and v.warnings == ()
    authn = next(r for r in v.stages if r.stage is Stage.AUTHENTICATION)
    assert any("unknown" in e.detail and "--local-config" in e.detail for e in authn.evidence)
    v = verdict(healthy((_config(),)))  # the id, but not the remote
    authn = next(r for r in v.stages if r.stage is Stage.AUTHENTICATION)
    assert any("--remote" in e.detail for e in authn.evidence)


# --- the collector: key ids from a real keystore; bundles keep them -----------------------


def test_the_key_id_is_read_from_the_keystore_and_the_secret_is_not(tmp_path: Path) -> None:
    secret = "s3cr3t-Secret-value-22"
    encoded = base64.b64encode(f"{KEY_ID}:{secret}".encode()).decode()
    create_keystore(tmp_path, None)
    update_keystore(
        tmp_path,
        None,
        lambda c: (
            c.with_string(f"cluster.remote.{ALIAS}.credentials", Secret(encoded))
            .with_string("cluster.remote.other.credentials", Secret("not base64 at all!"))
            .with_string(
                "cluster.remote.third.credentials", Secret(base64.b64encode(b"x").decode())
            )
        ),
    )
    config = read_config(tmp_path)
    assert config.credential_key_ids == {ALIAS: KEY_ID}
    assert credential_key_ids([tmp_path]) == (KEY_ID,)
    text = orjson.dumps(config.to_json()).decode()
    assert secret not in text and encoded not in text
    side = SideEvidence("http://local:9200", {}, (config,))
    bundle = Bundle(NOW, INDEX, (ALIAS,), side)
    again = decode(encode(bundle, [encoded]))
    assert again.local.configs[0].credential_key_ids == {ALIAS: KEY_ID}
