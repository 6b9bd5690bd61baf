"""The probe through the lab's relay (``isthmus.lab.relay``), in front of a real Isthmus TLS
transport server: every network fault the relay summons is named by the probe as the lab's
scenarios expect (black hole, reset, silent path, HTTP CONNECT proxy, an SNI-routing proxy with
and without the server_name it routes)."""

from __future__ import annotations

import pytest

from isthmus.doctor.model import Confidence, Stage
from isthmus.doctor.probe import ProbeTarget, probe_remote
from isthmus.lab.relay import Relay, RelayConfig, RelayMode
from isthmus.remote.security_model import SecurityModel
from tests.unit.doctor.conftest import (
    Pki,
    client_context,
    failed_cause,
    outcome,
    server_context,
    transport_server,
)

SNI_NAME = "remote.lab.internal"


@pytest.mark.parametrize(
    ("mode", "stage", "cause"),
    [
        (RelayMode.BLACKHOLE, Stage.TCP, "tcp_timeout"),
        (RelayMode.RESET, Stage.TCP, "tcp_reset"),
        (RelayMode.DROP, Stage.PROTOCOL, "no_answer"),
        (RelayMode.CONNECT, Stage.PROTOCOL, "http_proxy"),
    ],
)
async def test_relay_faults(pki: Pki, mode: RelayMode, stage: Stage, cause: str) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"), dns=(SNI_NAME, "localhost"))
    client = client_context(pki.dir / "server-ca.crt")
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        config = RelayConfig(mode, backend=("127.0.0.1", server.port))
        async with Relay(config) as relay:
            host, port = relay.address
            report = await probe_remote(
                ProbeTarget(
                    "my",
                    host,
                    port,
                    model=SecurityModel.CERTIFICATE,
                    client_ssl=client,
                    timeout=1.5,
                )
            )
    assert failed_cause(report) == (stage, cause), outcome(report)
    assert report.elapsed < 1.5 + 1.0
    if cause == "http_proxy":  # seen for certain: it answers "HTTP port or not TLS?" too
        assert report.failed is not None
        assert {"http_port", "tls_to_plaintext"} <= set(report.failed.findings[0].ruled_out)


async def test_sni_routing_proxy_with_and_without_server_name(pki: Pki) -> None:
    crt, key = pki.leaf("remote", pki.ca("server"), dns=(SNI_NAME,), ips=())
    client = client_context(pki.dir / "server-ca.crt")
    async with transport_server(ssl_context=server_context(crt, key)) as server:
        routes = {SNI_NAME: ("127.0.0.1", server.port)}
        async with Relay(RelayConfig(RelayMode.SNI, routes=routes)) as relay:
            host, port = relay.address
            routed = await probe_remote(
                ProbeTarget("my", host, port, server_name=SNI_NAME, client_ssl=client, timeout=2)
            )
            unrouted = await probe_remote(
                ProbeTarget("my", host, port, client_ssl=client, timeout=2)
            )
    assert routed.failed is None, outcome(routed)
    assert routed.remote_cluster_name == "remote"
    assert failed_cause(unrouted) == (Stage.PROTOCOL, "proxy_no_route"), outcome(unrouted)
    finding = unrouted.stage(Stage.PROTOCOL).findings[0]
    assert finding.confidence is Confidence.LIKELY and "no server_name" in finding.message
