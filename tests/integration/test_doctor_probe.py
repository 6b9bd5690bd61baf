"""The doctor's probe against a real pair of clusters (the lab: a remote with a remote cluster
server on its own CA, transport TLS on another, cross-cluster API keys made through its REST API).

One pair serves the whole module: every key the tests need is created on the remote by REST, and
each probe is a fresh connection, so the tests do not disturb each other. This is where the
authentication causes are reached for real (the remote's own answers to the remote cluster
handshake), and the wrong-port faults of the guide on real node processes.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.doctor.model import Confidence, Outcome, Stage
from isthmus.doctor.probe import ProbeReport, ProbeTarget, probe_remote
from isthmus.lab.topology import Lab, LabSpec, _call
from isthmus.remote.security_model import SecurityModel
from isthmus.settings.secret import Secret

API_KEY = SecurityModel.API_KEY
CERTIFICATE = SecurityModel.CERTIFICATE


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    pair = Lab(tmp_path_factory.mktemp("doctor-probe"), LabSpec())
    with pair:
        pair.start(register=False)
        yield pair


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _context(*cas: Path, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for ca in cas:
        ctx.load_verify_locations(ca)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def _probe(lab: Lab, address: str, **kw: Any) -> ProbeReport:
    host, port = _host_port(address)
    kw.setdefault("timeout", 3.0)
    return asyncio.run(probe_remote(ProbeTarget("my", host, port, **kw)))


def _server(lab: Lab, credential: str | None, **kw: Any) -> ProbeReport:
    """The API-key model at the remote cluster server, trusting its CA."""
    ca = lab.pki.files["remote-server-ca"]
    secret = None if credential is None else Secret(credential)
    return _probe(
        lab,
        lab.remote_cluster_address(),
        model=kw.pop("model", API_KEY),
        client_ssl=_context(ca),
        credential=secret,
        **kw,
    )


def _failed(report: ProbeReport) -> tuple[Stage, str]:
    failed = report.failed
    assert failed is not None and failed.outcome is Outcome.FAILED, report.to_json()
    return failed.stage, failed.findings[0].cause


def _key(lab: Lab, body: dict[str, Any], path: str = "/_security/cross_cluster/api_key") -> Any:
    return _call(lab.remote_url, "POST", path, body)


def _encoded(key_id: str, secret: str) -> str:
    return base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def test_api_key_model_healthy(lab: Lab, record_secret: Callable[[str], None]) -> None:
    assert lab.credential is not None
    record_secret(lab.credential)
    report = _server(lab, lab.credential)
    assert report.failed is None, report.to_json()
    assert [r.outcome for r in report.stages] == [Outcome.PASSED] * 6
    assert report.remote_cluster_name == "remote"
    assert report.remote_node == "remote-node" and report.remote_version
    assert report.remote_cluster_uuid
    assert report.elapsed < 3.0 + 1.0
    # Node discovery as the API-key model's sniff mode does it: the remote cluster server address.
    assert report.remote_nodes == (f"remote-node@{lab.remote_cluster_address()}",)
    # The credential is sent, never reported: the key's id appears, its secret nowhere.
    text = orjson.dumps(report.to_json()).decode()
    assert lab.key is not None and str(lab.key["id"]) in text
    assert str(lab.key["api_key"]) not in text and lab.credential not in text


def test_wrong_secret_and_malformed_credential(
    lab: Lab, record_secret: Callable[[str], None]
) -> None:
    assert lab.key is not None
    wrong = _encoded(str(lab.key["id"]), "x" * 22)
    short = _encoded(str(lab.key["id"]), "short")
    for credential in (wrong, short):
        record_secret(credential)
        report = _server(lab, credential)
        assert _failed(report) == (Stage.AUTHENTICATION, "api_key_invalid"), report.to_json()
        assert report.stage(Stage.HANDSHAKE).outcome is Outcome.PASSED


def test_unknown_key_id(lab: Lab) -> None:
    report = _server(lab, _encoded("noSuchKeyId000000000", "y" * 22))
    assert _failed(report) == (Stage.AUTHENTICATION, "api_key_unknown"), report.to_json()
    assert "unable to find apikey" in report.stage(Stage.AUTHENTICATION).findings[0].message


def test_rest_key_is_the_wrong_type(lab: Lab, record_secret: Callable[[str], None]) -> None:
    rest = _key(lab, {"name": "probe-rest"}, "/_security/api_key")
    record_secret(str(rest["encoded"]))
    report = _server(lab, str(rest["encoded"]))
    assert _failed(report) == (Stage.AUTHENTICATION, "api_key_wrong_type"), report.to_json()


def test_invalidated_and_expired_keys(lab: Lab, record_secret: Callable[[str], None]) -> None:
    access = {"search": [{"names": ["logs"]}]}
    dropped = _key(lab, {"name": "probe-invalidated", "access": access})
    _call(lab.remote_url, "DELETE", "/_security/api_key", {"ids": [dropped["id"]]})
    expired = _key(lab, {"name": "probe-expired", "access": access, "expiration": "1ms"})
    for key in (dropped, expired):
        record_secret(str(key["encoded"]))
    time.sleep(0.05)
    report = _server(lab, str(dropped["encoded"]))
    assert _failed(report) == (Stage.AUTHENTICATION, "api_key_invalidated"), report.to_json()
    report = _server(lab, str(expired["encoded"]))
    assert _failed(report) == (Stage.AUTHENTICATION, "api_key_expired"), report.to_json()


def test_api_key_model_without_a_credential(lab: Lab) -> None:
    report = _server(lab, None)
    assert _failed(report) == (Stage.AUTHENTICATION, "credentials_missing"), report.to_json()


def test_certificate_model_at_the_remote_cluster_server(lab: Lab) -> None:
    report = _server(lab, None, model=CERTIFICATE)
    assert _failed(report) == (
        Stage.PROTOCOL,
        "remote_cluster_port_without_credentials",
    ), report.to_json()
    assert [r.stage for r in report.stages] == [
        Stage.DNS,
        Stage.TCP,
        Stage.PROTOCOL,
        Stage.TLS,
        Stage.HANDSHAKE,
    ]


def _transport_address(lab: Lab) -> str:
    (node,) = _call(lab.remote_url, "GET", "/_nodes")["nodes"].values()
    return str(node["transport_address"])


def test_api_key_model_at_the_transport_port(lab: Lab) -> None:
    """The guide's "connecting to the transport port": with its own CA the transport port is
    untrusted (and wants a client certificate); trusted and with one, it is the wrong port."""
    files = lab.pki.files
    address = _transport_address(lab)
    assert lab.credential is not None
    credential = Secret(lab.credential)
    untrusted = _probe(
        lab,
        address,
        model=API_KEY,
        credential=credential,
        client_ssl=_context(files["remote-server-ca"]),
        candidate_cas=(files["remote-server-ca"], files["remote-transport-ca"]),
    )
    assert _failed(untrusted) == (Stage.TLS, "tls_untrusted_ca"), untrusted.to_json()
    tls = untrusted.stage(Stage.TLS)
    assert str(files["remote-transport-ca"]) in tls.findings[0].message
    assert any("requires a client certificate" in e.detail for e in tls.evidence)

    no_certificate = _probe(
        lab,
        address,
        model=API_KEY,
        credential=credential,
        client_ssl=_context(files["remote-server-ca"], files["remote-transport-ca"]),
    )
    assert _failed(no_certificate) == (
        Stage.TLS,
        "tls_client_certificate_required",
    ), no_certificate.to_json()

    local_node = (lab.pki.dir / "local-node.crt", lab.pki.dir / "local-node.key")
    wrong_port = _probe(
        lab,
        address,
        model=API_KEY,
        credential=credential,
        client_ssl=_context(
            files["remote-server-ca"], files["remote-transport-ca"], cert=local_node
        ),
    )
    assert _failed(wrong_port) == (
        Stage.PROTOCOL,
        "transport_port_with_credentials",
    ), wrong_port.to_json()


def test_certificate_model_at_the_transport_port_is_healthy(lab: Lab) -> None:
    files = lab.pki.files
    local_node = (lab.pki.dir / "local-node.crt", lab.pki.dir / "local-node.key")
    report = _probe(
        lab,
        _transport_address(lab),
        model=CERTIFICATE,
        client_ssl=_context(files["remote-transport-ca"], cert=local_node),
    )
    assert report.failed is None, report.to_json()
    assert report.remote_cluster_name == "remote"
    assert Stage.AUTHENTICATION not in [r.stage for r in report.stages]
    assert report.remote_nodes == (f"remote-node@{_transport_address(lab)}",)


def test_http_port(lab: Lab) -> None:
    assert lab.remote is not None and lab.remote.http_address is not None
    report = _probe(lab, lab.remote.http_address, model=API_KEY)
    assert _failed(report) == (Stage.PROTOCOL, "http_port"), report.to_json()
    finding = report.stage(Stage.PROTOCOL).findings[0]
    assert finding.confidence is Confidence.CERTAIN  # it says it is Elasticsearch
    assert "Elasticsearch's HTTP server" in finding.message


_UNREACHABLE = """
import asyncio, json
from isthmus.doctor.probe import ProbeTarget, probe_remote
report = asyncio.run(probe_remote(ProbeTarget("my", "198.51.100.7", 9443, timeout=2.0)))
print(json.dumps(report.to_json()))
"""


def test_no_route_to_the_address() -> None:
    """In a namespace with nothing but loopback, no route leads anywhere: ENETUNREACH at once."""
    import subprocess
    import sys

    from isthmus.testing.netns import Netns, NetnsUnavailable

    try:
        ns = Netns.create("isthmus-probe")
    except NetnsUnavailable as exc:
        pytest.skip(f"cannot create a network namespace: {exc}")
    try:
        out = subprocess.run(
            [*ns.wrap, sys.executable, "-c", _UNREACHABLE],
            check=True,
            capture_output=True,
            timeout=30,
        )
    finally:
        ns.delete()
    report = orjson.loads(out.stdout)
    tcp = report["stages"][1]
    assert tcp["outcome"] == "failed", report
    assert tcp["findings"][0]["cause"] == "tcp_unreachable"
    assert "ENETUNREACH" in tcp["evidence"][0]["detail"]
    assert report["elapsed_seconds"] < 1.0
