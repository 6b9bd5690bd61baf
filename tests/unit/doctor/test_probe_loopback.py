"""The probe against real loopback servers: raw asyncio servers that refuse, reset, close, hold,
speak HTTP or speak first, and in-process Isthmus transport servers with the certificates of each
TLS fault. Every cause the DNS, TCP, protocol, TLS and handshake stages emit is reached here for
real (the API-key model's authentication causes need a whole remote cluster: see
``tests/integration/test_doctor_probe.py``)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import socket
import ssl
import time

import orjson
import pytest

from isthmus.doctor.model import Confidence, Outcome, Stage
from isthmus.doctor.port_identity import PING
from isthmus.doctor.probe import ProbeReport, ProbeTarget, probe_remote
from isthmus.remote.security_model import SecurityModel
from tests.unit.doctor.conftest import (
    Pki,
    client_context,
    details,
    failed_cause,
    free_port,
    outcome,
    raw_server,
    reset,
    server_context,
    transport_server,
)


def target(port: int, **kw: object) -> ProbeTarget:
    kw.setdefault("timeout", 2.0)
    return ProbeTarget("my", str(kw.pop("host", "127.0.0.1")), port, **kw)  # type: ignore[arg-type]


# --- DNS and TCP --------------------------------------------------------------------------------


async def test_unresolvable_host() -> None:
    report = await probe_remote(target(9443, host="no-such-host.invalid"))
    assert failed_cause(report) == (Stage.DNS, "dns_unresolvable"), outcome(report)
    assert [r.outcome for r in report.stages[1:]] == [Outcome.NOT_REACHED] * 4


async def test_localhost_resolves_and_ip_literal_needs_no_lookup() -> None:
    report = await probe_remote(target(free_port(), host="localhost"))
    assert report.stage(Stage.DNS).outcome is Outcome.PASSED
    assert "resolves to" in details(report)
    report = await probe_remote(target(free_port()))
    assert "is an IP address" in details(report)


async def test_refused() -> None:
    report = await probe_remote(target(free_port()))
    assert failed_cause(report) == (Stage.TCP, "tcp_refused"), outcome(report)
    assert "ECONNREFUSED" in details(report)
    assert report.elapsed < 1.0  # no wait at all; the bound only allows for a loaded machine
    again = ProbeReport.from_json(orjson.loads(orjson.dumps(report.to_json())))
    assert again.to_json() == report.to_json() and again.stages == report.stages
    assert report.stage(Stage.TCP).findings[0].fix is not None


async def test_black_holed_times_out_within_the_budget() -> None:
    # A listener whose accept queue is full drops new SYNs: the kernel's own black hole.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            started = time.monotonic()
            report = await probe_remote(target(port, timeout=1.0))
    assert failed_cause(report) == (Stage.TCP, "tcp_timeout"), outcome(report)
    assert 0.9 < time.monotonic() - started < 2.0


async def test_reset_as_soon_as_open() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reset(writer)

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert failed_cause(report) == (Stage.TCP, "tcp_reset"), outcome(report)


async def test_closed_as_soon_as_open() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert failed_cause(report) == (Stage.TCP, "tcp_closed"), outcome(report)


# --- protocol -------------------------------------------------------------------------------------


async def test_silent_port_within_the_budget() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with raw_server(handler) as port:
        report = await probe_remote(target(port, timeout=2.0))
    assert failed_cause(report) == (Stage.PROTOCOL, "no_answer"), outcome(report)
    assert report.stage(Stage.TCP).outcome is Outcome.PASSED
    assert report.elapsed < 2.0 + 1.0


async def test_http_port() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert failed_cause(report) == (Stage.PROTOCOL, "http_port"), outcome(report)
    # It never said it is Elasticsearch: likely, not certain.
    assert report.stage(Stage.PROTOCOL).findings[0].confidence is Confidence.LIKELY


async def test_http_forward_proxy() -> None:
    """A CONNECT proxy (the lab relay's kind): 400 to bytes that are no request, 405 to GET."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.read(100)
        if head.startswith(b"GET "):
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert failed_cause(report) == (Stage.PROTOCOL, "http_proxy"), outcome(report)


async def test_elasticsearch_plaintext_transport_is_recognised_by_its_http_answer() -> None:
    """A stand-in for an ES transport port, built from ES's documented behaviour: it closes on a
    TLS hello, ignores a ping, answers HTTP with its own sentence, and answers its TCP handshake
    with the bytes ES's TransportHandshaker documents (a 9.0.0 node)."""
    from tests.unit.doctor.test_es_handshake import V88_RESPONSE

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(200):
            if data.startswith(PING):
                data = data[len(PING) :]
            if data.startswith(b"GET "):
                writer.write(b"This is not an HTTP port")
                return
            if data.startswith(b"ES") and b"internal:tcp/handshake" in data:
                writer.write(V88_RESPONSE)
                await writer.drain()
                continue
            if data and not data.startswith(b"ES"):
                return  # a TLS hello: not 'E' 'S', closed

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert report.stage(Stage.PROTOCOL).outcome is Outcome.PASSED, outcome(report)
    assert "Elasticsearch transport over plaintext" in details(report)
    assert report.stage(Stage.HANDSHAKE).outcome is Outcome.NOT_CHECKED
    assert "release [9.0.0], transport version [8833000]" in details(report)
    assert report.remote_version == "9.0.0"


async def test_server_that_speaks_first_is_not_elasticsearch() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert failed_cause(report) == (Stage.PROTOCOL, "not_elasticsearch"), outcome(report)


async def test_plaintext_isthmus_transport_all_green() -> None:
    async with transport_server() as server:
        report = await probe_remote(target(server.port))
    assert report.failed is None, outcome(report)
    assert report.remote_cluster_name == "remote"
    assert report.remote_cluster_uuid == "remote-uuid"
    assert report.remote_node == "remote-node"
    assert report.stage(Stage.TLS).outcome is Outcome.NOT_CHECKED
    assert "profile [default]" in details(report)
    # This server has no node discovery action: said, and not the handshake's failure.
    assert "did not list the remote's nodes" in details(report) and report.remote_nodes == ()


async def test_tls_client_against_plaintext_port(pki: Pki) -> None:
    ca = pki.ca("server")
    del ca
    async with transport_server() as server:
        report = await probe_remote(
            target(server.port, client_ssl=client_context(pki.dir / "server-ca.crt"))
        )
    assert failed_cause(report) == (Stage.PROTOCOL, "tls_to_plaintext"), outcome(report)


async def test_plaintext_client_against_tls_port(pki: Pki) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"))
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        report = await probe_remote(target(server.port))
    assert failed_cause(report) == (Stage.PROTOCOL, "plaintext_to_tls"), outcome(report)


async def test_certificate_model_on_a_profile_demanding_credentials() -> None:
    """What the transport handshake without credentials meets on a remote cluster server."""
    from isthmus.errors import IllegalArgumentError

    def refuse(action: str, headers: object, info: object) -> None:
        raise IllegalArgumentError(
            "Cross cluster requests through the dedicated remote cluster server port require "
            "transport header [_cross_cluster_access_credentials] but none found. Please ensure "
            "you have configured remote cluster credentials on the cluster originating the "
            "request."
        )

    async with transport_server(profile="_remote_cluster", request_filter=refuse) as server:
        report = await probe_remote(target(server.port))
    assert failed_cause(report) == (
        Stage.PROTOCOL,
        "remote_cluster_port_without_credentials",
    ), outcome(report)


async def test_api_key_model_on_the_transport_profile() -> None:
    async with transport_server() as server:
        report = await probe_remote(target(server.port, model=SecurityModel.API_KEY))
    assert failed_cause(report) == (
        Stage.PROTOCOL,
        "transport_port_with_credentials",
    ), outcome(report)


# --- handshake ------------------------------------------------------------------------------------


async def test_incompatible_version() -> None:
    async with transport_server(min_compatible_version=9_000_099) as server:
        report = await probe_remote(target(server.port))
    assert failed_cause(report) == (Stage.HANDSHAKE, "handshake_incompatible_version"), outcome(
        report
    )


async def test_handshake_never_answered() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            if data.startswith(PING):
                writer.write(PING)  # an Isthmus transport's ping echo, then nothing more

    async with raw_server(handler) as port:
        report = await probe_remote(target(port, timeout=2.0))
    assert failed_cause(report) == (Stage.HANDSHAKE, "handshake_timeout"), outcome(report)
    assert report.elapsed < 3.0


async def test_connection_closed_during_the_handshake() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        if data.startswith(PING):
            writer.write(PING)
            await writer.drain()
            await reader.read(100)  # the handshake request: hang up on it

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    assert failed_cause(report) == (Stage.HANDSHAKE, "handshake_closed"), outcome(report)


# --- TLS ------------------------------------------------------------------------------------------


async def test_tls_trusted_chain_all_green(pki: Pki) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"))
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        report = await probe_remote(
            target(server.port, client_ssl=client_context(pki.dir / "server-ca.crt"))
        )
    assert report.failed is None, outcome(report)
    assert report.stage(Stage.TLS).outcome is Outcome.PASSED
    assert report.remote_cluster_name == "remote"


async def test_untrusted_ca_names_the_candidate_that_would_trust_it(pki: Pki) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"))
    pki.ca("other")
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        client = client_context(pki.dir / "other-ca.crt")
        alone = await probe_remote(target(server.port, client_ssl=client))
        helped = await probe_remote(
            target(
                server.port,
                client_ssl=client,
                candidate_cas=(pki.dir / "other-ca.crt", pki.dir / "server-ca.crt"),
            )
        )
    # Without the issuer's certificate, an untrusted CA and a missing intermediate look alike.
    failed = alone.failed
    assert failed is not None and failed.outcome is Outcome.UNDECIDED, outcome(alone)
    assert set(failed.findings[0].candidates) == {"tls_untrusted_ca", "tls_missing_intermediate"}
    assert failed_cause(helped) == (Stage.TLS, "tls_untrusted_ca"), outcome(helped)
    (finding,) = helped.stage(Stage.TLS).findings
    assert f"trusting [{pki.dir / 'server-ca.crt'}] would make it trusted" in finding.message
    assert str(pki.dir / "other-ca.crt") not in finding.message.split("trusting")[1]


async def test_regenerated_ca_with_the_same_name(pki: Pki) -> None:
    old = pki.ca("old", dn="CN=Probe Shared Name CA")
    del old
    new = pki.ca("new", dn="CN=Probe Shared Name CA")
    crt, key = pki.leaf("remote", new)
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        report = await probe_remote(
            target(
                server.port,
                client_ssl=client_context(pki.dir / "old-ca.crt"),
                candidate_cas=(pki.dir / "new-ca.crt",),
            )
        )
    assert failed_cause(report) == (Stage.TLS, "tls_ca_regenerated"), outcome(report)
    assert "new-ca.crt" in report.stage(Stage.TLS).findings[0].message


async def test_missing_intermediate(pki: Pki) -> None:
    root = pki.ca("root")
    inter = pki.intermediate("intermediate", root)
    crt, key = pki.leaf("remote", inter)  # the leaf alone: the intermediate is not sent
    full_crt, full_key = pki.leaf("remote-full", inter, chain=True)
    client = client_context(pki.dir / "root-ca.crt")
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        report = await probe_remote(
            target(
                server.port,
                client_ssl=client,
                candidate_cas=(pki.dir / "intermediate-ca.crt",),
            )
        )
    assert failed_cause(report) == (Stage.TLS, "tls_missing_intermediate"), outcome(report)
    async with transport_server(ssl_context=server_context(full_crt, full_key)) as server:
        report = await probe_remote(target(server.port, client_ssl=client))
    assert report.failed is None, outcome(report)


async def test_hostname_mismatch_names_the_dialled_address_and_server_name(pki: Pki) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"), dns=("elsewhere.example",), ips=("10.9.9.9",))
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        client = client_context(pki.dir / "server-ca.crt")
        report = await probe_remote(target(server.port, client_ssl=client))
        named = await probe_remote(
            target(server.port, client_ssl=client, server_name="other.example")
        )
        lenient = await probe_remote(
            target(
                server.port,
                client_ssl=client_context(pki.dir / "server-ca.crt", check_hostname=False),
            )
        )
    assert failed_cause(report) == (Stage.TLS, "tls_hostname_mismatch"), outcome(report)
    message = report.stage(Stage.TLS).findings[0].message
    assert "[127.0.0.1]" in message and "DNS:elsewhere.example" in message
    assert failed_cause(named) == (Stage.TLS, "tls_hostname_mismatch")
    assert "server_name [other.example]" in named.stage(Stage.TLS).findings[0].message
    assert lenient.failed is None, outcome(lenient)  # verification_mode certificate


async def test_expired_and_not_yet_valid(pki: Pki) -> None:
    ca = pki.ca("server")
    now = dt.datetime.now(dt.UTC)
    old = pki.leaf("expired", ca, now=now - dt.timedelta(days=10), days=2)
    future = pki.leaf("future", ca, now=now + dt.timedelta(days=3), days=30)
    client = client_context(pki.dir / "server-ca.crt")
    async with transport_server(ssl_context=server_context(*old)) as server:
        expired = await probe_remote(target(server.port, client_ssl=client))
    async with transport_server(ssl_context=server_context(*future)) as server:
        early = await probe_remote(target(server.port, client_ssl=client))
    assert failed_cause(expired) == (Stage.TLS, "tls_expired"), outcome(expired)
    assert "this machine's clock" in expired.stage(Stage.TLS).findings[0].message
    assert failed_cause(early) == (Stage.TLS, "tls_not_yet_valid"), outcome(early)
    assert "3d after this machine's clock" in early.stage(Stage.TLS).findings[0].message
    assert "the remote's clock is unknown" in early.stage(Stage.TLS).findings[0].message
    async with transport_server(ssl_context=server_context(*future)) as server:
        skewed = await probe_remote(
            target(server.port, client_ssl=client, remote_clock_offset=4 * 86400.0)
        )
    assert failed_cause(skewed) == (Stage.TLS, "tls_not_yet_valid"), outcome(skewed)
    assert "the clocks disagree" in skewed.stage(Stage.TLS).findings[0].message


async def test_client_certificate_required_and_untrusted(pki: Pki) -> None:
    ca = pki.ca("server")
    client_ca = pki.ca("client")
    stranger = pki.ca("stranger")
    crt, key = pki.leaf("remote", ca)
    good = pki.leaf("local", client_ca)
    bad = pki.leaf("intruder", stranger)
    server_ctx = server_context(crt, key, client_ca=pki.dir / "client-ca.crt")
    trust = pki.dir / "server-ca.crt"
    async with transport_server(ssl_context=server_ctx) as server:
        none = await probe_remote(target(server.port, client_ssl=client_context(trust)))
        untrusted = await probe_remote(
            target(server.port, client_ssl=client_context(trust, cert=bad))
        )
        accepted = await probe_remote(
            target(server.port, client_ssl=client_context(trust, cert=good))
        )
    assert failed_cause(none) == (Stage.TLS, "tls_client_certificate_required"), outcome(none)
    assert failed_cause(untrusted) == (Stage.TLS, "tls_client_untrusted"), outcome(untrusted)
    assert accepted.failed is None, outcome(accepted)
    assert accepted.remote_cluster_name == "remote"


async def test_verification_mode_none_checks_nothing(pki: Pki) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"), dns=("elsewhere.example",), ips=())
    pki.ca("other")
    client = client_context(pki.dir / "other-ca.crt", check_hostname=False)
    client.verify_mode = ssl.CERT_NONE
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        report = await probe_remote(target(server.port, client_ssl=client))
    assert report.failed is None, outcome(report)
    assert "verification_mode none" in details(report)


async def test_ipv6_address() -> None:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
            port = sock.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback")
    report = await probe_remote(target(port, host="::1"))
    assert failed_cause(report) == (Stage.TCP, "tcp_refused"), outcome(report)
    assert report.address == f"[::1]:{port}"


async def test_older_elasticsearch_answers_the_v7_handshake_only() -> None:
    """A stand-in for an 8.x node before 8.18: it cannot read the newer handshake format and
    closes; the probe falls back to the format every 8.x node answers."""
    from tests.unit.doctor.test_es_handshake import V7_RESPONSE

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(200):
            if data.startswith(PING):
                data = data[len(PING) :]
            if data.startswith(b"GET "):
                writer.write(b"This is not an HTTP port")
                return
            if data.startswith(b"ES") and b"internal:tcp/handshake" in data:
                if data[15:19] != (7_170_099).to_bytes(4, "big"):
                    return  # the newer format: unreadable here
                writer.write(V7_RESPONSE)
                await writer.drain()
                continue
            if data and not data.startswith(b"ES"):
                return

    async with raw_server(handler) as port:
        report = await probe_remote(target(port))
    text = details(report)
    assert "(format 8800000) got no readable answer" in text
    assert "transport version [8060099]" in text
    assert report.remote_version == "transport 8060099"


async def test_a_remote_that_echoes_the_credential_never_gets_it_into_the_report() -> None:
    from isthmus.errors import AuthenticationError
    from isthmus.settings.secret import Secret

    def echo_back(action: str, headers: dict[str, str], info: object) -> None:
        if action == "cluster:internal/remote_cluster/handshake":
            value = headers.get("_cross_cluster_access_credentials", "")
            raise AuthenticationError(f"unable to authenticate [{value}]: invalid credentials")
        raise AuthenticationError(
            "missing credentials; require transport header "
            "[_cross_cluster_access_credentials] but none found"
        )

    secret = "s3cr3tS3cr3tS3cr3tS3cr"
    encoded = base64.b64encode(f"keyid:{secret}".encode()).decode()
    async with transport_server(profile="_remote_cluster", request_filter=echo_back) as server:
        report = await probe_remote(
            target(server.port, model=SecurityModel.API_KEY, credential=Secret(encoded))
        )
    assert failed_cause(report) == (Stage.AUTHENTICATION, "api_key_invalid"), outcome(report)
    text = orjson.dumps(report.to_json()).decode()
    assert secret not in text and encoded not in text
    assert "::es_redacted::" in text


# --- sniff mode: the addresses the gateways advertise ---------------------------------------------


async def test_sniff_mode_connects_to_the_advertised_address_too() -> None:
    """The seed answers and its node list advertises a port nothing listens on: TCP fails with
    advertised_address_unreachable (the seed's own stages passed), naming the node; in proxy mode,
    or when the node advertises the seed itself, the node list is no address to check."""
    from isthmus.actions.remote_nodes import register_transport_nodes
    from isthmus.transport.actions import ActionRegistry
    from isthmus.wire import NodeIdentity

    unused = free_port()
    advertises = {"address": f"127.0.0.1:{unused}"}
    registry: ActionRegistry[object] = ActionRegistry()
    register_transport_nodes(
        registry,
        cluster_name="remote",
        cluster_uuid=lambda: "remote-uuid",
        nodes=lambda: [NodeIdentity("remote-id", "remote-node", advertises["address"], "9.1.0")],
    )
    async with transport_server(registry=registry) as server:
        report = await probe_remote(target(server.port, mode="sniff"))
        assert failed_cause(report) == (Stage.TCP, "advertised_address_unreachable"), outcome(
            report
        )
        (finding,) = report.stage(Stage.TCP).findings
        assert finding.nodes == ("remote-node",)
        assert f"127.0.0.1:{unused}" in finding.message and "ECONNREFUSED" in details(report)
        assert finding.fix is not None
        assert (
            f'"cluster.remote.my.proxy_address": "127.0.0.1:{server.port}"' in finding.fix.steps[0]
        )
        assert report.remote_nodes == (f"remote-node@127.0.0.1:{unused}",)
        # Proxy mode dials the proxy address only.
        assert (await probe_remote(target(server.port, mode="proxy"))).failed is None
        # A node advertising the address probed: nothing more to check.
        advertises["address"] = f"127.0.0.1:{server.port}"
        assert (await probe_remote(target(server.port, mode="sniff"))).failed is None
