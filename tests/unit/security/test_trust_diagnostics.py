"""ES's trust diagnostics (``SslDiagnostics`` wording) over real certificates, no TLS session.

Whole messages are compared, clause by clause as ES writes them; fingerprints are computed here
independently (SHA-1 of the DER, lowercase hex, as ``openssl x509 -fingerprint -sha1`` prints them
without colons).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from isthmus.security import certs
from isthmus.security.cert_facts import java_instant
from isthmus.security.certs import CertificateAndKey
from isthmus.security.tls import SslConfig
from isthmus.security.trust_diagnostics import (
    PKIX_PATH_BUILDING_FAILED,
    PKIX_VALIDITY_CHECK_FAILED,
    TrustInfo,
    diagnose_peer,
    system_trusted_certificates,
    trust_failure_cause,
)
from isthmus.settings.secret import Secret

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
AT = NOW + dt.timedelta(days=1, microseconds=123456)
VALID = (
    "the certificate is valid between [2025-03-01T12:00:00Z] and [2026-03-01T12:00:00Z]"
    " (current time is [2025-03-02T12:00:00.123456Z], certificate dates are valid)"
)
SESSION = "the session uses cipher suite [TLS_AES_256_GCM_SHA384] and protocol [TLSv1.3]"
NODE_USAGE = "keyUsage [digitalSignature] and extendedKeyUsage [serverAuth, clientAuth]"
CONTEXT = "xpack.security.transport.ssl (with trust configuration: PEM-trust{/p/ca.crt})"
OPENSSL = shutil.which("openssl")


def fp(cert: x509.Certificate | CertificateAndKey) -> str:
    if isinstance(cert, CertificateAndKey):
        cert = cert.certificate
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()


def trust(*cas: x509.Certificate | CertificateAndKey) -> TrustInfo:
    return TrustInfo(
        "xpack.security.transport.ssl",
        "PEM-trust{/p/ca.crt}",
        tuple(c.certificate if isinstance(c, CertificateAndKey) else c for c in cas),
    )


def ca(name: str, **kw: object) -> CertificateAndKey:
    return certs.generate_ca(name, now=NOW, days=365, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def transport_ca() -> CertificateAndKey:
    return ca("CN=Transport CA")


@pytest.fixture(scope="module")
def remote_ca() -> CertificateAndKey:
    return ca("CN=RemoteCluster CA")


@pytest.fixture(scope="module")
def node(transport_ca: CertificateAndKey) -> CertificateAndKey:
    return certs.issue_certificate(
        "node-1",
        issuer=transport_ca,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1", "::1"],
        now=NOW,
        days=365,
    )


def server_diagnosis(
    chain: list[x509.Certificate], trusted: TrustInfo | None, *, now: dt.datetime = AT
) -> str:
    return diagnose_peer(
        side="client",
        peer_host="192.168.0.42",
        chain=chain,
        trust=trusted,
        cipher="TLS_AES_256_GCM_SHA384",
        protocol="TLSv1.3",
        now=now,
    )


def leaf_clauses(leaf: CertificateAndKey, peer: str = "server") -> str:
    return (
        f"failed to establish trust with {peer} at [192.168.0.42]; the {peer} provided a"
        f" certificate with subject name [{format_subject(leaf)}], fingerprint [{fp(leaf)}],"
        f" {NODE_USAGE}; {VALID}; {SESSION}"
    )


def format_subject(pair: CertificateAndKey) -> str:
    return certs.describe(pair.certificate).subject


NODE_SANS = "; the certificate has subject alternative names [DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1]"


# --- the issuer is not in the chain -------------------------------------------------------------


def test_untrusted_issuer_when_only_one_issuer_is_trusted(
    node: CertificateAndKey, remote_ca: CertificateAndKey
) -> None:
    """The guide's "connecting to the transport port" case, word for word."""
    message = server_diagnosis([node.certificate], trust(remote_ca))
    assert message == (
        leaf_clauses(node)
        + NODE_SANS
        + "; the certificate is issued by [CN=Transport CA] but the server did not provide a copy"
        " of the issuing certificate in the certificate chain; this ssl context"
        f" ([{CONTEXT}]) is not configured to trust that issuer, it only trusts the issuer"
        f" [CN=RemoteCluster CA] with fingerprint [{fp(remote_ca)}]"
    )


@pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed")
def test_fingerprints_are_openssl_sha1_in_lowercase(
    node: CertificateAndKey, tmp_path: Path
) -> None:
    pem = tmp_path / "node.crt"
    pem.write_bytes(certs.encode_pem_certificates(node.certificate))
    assert OPENSSL is not None
    out = subprocess.run(
        [OPENSSL, "x509", "-noout", "-fingerprint", "-sha1", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = out.strip().split("=", 1)[1].replace(":", "").lower()
    assert f"fingerprint [{expected}]" in server_diagnosis([node.certificate], None)


def test_untrusted_issuer_when_several_issuers_are_trusted(node: CertificateAndKey) -> None:
    others = [ca(f"CN=Other CA {i}") for i in (2, 1, 3)]
    message = server_diagnosis([node.certificate], trust(*others))
    assert message.endswith(
        f"; this ssl context ([{CONTEXT}]) is not configured to trust that issuer but trusts [3]"
        " other issuers ([CN=Other CA 1, CN=Other CA 2, CN=Other CA 3])"
    )


def test_many_trusted_issuers_are_counted_not_listed(node: CertificateAndKey) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    others = [ca(f"CN=Authority {i}", key=key) for i in range(12)]
    message = server_diagnosis([node.certificate], trust(*others))
    assert message.endswith(
        f"; this ssl context ([{CONTEXT}]) is not configured to trust that issuer but trusts [12]"
        " other issuers"
    )


def test_untrusted_issuer_when_nothing_is_trusted(node: CertificateAndKey) -> None:
    assert server_diagnosis([node.certificate], trust()).endswith(
        f"; this ssl context ([{CONTEXT}]) is not configured to trust that issuer"
        " or any other issuer"
    )


def test_trusted_issuer_but_the_check_still_failed(
    node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    """E.g. a hostname mismatch: ES's text says the issuer is trusted; the cause says why."""
    message = server_diagnosis([node.certificate], trust(transport_ca, ca("CN=Other")))
    assert message == (
        leaf_clauses(node)
        + NODE_SANS
        + "; the certificate is issued by [CN=Transport CA] but the server did not provide a copy"
        " of the issuing certificate in the certificate chain; the issuing certificate with"
        f" fingerprint [{fp(transport_ca)}] is trusted in this ssl context ([{CONTEXT}])"
    )


def test_trusted_issuer_name_with_another_key(node: CertificateAndKey) -> None:
    impostor = ca("CN=Transport CA")  # same name, new key: it did not sign the node
    message = server_diagnosis([node.certificate], trust(impostor))
    assert message.endswith(
        f"; this ssl context ([{CONTEXT}]) trusts [1] certificate with subject name"
        f" [CN=Transport CA] and fingerprint [{fp(impostor)}] but the signatures do not match"
    )


def test_issuers_of_several_certificates_with_one_name(
    node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    renewed = ca("CN=Transport CA", key=transport_ca.key, serial=7)
    message = server_diagnosis([node.certificate], trust(transport_ca, renewed))
    assert message.endswith(
        f"; the issuing certificates with fingerprint [{fp(transport_ca)}], fingerprint"
        f" [{fp(renewed)}] are trusted in this ssl context ([{CONTEXT}])"
    )


# --- the chain includes issuers -------------------------------------------------------------------


def test_full_chain_with_an_untrusted_root(
    node: CertificateAndKey, transport_ca: CertificateAndKey, remote_ca: CertificateAndKey
) -> None:
    message = server_diagnosis([node.certificate, transport_ca.certificate], trust(remote_ca))
    assert message == (
        leaf_clauses(node)
        + NODE_SANS
        + "; the certificate is issued by [CN=Transport CA]; the certificate is signed by"
        f" (subject [CN=Transport CA] fingerprint [{fp(transport_ca)}]) which is self-issued;"
        f" the [CN=Transport CA] certificate is not trusted in this ssl context ([{CONTEXT}])"
    )


def test_full_chain_with_a_trusted_root(
    node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    message = server_diagnosis([node.certificate, transport_ca.certificate], trust(transport_ca))
    assert message.endswith(
        f"; the certificate is signed by (subject [CN=Transport CA] fingerprint [{fp(transport_ca)}]"
        " {trusted issuer}) which is self-issued; the [CN=Transport CA] certificate is trusted"
        f" in this ssl context ([{CONTEXT}])"
    )


def test_full_chain_root_trusted_through_a_reissued_certificate(
    node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    old = ca("CN=Transport CA", key=transport_ca.key, serial=3)
    message = server_diagnosis([node.certificate, transport_ca.certificate], trust(old))
    assert message.endswith(
        f" {{trusted issuer}}) which is self-issued; the [CN=Transport CA] certificate is trusted"
        f" in this ssl context ([{CONTEXT}]) because we trust a certificate with fingerprint"
        f" [{fp(old)}] for the same public key"
    )


def test_full_chain_root_mimicked_by_a_trusted_certificate(
    node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    impostor = ca("CN=Transport CA")
    message = server_diagnosis([node.certificate, transport_ca.certificate], trust(impostor))
    assert message.endswith(
        f"which is self-issued; the [CN=Transport CA] certificate is not trusted in this ssl"
        f" context ([{CONTEXT}]); this ssl context does trust a certificate with subject"
        f" [CN=Transport CA] but the trusted certificate has fingerprint [{fp(impostor)}]"
    )


def test_partial_chain_whose_root_is_trusted(transport_ca: CertificateAndKey) -> None:
    intermediate = _intermediate(transport_ca, "CN=Issuing CA")
    leaf = certs.issue_certificate("node-2", issuer=intermediate, now=NOW, days=365)
    message = server_diagnosis([leaf.certificate, intermediate.certificate], trust(transport_ca))
    assert message == (
        leaf_clauses(leaf) + "; the certificate does not have any subject alternative names"
        "; the certificate is issued by [CN=Issuing CA]; the certificate is signed by (subject"
        f" [CN=Issuing CA] fingerprint [{fp(intermediate)}]) which is issued by"
        " [CN=Transport CA] (but that issuer certificate was not provided in the chain);"
        f" the issuing certificate with fingerprint [{fp(transport_ca)}] is trusted in this ssl"
        f" context ([{CONTEXT}])"
    )


def test_self_signed_certificate_not_trusted() -> None:
    alone = certs.issue_certificate(
        "lonely", issuer=None, dns_names=["lonely.example"], now=NOW, days=365
    )
    message = server_diagnosis([alone.certificate], trust(ca("CN=Other CA")))
    assert message == (
        leaf_clauses(alone) + "; the certificate has subject alternative names [DNS:lonely.example]"
        f"; the certificate is self-issued; the [CN=lonely] certificate is not trusted in this"
        f" ssl context ([{CONTEXT}])"
    )


# --- other clauses ------------------------------------------------------------------------------


def test_client_certificates_are_described_without_their_names(
    node: CertificateAndKey, remote_ca: CertificateAndKey
) -> None:
    message = diagnose_peer(
        side="server",
        peer_host="192.168.0.84",
        chain=[node.certificate],
        trust=trust(remote_ca),
        cipher="TLS_AES_256_GCM_SHA384",
        protocol="TLSv1.3",
        now=AT,
    )
    assert message == (
        "failed to establish trust with client at [192.168.0.84]; the client provided a"
        f" certificate with subject name [CN=node-1], fingerprint [{fp(node)}], {NODE_USAGE};"
        f" {VALID}; {SESSION}; the certificate is issued by [CN=Transport CA] but the client did"
        " not provide a copy of the issuing certificate in the certificate chain; this ssl"
        f" context ([{CONTEXT}]) is not configured to trust that issuer, it only trusts the"
        f" issuer [CN=RemoteCluster CA] with fingerprint [{fp(remote_ca)}]"
    )


def test_empty_chain() -> None:
    assert server_diagnosis([], trust()) == (
        "failed to establish trust with server at [192.168.0.42]; the server did not provide a"
        " certificate"
    )


def test_names_that_are_not_dns_or_ip(transport_ca: CertificateAndKey) -> None:
    only_cn = certs.issue_certificate(
        "n", issuer=transport_ca, common_names=["n.example"], now=NOW, days=365
    )
    assert "; the certificate does not have any DNS/IP subject alternative names;" in (
        server_diagnosis([only_cn.certificate], None)
    )


def test_dates_outside_the_validity(node: CertificateAndKey) -> None:
    later = NOW + dt.timedelta(days=400)
    expired = server_diagnosis([node.certificate], None, now=later)
    assert (
        "; the certificate is valid between [2025-03-01T12:00:00Z] and [2026-03-01T12:00:00Z]"
        " (current time is [2026-04-05T12:00:00Z], certificate has expired);"
    ) in expired
    early = server_diagnosis([node.certificate], None, now=NOW - dt.timedelta(milliseconds=250))
    assert "(current time is [2025-03-01T11:59:59.750Z], certificate is not yet valid);" in early


def test_unknown_session_and_unknown_trust(node: CertificateAndKey) -> None:
    message = diagnose_peer(
        side="client",
        peer_host="",
        chain=[node.certificate],
        trust=None,
        cipher=None,
        protocol=None,
        now=AT,
    )
    assert message.startswith("failed to establish trust with server at [<unknown host>]; ")
    assert (
        "; the session uses cipher suite [<unknown cipherSuite>] and protocol [<unknown protocol>];"
        in message
    )
    # without the trusted issuers ES states the chain only
    assert message.endswith(
        "; the certificate is issued by [CN=Transport CA] but the server did not provide a copy"
        " of the issuing certificate in the certificate chain"
    )


def test_java_instant() -> None:
    base = dt.datetime(2023, 8, 16, 23, 40, 55, tzinfo=dt.UTC)
    assert java_instant(base) == "2023-08-16T23:40:55Z"
    assert java_instant(base.replace(microsecond=464000)) == "2023-08-16T23:40:55.464Z"
    assert java_instant(base.replace(microsecond=464275)) == "2023-08-16T23:40:55.464275Z"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert java_instant(base.astimezone(plus_two)) == "2023-08-16T23:40:55Z"


# --- the cause line -------------------------------------------------------------------------------


def cause(chain: list[x509.Certificate], code: int, message: str, host: str | None) -> str:
    return trust_failure_cause(
        side="client",
        chain=chain,
        verify_code=code,
        verify_message=message,
        hostname=host,
        now=AT,
    )


def test_cause_for_an_untrusted_path(node: CertificateAndKey) -> None:
    assert cause([node.certificate], 20, "unable to get local issuer certificate", None) == (
        "sun.security.validator.ValidatorException: PKIX path building failed:"
        " sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid"
        " certification path to requested target"
    )
    assert cause([node.certificate], 19, "self-signed", None) == PKIX_PATH_BUILDING_FAILED


def test_cause_for_a_wrong_name(transport_ca: CertificateAndKey, node: CertificateAndKey) -> None:
    chain = [node.certificate]
    assert cause(chain, 62, "Hostname mismatch", "elsewhere.example") == (
        "java.security.cert.CertificateException: No subject alternative DNS name matching"
        " elsewhere.example found."
    )
    # the name is read from OpenSSL's message when the session did not say it
    assert cause(
        chain, 64, "IP address mismatch, certificate is not valid for '192.168.0.42'.", None
    ) == (
        "java.security.cert.CertificateException: No subject alternative names matching IP"
        " address 192.168.0.42 found"
    )
    bare = certs.issue_certificate("bare", issuer=transport_ca, now=NOW, days=365)
    assert cause([bare.certificate], 64, "", "10.0.0.1") == (
        "java.security.cert.CertificateException: No subject alternative names present"
    )
    assert cause([bare.certificate], 62, "", "bare.example") == (
        "java.security.cert.CertificateException: No name matching bare.example found"
    )


def test_cause_for_dates(node: CertificateAndKey) -> None:
    assert cause([node.certificate], 10, "certificate has expired", None) == (
        "sun.security.validator.ValidatorException: PKIX path validation failed:"
        " java.security.cert.CertPathValidatorException: validity check failed"
    )
    # Java checks dates before names: an expired certificate with a wrong name is a date failure
    late = trust_failure_cause(
        side="client",
        chain=[node.certificate],
        verify_code=62,
        verify_message="Hostname mismatch",
        hostname="elsewhere.example",
        now=NOW + dt.timedelta(days=400),
    )
    assert late == PKIX_VALIDITY_CHECK_FAILED


def test_cause_for_a_wrong_purpose(node: CertificateAndKey) -> None:
    assert trust_failure_cause(
        side="server",
        chain=[node.certificate],
        verify_code=26,
        verify_message="unsupported certificate purpose",
        hostname=None,
        now=AT,
    ) == (
        "sun.security.validator.ValidatorException: Extended key usage does not permit use for"
        " TLS client authentication"
    )


# --- what a context trusts ----------------------------------------------------------------------


def test_trust_from_pem_authorities(
    tmp_path: Path, transport_ca: CertificateAndKey, remote_ca: CertificateAndKey
) -> None:
    one = tmp_path / "ca.crt"
    one.write_bytes(certs.encode_pem_certificates(transport_ca.certificate))
    two = tmp_path / "more.crt"
    two.write_bytes(certs.encode_pem_certificates(remote_ca.certificate, transport_ca.certificate))
    info = TrustInfo.from_config(
        SslConfig(profile="remote_cluster_client", enabled=True, certificate_authorities=(one, two))
    )
    assert info.context_name == "xpack.security.remote_cluster_client.ssl"
    assert info.trust_description == f"PEM-trust{{{one},{two}}}"
    assert info.description == (
        f"xpack.security.remote_cluster_client.ssl (with trust configuration: PEM-trust{{{one},{two}}})"
    )
    assert [fp(c) for c in info.trusted_issuers] == [
        fp(transport_ca),
        fp(remote_ca),
        fp(transport_ca),
    ]
    # issuers are counted by name, as ES keys them
    assert sorted(info.by_subject) == ["CN=RemoteCluster CA", "CN=Transport CA"]
    assert len(info.by_subject["CN=Transport CA"]) == 2


def test_trust_from_a_pkcs12_truststore(
    tmp_path: Path, node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    store = tmp_path / "truststore.p12"
    store.write_bytes(certs.encode_pkcs12(transport_ca.certificate, alias="ca", password="s3cret"))
    keystore = tmp_path / "node.p12"
    keystore.write_bytes(certs.encode_pkcs12(node, alias="node-1"))
    info = TrustInfo.from_config(
        SslConfig(
            profile="transport",
            enabled=True,
            keystore_path=keystore,
            truststore_path=store,
            truststore_password=Secret("s3cret"),
        )
    )
    assert info.trust_description == f"StoreTrustConfig{{path={store}, password=<non-empty>}}"
    assert [fp(c) for c in info.trusted_issuers] == [fp(transport_ca)]
    # a keystore without a truststore trusts what the keystore holds, as the context does
    from_keystore = TrustInfo.from_config(
        SslConfig(profile="transport", enabled=True, keystore_path=keystore)
    )
    assert {fp(c) for c in from_keystore.trusted_issuers} == {fp(node), fp(transport_ca)}


def test_trust_of_the_platform() -> None:
    info = TrustInfo.from_config(SslConfig(profile="http", enabled=True))
    assert info.trust_description == "JDK-trusted-certs"
    assert info.trusted_issuers == system_trusted_certificates()
    assert system_trusted_certificates() is system_trusted_certificates()  # read once


def _intermediate(root: CertificateAndKey, name: str) -> CertificateAndKey:
    """A CA signed by ``root`` (the certs module makes self-signed CAs only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(name))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    return CertificateAndKey(cert, key)
