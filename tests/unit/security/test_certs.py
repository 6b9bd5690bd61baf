"""Certificate helpers: generation, DNs as Java prints them, PEM/PKCS#12, facts, and real TLS.

The TLS tests complete real handshakes with the stdlib ``ssl`` module over a loopback TCP
connection inside the test process, so "the node can use these certificates" is checked by the
same code the node will run, not by reading extensions.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from isthmus.errors import IllegalArgumentError
from isthmus.security import certs
from isthmus.security.certs import CertificateAndKey, KeySpec

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed")


@pytest.fixture(scope="module")
def ca() -> CertificateAndKey:
    return certs.generate_ca()


@pytest.fixture(scope="module")
def node(ca: CertificateAndKey) -> CertificateAndKey:
    return certs.issue_certificate(
        "node-1", issuer=ca, dns_names=["node-1.example", "localhost"], ip_addresses=["127.0.0.1"]
    )


def ext(cert: x509.Certificate, kind: type[Any]) -> Any:
    return cert.extensions.get_extension_for_class(kind)


# --- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "keysize", "expected"),
    [
        (None, None, KeySpec("ec", 256)),
        ("ec", None, KeySpec("ec", 256)),
        ("ec", 384, KeySpec("ec", 384)),
        (None, 384, KeySpec("ec", 384)),
        ("rsa", None, KeySpec("rsa", 2048)),
        (None, 4096, KeySpec("rsa", 4096)),
    ],
)
def test_key_spec_parse(key_type: str | None, keysize: int | None, expected: KeySpec) -> None:
    assert KeySpec.parse(key_type, keysize) == expected


@pytest.mark.parametrize(
    ("key_type", "keysize", "message"),
    [
        ("ec", 2048, "EC keys must have a size of 256 or 384, not [2048]"),
        ("rsa", 1024, "RSA keys must have at least 2048 bits, not [1024]"),
        ("dsa", None, "unknown key type [dsa], expected one of [ec, rsa]"),
    ],
)
def test_key_spec_rejects(key_type: str, keysize: int | None, message: str) -> None:
    with pytest.raises(IllegalArgumentError) as info:
        KeySpec.parse(key_type, keysize)
    assert info.value.reason == message


# --- distinguished names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "java"),
    [
        ("CN=node-1", "CN=node-1"),
        ("CN=node-1, OU=search, O=Acme, C=DE", "CN=node-1,OU=search,O=Acme,C=DE"),
        ("cn = node-1 ; o = Acme", "CN=node-1,O=Acme"),
        ("CN=a\\,b,O=x", "CN=a\\,b,O=x"),
        ('CN="quoted, value"', "CN=quoted\\, value"),
        ("CN=a\\2Cb", "CN=a\\,b"),
        ("CN=caf\\C3\\A9", "CN=café"),
        ("CN=a\\=b\\#c", "CN=a\\=b\\#c"),
        ("CN=\\ padded\\ ", "CN=\\ padded\\ "),
        ("CN=x+OU=y,O=z", "CN=x+OU=y,O=z"),
        ("DC=example,DC=com", "DC=example,DC=com"),
        ("UID=u1,STREET=Main 1,L=Berlin,ST=BE", "UID=u1,STREET=Main 1,L=Berlin,ST=BE"),
        # Java prints attributes without an RFC 2253 keyword as <oid>=#<DER hex>
        ("EMAILADDRESS=a@b.c,CN=x", "1.2.840.113549.1.9.1=#16056140622e63,CN=x"),
        ("OID.2.5.4.3=by-oid", "CN=by-oid"),
    ],
)
def test_dn_round_trip_prints_as_java_does(text: str, java: str) -> None:
    assert certs.format_dn(certs.parse_dn(text)) == java


def test_dn_order_is_most_specific_first_and_asn1_reversed() -> None:
    name = certs.parse_dn("CN=node-1, OU=search, O=Acme")
    assert [a.oid for a in name] == [
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert name.rfc4514_string() == "CN=node-1,OU=search,O=Acme"


@pytest.mark.parametrize(
    "text", ["", "node-1", "XX=y", "CN=a,", 'CN="open', "CN=#0403", "CN=a<b", "C=DEU", "CN=a\\"]
)
def test_bad_dns_are_rejected(text: str) -> None:
    with pytest.raises(IllegalArgumentError):
        certs.parse_dn(text)


def test_instance_subject_follows_certutil() -> None:
    assert certs.format_dn(certs.instance_subject("node-1")) == "CN=node-1"
    assert certs.format_dn(certs.instance_subject("CN=n, O=Acme")) == "CN=n,O=Acme"
    assert certs.format_dn(certs.instance_subject("a, b")) == "CN=a\\, b"


# --- generation -----------------------------------------------------------------------------------


def test_ca_is_a_self_signed_ca(ca: CertificateAndKey) -> None:
    cert = ca.certificate
    assert (
        certs.format_dn(cert.subject) == "CN=Isthmus Generated CA" == certs.format_dn(cert.issuer)
    )
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    assert ca.chain == ()
    cert.verify_directly_issued_by(cert)


def test_ca_validity_serial_and_dn_are_injectable() -> None:
    ca = certs.generate_ca("CN=Test CA, O=Acme", days=10, now=NOW, serial=0x1F)
    assert ca.certificate.not_valid_before_utc == NOW
    assert ca.certificate.not_valid_after_utc == NOW + dt.timedelta(days=10)
    assert ca.certificate.serial_number == 0x1F
    assert certs.describe(ca.certificate).subject == "CN=Test CA,O=Acme"


def test_node_certificate_is_fit_for_mutual_tls(
    ca: CertificateAndKey, node: CertificateAndKey
) -> None:
    cert = node.certificate
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.issuer == ca.certificate.subject
    assert not ext(cert, x509.BasicConstraints).value.ca
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    aki = ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
    assert node.chain == (ca.certificate,)
    assert certs.key_matches(cert, node.key)
    assert not certs.key_matches(cert, ca.key)


def test_rsa_node_certificate_also_allows_key_encipherment(ca: CertificateAndKey) -> None:
    rsa_node = certs.issue_certificate("n", issuer=ca, key_spec=KeySpec("rsa", 2048))
    assert isinstance(rsa_node.key, rsa.RSAPrivateKey) and rsa_node.key.key_size == 2048
    usage = ext(rsa_node.certificate, x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    assert certs.describe_key(rsa_node.certificate) == "RSA 2048"


def test_self_signed_node_certificate() -> None:
    own = certs.issue_certificate("solo", issuer=None, dns_names=["solo.local"])
    own.certificate.verify_directly_issued_by(own.certificate)
    assert own.chain == ()
    assert certs.describe(own.certificate).self_issued


def test_san_validation_uses_certutil_messages(ca: CertificateAndKey) -> None:
    with pytest.raises(IllegalArgumentError, match=r"^\[999.1.1.1\] is not a valid IP address$"):
        certs.issue_certificate("n", issuer=ca, ip_addresses=["999.1.1.1"])
    with pytest.raises(IllegalArgumentError, match=r"is not a valid DNS name"):
        certs.issue_certificate("n", issuer=ca, dns_names=["bücher.example"])


def test_sans_keep_order_drop_duplicates_and_take_common_names() -> None:
    names = certs.subject_alt_names(["a", "b", "a"], ["::1", "127.0.0.1"], ["node-a"])
    assert names[:4] == [
        x509.DNSName("a"),
        x509.DNSName("b"),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    other = names[4]
    assert isinstance(other, x509.OtherName) and other.type_id == NameOID.COMMON_NAME
    assert other.value == b"\x0c\x06node-a"  # UTF8String, as ES's certutil writes an instance cn


def test_issuer_must_be_a_ca_with_its_own_key(
    ca: CertificateAndKey, node: CertificateAndKey
) -> None:
    with pytest.raises(IllegalArgumentError, match=r"\[CN=node-1\] is not a CA"):
        certs.issue_certificate("n", issuer=node)
    with pytest.raises(IllegalArgumentError, match="does not belong to the CA certificate"):
        certs.issue_certificate("n", issuer=CertificateAndKey(ca.certificate, node.key))


def test_days_must_be_positive() -> None:
    with pytest.raises(IllegalArgumentError, match="at least one day"):
        certs.generate_ca(days=0)


def test_repr_is_informative(node: CertificateAndKey) -> None:
    assert repr(node) == (
        "CertificateAndKey(subject='CN=node-1', issuer='CN=Isthmus Generated CA', "
        "key='EC secp256r1', chain=1)"
    )


# --- encoding -------------------------------------------------------------------------------------


def test_pem_round_trip_without_password(node: CertificateAndKey) -> None:
    chain = certs.encode_pem_certificates(node.certificate, *node.chain)
    data = chain + certs.encode_pem_key(node.key)
    assert b"BEGIN PRIVATE KEY" in data and not certs.needs_password(data)
    bundle = certs.decode_pem(data)
    assert bundle.format == "PEM" and bundle.certificates == (node.certificate, *node.chain)
    pair = bundle.certificate_and_key()
    assert (pair.certificate, pair.chain) == (node.certificate, node.chain)
    assert certs.key_matches(node.certificate, pair.key)
    assert certs.decode_pem(chain).key is None


def test_pem_key_round_trip_with_password(node: CertificateAndKey) -> None:
    data = certs.encode_pem_key(node.key, "s3cret")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in data and certs.needs_password(data)
    key = certs.decode_pem(data, "s3cret").key
    assert key is not None and certs.key_matches(node.certificate, key)
    with pytest.raises(IllegalArgumentError, match="needs a password"):
        certs.decode_pem(data)
    with pytest.raises(IllegalArgumentError, match="password is wrong"):
        certs.decode_pem(data, "wrong")


def test_a_password_given_for_a_plain_key_is_ignored(node: CertificateAndKey) -> None:
    key = certs.decode_pem(certs.encode_pem_key(node.key), "not-needed").key
    assert key is not None and certs.key_matches(node.certificate, key)


@pytest.mark.parametrize("password", [None, "s3cret"])
def test_pkcs12_round_trip(node: CertificateAndKey, password: str | None) -> None:
    data = certs.encode_pkcs12(node, alias="node-1", password=password)
    assert certs.needs_password(data) is (password is not None)
    bundle = certs.decode_pkcs12(data, password)
    assert bundle.format == "PKCS12"
    assert bundle.certificates == (node.certificate, *node.chain)
    assert bundle.aliases == ("node-1", "ca")
    assert bundle.certificate_and_key().certificate == node.certificate
    assert certs.decode_bundle(data, password).certificates == bundle.certificates


def test_pkcs12_wrong_password(node: CertificateAndKey) -> None:
    data = certs.encode_pkcs12(node, alias="node-1", password="right")
    for attempt in ("wrong", None):
        with pytest.raises(IllegalArgumentError, match="password is wrong"):
            certs.decode_pkcs12(data, attempt)


def test_pkcs12_of_a_ca_and_of_a_bare_certificate(ca: CertificateAndKey) -> None:
    bundle = certs.decode_pkcs12(certs.encode_pkcs12(ca, alias="ca", password="p"), "p")
    assert bundle.aliases == ("ca",) and bundle.key is not None
    trust_only = certs.decode_pkcs12(certs.encode_pkcs12(ca.certificate, alias="ca"))
    assert trust_only.key is None and trust_only.certificates == (ca.certificate,)
    with pytest.raises(IllegalArgumentError, match="no private key"):
        trust_only.certificate_and_key()


def test_pkcs12_passwords_must_be_ascii(ca: CertificateAndKey) -> None:
    with pytest.raises(IllegalArgumentError, match="plain ASCII"):
        certs.encode_pkcs12(ca, alias="ca", password="pässword")


def test_decode_bundle_sniffs_der(node: CertificateAndKey) -> None:
    bundle = certs.decode_bundle(node.certificate.public_bytes(Encoding.DER))
    assert bundle.format == "DER" and bundle.certificates == (node.certificate,)


def test_decode_rejects_garbage() -> None:
    with pytest.raises(IllegalArgumentError):
        certs.decode_bundle(b"not a certificate")
    with pytest.raises(IllegalArgumentError, match="no PEM certificate or private key"):
        certs.decode_pem(b"-----BEGIN NOTHING-----\n-----END NOTHING-----\n")


# --- facts ----------------------------------------------------------------------------------------


def test_facts_are_formatted_as_elasticsearch_prints_them(
    ca: CertificateAndKey, node: CertificateAndKey
) -> None:
    facts = certs.describe(node.certificate, key=node.key, alias="node-1")
    der = node.certificate.public_bytes(Encoding.DER)
    assert facts.subject == "CN=node-1"
    assert facts.issuer == "CN=Isthmus Generated CA"
    assert facts.serial == format(node.certificate.serial_number, "x")
    assert facts.subject_alt_names == ("DNS:node-1.example", "DNS:localhost", "IP:127.0.0.1")
    assert facts.dns_names == ("node-1.example", "localhost")
    assert facts.ip_addresses == ("127.0.0.1",)
    assert facts.key_usage == ("digitalSignature",)
    assert facts.extended_key_usage == ("serverAuth", "clientAuth")
    assert facts.sha1 == hashlib.sha1(der).hexdigest()
    assert facts.sha256 == hashlib.sha256(der).hexdigest()
    assert facts.has_private_key and not facts.is_ca and not facts.self_issued
    assert facts.identity_description() == (
        f"subject name [CN=node-1], fingerprint [{facts.sha1}], "
        "keyUsage [digitalSignature] and extendedKeyUsage [serverAuth, clientAuth]"
    )
    ca_facts = certs.describe(ca.certificate, key=node.key)
    assert ca_facts.is_ca and ca_facts.self_issued and not ca_facts.has_private_key
    assert ca_facts.usage_description() == (
        "keyUsage [digitalSignature, keyCertSign, cRLSign] and no extendedKeyUsage"
    )


def test_ipv6_sans_print_in_javas_long_form(ca: CertificateAndKey) -> None:
    cert = certs.issue_certificate(
        "n", issuer=ca, ip_addresses=["::1", "fe80::48c4:f873:2fcd:1dc1"]
    )
    assert certs.describe(cert.certificate).subject_alt_names == (
        "IP:0:0:0:0:0:0:0:1",
        "IP:fe80:0:0:0:48c4:f873:2fcd:1dc1",
    )


def _bare_certificate(**usage: bool) -> x509.Certificate:
    """A certificate with only the key usage given (none at all when ``usage`` is empty)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "foo")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    if usage:
        flags = dict.fromkeys(
            [
                "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
            ],
            False,
        )  # fmt: skip
        builder = builder.add_extension(x509.KeyUsage(**(flags | usage)), critical=True)
    return builder.sign(key, hashes.SHA256())


def test_usage_description_matches_ssl_diagnostics_wording() -> None:
    bare = certs.describe(_bare_certificate())
    assert bare.key_usage is None and bare.extended_key_usage is None
    assert bare.usage_description() == "no keyUsage and no extendedKeyUsage"
    assert bare.subject_alt_names == ()
    usage = dict(
        digital_signature=True, key_encipherment=True, data_encipherment=True, key_agreement=True
    )
    assert certs.describe(_bare_certificate(**usage)).usage_description() == (
        "keyUsage [digitalSignature, keyEncipherment, dataEncipherment, keyAgreement]"
        " and no extendedKeyUsage"
    )


def test_validity_description() -> None:
    facts = certs.describe(certs.generate_ca(now=NOW, days=365).certificate)
    assert facts.validity_description(NOW + dt.timedelta(days=1)) == (
        "the certificate is valid between [2025-03-01T12:00:00Z] and [2026-03-01T12:00:00Z]"
        " (current time is [2025-03-02T12:00:00Z], certificate dates are valid)"
    )
    assert facts.validity_description(NOW - dt.timedelta(days=1)).endswith("not yet valid)")
    assert facts.validity_description(NOW + dt.timedelta(days=400)).endswith("has expired)")
    assert facts.to_dict()["not_after"] == "2026-03-01T12:00:00Z"


def test_describe_bundle_marks_the_certificate_with_the_key(node: CertificateAndKey) -> None:
    bundle = certs.decode_pkcs12(certs.encode_pkcs12(node, alias="node-1"))
    facts = certs.describe_bundle(bundle)
    assert [(f.alias, f.has_private_key) for f in facts] == [("node-1", True), ("ca", False)]


def test_certs_module_does_no_io() -> None:
    """STYLE convention 1: security/certs.py is [no I/O]."""
    source = Path(certs.__file__).read_text()
    imported: set[str] = set()
    for item in ast.walk(ast.parse(source)):
        if isinstance(item, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in item.names)
        elif isinstance(item, ast.ImportFrom) and item.module:
            imported.add(item.module.split(".")[0])
    assert not imported & {"asyncio", "socket", "ssl", "subprocess", "sqlite3", "os", "io"}


# --- real TLS with the stdlib ssl module ----------------------------------------------------------


@dataclass
class Files:
    ca: Path
    cert: Path
    key: Path


def write_pem(
    directory: Path, name: str, pair: CertificateAndKey, password: str | None = None
) -> Files:
    directory.mkdir(parents=True, exist_ok=True)
    files = Files(directory / "ca.crt", directory / f"{name}.crt", directory / f"{name}.key")
    root = pair.chain[-1] if pair.chain else pair.certificate
    files.ca.write_bytes(certs.encode_pem_certificates(root))
    files.cert.write_bytes(certs.encode_pem_certificates(pair.certificate))
    files.key.write_bytes(certs.encode_pem_key(pair.key, password))
    return files


@dataclass
class Outcome:
    client_error: BaseException | None = None
    server_error: BaseException | None = None
    server_saw: dict[str, Any] | None = None
    client_saw: dict[str, Any] | None = None


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, server_hostname: str) -> Outcome:
    """One TLS handshake over a loopback TCP connection, server in a thread, both sides recorded."""
    outcome = Outcome()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            conn, _ = listener.accept()
            conn.settimeout(10)
            try:
                with server.wrap_socket(conn, server_side=True) as tls:
                    outcome.server_saw = tls.getpeercert()
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                outcome.server_error = exc

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=10) as raw,
                client.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                outcome.client_saw = tls.getpeercert()
                if tls.recv(2) != b"ok":
                    raise ConnectionError("the server closed without answering")
        except (ssl.SSLError, OSError) as exc:
            outcome.client_error = exc
        finally:
            thread.join(10)
    return outcome


def server_context(
    files: Files, *, password: str | None = None, mutual: bool = True
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key, password)
    if mutual:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(files.ca)
    return context


def client_context(ca_file: Path, client: Files | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # RFC 5280 profile checks, as Python 3.13 does
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


@pytest.fixture(scope="module", params=[KeySpec("ec", 256), KeySpec("rsa", 2048)], ids=str)
def tls_pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Files, Files]]:
    spec: KeySpec = request.param
    ca = certs.generate_ca(key_spec=spec)
    server = certs.issue_certificate(
        "node-1", issuer=ca, dns_names=["node-1.example"], ip_addresses=["127.0.0.1"], key_spec=spec
    )
    client = certs.issue_certificate("node-2", issuer=ca, key_spec=spec)
    base = tmp_path_factory.mktemp(f"tls-{spec.algorithm}")
    yield write_pem(base, "node-1", server, password="key-pass"), write_pem(base, "node-2", client)


@pytest.mark.parametrize("server_hostname", ["node-1.example", "127.0.0.1"])
def test_mutual_tls_handshake_checks_dns_and_ip_sans(
    tls_pair: tuple[Files, Files], server_hostname: str
) -> None:
    server_files, client_files = tls_pair
    outcome = handshake(
        server_context(server_files, password="key-pass"),
        client_context(server_files.ca, client_files),
        server_hostname,
    )
    assert outcome.client_error is None and outcome.server_error is None
    assert outcome.client_saw is not None and outcome.server_saw is not None
    assert outcome.client_saw["subject"] == ((("commonName", "node-1"),),)
    assert outcome.server_saw["subject"] == ((("commonName", "node-2"),),)


def test_wrong_hostname_fails_like_stack_notes_say(tls_pair: tuple[Files, Files]) -> None:
    server_files, client_files = tls_pair
    outcome = handshake(
        server_context(server_files, password="key-pass"),
        client_context(server_files.ca, client_files),
        "other.example",
    )
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError)
    assert outcome.client_error.verify_code == 62  # Hostname mismatch


def test_untrusted_ca_fails(tls_pair: tuple[Files, Files], tmp_path: Path) -> None:
    server_files, _ = tls_pair
    stranger = tmp_path / "other-ca.crt"
    stranger.write_bytes(certs.encode_pem_certificates(certs.generate_ca().certificate))
    outcome = handshake(
        server_context(server_files, password="key-pass", mutual=False),
        client_context(stranger),
        "node-1.example",
    )
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError)
    assert outcome.client_error.verify_code == 20  # unable to get local issuer certificate


def test_server_requiring_a_client_certificate_rejects_a_client_without_one(
    tls_pair: tuple[Files, Files],
) -> None:
    server_files, _ = tls_pair
    outcome = handshake(
        server_context(server_files, password="key-pass"),
        client_context(server_files.ca),
        "node-1.example",
    )
    assert outcome.server_error is not None
    assert "CERTIFICATE" in str(outcome.server_error).upper()
    assert outcome.client_error is not None


def test_self_signed_certificate_is_trusted_directly(tmp_path: Path) -> None:
    own = certs.issue_certificate("solo", issuer=None, dns_names=["solo.example"])
    files = write_pem(tmp_path, "solo", own)
    outcome = handshake(
        server_context(files, mutual=False), client_context(files.cert), "solo.example"
    )
    assert outcome.client_error is None and outcome.server_error is None


# --- openssl ---------------------------------------------------------------------------------------


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )


@needs_openssl
@pytest.mark.parametrize(
    ("purpose", "check"),
    [
        ("sslserver", ("-verify_hostname", "node-1.example")),
        ("sslserver", ("-verify_ip", "127.0.0.1")),
        ("sslclient", ()),
    ],
)
def test_openssl_verifies_node_certificates(
    tls_pair: tuple[Files, Files], purpose: str, check: tuple[str, ...]
) -> None:
    server_files, _ = tls_pair
    result = openssl(
        "verify", "-x509_strict", "-CAfile", server_files.ca, "-purpose", purpose, *check,
        server_files.cert,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{server_files.cert}: OK"


@needs_openssl
def test_openssl_rejects_a_wrong_host(tls_pair: tuple[Files, Files]) -> None:
    server_files, _ = tls_pair
    result = openssl(
        "verify", "-CAfile", server_files.ca, "-verify_hostname", "other.example", server_files.cert
    )
    assert result.returncode != 0 and "hostname mismatch" in (result.stdout + result.stderr)


@needs_openssl
def test_openssl_reads_pkcs12_with_and_without_password(
    node: CertificateAndKey, tmp_path: Path
) -> None:
    for password in ("s3cret", None):
        p12 = tmp_path / f"node-{password}.p12"
        p12.write_bytes(certs.encode_pkcs12(node, alias="node-1", password=password))
        result = openssl("pkcs12", "-in", p12, "-nodes", "-passin", f"pass:{password or ''}")
        assert result.returncode == 0, result.stderr
        assert "friendlyName: node-1" in result.stdout and "friendlyName: ca" in result.stdout
        assert "PRIVATE KEY" in result.stdout


@needs_openssl
def test_pkcs12_with_an_empty_password_as_java_writes_it(
    node: CertificateAndKey, tmp_path: Path
) -> None:
    pem = tmp_path / "node.pem"
    pem.write_bytes(
        certs.encode_pem_certificates(node.certificate) + certs.encode_pem_key(node.key)
    )
    p12 = tmp_path / "empty.p12"
    result = openssl("pkcs12", "-export", "-in", pem, "-out", p12, "-passout", "pass:")
    assert result.returncode == 0, result.stderr
    data = p12.read_bytes()
    assert not certs.needs_password(data)
    assert certs.decode_pkcs12(data).certificate_and_key().certificate == node.certificate
