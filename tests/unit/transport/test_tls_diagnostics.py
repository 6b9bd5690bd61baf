"""What each side of a failed TLS handshake logs, in ES's words, from real OpenSSL sessions.

Two :class:`TlsSession` objects pump bytes to each other in memory (no sockets, no mocks of
``ssl``), then :func:`describe_failure` turns each side's error into ES's log line. The expected
texts are those of ES's remote-cluster troubleshooting guide, with our certificates' facts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from isthmus.security import certs
from isthmus.security.certs import CertificateAndKey
from isthmus.security.tls_failures import (
    DIAGNOSTIC_TRUST_MANAGER,
    SECURITY_NETTY4_TRANSPORT,
    TCP_TRANSPORT,
    channel_description,
    describe_failure,
)
from isthmus.security.trust_diagnostics import PKIX_PATH_BUILDING_FAILED, TrustInfo
from isthmus.transport.tls_session import TlsSession

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
AT = NOW + dt.timedelta(hours=1, microseconds=464275)
UNTIL = NOW + dt.timedelta(days=365)
VALID = (
    f"the certificate is valid between [{NOW:%Y-%m-%dT%H:%M:%SZ}] and [{UNTIL:%Y-%m-%dT%H:%M:%SZ}]"
    f" (current time is [{AT:%Y-%m-%dT%H:%M:%S}.464275Z], certificate dates are valid)"
)
TLS13 = "the session uses cipher suite [TLS_AES_256_GCM_SHA384] and protocol [TLSv1.3]"
USAGE = "keyUsage [digitalSignature] and extendedKeyUsage [serverAuth, clientAuth]"
SERVER_CHANNEL = channel_description("192.168.0.42:9443", "192.168.0.84:57305", "_remote_cluster")
CLIENT_CHANNEL = channel_description("192.168.0.84:60738", "192.168.0.42:9443", "_remote_cluster")


def fp(pair: CertificateAndKey) -> str:
    return hashlib.sha1(pair.certificate.public_bytes(Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def transport_ca() -> CertificateAndKey:
    return certs.generate_ca("CN=Elastic Auto Transport CA", now=NOW, days=365)


@pytest.fixture(scope="module")
def remote_ca() -> CertificateAndKey:
    return certs.generate_ca("CN=Elastic Auto RemoteCluster CA", now=NOW, days=365)


@pytest.fixture(scope="module")
def node(transport_ca: CertificateAndKey) -> CertificateAndKey:
    return certs.issue_certificate(
        "CN=transport",
        issuer=transport_ca,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
        now=NOW,
        days=365,
    )


@pytest.fixture(scope="module")
def remote_client(remote_ca: CertificateAndKey) -> CertificateAndKey:
    return certs.issue_certificate("CN=remote_client", issuer=remote_ca, now=NOW, days=365)


class Contexts:
    """Builds client/server contexts from generated certificates (PEM files under ``tmp``)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.count = 0

    def make(
        self,
        *,
        server: bool,
        identity: CertificateAndKey | None = None,
        trusted: Sequence[CertificateAndKey] = (),
        client_auth: bool = True,
        tls12: bool = False,
    ) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if identity is not None:
            self.count += 1
            cert = self.tmp / f"cert-{self.count}.pem"
            key = self.tmp / f"key-{self.count}.pem"
            cert.write_bytes(certs.encode_pem_certificates(identity.certificate))
            key.write_bytes(certs.encode_pem_key(identity.key))
            ctx.load_cert_chain(cert, key)
        for ca in trusted:
            ctx.load_verify_locations(cadata=certs.encode_pem_certificates(ca.certificate).decode())
        if server:
            ctx.verify_mode = ssl.CERT_REQUIRED if client_auth else ssl.CERT_NONE
        return ctx


@pytest.fixture
def contexts(tmp_path: Path) -> Contexts:
    return Contexts(tmp_path)


def handshake(
    client: TlsSession, server: TlsSession
) -> tuple[ssl.SSLError | None, ssl.SSLError | None]:
    """Pump bytes both ways until both sides are done; each side's error (or ``None``)."""
    errors: dict[str, ssl.SSLError] = {}
    client.start()
    for _ in range(10):
        data = client.take_output()
        if data and "server" not in errors:
            try:
                server.receive(data)
            except ssl.SSLError as exc:
                errors["server"] = exc
        data = server.take_output()
        if data and "client" not in errors:
            try:
                client.receive(data)
            except ssl.SSLError as exc:
                errors["client"] = exc
    return errors.get("client"), errors.get("server")


def trust_of(prefix: str, path: str, *cas: CertificateAndKey) -> TrustInfo:
    return TrustInfo(prefix, f"PEM-trust{{{path}}}", tuple(c.certificate for c in cas))


def test_channel_description() -> None:
    assert SERVER_CHANNEL == (
        "Netty4TcpChannel{localAddress=/192.168.0.42:9443, remoteAddress=/192.168.0.84:57305,"
        " profile=_remote_cluster}"
    )
    assert channel_description("::1:9300", "[::1]:50000") == (
        "Netty4TcpChannel{localAddress=/[0:0:0:0:0:0:0:1]:9300,"
        " remoteAddress=/[0:0:0:0:0:0:0:1]:50000, profile=default}"
    )


# --- the client does not trust the server --------------------------------------------------------


def test_client_distrusts_the_server_issuer(
    contexts: Contexts,
    node: CertificateAndKey,
    transport_ca: CertificateAndKey,
    remote_ca: CertificateAndKey,
) -> None:
    """The guide's "connecting to the transport port with API key authentication", both sides."""
    server = TlsSession(
        contexts.make(server=True, identity=node, client_auth=False), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[remote_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, server_error = handshake(client, server)
    assert client_error is not None and server_error is not None
    trust = trust_of(
        "xpack.security.remote_cluster_client.ssl", "/rcs2/ssl/remote-cluster-ca.crt", remote_ca
    )

    failure = describe_failure(
        client_error,
        server_side=False,
        peer="192.168.0.42:9443",
        session=client,
        channel=CLIENT_CHANNEL,
        trust=trust,
        now=AT,
    )
    expected = (
        "failed to establish trust with server at [192.168.0.42]; the server provided a"
        f" certificate with subject name [CN=transport], fingerprint [{fp(node)}], {USAGE};"
        f" {VALID}; {TLS13}; the certificate has subject alternative names"
        " [DNS:localhost,IP:127.0.0.1]; the certificate is issued by [CN=Elastic Auto Transport"
        " CA] but the server did not provide a copy of the issuing certificate in the"
        " certificate chain; this ssl context ([xpack.security.remote_cluster_client.ssl (with"
        " trust configuration: PEM-trust{/rcs2/ssl/remote-cluster-ca.crt})]) is not configured"
        " to trust that issuer, it only trusts the issuer [CN=Elastic Auto RemoteCluster CA]"
        f" with fingerprint [{fp(remote_ca)}]"
    )
    assert (
        failure.logger
        == DIAGNOSTIC_TRUST_MANAGER
        == "org.elasticsearch.common.ssl.DiagnosticTrustManager"
    )
    assert failure.log_message == expected
    assert failure.message == expected
    assert failure.cause_line == (
        "sun.security.validator.ValidatorException: PKIX path building failed:"
        " sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid"
        " certification path to requested target"
    )
    assert (failure.side, failure.reason, failure.verify_code) == (
        "client",
        "CERTIFICATE_VERIFY_FAILED",
        20,
    )

    rejected = describe_failure(
        server_error, server_side=True, peer="192.168.0.84:57305", channel=SERVER_CHANNEL, now=AT
    )
    assert (
        rejected.logger
        == SECURITY_NETTY4_TRANSPORT
        == ("org.elasticsearch.xpack.core.security.transport.netty4.SecurityNetty4Transport")
    )
    assert rejected.log_message == (
        "client did not trust this server's certificate, closing connection"
        " Netty4TcpChannel{localAddress=/192.168.0.42:9443, remoteAddress=/192.168.0.84:57305,"
        " profile=_remote_cluster}"
    )
    assert rejected.cause_line is None
    assert rejected.message == (
        "client did not trust this server's certificate (Received fatal alert: unknown_ca)"
    )


def test_client_trusting_several_other_issuers(contexts: Contexts, node: CertificateAndKey) -> None:
    others = [certs.generate_ca(f"CN=Other CA {n}", now=NOW) for n in "BCA"]
    server = TlsSession(
        contexts.make(server=True, identity=node, client_auth=False), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=others), server_side=False, server_hostname="localhost"
    )
    client_error, _ = handshake(client, server)
    assert client_error is not None
    failure = describe_failure(
        client_error,
        server_side=False,
        peer="127.0.0.1:9300",
        session=client,
        trust=trust_of("xpack.security.transport.ssl", "/etc/ca.crt", *others),
        now=AT,
    )
    assert failure.log_message.endswith(
        "; the certificate is issued by [CN=Elastic Auto Transport CA] but the server did not"
        " provide a copy of the issuing certificate in the certificate chain; this ssl context"
        " ([xpack.security.transport.ssl (with trust configuration: PEM-trust{/etc/ca.crt})]) is"
        " not configured to trust that issuer but trusts [3] other issuers"
        " ([CN=Other CA A, CN=Other CA B, CN=Other CA C])"
    )


@pytest.mark.parametrize(
    ("hostname", "code", "java"),
    [
        (
            "elsewhere.example",
            62,
            "No subject alternative DNS name matching elsewhere.example found.",
        ),
        ("127.0.0.2", 64, "No subject alternative names matching IP address 127.0.0.2 found"),
    ],
)
def test_server_name_mismatch(
    contexts: Contexts,
    node: CertificateAndKey,
    transport_ca: CertificateAndKey,
    hostname: str,
    code: int,
    java: str,
) -> None:
    server = TlsSession(
        contexts.make(server=True, identity=node, client_auth=False), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[transport_ca]),
        server_side=False,
        server_hostname=hostname,
    )
    client_error, server_error = handshake(client, server)
    assert client_error is not None and server_error is not None
    trust = trust_of("xpack.security.transport.ssl", "/etc/ca.crt", transport_ca)
    failure = describe_failure(
        client_error,
        server_side=False,
        peer=f"{hostname}:9300",
        session=client,
        trust=trust,
        now=AT,
    )
    assert failure.verify_code == code
    assert failure.log_message == (
        f"failed to establish trust with server at [{hostname}]; the server provided a"
        f" certificate with subject name [CN=transport], fingerprint [{fp(node)}], {USAGE};"
        f" {VALID}; {TLS13}; the certificate has subject alternative names"
        " [DNS:localhost,IP:127.0.0.1]; the certificate is issued by [CN=Elastic Auto Transport"
        " CA] but the server did not provide a copy of the issuing certificate in the"
        f" certificate chain; the issuing certificate with fingerprint [{fp(transport_ca)}] is"
        " trusted in this ssl context ([xpack.security.transport.ssl (with trust"
        " configuration: PEM-trust{/etc/ca.crt})])"
    )
    assert failure.cause_line == f"java.security.cert.CertificateException: {java}"
    # OpenSSL's client answers with bad_certificate: the server reads it as a refusal of its
    # certificate, as ES does with a JDK client's certificate_unknown
    assert describe_failure(server_error, server_side=True, peer="c").log_message.startswith(
        "client did not trust this server's certificate, closing connection"
    )


def test_expired_server_certificate(contexts: Contexts, transport_ca: CertificateAndKey) -> None:
    issued = NOW - dt.timedelta(days=30)
    stale = certs.issue_certificate(
        "CN=stale", issuer=transport_ca, dns_names=["localhost"], now=issued, days=2
    )
    server = TlsSession(
        contexts.make(server=True, identity=stale, client_auth=False), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[transport_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, _ = handshake(client, server)
    assert client_error is not None
    failure = describe_failure(
        client_error, server_side=False, peer="127.0.0.1:9300", session=client, now=AT
    )
    assert failure.verify_code == 10
    assert (
        f"; the certificate is valid between [{issued:%Y-%m-%dT%H:%M:%SZ}] and"
        f" [{issued + dt.timedelta(days=2):%Y-%m-%dT%H:%M:%SZ}] (current time is"
        f" [{AT:%Y-%m-%dT%H:%M:%S}.464275Z], certificate has expired); "
    ) in failure.log_message
    assert failure.cause_line == (
        "sun.security.validator.ValidatorException: PKIX path validation failed:"
        " java.security.cert.CertPathValidatorException: validity check failed"
    )


# --- the server does not trust the client -------------------------------------------------------


def test_server_distrusts_the_client_issuer(
    contexts: Contexts,
    node: CertificateAndKey,
    transport_ca: CertificateAndKey,
    remote_client: CertificateAndKey,
) -> None:
    server = TlsSession(
        contexts.make(server=True, identity=node, trusted=[transport_ca]), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, identity=remote_client, trusted=[transport_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, server_error = handshake(client, server)
    assert client_error is not None and server_error is not None
    trust = trust_of("xpack.security.transport.ssl", "/rcs2/ssl/transport-ca.crt", transport_ca)

    failure = describe_failure(
        server_error,
        server_side=True,
        peer="192.168.0.84:60981",
        session=server,
        channel=SERVER_CHANNEL,
        trust=trust,
        now=AT,
    )
    assert failure.logger == DIAGNOSTIC_TRUST_MANAGER
    assert (
        failure.log_message
        == failure.message
        == (
            "failed to establish trust with client at [192.168.0.84]; the client provided a"
            f" certificate with subject name [CN=remote_client], fingerprint [{fp(remote_client)}],"
            f" {USAGE}; {VALID}; {TLS13}; the certificate is issued by [CN=Elastic Auto RemoteCluster"
            " CA] but the client did not provide a copy of the issuing certificate in the"
            " certificate chain; this ssl context ([xpack.security.transport.ssl (with trust"
            " configuration: PEM-trust{/rcs2/ssl/transport-ca.crt})]) is not configured to trust"
            " that issuer, it only trusts the issuer [CN=Elastic Auto Transport CA] with fingerprint"
            f" [{fp(transport_ca)}]"
        )
    )
    assert failure.cause_line == PKIX_PATH_BUILDING_FAILED

    refused = describe_failure(
        client_error,
        server_side=False,
        peer="192.168.0.42:9443",
        session=client,
        channel=CLIENT_CHANNEL,
    )
    assert refused.logger == TCP_TRANSPORT == "org.elasticsearch.transport.TcpTransport"
    assert refused.log_message == (
        "exception caught on transport layer [Netty4TcpChannel{localAddress=/192.168.0.84:60738,"
        " remoteAddress=/192.168.0.42:9443, profile=_remote_cluster}], closing connection"
    )
    assert refused.cause_line == (
        "io.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException:"
        " Received fatal alert: unknown_ca"
    )
    assert refused.message == (
        "server did not trust this client's certificate (Received fatal alert: unknown_ca)"
    )


def test_client_certificate_missing(
    contexts: Contexts, node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    """The guide's symptom 2: the remote cluster client sends no certificate to a transport port."""
    server = TlsSession(
        contexts.make(server=True, identity=node, trusted=[transport_ca]), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[transport_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, server_error = handshake(client, server)
    assert client_error is not None and server_error is not None
    server_channel = channel_description("192.168.0.42:9309", "192.168.0.84:60783")
    empty = describe_failure(
        server_error,
        server_side=True,
        peer="192.168.0.84:60783",
        session=server,
        channel=server_channel,
    )
    assert (empty.logger, empty.reason) == (TCP_TRANSPORT, "PEER_DID_NOT_RETURN_A_CERTIFICATE")
    assert empty.log_message == (
        "exception caught on transport layer [Netty4TcpChannel{localAddress=/192.168.0.42:9309,"
        " remoteAddress=/192.168.0.84:60783, profile=default}], closing connection"
    )
    assert empty.cause_line == (
        "io.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException:"
        " Empty client certificate chain"
    )
    assert empty.message == "Empty client certificate chain"

    client_channel = channel_description(
        "192.168.0.84:60738", "192.168.0.42:9309", "_remote_cluster"
    )
    required = describe_failure(
        client_error,
        server_side=False,
        peer="192.168.0.42:9309",
        session=client,
        channel=client_channel,
    )
    assert (required.logger, required.reason) == (
        TCP_TRANSPORT,
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    )
    assert required.log_message == (
        "exception caught on transport layer [Netty4TcpChannel{localAddress=/192.168.0.84:60738,"
        " remoteAddress=/192.168.0.42:9309, profile=_remote_cluster}], closing connection"
    )
    assert required.cause_line == (
        "io.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException:"
        " Received fatal alert: bad_certificate"
    )
    assert required.message == (
        "server at [192.168.0.42:9309] requires a client certificate"
        " (Received fatal alert: bad_certificate)"  # the same alert as the log line
    )


# --- TLS 1.2: the chain, suite and protocol come from the handshake messages ------------------


def test_tls12_failures_name_the_suite_and_protocol(
    contexts: Contexts,
    node: CertificateAndKey,
    transport_ca: CertificateAndKey,
    remote_ca: CertificateAndKey,
    remote_client: CertificateAndKey,
) -> None:
    tls12 = (
        "the session uses cipher suite [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384] and protocol"
        " [TLSv1.2]"
    )
    # the server refuses the client's certificate (OpenSSL forgets it: we kept the message)
    server = TlsSession(
        contexts.make(server=True, identity=node, trusted=[transport_ca], tls12=True),
        server_side=True,
    )
    client = TlsSession(
        contexts.make(server=False, identity=remote_client, trusted=[transport_ca], tls12=True),
        server_side=False,
        server_hostname="localhost",
    )
    _, server_error = handshake(client, server)
    assert server_error is not None
    assert [fp_of(c) for c in server.peer_chain()] == [fp(remote_client)]
    failure = describe_failure(
        server_error, server_side=True, peer="192.168.0.84:1", session=server, now=AT
    )
    assert f"[CN=remote_client], fingerprint [{fp(remote_client)}], {USAGE}; {VALID}; {tls12};" in (
        failure.log_message
    )

    # the client refuses the server's certificate
    server = TlsSession(
        contexts.make(server=True, identity=node, client_auth=False, tls12=True), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[remote_ca], tls12=True),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, _ = handshake(client, server)
    assert client_error is not None
    failure = describe_failure(
        client_error, server_side=False, peer="192.168.0.42:9300", session=client, now=AT
    )
    assert f"; {VALID}; {tls12}; the certificate has subject alternative names" in (
        failure.log_message
    )


def test_session_facts_after_a_good_handshake(
    contexts: Contexts,
    node: CertificateAndKey,
    transport_ca: CertificateAndKey,
    remote_ca: CertificateAndKey,
    remote_client: CertificateAndKey,
) -> None:
    server = TlsSession(
        contexts.make(server=True, identity=node, trusted=[remote_ca]), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, identity=remote_client, trusted=[transport_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    assert handshake(client, server) == (None, None)
    assert server.handshake_done and client.handshake_done
    assert [fp_of(c) for c in client.peer_chain()] == [fp(node)]
    assert [fp_of(c) for c in server.peer_chain()] == [fp(remote_client)]
    for session in (client, server):
        assert session.cipher() == "TLS_AES_256_GCM_SHA384"
        assert session.protocol() == session.version == "TLSv1.3"
    assert client.server_hostname == "localhost" and server.server_hostname is None


# --- other failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"ES\x00\x00\x00\x2a" + bytes(42), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
)
def test_plaintext_on_a_tls_port(contexts: Contexts, node: CertificateAndKey, data: bytes) -> None:
    server = TlsSession(contexts.make(server=True, identity=node), server_side=True)
    with pytest.raises(ssl.SSLError) as info:
        server.receive(data)
    failure = describe_failure(
        info.value,
        server_side=True,
        peer="192.168.0.84:5000",
        session=server,
        channel=SERVER_CHANNEL,
    )
    assert failure.logger == SECURITY_NETTY4_TRANSPORT
    assert failure.log_message == (
        "received plaintext traffic on an encrypted channel, closing connection"
        " Netty4TcpChannel{localAddress=/192.168.0.42:9443, remoteAddress=/192.168.0.84:57305,"
        " profile=_remote_cluster}"
    )
    assert failure.cause_line is None
    assert failure.message == "received plaintext traffic on an encrypted channel"


def test_eof_in_the_handshake(contexts: Contexts, transport_ca: CertificateAndKey) -> None:
    client = TlsSession(
        contexts.make(server=False, trusted=[transport_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client.start()
    with pytest.raises(ssl.SSLError) as info:
        client.receive(b"")
    failure = describe_failure(info.value, server_side=False, peer="10.0.0.1:9300", session=client)
    assert failure.logger == TCP_TRANSPORT
    assert failure.log_message == (
        "exception caught on transport layer [Netty4TcpChannel{localAddress=null,"
        " remoteAddress=/10.0.0.1:9300, profile=default}], closing connection"
    )
    assert failure.cause_line == (
        "io.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException:"
        " EOF occurred in violation of protocol"
    )


def test_without_the_session_nothing_false_is_said(
    contexts: Contexts, node: CertificateAndKey, remote_ca: CertificateAndKey
) -> None:
    server = TlsSession(
        contexts.make(server=True, identity=node, client_auth=False), server_side=True
    )
    client = TlsSession(
        contexts.make(server=False, trusted=[remote_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    client_error, _ = handshake(client, server)
    assert client_error is not None
    failure = describe_failure(client_error, server_side=False, peer="127.0.0.1:9300")
    # not ES's "the server did not provide a certificate": the chain is merely unknown here
    assert failure.message == (
        "failed to establish trust with server at [127.0.0.1]; unable to get local issuer"
        " certificate"
    )
    assert failure.cause_line == PKIX_PATH_BUILDING_FAILED


def test_a_foreign_message_callback_is_left_alone(
    contexts: Contexts, node: CertificateAndKey, transport_ca: CertificateAndKey
) -> None:
    ctx = contexts.make(server=True, identity=node, client_auth=False)
    seen: list[object] = []
    ctx._msg_callback = lambda *args: seen.append(args[4])  # type: ignore[attr-defined]
    server = TlsSession(ctx, server_side=True)
    client = TlsSession(
        contexts.make(server=False, trusted=[transport_ca]),
        server_side=False,
        server_hostname="localhost",
    )
    assert handshake(client, server) == (None, None)
    assert seen  # still the debugging hook's, not replaced by ours


def fp_of(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()
