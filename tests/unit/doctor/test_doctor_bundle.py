"""Bundles (round trip, secrets never inside), the engine's merge of REST, probe and log
results, the collector's pruning and redaction, privilege patterns, and both renderings."""

from __future__ import annotations

import orjson
import pytest
from rich.console import Console

from isthmus.doctor.bundle import Bundle, BundleError, decode, encode
from isthmus.doctor.collect import ClusterAccess, prune_keys, prune_nodes, redact
from isthmus.doctor.engine import merge
from isthmus.doctor.evidence import REDACTED
from isthmus.doctor.model import Confidence, Finding, Outcome, Side, Stage, StageResult
from isthmus.doctor.render import render
from isthmus.doctor.rules_privileges import covers, pattern_matches
from isthmus.settings.secret import Secret
from tests.unit.doctor.rest_evidence import (
    ALIAS,
    INDEX,
    NOW,
    TEXTS,
    local,
    remote,
    report,
    search_error,
)

PASSWORD = "s3cret-Passw0rd"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


def test_bundle_round_trip_gives_the_same_report() -> None:
    loc = local(search=search_error(TEXTS["unable_to_authenticate"], status=401))
    rem = remote()
    bundle = Bundle(NOW, INDEX, (ALIAS,), loc, rem, {"local": {"local.log": ["a line"]}})
    again = decode(encode(bundle))
    assert again.local == loc and again.remote == rem and again.logs == bundle.logs
    assert report(again.local, again.remote).to_json() == report(loc, rem).to_json()


def test_no_secret_survives_in_a_bundle() -> None:
    loc = local(search=search_error(f"echoed {PASSWORD} and {API_KEY}"))
    bundle = Bundle(NOW, INDEX, (ALIAS,), loc, None, {"local": {"x.log": [f"pw={PASSWORD}"]}})
    data = encode(bundle, [PASSWORD, API_KEY]).decode()
    assert PASSWORD not in data and API_KEY not in data and REDACTED in data


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"{}",
        b'{"format": "isthmus-doctor-bundle", "version": 99}',
        b'{"format": "isthmus-doctor-bundle", "version": 1}',
    ],
)
def test_bad_bundles_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(BundleError):
        decode(data)


def test_redaction_and_pruning() -> None:
    settings = {
        "xpack": {"security": {"transport": {"ssl": {"keystore": {"password": "pw"}, "key": "/k"}}}}
    }
    nodes = {"nodes": {"n": {"name": "a", "roles": ["data"], "settings": settings, "os": {"x": 1}}}}
    pruned = redact(prune_nodes(nodes))
    node = pruned["nodes"]["n"]
    assert "os" not in node
    assert node["settings"]["xpack.security.transport.ssl.keystore.password"] == REDACTED
    assert node["settings"]["xpack.security.transport.ssl.key"] == "/k"
    # A reason text named like a credential is evidence, not a secret.
    kept = redact({"additional_unsuccessful_credentials": "API key: api key is expired"})
    assert kept["additional_unsuccessful_credentials"] == "API key: api key is expired"
    keys = prune_keys(
        {"api_keys": [{"id": "k", "api_key": "secret", "type": "rest", "role_descriptors": {}}]}
    )
    assert keys == {"api_keys": [{"id": "k", "type": "rest"}]}


def test_access_never_shows_credentials() -> None:
    access = ClusterAccess("https://elastic:pw@host:9200/", password=Secret(PASSWORD))
    assert access.public_url == "https://host:9200/"
    assert set(access.secrets()) == {PASSWORD, "pw"}


def _f(stage: Stage, code: str, confidence: Confidence = Confidence.CERTAIN) -> Finding:
    return Finding(stage, code, Side.NETWORK, code, confidence=confidence)


def test_merge_a_probe_beats_an_undecided_rest_finding() -> None:
    rest = [
        StageResult(Stage.CONFIGURATION, Outcome.PASSED),
        StageResult(
            Stage.TCP, Outcome.UNDECIDED, (_f(Stage.TCP, "connection_failed", Confidence.POSSIBLE),)
        ),
    ]
    probe = [
        StageResult(Stage.DNS, Outcome.PASSED),
        StageResult(Stage.TCP, Outcome.PASSED),
        StageResult(Stage.PROTOCOL, Outcome.PASSED),
        StageResult(Stage.TLS, Outcome.FAILED, (_f(Stage.TLS, "tls_expired"),)),
    ]
    merged = {r.stage: r for r in merge([rest, probe])}
    assert merged[Stage.TCP].outcome is Outcome.PASSED
    assert merged[Stage.TLS].findings[0].cause == "tls_expired"


def test_merge_a_certain_failure_beats_a_possible_one_at_the_same_stage() -> None:
    a = [
        StageResult(
            Stage.TLS, Outcome.FAILED, (_f(Stage.TLS, "tls_untrusted_ca", Confidence.POSSIBLE),)
        )
    ]
    b = [StageResult(Stage.TLS, Outcome.FAILED, (_f(Stage.TLS, "tls_missing_intermediate"),))]
    (tls,) = [r for r in merge([a, b]) if r.stage is Stage.TLS]
    assert tls.findings[0].cause == "tls_missing_intermediate"


def test_merge_an_earlier_decided_failure_drops_later_undecided_ones() -> None:
    rest = [
        StageResult(
            Stage.TLS, Outcome.UNDECIDED, (_f(Stage.TLS, "tls_untrusted_ca", Confidence.POSSIBLE),)
        )
    ]
    logs = [
        StageResult(
            Stage.PROTOCOL, Outcome.FAILED, (_f(Stage.PROTOCOL, "transport_port_with_credentials"),)
        )
    ]
    stages = {r.stage for r in merge([rest, logs])}
    assert Stage.PROTOCOL in stages and Stage.TLS not in stages


@pytest.mark.parametrize(
    ("pattern", "name", "ok"),
    [
        ("logs-*", "logs-1", True),
        ("logs-*", "logs", False),
        ("*", "x", True),
        ("/lo.s/", "logs", True),
        ("l?gs", "logs", True),
        ("metrics-*", "logs", False),
    ],
)
def test_index_patterns(pattern: str, name: str, ok: bool) -> None:
    assert pattern_matches(pattern, name) is ok


def test_wildcard_index_is_covered_by_the_same_or_a_wider_pattern() -> None:
    assert (
        covers(["logs-*"], "logs-*")
        and covers(["*"], "logs-*")
        and not covers(["metrics-*"], "logs-*")
    )


def test_human_and_json_renderings() -> None:
    rep = report(local(search=search_error(TEXTS["wrong_key_type"], status=401)))
    console = Console(width=140, record=True)
    render(rep, console)
    text = console.export_text()
    for part in (
        "my: RED",
        "api_key_wrong_type",
        "authentication",
        "fix (local)",
        "POST /_security/cross_cluster/api_key",
        "exit 1",
    ):
        assert part in text
    raw = orjson.loads(orjson.dumps(rep.to_json()))
    finding = raw["aliases"][ALIAS]["findings"][0]
    assert raw["aliases"][ALIAS]["status"] == "red"
    assert {
        "stage",
        "cause",
        "side",
        "nodes",
        "fix",
        "evidence",
        "confidence",
        "candidates",
    } <= set(finding)


def test_merge_a_later_failure_does_not_settle_an_earlier_question() -> None:
    """REST: untrusted issuer, wrong CA or wrong port? A probe's TLS failure that does not rule
    the port out leaves the question open; one that does decides it."""
    question = Finding(
        Stage.TLS,
        "tls_untrusted_ca",
        Side.LOCAL,
        "?",
        confidence=Confidence.POSSIBLE,
        candidates=("tls_untrusted_ca", "transport_port_with_credentials"),
    )
    rest = [StageResult(Stage.TLS, Outcome.UNDECIDED, (question,))]
    probe = [StageResult(Stage.TLS, Outcome.FAILED, (_f(Stage.TLS, "tls_untrusted_ca"),))]
    (tls,) = [r for r in merge([rest, probe]) if r.stage is Stage.TLS]
    assert tls.outcome is Outcome.UNDECIDED
    sure = Finding(
        Stage.TLS,
        "tls_untrusted_ca",
        Side.LOCAL,
        "!",
        ruled_out=("transport_port_with_credentials",),
    )
    probe = [StageResult(Stage.TLS, Outcome.FAILED, (sure,))]
    (tls,) = [r for r in merge([rest, probe]) if r.stage is Stage.TLS]
    assert tls.outcome is Outcome.FAILED and tls.findings[0].message == "!"


def test_merge_a_certain_port_finding_answers_the_port_question() -> None:
    question = Finding(
        Stage.PROTOCOL,
        "remote_cluster_port_without_credentials",
        Side.LOCAL,
        "?",
        confidence=Confidence.POSSIBLE,
        candidates=("remote_cluster_port_without_credentials", "tls_untrusted_ca"),
    )
    logs = [StageResult(Stage.PROTOCOL, Outcome.UNDECIDED, (question,))]
    probe = [
        StageResult(
            Stage.PROTOCOL,
            Outcome.FAILED,
            (_f(Stage.PROTOCOL, "remote_cluster_port_without_credentials"),),
        )
    ]
    (protocol,) = [r for r in merge([logs, probe]) if r.stage is Stage.PROTOCOL]
    assert protocol.outcome is Outcome.FAILED


def test_a_yellow_alias_exits_0_but_is_not_called_healthy() -> None:
    from isthmus.doctor.model import AliasVerdict, Report

    passed = [StageResult(stage, Outcome.PASSED) for stage in Stage]
    warning = Finding(
        Stage.TCP, "connection_unreliable", Side.NETWORK, "the link to [my] keeps dropping"
    )
    yellow = Report(aliases=(AliasVerdict.from_stages(ALIAS, passed, [warning]),))
    green = Report(aliases=(AliasVerdict.from_stages(ALIAS, passed),))
    texts = []
    for rep in (yellow, green):
        console = Console(width=140, record=True)
        render(rep, console)
        texts.append(console.export_text())
    assert yellow.exit_code == 0 and "exit 0: working, with warnings" in texts[0]
    assert "exit 0: healthy" in texts[1]
