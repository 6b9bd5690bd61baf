"""The CLI's probes (isthmus.cli.doctor_probes) against an in-process Isthmus transport server:
the probe speaks what the local cluster speaks (plaintext when its security or transport TLS is
off, as ES's defaults say), and in sniff mode it checks the addresses the remote advertises and
the engine keeps the verdict red. Before, a plaintext cluster was probed with TLS (a false
``tls_to_plaintext``) and a seed that answered made a failing sniff alias green."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from isthmus.actions.remote_nodes import register_transport_nodes
from isthmus.cli.doctor_probes import client_speaks_tls, probe_all
from isthmus.doctor import evidence as ev
from isthmus.doctor.bundle import Bundle
from isthmus.doctor.engine import diagnose
from isthmus.doctor.evidence import ApiResult, ConfigEvidence, SideEvidence
from isthmus.doctor.model import Outcome, Stage, Status
from isthmus.doctor.rules_context import AliasContext
from isthmus.transport.actions import ActionRegistry
from isthmus.wire import NodeIdentity
from tests.unit.doctor.conftest import free_port, transport_server

ALIAS, INDEX = "my", "*"


def local_side(seed: str, settings: dict[str, Any], *, credentials: bool = False) -> SideEvidence:
    info: dict[str, Any] = {"connected": False, "mode": "sniff", "seeds": [seed]}
    if credentials:
        info["cluster_credentials"] = ev.REDACTED
    error = "Unable to connect to [my]"  # what ES says at its least: no address, no reason
    calls = {
        ev.ROOT: ApiResult(200, {"name": "local-node", "cluster_name": "local"}),
        ev.REMOTE_INFO: ApiResult(200, {ALIAS: info}),
        ev.resolve_key(ALIAS, INDEX): ApiResult(200, {ALIAS: {"connected": False, "error": error}}),
    }
    return SideEvidence("http://local:9200", calls, (ConfigEvidence("/config", settings),))


def test_client_speaks_tls_with_es_defaults() -> None:
    def speaks(settings: dict[str, Any], credentials: bool = False) -> bool:
        side = local_side("127.0.0.1:9300", settings, credentials=credentials)
        return client_speaks_tls(AliasContext.build(ALIAS, INDEX, side, None, datetime.now(UTC)))

    assert not speaks({"xpack.security.enabled": "false"})
    assert not speaks({})  # the transport's TLS is off unless turned on
    assert speaks({"xpack.security.transport.ssl.enabled": "true"})
    assert not speaks(
        {"xpack.security.enabled": False, "xpack.security.transport.ssl.enabled": True}
    )
    assert speaks({}, credentials=True)  # the remote cluster client's TLS is on by default
    assert not speaks({"xpack.security.remote_cluster_client.ssl.enabled": "false"}, True)


async def test_a_plaintext_sniff_alias_whose_advertised_address_fails_is_never_green() -> None:
    unused = free_port()
    registry: ActionRegistry[object] = ActionRegistry()
    register_transport_nodes(
        registry,
        cluster_name="remote",
        cluster_uuid=lambda: "remote-uuid",
        nodes=lambda: [NodeIdentity("remote-id", "remote-node", f"127.0.0.1:{unused}", "9.1.0")],
    )
    async with transport_server(registry=registry) as server:
        seed = f"127.0.0.1:{server.port}"
        side = local_side(seed, {"xpack.security.enabled": "false"})
        bundle = Bundle(datetime.now(UTC), INDEX, (ALIAS,), side)
        probes = await probe_all(bundle, {"timeout": 2.0})
    results = {r.stage: r for r in probes[ALIAS]}
    assert results[Stage.TCP].outcome is Outcome.FAILED, results
    (finding,) = results[Stage.TCP].findings
    # Plaintext, as the local cluster speaks: the seed's handshake went through and listed the
    # node (with TLS the protocol stage failed first: tls_to_plaintext).
    assert any("lists node [remote-node]" in e.detail for e in finding.evidence), finding
    assert (finding.cause, finding.nodes) == ("advertised_address_unreachable", ("remote-node",))
    report = diagnose(
        side,
        None,
        aliases=(ALIAS,),
        index=INDEX,
        now=datetime.now(UTC),
        extra={ALIAS: [probes[ALIAS]]},
    )
    (verdict,) = report.aliases
    assert verdict.status is Status.RED and report.exit_code == 1
    assert verdict.findings[0].cause == "advertised_address_unreachable"
