"""The configuration stage: is the alias set up, on which nodes, with which credentials.  [no I/O]

Reads the local cluster's settings and ``_remote/info``, its ``_nodes`` roles, the keystore
entry names of each configuration directory given, and (with the remote's evidence) whether the
remote cluster server is enabled there. Returns the configuration stage's result and the
warnings that do not block the alias (a node without the ``remote_cluster_client`` role when
others have it).
"""

from __future__ import annotations

import orjson

from isthmus.doctor.commands import enable_remote_cluster_server
from isthmus.doctor.evidence import REMOTE_INFO
from isthmus.doctor.model import Evidence, Finding, Fix, Outcome, Side, Stage, StageResult
from isthmus.doctor.rules_context import (
    AliasContext,
    failed,
    finding,
    passed,
    reload_steps,
)

ROLE = "remote_cluster_client"


def check_configuration(ctx: AliasContext) -> tuple[StageResult, list[Finding]]:
    warnings: list[Finding] = []
    info, settings = ctx.info, ctx.settings
    readable = ctx.local.call(REMOTE_INFO)
    if info is None and readable is not None and not readable.ok:
        # The doctor's user may not read the remote cluster settings (a user without cluster
        # privileges, exactly the one whose searches fail): the stage is not checked, the
        # later ones still read the user's own request.
        return StageResult(
            Stage.CONFIGURATION,
            Outcome.NOT_CHECKED,
            evidence=(
                Evidence(
                    f"local {REMOTE_INFO}", f"HTTP {readable.status}: not readable as this user"
                ),
            ),
        ), warnings
    if info is None and not settings:
        known = ", ".join(ctx.local.aliases) or "none"
        return failed(
            finding(
                "alias_not_configured",
                f"the local cluster has no remote cluster [{ctx.alias}] (configured: {known})",
                evidence=(Evidence(f"local {REMOTE_INFO}", f"no [{ctx.alias}] entry"),),
                fix=Fix(
                    f"register [{ctx.alias}] with the remote's remote cluster server address",
                    (_settings_json(ctx.alias, "proxy", "<remote host>:9443"),),
                    Side.LOCAL,
                ),
            )
        ), warnings
    if not ctx.addresses:
        return failed(
            finding(
                "invalid_remote_settings",
                f"[{ctx.alias}] is in mode [{ctx.mode}] but has no "
                f"{'proxy_address' if ctx.mode == 'proxy' else 'seeds'}",
                evidence=(Evidence("local GET /_cluster/settings", str(settings)),),
                fix=Fix(
                    "give the alias an address in its mode",
                    (_settings_json(ctx.alias, ctx.mode, "<remote host>:9443"),),
                    Side.LOCAL,
                ),
            )
        ), warnings

    nodes = ctx.local.nodes
    if nodes:
        without = sorted(
            str(n.get("name")) for n in nodes.values() if ROLE not in n.get("roles", [])
        )
        if without and len(without) == len(nodes):
            return failed(
                finding(
                    "no_remote_cluster_client_role",
                    f"no local node has the [{ROLE}] role, so none can connect to [{ctx.alias}]",
                    nodes=without,
                    evidence=(Evidence("local GET /_nodes", f"roles without {ROLE}: {without}"),),
                    fix=Fix(
                        f"add [{ROLE}] to node.roles in elasticsearch.yml and restart",
                        (f"node.roles: [ ..., {ROLE} ]",),
                        Side.LOCAL,
                    ),
                )
            ), warnings
        if without:
            warnings.append(
                finding(
                    "no_remote_cluster_client_role",
                    f"local nodes {without} lack [{ROLE}]: searches coordinated by them cannot "
                    f"reach [{ctx.alias}]",
                    nodes=without,
                    evidence=(Evidence("local GET /_nodes", f"roles without {ROLE}: {without}"),),
                )
            )

    keystore = _keystore_result(ctx) or _nodes_without_credentials(ctx)
    if keystore is not None:
        return keystore, warnings

    server = _remote_server_result(ctx)
    if server is not None:
        return server, warnings

    evidence = [
        Evidence(
            f"local {REMOTE_INFO}",
            f"mode {ctx.mode}, address {list(ctx.addresses)}, "
            f"{'cluster_credentials set' if ctx.has_credentials else 'no cluster_credentials'}",
        )
    ]
    return passed(Stage.CONFIGURATION, *evidence), warnings


def _keystore_result(ctx: AliasContext) -> StageResult | None:
    """Keystore names of the configuration directories given vs what _remote/info shows."""
    name = ctx.credential_setting
    dirs = [(d, names) for d, names in ctx.local.keystore_names() if names is not None]
    if not dirs:
        return None
    # A directory is named by its node (node.name in its yml) when it says, else by its path.
    label = {
        c.directory: str(c.settings.get("node.name") or c.directory) for c in ctx.local.configs
    }
    having = [label[d] for d, names in dirs if name in names]
    lacking = [label[d] for d, names in dirs if name not in names]
    evidence = (
        *(
            Evidence(
                f"local keystore in {d}", f"{'has' if label[d] in having else 'lacks'} [{name}]"
            )
            for d, _ in dirs
        ),
        Evidence(
            f"local {REMOTE_INFO}",
            "cluster_credentials set" if ctx.has_credentials else "no cluster_credentials",
        ),
    )
    if having and lacking:
        return failed(
            finding(
                "credentials_missing_on_nodes",
                f"[{name}] is in the keystore of {len(having)} node(s) but not of "
                f"{lacking}: those nodes connect to [{ctx.alias}] with the certificate model",
                nodes=lacking,
                evidence=evidence,
                fix=Fix(
                    "add the same cross-cluster key to the keystore of every local node, then reload",
                    reload_steps(ctx),
                    Side.LOCAL,
                ),
            )
        )
    if having and not ctx.has_credentials and ctx.info is not None:
        return failed(
            finding(
                "credentials_not_reloaded",
                f"[{name}] is in the keystore but the running node does not use it "
                "(_remote/info shows no cluster_credentials): secure settings were not reloaded",
                nodes=having,
                evidence=evidence,
                fix=Fix(
                    "reload secure settings on every local node",
                    reload_steps(ctx)[1:],
                    Side.LOCAL,
                ),
            )
        )
    return None


def _nodes_without_credentials(ctx: AliasContext) -> StageResult | None:
    """Each node's own ``_remote/info`` (a cluster of several nodes): some nodes use a
    credential for the alias and others do not. Those others hold no key in their keystore (or
    were not reloaded): they connect with the certificate model and fail where the rest work."""
    by_node = ctx.local.remote_info_by_node(ctx.alias)
    clients = {str(n.get("name")) for n in ctx.local.nodes.values() if ROLE in n.get("roles", [])}
    seen = {name: info for name, info in by_node.items() if name in clients}
    having = sorted(n for n, info in seen.items() if info and info.get("cluster_credentials"))
    lacking = sorted(n for n in seen if n not in having)
    if not having or not lacking:
        return None
    return failed(
        finding(
            "credentials_missing_on_nodes",
            f"local nodes {lacking} use no credential for [{ctx.alias}] while {having} do: "
            "the cross-cluster API key is not in their keystore (or was not reloaded there), "
            f"so they connect to [{ctx.alias}] with the certificate model",
            nodes=lacking,
            evidence=tuple(
                Evidence(
                    f"local {REMOTE_INFO} on [{name}]",
                    "cluster_credentials set"
                    if name in having
                    else f"no cluster_credentials; connected: {(seen[name] or {}).get('connected')}",
                )
                for name in sorted(seen)
            ),
            fix=Fix(
                "add the cross-cluster API key to the keystore on every node of the local "
                "cluster, then reload secure settings",
                reload_steps(ctx),
                Side.LOCAL,
            ),
        )
    )


def _remote_server_result(ctx: AliasContext) -> StageResult | None:
    """The API-key model needs the remote cluster server on the remote's nodes."""
    if ctx.remote is None or not ctx.remote.nodes or not ctx.has_credentials:
        return None
    servers = ctx.remote.remote_cluster_server_addresses()
    disabled = sorted(n for n, addrs in servers.items() if not addrs)
    if disabled and len(disabled) == len(servers):
        return failed(
            finding(
                "remote_cluster_server_disabled",
                f"[{ctx.alias}] uses a cross-cluster API key, but no node of the remote cluster "
                "runs the remote cluster server: nothing can accept the connection",
                nodes=disabled,
                evidence=(
                    Evidence("remote GET /_nodes", f"no remote_cluster_server on {disabled}"),
                ),
                fix=Fix(
                    "enable the remote cluster server on every remote node, restart them, and "
                    "point the alias at its publish address",
                    enable_remote_cluster_server(_remote_host(ctx), ctx.alias, ctx.mode),
                    Side.REMOTE,
                ),
            )
        )
    return None


def _remote_host(ctx: AliasContext) -> str:
    """The host the remote's nodes publish their transport on: the local nodes reach it."""
    assert ctx.remote is not None
    for addresses in ctx.remote.transport_addresses().values():
        if addresses:
            return addresses[0].rsplit(":", 1)[0]
    return "<an address of the remote the local nodes reach>"


def _settings_json(alias: str, mode: str, address: str) -> str:
    prefix = f"cluster.remote.{alias}"
    values: dict[str, object] = {f"{prefix}.mode": mode}
    if mode == "proxy":
        values[f"{prefix}.proxy_address"] = address
    else:
        values[f"{prefix}.seeds"] = [address]
    return "PUT /_cluster/settings " + orjson.dumps({"persistent": values}).decode()
