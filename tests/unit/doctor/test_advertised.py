"""Sniff mode's advertised addresses (isthmus.doctor.advertised) and the invariant that a failing
alias is never green (engine.still_failing): the seed answers, the address a remote node
advertises does not. Recognised from the connect error naming the node at a non-seed address,
from the live health's per-address records, from the remote's _nodes and from the local log;
never confused with the seed's own refusal, never in proxy mode; a probe of the seed that passes
does not turn it green."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.doctor import evidence as ev
from isthmus.doctor.evidence import ApiResult, SideEvidence
from isthmus.doctor.log_lines import parse_plain
from isthmus.doctor.logs import log_findings
from isthmus.doctor.model import Confidence, Outcome, Stage, StageResult, Status
from tests.unit.doctor.rest_evidence import ALIAS, INDEX, local, report, verdict

SEED = "192.168.0.42:9443"  # the remote node's bound address: it answers
PUBLISHED = "10.0.0.5:9443"  # what it advertises (a container's address): it does not
NAMED = f"[remote-node][{PUBLISHED}] connect_exception"


def sniff(
    *,
    error: str = NAMED,
    caused_by: str | None = f"Connection refused: /{PUBLISHED}",
    credentials: bool = True,
    mode: str = "sniff",
    health: dict[str, Any] | None = None,
) -> SideEvidence:
    """The local cluster in sniff mode with ``error`` in _resolve/cluster and the search."""
    base = local(credentials=credentials)
    info: dict[str, Any] = {"connected": False, "mode": mode, "skip_unavailable": False}
    if mode == "sniff":
        info |= {"seeds": [SEED], "num_nodes_connected": 0, "max_connections_per_cluster": 3}
    else:
        info |= {"proxy_address": SEED, "num_proxy_sockets_connected": 0}
    if credentials:
        info["cluster_credentials"] = ev.REDACTED
    top: dict[str, Any] = {"type": "connect_transport_exception", "reason": error}
    if caused_by is not None:
        top["caused_by"] = {"type": "connect_exception", "reason": caused_by}
    calls = {
        **base.calls,
        ev.REMOTE_INFO: ApiResult(200, {ALIAS: info}),
        ev.resolve_key(ALIAS, INDEX): ApiResult(
            200, {ALIAS: {"connected": False, "skip_unavailable": False, "error": error}}
        ),
        ev.search_key(ALIAS, INDEX): ApiResult(500, {"error": top, "status": 500}),
    }
    if health is not None:
        calls[ev.ISTHMUS_HEALTH] = ApiResult(
            200,
            {"cluster_name": "local", "node": {"name": "local-node"}, "remotes": {ALIAS: health}},
        )
    return SideEvidence(base.url, calls)


def remote_nodes(publish: str = PUBLISHED, bound: str = SEED) -> SideEvidence:
    node = {
        "name": "remote-node",
        "roles": ["data"],
        "transport_address": "192.168.0.42:9300",
        "transport": {"bound_address": ["192.168.0.42:9300"]},
        "remote_cluster_server": {"bound_address": [bound], "publish_address": publish},
    }
    return SideEvidence(
        "http://remote:9200",
        {
            ev.ROOT: ApiResult(200, {"cluster_name": "remote", "version": {"number": "9.1.0"}}),
            ev.NODES: ApiResult(200, {"nodes": {"r1": node}}),
        },
    )


def health(last_error: dict[str, Any] | None = None) -> dict[str, Any]:
    """Isthmus's health after a round: the seed reached, the advertised address refused."""
    refused = {
        "time": "2023-06-28T13:29:59.000+00:00",
        "stage": "tcp",
        "cause": "tcp_refused",
        "message": f"{NAMED}: Connection refused",
        "address": PUBLISHED,
    }
    return {
        "status": "red",
        "connected": False,
        "mode": "sniff",
        "last_success": "2023-06-28T13:29:59.000+00:00",
        "last_error": last_error or refused,
        "consecutive_failures": 1,
        "nodes": {
            SEED: {
                "node_name": "remote-node",
                "last_success": "2023-06-28T13:29:59.000+00:00",
                "last_error": None,
            },
            PUBLISHED: {
                "node_name": None,
                "last_success": None,
                "last_error": refused,
                "consecutive_failures": 3,
            },
        },
    }


def _only(v: Any) -> Any:
    (f,) = v.findings
    return f


def test_a_named_node_at_an_address_that_is_no_seed_is_the_advertised_address() -> None:
    v = verdict(sniff())
    f = _only(v)
    assert (f.stage, f.cause, f.side.value, f.confidence) == (
        Stage.TCP,
        "advertised_address_unreachable",
        "remote",
        Confidence.CERTAIN,
    )
    assert f.nodes == ("remote-node",)
    assert PUBLISHED in f.message and SEED in f.message and "connection refused" in f.message
    assert f.fix is not None and f.fix.side.value == "local"
    switch, alternative = f.fix.steps
    assert switch.startswith(
        'PUT /_cluster/settings {"persistent": {"cluster.remote.my.mode": "proxy", '
        f'"cluster.remote.my.proxy_address": "{SEED}", "cluster.remote.my.seeds": null}}}}'
    )
    assert alternative.startswith("or, instead: remote_cluster.publish_host: 192.168.0.42")
    assert "remote_cluster.publish_port: 9443" in alternative and "[remote-node]" in alternative
    # The certificate model advertises its transport address.
    (cert,) = verdict(sniff(credentials=False)).findings
    assert cert.fix is not None and "or, instead: transport.publish_host:" in cert.fix.steps[1]
    # Not the seed's own failure (ES names a seed's node []), nor proxy mode, nor a named node
    # at the seed's address: those stay refusals at the dialled address.
    for side in (
        sniff(error=f"[][{SEED}] connect_exception", caused_by=f"Connection refused: /{SEED}"),
        sniff(mode="proxy"),
        sniff(error=f"[remote-node][{SEED}] connect_exception"),
    ):
        assert _only(verdict(side)).cause == "tcp_refused"


def test_the_live_health_records_show_it_without_an_address_in_the_texts() -> None:
    """Elasticsearch-shaped generic texts, Isthmus's per-address records: the seed answered,
    the advertised address was refused."""
    side = sniff(error="Unable to connect to [my]", caused_by=None, health=health())
    f = _only(verdict(side))
    assert (f.cause, f.nodes, f.confidence) == (
        "advertised_address_unreachable",
        ("remote-node",),
        Confidence.CERTAIN,
    )
    assert any(f"[{SEED}] (the seed): last success" in e.detail for e in f.evidence)
    assert f.fix is not None and f'"cluster.remote.my.proxy_address": "{SEED}"' in f.fix.steps[0]


def test_the_remote_nodes_confirm_it_or_name_the_address_the_local_texts_do_not() -> None:
    f = _only(verdict(sniff(), remote_nodes()))
    assert f.confidence is Confidence.CERTAIN
    assert any(
        e.source == "remote GET /_nodes" and f"publishes {PUBLISHED}" in e.detail
        for e in f.evidence
    )
    # A refusal without an address: the remote's _nodes show the seed is a bound address and
    # the node publishes another one; likely that one.
    bare = sniff(error="Unable to connect to [my]", caused_by="Connection refused")
    g = _only(verdict(bare, remote_nodes()))
    assert (g.cause, g.confidence) == ("advertised_address_unreachable", Confidence.LIKELY)
    assert PUBLISHED in g.message
    # Several gateways, none reached (ES's summary of a round that listed the nodes): the
    # remote's _nodes name the address; without them it is a candidate.
    summary = sniff(error="Unable to open any connections to remote cluster [my]", caused_by=None)
    h = _only(verdict(summary, remote_nodes()))
    assert (h.cause, h.confidence) == ("advertised_address_unreachable", Confidence.LIKELY)
    undecided = _only(verdict(summary))
    assert undecided.cause == "connection_failed"
    assert undecided.candidates[0] == "advertised_address_unreachable"
    # The seed itself refused: its own failure, whatever the node publishes.
    own = sniff(error=f"[][{SEED}] connect_exception", caused_by=f"Connection refused: /{SEED}")
    assert _only(verdict(own, remote_nodes())).cause == "tcp_refused"
    # The node publishes its bound address: the alias's own address is at fault, as before.
    assert _only(verdict(bare, remote_nodes(publish=SEED))).cause != (
        "advertised_address_unreachable"
    )


LOG = f"""\
[2023-06-28T13:29:58,100][WARN ][o.e.t.SniffConnectionStrategy] [local-node] fetching nodes from external cluster [my] failed
org.elasticsearch.transport.ConnectTransportException: [remote-node][{PUBLISHED}] connect_exception
Caused by: java.net.ConnectException: Connection refused: /{PUBLISHED}
[2023-06-28T13:29:58,101][WARN ][o.e.t.RemoteClusterService] [local-node] project [default] failed to update remote cluster connection [my]
org.elasticsearch.transport.ConnectTransportException: [remote-node][{PUBLISHED}] connect_exception
Caused by: java.net.ConnectException: Connection refused: /{PUBLISHED}
"""


def test_the_local_log_names_the_node_at_its_advertised_address() -> None:
    from datetime import UTC

    lines = parse_plain(LOG, tz=UTC, source="local.log", cluster="local")
    (tcp,) = log_findings(lines, None, ALIAS)
    assert tcp.outcome is Outcome.FAILED
    (f,) = tcp.findings
    assert (f.stage, f.cause, f.confidence) == (
        Stage.TCP,
        "advertised_address_unreachable",
        Confidence.CERTAIN,
    )
    assert "remote-node" in f.message and PUBLISHED in f.message
    # The seed's own refusal ([] : a node without a name yet) is still tcp_refused.
    seed = LOG.replace(f"[remote-node][{PUBLISHED}]", f"[][{SEED}]")
    (tcp,) = log_findings(
        parse_plain(seed, tz=UTC, source="local.log", cluster="local"), None, ALIAS
    )
    assert tcp.findings[0].cause == "tcp_refused"


# --- the invariant: a failing alias is never green --------------------------------------------


def _probe_passed() -> list[StageResult]:
    return [StageResult(s, Outcome.PASSED) for s in (Stage.DNS, Stage.TCP, Stage.PROTOCOL)]


@pytest.mark.parametrize("mode", ["sniff", "proxy"])
def test_a_probe_that_gets_through_never_makes_a_failing_alias_green(mode: str) -> None:
    """The local cluster says the alias fails without saying why; the probe from the doctor's
    machine gets through DNS, TCP and the protocol: undecided (the local nodes' path differs),
    never green. In sniff mode the advertised address is among the candidates."""
    # The certificate model: with API keys the port question keeps the finding open anyway.
    side = sniff(error="Unable to connect to [my]", caused_by=None, mode=mode, credentials=False)
    rep = report(side, extra={ALIAS: [_probe_passed()]})
    (v,) = rep.aliases
    assert v.status is Status.RED and rep.exit_code == 2
    f = _only(v)
    assert f.stage is Stage.TCP and f.confidence is Confidence.POSSIBLE
    assert ("advertised_address_unreachable" in f.candidates) is (mode == "sniff")
    assert any("got through [tcp] from this machine" in e.detail for e in f.evidence)
    assert any("on a local node" in w for w in f.would_decide)
    # A probe that decides a later stage still decides it.
    later = [
        *_probe_passed(),
        StageResult(Stage.TLS, Outcome.FAILED, (_tls_expired(),)),
    ]
    assert _only(verdict(side, extra={ALIAS: [later]})).cause == "tls_expired"


def _tls_expired() -> Any:
    from isthmus.doctor.model import Finding, Side

    return Finding(Stage.TLS, "tls_expired", Side.REMOTE, "expired")
