"""The connection stages before a failure, and an alias pointed at the wrong port.  [no I/O]

With the remote's ``_nodes``, a port that cannot work for the alias's model is the finding; the
fixes name the right address. Part of :mod:`isthmus.doctor.rules_connect`.
"""

from __future__ import annotations

from isthmus.doctor.model import (
    Confidence,
    Evidence,
    Finding,
    Fix,
    Side,
    Stage,
    StageResult,
)
from isthmus.doctor.rules_context import (
    AliasContext,
    failed,
    finding,
    passed,
)

CONNECTION_STAGES = (Stage.DNS, Stage.TCP, Stage.PROTOCOL, Stage.TLS, Stage.HANDSHAKE)


def passed_before(stage: Stage, source: str) -> list[StageResult]:
    ev = Evidence(source, f"the connection got as far as {stage.value}")
    return [passed(s, ev) for s in CONNECTION_STAGES if s.order < stage.order]


def stopped(f: Finding, source: str) -> list[StageResult]:
    """``f`` failing its stage, every connection stage before it passed (``source`` went that
    far)."""
    return [*passed_before(f.stage, source), failed(f)]


def wrong_port_result(
    ctx: AliasContext, kind: tuple[str, list[str]] | None
) -> list[StageResult] | None:
    """With the remote's _nodes: the alias points at a port that cannot work for its model."""
    if kind is None:
        return None
    what, nodes = kind
    addr = ", ".join(ctx.addresses)
    ev = Evidence("remote GET /_nodes", f"{addr} is the {what} address of {nodes or 'no node'}")
    servers = ctx.remote_server_addresses()
    if ctx.has_credentials and what == "transport":
        f = finding(
            "transport_port_with_credentials",
            f"[{ctx.alias}] uses a cross-cluster API key but points at {addr}, the transport "
            f"port of remote node(s) {nodes}; the remote cluster server is at {servers or 'n/a'}",
            evidence=(ev,),
            fix=port_fix(ctx),
        )
        return stopped(f, "remote GET /_nodes")
    if what == "http":
        f = finding(
            "http_port",
            f"{addr} is the HTTP port of {nodes}",
            evidence=(ev,),
            fix=port_fix(ctx),
        )
        return stopped(f, "remote GET /_nodes")
    if what == "unknown":
        f = finding(
            "tcp_refused",
            f"[{ctx.alias}] points at {addr}, which no remote node publishes; the remote "
            f"cluster server is at {servers or 'not enabled'}",
            side=Side.LOCAL,
            evidence=(ev,),
            confidence=Confidence.LIKELY,
            fix=port_fix(ctx),
        )
        return stopped(f, "remote GET /_nodes")
    return None


def port_fix(ctx: AliasContext) -> Fix:
    servers = ctx.remote_server_addresses()
    target = servers[0] if servers else "<the remote's remote_cluster_server.publish_address>"
    key = "proxy_address" if ctx.mode == "proxy" else "seeds"
    value = f'"{target}"' if ctx.mode == "proxy" else f'["{target}"]'
    return Fix(
        "point the alias at the remote cluster server port (default 9443), not the transport "
        "or HTTP port",
        (
            "GET /_nodes/remote_cluster_server   # on the remote: remote_cluster_server.publish_address",
            f'PUT /_cluster/settings {{"persistent": {{"cluster.remote.{ctx.alias}.{key}": {value}}}}}',
        ),
        Side.LOCAL,
    )


def simple_fix(ctx: AliasContext, code: str) -> Fix | None:
    if code == "http_port":
        return port_fix(ctx)
    if code == "tcp_refused":
        return Fix(
            "check the address and that the remote cluster server listens there",
            (
                "GET /_nodes   # on the remote: remote_cluster_server.publish_address",
                "remote_cluster_server.enabled: true   # on every remote node, if it is missing",
            ),
            Side.REMOTE,
        )
    if code in ("tcp_timeout", "tcp_reset"):
        return Fix(
            "open the route between the clusters (firewall, security groups, proxies)",
            (),
            Side.NETWORK,
        )
    if code == "dns_unresolvable":
        return Fix("use a resolvable host name or an IP address in the alias", (), Side.LOCAL)
    return None


__all__ = [
    "CONNECTION_STAGES",
    "passed_before",
    "port_fix",
    "simple_fix",
    "stopped",
    "wrong_port_result",
]
