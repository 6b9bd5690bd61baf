"""A TLS trust failure read from the local cluster's error text: an expired or not yet valid
certificate, a regenerated CA, a name mismatch, or an issuer the local side does not trust (a wrong
CA, the wrong port, or the wrong security model).  [no I/O]

Part of :mod:`isthmus.doctor.rules_connect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from isthmus.doctor.commands import (
    renew_server_certificate,
    trust_current_ca,
    trust_remote_ca,
)
from isthmus.doctor.model import (
    Confidence,
    Evidence,
    Finding,
    Fix,
    Side,
    Stage,
    StageResult,
)
from isthmus.doctor.rules_connect_port import stopped, wrong_port_result
from isthmus.doctor.rules_context import (
    AliasContext,
    failed,
    finding,
    new_key_steps,
    text_evidence,
    undecided,
)
from isthmus.doctor.rules_texts import (
    Text,
    TrustFailure,
)

RCS_CA_SETTING = "xpack.security.remote_cluster_client.ssl.certificate_authorities"
TRANSPORT_CA_SETTING = "xpack.security.transport.ssl.certificate_authorities"


def trust_result(
    ctx: AliasContext, text: Text, tf: TrustFailure, kind: tuple[str, list[str]] | None
) -> list[StageResult]:
    ev = (text_evidence(text),)
    addr = ", ".join(ctx.addresses)
    if tf.expired or tf.not_yet_valid:
        code = "tls_expired" if tf.expired else "tls_not_yet_valid"
        f = finding(
            code,
            f"the certificate [{tf.subject}] at {addr} is valid from {tf.not_before} to "
            f"{tf.not_after}; the local node's time is {tf.now}",
            evidence=ev,
            fix=Fix(
                "issue a new certificate for the remote's server (or fix the clock that is wrong)",
                renew_server_certificate(_server_ssl(ctx), *_cert_names(tf)),
                Side.REMOTE,
            ),
        )
        return [failed(f)]
    if tf.signatures_differ:
        f = finding(
            "tls_ca_regenerated",
            side=Side.LOCAL,  # the fix: trust the remote's new CA
            message=f"the local side trusts a CA named [{tf.issuer}] but it is not the one that signed "
            f"[{tf.subject}]: the CA was regenerated with the same name",
            evidence=ev,
            fix=Fix(
                "copy the remote's current CA certificate to the local trust settings, restart",
                trust_current_ca(_ca_setting(ctx), tf.issuer),
                Side.LOCAL,
            ),
        )
        return [failed(f)]
    if tf.issuer_trusted:
        f = finding(
            "tls_hostname_mismatch",
            f"the certificate [{tf.subject}] is trusted but names {list(tf.sans)}, not the "
            f"dialled address {addr}",
            evidence=ev,
            confidence=Confidence.LIKELY,
            fix=Fix(
                "reissue the remote's certificate with the dialled name (or set the alias's "
                f"server_name to a name among {list(tf.sans)})",
                renew_server_certificate(_server_ssl(ctx), *_cert_names(tf, tf.peer)),
                Side.REMOTE,
            ),
        )
        return [failed(f)]
    # An issuer the local context does not trust: a wrong CA, or the wrong port (whose
    # certificate comes from another CA), or, without credentials, the remote cluster server
    # reached with the certificate model's transport trust.
    what = kind[0] if kind else None
    nodes = kind[1] if kind else []
    if ctx.has_credentials:
        if what == "transport":
            return wrong_port_result(ctx, kind) or []
        if what == "remote_cluster":
            return [failed(_untrusted(ctx, tf, ev, nodes, RCS_CA_SETTING))]
        f = finding(
            "tls_untrusted_ca",
            f"the local cluster does not trust [{tf.issuer}], which issued [{tf.subject}] at "
            f"{addr} (context {tf.context})",
            evidence=ev,
            confidence=Confidence.POSSIBLE,
            candidates=("tls_untrusted_ca", "transport_port_with_credentials"),
            would_decide=(
                "the remote's GET /_nodes (--remote URL): is the address its remote cluster "
                "server or its transport port?",
                "the remote's log: profile=_remote_cluster or profile=default on 'client did not trust'",
            ),
            fix=_untrusted(ctx, tf, ev, nodes, RCS_CA_SETTING).fix,
        )
        # Undecided from the earliest stage in question, the port (as the logs say it too).
        return [undecided(Stage.PROTOCOL, replace(f, stage=Stage.PROTOCOL))]
    if what == "remote_cluster":
        f = finding(
            "remote_cluster_port_without_credentials",
            f"[{ctx.alias}] has no cross-cluster API key, so it uses the certificate model and "
            f"its transport TLS, but {addr} is the remote cluster server of {nodes}",
            evidence=(*ev, Evidence("remote GET /_nodes", f"{addr} is a remote cluster server")),
            fix=Fix(
                "add the cross-cluster API key to the keystore of every local node and reload",
                new_key_steps(ctx),
                Side.LOCAL,
            ),
        )
        return stopped(f, "remote GET /_nodes")
    if what == "transport":
        return [failed(_untrusted(ctx, tf, ev, nodes, TRANSPORT_CA_SETTING))]
    # A key added to the keystore and never reloaded looks the same from REST; the keystores
    # (--local-config) tell, and say it first when they hold the key.
    readable = [names for _, names in ctx.local.keystore_names() if names is not None]
    reload = () if readable else ("credentials_not_reloaded",)
    f = finding(
        "remote_cluster_port_without_credentials",
        f"no cross-cluster API key for [{ctx.alias}]: the local cluster uses its transport TLS "
        f"({tf.context}), which does not trust [{tf.issuer}]",
        evidence=ev,
        confidence=Confidence.POSSIBLE,
        candidates=("remote_cluster_port_without_credentials", *reload, "tls_untrusted_ca"),
        would_decide=(
            "the remote's GET /_nodes (--remote URL): is the address its remote cluster server?",
            f"the local keystore (--local-config DIR): is [{ctx.credential_setting}] there?",
        ),
        fix=Fix(
            "if the remote uses API keys: add the cross-cluster key to the keystore and reload",
            new_key_steps(ctx),
            Side.LOCAL,
        ),
    )
    return [undecided(Stage.PROTOCOL, f)]


def _untrusted(
    ctx: AliasContext, tf: TrustFailure, ev: tuple[Evidence, ...], nodes: list[str], setting: str
) -> Finding:
    ca_file = _remote_ca_file(ctx, tf.issuer)
    return finding(
        "tls_untrusted_ca",
        f"the local cluster ({tf.context}) does not trust [{tf.issuer}], the CA that issued "
        f"the remote's certificate [{tf.subject}]"
        + (f"; it trusts only {list(tf.trusted_issuers)}" if tf.trusted_issuers else ""),
        evidence=ev,
        fix=Fix(
            f"trust the remote's CA [{tf.issuer}] in {setting} on every local node, then restart",
            trust_remote_ca(setting, tf.issuer, ca_file),
            Side.LOCAL,
        ),
    )


def _remote_ca_file(ctx: AliasContext, issuer: str | None) -> str | None:
    if ctx.remote is None or issuer is None:
        return None
    certs = ctx.remote.body("GET /_ssl/certificates")
    if isinstance(certs, list):
        for c in certs:
            if (
                isinstance(c, Mapping)
                and c.get("subject_dn") == issuer
                and not c.get("has_private_key")
            ):
                return str(c.get("path"))
    return None


def _server_ssl(ctx: AliasContext) -> str:
    """The ssl settings of the remote's server the alias reaches (for a new certificate)."""
    if ctx.has_credentials:
        return "xpack.security.remote_cluster_server.ssl"
    return "xpack.security.transport.ssl"


def _cert_names(
    tf: TrustFailure, dialled: str | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names a new certificate keeps (the old one's SANs) plus the dialled address."""
    import ipaddress

    names = [san.split(":", 1)[1] for san in tf.sans if ":" in san]
    dns: list[str] = []
    ips: list[str] = []
    for name in [*names, *([dialled] if dialled and not dialled.startswith("<") else [])]:
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            dns.append(name)
        else:
            ips.append(name.strip("[]"))
    return tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(ips))


def _ca_setting(ctx: AliasContext) -> str:
    return RCS_CA_SETTING if ctx.has_credentials else TRANSPORT_CA_SETTING


__all__ = ["RCS_CA_SETTING", "TRANSPORT_CA_SETTING", "trust_result"]
