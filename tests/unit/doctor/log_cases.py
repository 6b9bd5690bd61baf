"""The expected log verdicts of every fixture (the guide's lines, the lab's recorded runs, the
variants) and the helpers the ``test_logs_*`` modules share.

Fixtures: ``tests/fixtures/doctor/logs/guide/<symptom>`` (the guide's exact lines),
``<scenario>-<mode>`` (recorded by ``record_lab.py`` from the lab's real runs) and
``variants/<name>`` (ES 7 / 8.x / 9.x wordings, JSON and plain, one side or both).
"""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path
from typing import NamedTuple

from isthmus.doctor.logs import LogLine, log_findings, read_log_dir
from isthmus.doctor.model import StageResult

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
        # The remote's log shows its node started before the closures and ran on: no restart.
        ("tcp", F, "connection_unreliable", "likely", ()),
    ),
    (
        "idle-cut-proxy",
        ("tcp", F, "connection_unreliable", "network", "possible", ()),
        ("tcp", F, "connection_unreliable", "likely", ()),
    ),
]


def lab_port(case: str) -> str:
    """The remote's port in a recorded scenario (the lab binds ephemeral ports)."""
    for line in load(FIXTURES / case, "local") or []:
        found = re.search(r"[\[#]127\.0\.0\.1:(\d+)[\]}]", line.text)
        if found is not None:
            return found[1]
    raise AssertionError(case)


# --- variants -------------------------------------------------------------------------------------

QC = "qc-node-1"
VARIANTS: list[tuple[str, bool, Got]] = [
    (
        "es8-json-connect-refused",
        False,
        Got("tcp", F, "tcp_refused", "remote", (QC, "10.0.0.5:9443"), "certain"),
    ),
    (  # ES's connect_timeout covers TCP, TLS and the handshake: it does not say which hung
        "es9-plain-connect-timeout",
        False,
        Got(
            "tcp",
            U,
            "tcp_timeout",
            "unknown",
            (QC, "10.0.0.5:9443"),
            "possible",
            ("tcp_timeout", "no_answer", "handshake_timeout"),
        ),
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
