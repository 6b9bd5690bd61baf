"""The doctor's active probes, run from the CLI: helper F's :func:`probe_remote` on every address
of every alias whose REST evidence shows a failing connection.

Rules and reasons:

* A probe runs from the doctor's machine, not from the local cluster's nodes. It runs beside
  the test requests (one round takes about one timeout) and is kept only when they show the
  connection failing (a working connection is what the local nodes saw; a probe from elsewhere
  could only contradict it wrongly); ``--no-probe`` turns it off when the doctor runs where
  the remote is not routable.
* The client's TLS is the local cluster's, rebuilt from its settings (a ``--local-config``
  directory, else the node's ``_nodes`` settings, whose paths are readable when the doctor runs
  on that node): ``xpack.security.remote_cluster_client.ssl`` in the API-key model,
  ``xpack.security.transport.ssl`` (with its certificate) in the certificate model. When the
  configured CA files cannot be read, no probe runs: a context without them would report
  trust failures that are not the cluster's.
* The doctor never reads the credential's value, so the probe gets none: its stages stop at
  TLS in the API-key model (the handshake and authentication are the REST rules' business),
  and include the handshake in the certificate model.
"""

from __future__ import annotations

import ast
import asyncio
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from isthmus.doctor.model import Stage, StageResult
from isthmus.doctor.rules_connect import connection_went_through
from isthmus.doctor.rules_context import AliasContext

PROBE_TIMEOUT = 5.0
_RCS = "xpack.security.remote_cluster_client.ssl"
_TRANSPORT = "xpack.security.transport.ssl"


def _paths(value: Any) -> list[Path]:
    """A CA list as yml gives it (a list) or as _nodes shows it (a string, maybe a list repr)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = [p.strip(" '\"") for p in text.strip("[]").split(",")]
        else:
            value = [p.strip() for p in text.split(",")]
    return [Path(str(p)) for p in value if str(p).strip()]


def _local_settings(ctx: AliasContext) -> dict[str, Any]:
    for config in ctx.local.configs:
        if config.settings:
            return dict(config.settings)
    for node in ctx.local.nodes.values():
        if "remote_cluster_client" in node.get("roles", []):
            settings = node.get("settings")
            return dict(settings) if isinstance(settings, Mapping) else {}
    return {}


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else str(value).strip().lower() == "true"


def client_speaks_tls(ctx: AliasContext) -> bool:
    """Whether the local cluster's connections for this alias use TLS, with ES's defaults: the
    remote cluster client's TLS is on unless turned off; the transport's is off unless turned on
    (ES's security auto-configuration turns it on), and off with security disabled."""
    settings = _local_settings(ctx)
    if ctx.has_credentials:
        return _flag(settings.get(f"{_RCS}.enabled"), True)
    if not _flag(settings.get("xpack.security.enabled"), True):
        return False
    return _flag(settings.get(f"{_TRANSPORT}.enabled"), False)


def client_context(ctx: AliasContext) -> tuple[ssl.SSLContext | None, str | None]:
    """The local cluster's client TLS for this alias, or (None, why not)."""
    settings = _local_settings(ctx)
    prefix = _RCS if ctx.has_credentials else _TRANSPORT
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    mode = str(settings.get(f"{prefix}.verification_mode", "full")).lower()
    context.check_hostname = mode == "full"
    if mode == "none":
        context.verify_mode = ssl.CERT_NONE
    cas = _paths(settings.get(f"{prefix}.certificate_authorities"))
    if cas:
        try:
            for ca in cas:
                context.load_verify_locations(cafile=str(ca))
        except (OSError, ssl.SSLError) as exc:
            return None, f"the CA file {ca} cannot be read here ({exc})"
    else:
        context.load_default_certs()
    cert, key = settings.get(f"{prefix}.certificate"), settings.get(f"{prefix}.key")
    if cert and key:
        try:
            context.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            return None, f"the client certificate {cert} cannot be loaded here ({exc})"
    return context, None


def candidate_cas(ctx: AliasContext) -> tuple[Path, ...]:
    """Every CA file named in either side's settings that this machine can read."""
    found: list[Path] = []
    sides = [ctx.local] + ([ctx.remote] if ctx.remote is not None else [])
    for side in sides:
        layers = [c.settings for c in side.configs]
        layers += [n.get("settings") or {} for n in side.nodes.values()]
        for layer in layers:
            for key, value in layer.items():
                if key.endswith("certificate_authorities"):
                    found += [p for p in _paths(value) if p.is_file()]
    return tuple(dict.fromkeys(found))


def _remote_addresses(ctx: AliasContext) -> tuple[str, ...]:
    """The remote's own addresses for the alias's model: remote cluster server publish
    addresses for API keys, transport addresses for certificates (empty without --remote)."""
    if ctx.remote is None:
        return ()
    side = ctx.remote
    by_node = (
        side.remote_cluster_server_addresses()
        if ctx.has_credentials
        else side.transport_addresses()
    )
    return tuple(addresses[0] for addresses in by_node.values() if addresses)


def keep_failing(bundle: Any, probes: dict[str, list[StageResult]]) -> dict[str, list[StageResult]]:
    """The probes of the aliases whose test requests show the connection failing (the probes
    run beside those requests; a working connection is what the local nodes saw)."""
    now = datetime.now(UTC)
    out: dict[str, list[StageResult]] = {}
    for alias, results in probes.items():
        ctx = AliasContext.build(alias, bundle.index, bundle.local, bundle.remote, now)
        if connection_went_through(ctx) is None:
            out[alias] = results
    return out


async def probe_all(bundle: Any, opts: Mapping[str, Any]) -> dict[str, list[StageResult]]:
    if opts.get("no_probe"):
        return {}
    try:
        from isthmus.doctor.probe import ProbeTarget, probe_remote
        from isthmus.remote.security_model import SecurityModel
    except ImportError:
        return {}
    now = datetime.now(UTC)
    timeout = min(PROBE_TIMEOUT, float(opts.get("timeout") or PROBE_TIMEOUT))
    keep = {Stage.DNS, Stage.TCP, Stage.PROTOCOL, Stage.TLS}

    async def one(
        ctx: AliasContext, address: str, client_ssl: ssl.SSLContext | None
    ) -> list[StageResult]:
        host, _, port = address.rpartition(":")
        if not port.isdigit():
            return []
        target = ProbeTarget(
            alias=ctx.alias,
            host=host.strip("[]"),
            port=int(port),
            server_name=str((ctx.info or {}).get("server_name") or "") or None,
            model=SecurityModel.API_KEY if ctx.has_credentials else SecurityModel.CERTIFICATE,
            client_ssl=client_ssl,
            candidate_cas=candidate_cas(ctx),
            credential=None,
            local_cluster_name=ctx.local.cluster_name or "isthmus-doctor",
            timeout=timeout,
            mode=ctx.mode,
            remote_addresses=_remote_addresses(ctx),
            index=bundle.index,
        )
        report = await probe_remote(target)
        # Without the credential the API-key handshake would fail for want of it: not evidence.
        wanted = keep if ctx.has_credentials else keep | {Stage.HANDSHAKE}
        return [r for r in report.stages if r.stage in wanted]

    jobs: list[tuple[str, Any]] = []
    for alias in bundle.aliases:
        ctx = AliasContext.build(alias, bundle.index, bundle.local, bundle.remote, now)
        client_ssl: ssl.SSLContext | None = None  # plaintext, as the local cluster speaks
        if client_speaks_tls(ctx):
            client_ssl, _why_not = client_context(ctx)  # None: the REST evidence must do
            if client_ssl is None:
                continue
        jobs += [(alias, one(ctx, address, client_ssl)) for address in ctx.addresses]
    out: dict[str, list[StageResult]] = {}
    for (alias, _), results in zip(jobs, await asyncio.gather(*(j for _, j in jobs)), strict=True):
        out.setdefault(alias, []).extend(results)
    return out
