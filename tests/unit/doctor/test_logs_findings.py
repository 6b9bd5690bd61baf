"""What the logs say about an alias: every symptom of the troubleshooting guide, from the guide's
own lines, from real lines Isthmus wrote in the lab (JSON and plain), and from variants (ES 7 /
8.x / 9.x wording, JSON vs plain, one side or both), each to its stage, cause, side and nodes.

Fixtures: ``tests/fixtures/doctor/logs/guide/<symptom>`` (the guide's exact lines),
``<scenario>-<mode>`` (recorded by ``record_lab.py`` from the lab's real runs) and
``variants/<name>``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from isthmus.doctor.causes import BY_CODE
from isthmus.doctor.logs import LogLine, log_findings, read_log_dir
from isthmus.doctor.model import AliasVerdict, Outcome, StageResult, Status

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "doctor" / "logs"


class Got(NamedTuple):
    stage: str
    outcome: str
    cause: str
    side: str
    nodes: tuple[str, ...]
    confidence: str
    candidates: tuple[str, ...] = ()


def summary(results: list[StageResult]) -> list[Got]:
    return [
        Got(
            r.stage.value,
            r.outcome.value,
            f.cause,
            f.side.value,
            f.nodes,
            f.confidence.value,
            f.candidates,
        )
        for r in results
        for f in r.findings
    ]


def load(case: Path, side: str) -> list[LogLine] | None:
    return read_log_dir(case / side, tz=UTC) if (case / side).exists() else None


def run(case: str, *, remote: bool, alias: str = "my") -> list[StageResult]:
    path = FIXTURES / case
    local = load(path, "local") or []
    return log_findings(local, load(path, "remote") if remote else None, alias)


KEYS = ("api_key_invalid", "api_key_unknown", "api_key_invalidated", "api_key_expired")
U = "undecided"
F = "failed"

# --- the guide's own lines ------------------------------------------------------------------------

G_NODES_9309 = ("local-node", "remote-node", "192.168.0.42:9309")
GUIDE: list[tuple[str, bool, Got]] = [
    # Remote cluster not reachable: connect_exception without its cause decides nothing.
    (
        "remote-not-reachable-proxy",
        False,
        Got(
            "tcp",
            U,
            "tcp_refused",
            "unknown",
            ("local-node", "192.168.0.42:9443"),
            "possible",
            ("tcp_refused", "tcp_timeout", "tcp_unreachable"),
        ),
    ),
    (
        "remote-not-reachable-sniff",
        False,
        Got(
            "tcp",
            U,
            "tcp_refused",
            "unknown",
            ("local-node", "192.168.0.42:9443"),
            "possible",
            ("tcp_refused", "tcp_timeout", "tcp_unreachable"),
        ),
    ),
    # TLS trust: nothing configured locally (JDK-trusted-certs).
    (
        "tls-trust-not-established",
        False,
        Got("tls", F, "tls_untrusted_ca", "local", ("local-node", "192.168.0.42"), "likely"),
    ),
    (
        "tls-trust-not-established",
        True,
        Got(
            "tls",
            F,
            "tls_untrusted_ca",
            "local",
            ("local-node", "remote-node", "192.168.0.42:9443"),
            "certain",
        ),
    ),
    # API-key model on the transport port, separate CAs: only the remote's profile=default decides.
    (
        "api-key-transport-port-different-ca",
        False,
        Got(
            "protocol",
            U,
            "tls_untrusted_ca",
            "local",
            ("local-node",),
            "possible",
            ("tls_untrusted_ca", "transport_port_with_credentials"),
        ),
    ),
    (
        "api-key-transport-port-different-ca",
        True,
        Got("protocol", F, "transport_port_with_credentials", "local", G_NODES_9309, "certain"),
    ),
    # Shared CA: bad_certificate locally, Empty client certificate chain (profile=default) remotely.
    (
        "api-key-transport-port-shared-ca",
        False,
        Got(
            "protocol",
            F,
            "transport_port_with_credentials",
            "local",
            ("local-node", "192.168.0.42:9309"),
            "likely",
        ),
    ),
    (
        "api-key-transport-port-shared-ca",
        True,
        Got("protocol", F, "transport_port_with_credentials", "local", G_NODES_9309, "certain"),
    ),
    (
        "api-key-transport-port-client-cert",
        False,
        Got("protocol", F, "transport_port_with_credentials", "local", G_NODES_9309, "certain"),
    ),
    # A fragment without its header: no local node name, the remote's from the exception.
    (
        "api-key-transport-port-anonymous",
        False,
        Got(
            "protocol",
            F,
            "transport_port_with_credentials",
            "local",
            ("remote-node", "192.168.0.42:9309"),
            "certain",
        ),
    ),
    (
        "api-key-transport-port-anonymous-superuser",
        False,
        Got("handshake", F, "handshake_wrong_profile", "local", G_NODES_9309, "certain"),
    ),
    # No API key, different CAs: the local side uses the transport's ssl context.
    (
        "no-api-key-different-ca",
        False,
        Got(
            "protocol",
            U,
            "tls_untrusted_ca",
            "local",
            ("local-node",),
            "possible",
            ("tls_untrusted_ca", "remote_cluster_port_without_credentials"),
        ),
    ),
    (
        "no-api-key-different-ca",
        True,
        Got(
            "protocol",
            F,
            "remote_cluster_port_without_credentials",
            "local",
            ("local-node", "remote-node", "192.168.0.42:9443"),
            "certain",
        ),
    ),
    (
        "no-api-key-trusted",
        False,
        Got("authentication", F, "credentials_missing", "local", (), "certain"),
    ),
    (
        "rest-api-key",
        False,
        Got(
            "authentication",
            F,
            "api_key_wrong_type",
            "local",
            ("local-node", "remote-node", "192.168.0.42:9443"),
            "certain",
        ),
    ),
    (
        "invalid-api-key",
        False,
        Got(
            "authentication",
            U,
            "api_key_invalid",
            "unknown",
            ("local-node", "remote-node", "192.168.0.42:9443"),
            "possible",
            KEYS,
        ),
    ),
    (
        "invalid-api-key",
        True,
        Got(
            "authentication",
            F,
            "api_key_invalid",
            "local",
            ("local-node", "remote-node", "192.168.0.42:9443"),
            "certain",
        ),
    ),
]


@pytest.mark.parametrize(
    ("case", "remote", "expected"),
    GUIDE,
    ids=[f"{c}-{'both' if r else 'local'}" for c, r, _ in GUIDE],
)
def test_guide(case: str, remote: bool, expected: Got) -> None:
    assert summary(run(f"guide/{case}", remote=remote)) == [expected]


def test_guide_unreliable_connection_names_its_alias() -> None:
    """The guide's example names the remote ``my-remote`` in the node id ``{my-remote#...}``."""
    case = FIXTURES / "guide" / "connection-unreliable"
    local = load(case, "local") or []
    assert summary(log_findings(local, None, "my")) == []
    (got,) = summary(log_findings(local, None, "my-remote"))
    assert got == Got(
        "tcp",
        F,
        "connection_unreliable",
        "network",
        ("local-node", "192.168.0.42:9443"),
        "possible",
    )


# --- real lines from the lab ----------------------------------------------------------------------

L = "127.0.0.1"
LAB: list[
    tuple[
        str,
        tuple[str, str, str, str, str, tuple[str, ...]],
        tuple[str, str, str, str, tuple[str, ...]],
    ]
] = [
    # scenario, (local-only: stage, outcome, cause, side, confidence, candidates), (both: ...)
    (
        "server-disabled-proxy",
        ("tcp", F, "tcp_refused", "remote", "certain", ()),
        ("tcp", F, "tcp_refused", "certain", ()),
    ),
    (
        "server-disabled-sniff",
        ("tcp", F, "tcp_refused", "remote", "certain", ()),
        ("tcp", F, "tcp_refused", "certain", ()),
    ),
    (
        "wrong-port-proxy",
        ("tcp", F, "tcp_refused", "remote", "certain", ()),
        ("tcp", F, "tcp_refused", "certain", ()),
    ),
    (
        "untrusted-ca-proxy",
        (
            "protocol",
            U,
            "tls_untrusted_ca",
            "local",
            "possible",
            ("tls_untrusted_ca", "transport_port_with_credentials"),
        ),
        ("tls", F, "tls_untrusted_ca", "certain", ()),
    ),
    (
        "untrusted-ca-sniff",
        (
            "protocol",
            U,
            "tls_untrusted_ca",
            "local",
            "possible",
            ("tls_untrusted_ca", "transport_port_with_credentials"),
        ),
        ("tls", F, "tls_untrusted_ca", "certain", ()),
    ),
    (
        "transport-port-different-ca-proxy",
        (
            "protocol",
            U,
            "tls_untrusted_ca",
            "local",
            "possible",
            ("tls_untrusted_ca", "transport_port_with_credentials"),
        ),
        ("protocol", F, "transport_port_with_credentials", "certain", ()),
    ),
    (
        "transport-port-shared-ca-proxy",
        (
            "protocol",
            U,
            "transport_port_with_credentials",
            "local",
            "possible",
            ("transport_port_with_credentials", "tls_client_certificate_required"),
        ),
        ("protocol", F, "transport_port_with_credentials", "certain", ()),
    ),
    (
        "transport-port-client-cert-proxy",
        ("protocol", F, "transport_port_with_credentials", "local", "certain", ()),
        ("protocol", F, "transport_port_with_credentials", "certain", ()),
    ),
    (
        "transport-port-anonymous-proxy",
        ("protocol", F, "transport_port_with_credentials", "local", "certain", ()),
        ("protocol", F, "transport_port_with_credentials", "certain", ()),
    ),
    (
        "transport-port-anonymous-superuser-proxy",
        ("handshake", F, "handshake_wrong_profile", "local", "certain", ()),
        ("handshake", F, "handshake_wrong_profile", "certain", ()),
    ),
    (
        "no-credentials-proxy",
        (
            "protocol",
            U,
            "tls_untrusted_ca",
            "local",
            "possible",
            ("tls_untrusted_ca", "remote_cluster_port_without_credentials"),
        ),
        ("protocol", F, "remote_cluster_port_without_credentials", "certain", ()),
    ),
    (
        "no-credentials-trusted-proxy",
        ("authentication", F, "credentials_missing", "local", "certain", ()),
        ("authentication", F, "credentials_missing", "certain", ()),
    ),
    (
        "rest-key-proxy",
        ("authentication", F, "api_key_wrong_type", "local", "certain", ()),
        ("authentication", F, "api_key_wrong_type", "certain", ()),
    ),
    (
        "invalid-key-proxy",
        ("authentication", U, "api_key_invalid", "unknown", "possible", KEYS),
        ("authentication", F, "api_key_invalid", "certain", ()),
    ),
    (
        "invalid-key-sniff",
        ("authentication", U, "api_key_invalid", "unknown", "possible", KEYS),
        ("authentication", F, "api_key_invalid", "certain", ()),
    ),
    (
        "invalidated-key-proxy",
        ("authentication", U, "api_key_invalid", "unknown", "possible", KEYS),
        ("authentication", F, "api_key_invalidated", "certain", ()),
    ),
    (
        "expired-key-proxy",
        ("authentication", U, "api_key_invalid", "unknown", "possible", KEYS),
        ("authentication", F, "api_key_expired", "certain", ()),
    ),
    (
        "unreliable-connection-proxy",
        ("tcp", F, "connection_unreliable", "network", "likely", ()),
        ("tcp", F, "connection_unreliable", "likely", ()),
    ),
]


def _port(case: str) -> str:
    """The remote's port in a recorded scenario (the lab binds ephemeral ports)."""
    for line in load(FIXTURES / case, "local") or []:
        found = re.search(r"[\[#]127\.0\.0\.1:(\d+)[\]}]", line.text)
        if found is not None:
            return found[1]
    raise AssertionError(case)


@pytest.mark.parametrize(("case", "alone", "both"), LAB, ids=[c for c, _, _ in LAB])
def test_lab_scenario(case: str, alone: tuple[str, ...], both: tuple[str, ...]) -> None:
    address = f"{L}:{_port(case)}"
    (got,) = summary(run(case, remote=False))
    assert (got.stage, got.outcome, got.cause, got.side, got.confidence, got.candidates) == alone
    assert got.nodes[0] == "local-node" and got.nodes[-1] == address
    (got,) = summary(run(case, remote=True))
    assert (got.stage, got.outcome, got.cause, got.confidence, got.candidates) == both
    assert got.nodes[0] == "local-node" and got.nodes[-1] == address
    # The remote's node is named exactly when its log took part.
    remote_spoke = any(
        e.source.startswith("remote log")
        for r in run(case, remote=True)
        for f in r.findings
        for e in f.evidence
    )
    assert ("remote-node" in got.nodes) is (
        remote_spoke or "remote-node" in str(run(case, remote=False))
    )


@pytest.mark.parametrize(
    "case", ["working-proxy", "insufficient-privileges-proxy", "no-remote-indices-proxy"]
)
def test_lab_scenarios_the_logs_do_not_show(case: str) -> None:
    """A healthy pair, and the authorization faults the guide says show in no log."""
    assert run(case, remote=True) == [] and run(case, remote=False) == []


@pytest.mark.parametrize("case", [c for c, _, _ in LAB])
def test_lab_plain_file_says_what_the_json_says(case: str) -> None:
    path = FIXTURES / case
    plain_local = read_log_dir(next((path / "local").glob("*.log")), tz=UTC)
    plain_remote = read_log_dir(next((path / "remote").glob("*.log")), tz=UTC)
    from_plain = log_findings(plain_local, plain_remote, "my")
    assert summary(from_plain) == summary(run(case, remote=True))


# --- variants -------------------------------------------------------------------------------------

QC = "qc-node-1"
VARIANTS: list[tuple[str, bool, Got]] = [
    (
        "es8-json-connect-refused",
        False,
        Got("tcp", F, "tcp_refused", "remote", (QC, "10.0.0.5:9443"), "certain"),
    ),
    (
        "es9-plain-connect-timeout",
        False,
        Got("tcp", F, "tcp_timeout", "network", (QC, "10.0.0.5:9443"), "certain"),
    ),
    (
        "es87-proxy-no-cause",
        False,
        Got(
            "tcp",
            U,
            "tcp_refused",
            "unknown",
            (QC,),
            "possible",
            ("tcp_refused", "tcp_timeout", "tls_untrusted_ca", "handshake_closed"),
        ),
    ),
    (
        "es8-hostname-mismatch",
        False,
        Got("tls", F, "tls_hostname_mismatch", "both", (QC, "10.0.0.5:9443"), "certain"),
    ),
    (
        "es8-hostname-mismatch",
        True,
        Got(
            "tls", F, "tls_hostname_mismatch", "both", (QC, "fc-node-1", "10.0.0.5:9443"), "certain"
        ),
    ),
    (
        "ca-regenerated",
        False,
        Got("tls", F, "tls_ca_regenerated", "both", (QC, "10.0.0.5"), "certain"),
    ),
    (
        "expired-certificate",
        False,
        Got("tls", F, "tls_expired", "remote", (QC, "10.0.0.5"), "certain"),
    ),
    (
        "not-yet-valid-certificate",
        False,
        Got("tls", F, "tls_not_yet_valid", "remote", (QC, "10.0.0.5"), "certain"),
    ),
    (
        "missing-intermediate",
        False,
        Got(
            "tls",
            U,
            "tls_missing_intermediate",
            "unknown",
            (QC, "10.0.0.5"),
            "possible",
            ("tls_missing_intermediate", "tls_untrusted_ca"),
        ),
    ),
    # ES 7: certificate model on 9300 (likely alone), the remote's ES 7 JSON line confirms it.
    (
        "es7-untrusted-ca",
        False,
        Got("tls", F, "tls_untrusted_ca", "local", (QC, "10.0.0.5:9300"), "likely"),
    ),
    (
        "es7-untrusted-ca",
        True,
        Got("tls", F, "tls_untrusted_ca", "local", (QC, "fc-node-1", "10.0.0.5:9300"), "certain"),
    ),
    (
        "plaintext-to-tls",
        False,
        Got("handshake", F, "handshake_closed", "remote", (QC, "10.0.0.5:9443"), "likely"),
    ),
    (
        "plaintext-to-tls",
        True,
        Got(
            "protocol", F, "plaintext_to_tls", "both", (QC, "fc-node-1", "10.0.0.5:9443"), "certain"
        ),
    ),
    (
        "tls-to-plaintext",
        False,
        Got(
            "protocol",
            U,
            "tls_to_plaintext",
            "unknown",
            (QC, "10.0.0.5:9300"),
            "possible",
            ("tls_to_plaintext", "http_port", "not_elasticsearch"),
        ),
    ),
    (
        "tls-to-plaintext",
        True,
        Got(
            "protocol", F, "tls_to_plaintext", "both", (QC, "fc-node-1", "10.0.0.5:9300"), "certain"
        ),
    ),
    (
        "unknown-key",
        False,
        Got(
            "authentication",
            U,
            "api_key_invalid",
            "unknown",
            (QC, "fc-node-1", "10.0.0.5:9443"),
            "possible",
            KEYS,
        ),
    ),
    (
        "unknown-key",
        True,
        Got(
            "authentication",
            F,
            "api_key_unknown",
            "remote",
            (QC, "fc-node-1", "10.0.0.5:9443"),
            "certain",
        ),
    ),
    (
        "remote-restart",
        False,
        Got("tcp", F, "connection_unreliable", "network", (QC, "10.0.0.5:9443"), "possible"),
    ),
    (
        "two-aliases",
        False,
        Got(
            "authentication",
            F,
            "api_key_wrong_type",
            "local",
            (QC, "fc-node-1", "10.0.0.5:9443"),
            "certain",
        ),
    ),
    (
        "cluster-name-mismatch",
        False,
        Got("handshake", F, "handshake_cluster_name", "local", (QC, "10.0.0.8:9443"), "certain"),
    ),
]


@pytest.mark.parametrize(
    ("case", "remote", "expected"),
    VARIANTS,
    ids=[f"{c}-{'both' if r else 'local'}" for c, r, _ in VARIANTS],
)
def test_variant(case: str, remote: bool, expected: Got) -> None:
    assert summary(run(f"variants/{case}", remote=remote)) == [expected]


def test_remote_restart_is_not_a_network_fault() -> None:
    results = run("variants/remote-restart", remote=True)
    assert [(r.stage.value, r.outcome) for r in results] == [("tcp", Outcome.PASSED)]
    assert "restarted" in results[0].evidence[-1].detail
    assert any("stopping ..." in e.detail for e in results[0].evidence)


def test_a_fault_fixed_since_is_not_reported() -> None:
    assert run("variants/fixed-since", remote=False) == []
    local = load(FIXTURES / "variants" / "fixed-since", "local") or []
    (got,) = summary(log_findings(local[:1], None, "my"))  # without the success line
    assert got.cause == "tcp_refused"


def test_other_aliases_are_left_out() -> None:
    local = load(FIXTURES / "variants" / "two-aliases", "local") or []
    (got,) = summary(log_findings(local, None, "other"))
    assert (got.cause, got.nodes) == ("dns_unresolvable", (QC, "10.0.0.6:9443"))
    assert log_findings(local, None, "nobody") == []


# --- properties of every finding ------------------------------------------------------------------

ALL = (
    [(f"guide/{c}", r) for c, r, _ in GUIDE]
    + [(c, r) for c, _, _ in LAB for r in (False, True)]
    + [(f"variants/{c}", r) for c, r, _ in VARIANTS]
)


@pytest.mark.parametrize(("case", "remote"), ALL, ids=[f"{c}-{r}" for c, r in ALL])
def test_every_finding_is_complete(case: str, remote: bool) -> None:
    results = run(case, remote=remote)
    verdict = AliasVerdict.from_stages("my", results)
    assert verdict.status is Status.RED
    for result in results:
        for f in result.findings:
            assert f.cause in BY_CODE and all(c in BY_CODE for c in (*f.candidates, *f.ruled_out))
            assert f.evidence and f.evidence[0].source.startswith(("local log", "remote log"))
            assert f.message.startswith("remote cluster [my]: ")
            if result.outcome is Outcome.UNDECIDED:
                assert len(f.candidates) > 1 and f.would_decide and f.fix is None
                assert f.confidence.value == "possible"
            else:
                assert not f.candidates and f.fix is not None and f.fix.steps


def test_evidence_is_the_exact_line() -> None:
    (result,) = run("guide/rest-api-key", remote=False)
    text = (FIXTURES / "guide" / "rest-api-key" / "local" / "local.log").read_text().rstrip("\n")
    assert result.findings[0].evidence[0].detail == text
    assert result.findings[0].evidence[0].source == "local log local.log:1"


def test_secrets_are_redacted_in_evidence() -> None:
    secret = "azN5SWQtMDAwMDAwMDAwMDAwMDpzM2NyM3RzM2NyM3RzM2NyM3RzM2Ny"
    local = load(FIXTURES / "variants" / "two-aliases", "local") or []
    assert any(secret in line.raw for line in local)
    (result,) = log_findings(local, None, "my")
    text = str([r.to_json() for r in [result]])
    assert secret not in text and "ApiKey ::es_redacted::" in text


def test_remote_expected_silent_is_said() -> None:
    """The guide: 'This does not show up in the logs of the remote cluster'."""
    (with_remote,) = run("rest-key-proxy", remote=True)
    notes = [e.detail for e in with_remote.findings[0].evidence if e.source == "log join"]
    assert any("logged nothing for this, as expected" in n for n in notes)
    (alone,) = run("rest-key-proxy", remote=False)
    notes = [e.detail for e in alone.findings[0].evidence if e.source == "log join"]
    assert any("would not add anything" in n for n in notes)


def test_missing_answer_from_the_remote_is_said() -> None:
    """A trust failure the remote's log does not show: the address may not be that cluster."""
    case = FIXTURES / "untrusted-ca-proxy"
    local = load(case, "local") or []
    (result,) = log_findings(local, [], "my")
    notes = [e.detail for e in result.findings[0].evidence if e.source == "log join"]
    assert any("has no matching line" in n for n in notes)


def test_window_limits_both_sides() -> None:
    case = FIXTURES / "invalid-key-proxy"
    local, remote = load(case, "local") or [], load(case, "remote") or []
    times = [x.time for x in local if x.time is not None]
    before = (min(times).replace(year=2000), min(times).replace(year=2001))
    assert log_findings(local, remote, "my", window=before) == []
    everything = (min(times).replace(year=2000), max(times).replace(year=2100))
    assert summary(log_findings(local, remote, "my", window=everything)) == summary(
        log_findings(local, remote, "my")
    )


def _shift(lines: list[LogLine], by: timedelta) -> list[LogLine]:
    return [replace(x, time=x.time + by if x.time else None) for x in lines]


def test_join_needs_the_same_key() -> None:
    case = FIXTURES / "invalid-key-proxy"
    local, remote = load(case, "local") or [], load(case, "remote") or []
    other_key = [replace(x, message=x.message.replace("API key [", "API key [x")) for x in remote]
    assert summary(log_findings(local, other_key, "my"))[0].outcome == U


def test_join_needs_a_near_time() -> None:
    """Isthmus's 'api key has been invalidated' names no key: only time ties it to the alias."""
    case = FIXTURES / "invalidated-key-proxy"
    local, remote = load(case, "local") or [], load(case, "remote") or []
    assert summary(log_findings(local, _shift(remote, timedelta(seconds=90)), "my"))[0].cause == (
        "api_key_invalidated"
    )
    assert summary(log_findings(local, _shift(remote, timedelta(hours=1)), "my"))[0].outcome == U


def test_remote_lines_alone() -> None:
    """No local line for the alias: the remote's own symptoms still say something, less sure."""
    remote = load(FIXTURES / "invalidated-key-proxy", "remote") or []
    (got,) = summary(log_findings([], remote, "my"))
    assert (got.cause, got.confidence, got.nodes) == (
        "api_key_invalidated",
        "likely",
        ("remote-node",),
    )
