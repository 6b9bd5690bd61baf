"""ES's "failed to establish trust with server" sentence, in each of its shapes, read into the
TLS cause it shows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from isthmus.doctor.log_lines import parse_plain
from isthmus.doctor.log_tls import classify_trust, parse_trust

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "doctor" / "logs"

# A real ES 8.15 line (enrollment on a node whose address changed): trusted chain, SANs without
# the dialled address, and Java's cause naming it.
REAL_HOSTNAME = (
    "failed to establish trust with server at [192.168.65.108]; the server provided a "
    "certificate with subject name [CN=192.168.65.101], fingerprint "
    "[c86e82e047189d58214f6afcb0f937ac46132e2c], no keyUsage and extendedKeyUsage [serverAuth]; "
    "the certificate is valid between [2024-10-02T11:38:14Z] and [2026-10-02T11:38:14Z] "
    "(current time is [2024-10-09T10:03:52.227453800Z], certificate dates are valid); the session "
    "uses cipher suite [TLS_AES_256_GCM_SHA384] and protocol [TLSv1.3]; the certificate has "
    "subject alternative names [IP:192.168.65.101,DNS:192.168.65.101,IP:0:0:0:0:0:0:0:1,"
    "IP:127.0.0.1,IP:fe80:0:0:0:48c4:f873:2fcd:1dc1,DNS:localhost]; the certificate is issued by "
    "[CN=Elasticsearch security auto-configuration HTTP CA]; the certificate is signed by (subject "
    "[CN=Elasticsearch security auto-configuration HTTP CA] fingerprint "
    "[91b71e79753bcd893a0e61855b02fbf15063a72e] {trusted issuer}) which is self-issued; the "
    "[CN=Elasticsearch security auto-configuration HTTP CA] certificate is trusted in this ssl "
    "context ([xpack.security.http.ssl (with trust configuration: Composite-Trust{JDK-trusted-certs,"
    "StoreTrustConfig{path=certs/http.p12, password=<non-empty>, type=PKCS12, algorithm=PKIX}})])"
)
# ES's own test of the 7.x wording: the issuer is trusted although the server sent no chain.
ISSUER_TRUSTED = (
    "failed to establish trust with server at [not-this-host]; the server provided a certificate "
    "with subject name [CN=not-this-host] and fingerprint [3bebe388a66362784afd6c51a9000961a4e10050]; "
    "the certificate has subject alternative names [DNS:not.this.host]; the certificate is issued by "
    "[CN=Certificate Authority 1,OU=ssl-error-message-test,DC=elastic,DC=co] but the server did not "
    "provide a copy of the issuing certificate in the certificate chain; the issuing certificate with "
    "fingerprint [3bebe388a66362784afd6c51a9000961a4e10051] is trusted in this ssl context "
    "([xpack.http.ssl])"
)


def _trust_line(path: str) -> str:
    (line,) = [
        x
        for x in parse_plain((FIXTURES / path).read_text(), tz=UTC)
        if "failed to establish trust" in x.message
    ][:1]
    return line.text


def test_guide_line_fields() -> None:
    facts = parse_trust(_trust_line("guide/api-key-transport-port-different-ca/local/local.log"))
    assert facts is not None
    assert facts.subject == "CN=transport"
    assert facts.fingerprint == "c43e628be2a8aaaa4092b82d78f2bc206c492322"
    assert facts.issuer == "CN=Elastic Auto Transport CA"
    assert facts.context == "xpack.security.remote_cluster_client.ssl"
    assert facts.trust_configuration == "PEM-trust{/rcs2/ssl/remote-cluster-ca.crt}"
    assert facts.trusted_issuers == ("CN=Elastic Auto RemoteCluster CA",)
    assert facts.model_context == "api_key"
    assert facts.not_after == datetime(2032, 8, 29, 12, 5, 53, tzinfo=UTC)
    assert "IP:192.168.0.42" in facts.sans
    assert facts.issuer_not_sent and facts.issuer_untrusted and not facts.chain_trusted


@pytest.mark.parametrize(
    ("path", "cause"),
    [
        ("guide/tls-trust-not-established/local/local.log", "tls_untrusted_ca"),
        ("guide/no-api-key-different-ca/local/local.log", "tls_untrusted_ca"),
        ("untrusted-ca-proxy/local/local.log", "tls_untrusted_ca"),
        # the remote's transport sends its CA: a self-issued root the context does not trust
        ("transport-port-different-ca-proxy/local/local.log", "tls_untrusted_ca"),
        ("variants/es7-untrusted-ca/local/qc.log", "tls_untrusted_ca"),
        ("variants/es8-hostname-mismatch/local/qc.log", "tls_hostname_mismatch"),
        ("variants/ca-regenerated/local/qc.log", "tls_ca_regenerated"),
        ("variants/expired-certificate/local/qc.log", "tls_expired"),
        ("variants/not-yet-valid-certificate/local/qc.log", "tls_not_yet_valid"),
    ],
)
def test_each_shape_names_its_cause(path: str, cause: str) -> None:
    text = _trust_line(path)
    facts = parse_trust(text)
    assert facts is not None
    verdict = classify_trust(facts, text)
    assert (verdict.cause, verdict.candidates) == (cause, ())


def test_guide_context_with_nothing_configured() -> None:
    facts = parse_trust(_trust_line("guide/tls-trust-not-established/local/local.log"))
    assert facts is not None
    assert facts.context == "(shared)" and facts.nothing_configured and facts.model_context is None


def test_real_hostname_mismatch_line() -> None:
    facts = parse_trust(REAL_HOSTNAME)
    assert facts is not None and facts.chain_trusted and not facts.issuer_untrusted
    assert facts.names_address("192.168.65.108") is False
    assert facts.names_address("192.168.65.101") is True
    assert facts.names_address("::1") is True  # IP:0:0:0:0:0:0:0:1 is the same address
    verdict = classify_trust(facts)
    assert verdict.cause == "tls_hostname_mismatch" and verdict.certain
    assert "192.168.65.108" in verdict.reason


def test_issuer_trusted_without_chain_is_a_hostname_failure() -> None:
    facts = parse_trust(ISSUER_TRUSTED)
    assert facts is not None and facts.chain_trusted
    assert facts.subject == "CN=not-this-host" and facts.not_after is None  # 7.x: no dates
    assert classify_trust(facts).cause == "tls_hostname_mismatch"


def test_dns_wildcards() -> None:
    facts = parse_trust(REAL_HOSTNAME.replace("DNS:localhost]", "DNS:*.example.com]"))
    assert facts is not None
    assert facts.names_address("rcs.example.com") is True
    assert facts.names_address("a.rcs.example.com") is False
    assert facts.names_address("<unknown host>") is None


def test_expired_from_the_dates_whatever_the_verdict_wording() -> None:
    """The verdict's words differ by version; the dates decide (and Java's cause agrees)."""
    text = _trust_line("variants/expired-certificate/local/qc.log")
    reworded = text.replace("certificate has expired", "the certificate is no longer valid")
    facts = parse_trust(reworded)
    assert facts is not None and facts.expired and not facts.not_yet_valid
    assert classify_trust(facts).cause == "tls_expired"


def test_intermediate_by_name_stays_undecided() -> None:
    text = _trust_line("variants/missing-intermediate/local/qc.log")
    facts = parse_trust(text)
    assert facts is not None and facts.issuer_looks_intermediate
    verdict = classify_trust(facts)
    assert verdict.cause is None
    assert verdict.candidates == ("tls_missing_intermediate", "tls_untrusted_ca")


def test_no_trust_sentence() -> None:
    assert parse_trust("connect_exception") is None
