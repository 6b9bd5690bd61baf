"""The faults the lab adds beyond the guide's configuration mistakes: on the path between the
clusters (a relay in front of the remote) and in the remote's certificate; and moving a running
lab from one :class:`~isthmus.lab.topology.LabSpec` to another.

Certificates of remote's remote cluster server (``LabSpec.remote_certificate``), see
:data:`CERTIFICATES`. They name :data:`SNI_NAME` too, so that a proxy routing by ``server_name``
can stand in front of the remote without breaking hostname verification.

:func:`transition` applies a spec to a running pair the way an operator changes a running
system: the relay's mode switches (and the connections open through the old path are closed),
the alias's dynamic settings are updated, a certificate is replaced and the remote restarted
(Isthmus reads the remote cluster server's certificate at start), a new key is created and put
in the keystore with or without the reload (and local connects again with it: per-request
credentials alone would not show the handshake's symptoms), the user's role is rewritten. The tests use it to run many scenarios on one pair,
and to heal a fault by applying the working spec again (what the doctor's fix should achieve).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isthmus.lab.relay_config import RelayConfig, parse_address

if TYPE_CHECKING:
    from isthmus.lab.topology import Lab, LabSpec, _Pki

SNI_NAME = "remote.lab.internal"  # the name an SNI-routing proxy routes to the remote
RELAY_HOLD = 5.0  # seconds the relay holds a connection in hold mode

CERTIFICATES: dict[str, str] = {
    "valid": "issued by remote's server CA for localhost, 127.0.0.1 and the SNI name",
    "expired": "valid for a year that ended 35 days ago",
    "not_yet_valid": "valid from 30 days from now",
    "no_dialled_address": "names only the SNI name, not the address local dials (127.0.0.1)",
    "regenerated_ca": "issued by a new CA with the same name as the one local trusts",
}


def issue_server_certificate(pki: _Pki, kind: str, server_ca: Any) -> tuple[Path, Path]:
    """Write remote's remote cluster server certificate of ``kind`` (see :data:`CERTIFICATES`);
    the same two files each time, so that a restarted remote presents the new one."""
    if kind not in CERTIFICATES:
        raise ValueError(
            f"unknown remote certificate [{kind}], expected one of {list(CERTIFICATES)}"
        )
    names: dict[str, Any] = {"dns_names": ["localhost", SNI_NAME], "ip_addresses": ["127.0.0.1"]}
    now = dt.datetime.now(dt.UTC)
    issuer = server_ca
    if kind == "expired":
        names.update(now=now - dt.timedelta(days=400), days=365)
    elif kind == "not_yet_valid":
        names.update(now=now + dt.timedelta(days=30), days=365)
    elif kind == "no_dialled_address":
        names.update(dns_names=[SNI_NAME], ip_addresses=[])
    elif kind == "regenerated_ca":
        from isthmus.security.certs import encode_pem_certificates, generate_ca

        # The remote's administrator re-ran "certutil ca" with the same name: a new key, the
        # same subject; local still trusts the old CA file.
        issuer = generate_ca(server_ca.certificate.subject)
        path = pki.dir / "remote-server-regenerated-ca.crt"
        path.write_bytes(encode_pem_certificates(issuer.certificate))
        pki.files["remote-server-regenerated-ca"] = path
    return pki.issue("remote-server", issuer, **names)


def relay_config(lab: Lab, source: str | None = None) -> RelayConfig:
    """The relay's configuration for ``lab.spec``: its backend is remote's remote cluster
    server (routed under :data:`SNI_NAME` in sni mode), reached from ``source``."""
    spec = lab.spec
    assert spec.relay is not None
    backend = parse_address(lab.remote_cluster_address())
    return RelayConfig(
        mode=spec.relay,
        backend=backend,
        routes={SNI_NAME: backend},  # also outside sni mode: `lab path sni` can switch to it
        hold=RELAY_HOLD,
        idle_cut=spec.relay_idle_cut,
        source=source,
    )


def _next_source(config: RelayConfig) -> str:
    """The next loopback address for the relay's outgoing side: each state of a shared pair is
    seen by remote as a new peer, so that its per-peer log throttle (one line per kind and peer
    per minute) does not hide the lines of the next scenario."""
    last = int((config.source or "127.0.0.1").rsplit(".", 1)[1])
    return f"127.0.0.{last % 250 + 2}"


# Fields a running lab can change, and what changing them takes.
_RELAY = frozenset({"relay", "relay_idle_cut"})
_ALIAS = frozenset({"server_name", "ping_schedule", "skip_unavailable", "target"})
_KEY = frozenset({"credential", "key_access"})
_CHANGEABLE = (
    _RELAY
    | _ALIAS
    | _KEY
    | {
        "remote_certificate",
        "reload_credential",
        "user_remote_indices",
        "user_role_missing",
    }
)
# What only a new pair can change: CAs and trust, local's and remote's node settings.
_REBUILD = frozenset(
    {
        "mode", "server_enabled", "shared_ca", "client_trusts_server_ca", "client_certificate",
        "transport_trusts_server_ca", "transport_trusts_remote_transport_ca",
        "remote_anonymous_role", "connect_timeout", "remote_publish_port",
    }
)  # fmt: skip


def on_pair(spec: LabSpec, base: LabSpec) -> LabSpec | None:
    """``spec`` as a running pair built from ``base`` can take it (with ``base``'s relay and
    local node settings), or None when it needs a pair of its own. The guide's scenarios that
    change only the key, the user, the alias or the certificate run on a shared pair this way."""
    moved = dataclasses.replace(
        spec,
        relay=base.relay if spec.relay is None else spec.relay,
        connect_timeout=spec.connect_timeout or base.connect_timeout,
    )
    if any(getattr(moved, name) != getattr(base, name) for name in _REBUILD):
        return None
    return moved


def transition(lab: Lab, spec: LabSpec) -> None:
    """Change the running ``lab`` into ``spec`` (see the module docstring). Fields that would
    need the pair rebuilt (CAs, ports, users, keys, the mode...) raise ``ValueError``."""
    from isthmus.lab.topology import USER_ROLE, _call

    old = lab.spec
    changed = {
        f.name for f in dataclasses.fields(spec) if getattr(old, f.name) != getattr(spec, f.name)
    }
    if (old.relay is None) != (spec.relay is None):
        changed.add("relay presence")
    fixed = changed - _CHANGEABLE
    if fixed:
        raise ValueError(f"a running lab cannot change {sorted(fixed)}; build a new one")
    assert lab.local is not None and lab.remote is not None
    lab.spec = spec
    if "remote_certificate" in changed:
        cas = lab.pki.cas
        server_ca = cas.get("remote-server-ca") or cas["remote-transport-ca"]  # shared_ca
        issue_server_certificate(lab.pki, spec.remote_certificate, server_ca)
        lab.remote.stop()
        lab.remote.start()
        if lab.relay is None:  # the restarted server has a new port: point the alias at it
            lab.register()
    if lab.relay is not None and changed:
        lab.relay.configure(relay_config(lab, _next_source(lab.relay.config)))
        lab.relay.cut()  # connections through the old path end with it
    if changed & _ALIAS:
        lab.register()
    if changed & {"user_remote_indices", "user_role_missing"}:
        lab.create_user()
        if spec.user_role_missing:
            _call(lab.local_url, "DELETE", f"/_security/role/{USER_ROLE}")
    if changed & _KEY:  # a new key as the spec says, in the keystore (reloaded or not)
        lab.key = None
        if spec.credential is None:
            lab.set_credential(None)
        else:
            if not spec.reload_credential:
                lab.set_credential(None)  # the node runs without a key before it is added
            lab.create_key()
            lab.set_credential(lab.credential, reload=spec.reload_credential)
        # A changed key goes with each request, but the guide's symptoms are the handshake's:
        # local must connect again with it, as after a restart (the path is cut, or local
        # restarted when there is no relay to cut).
        if lab.relay is not None:
            lab.relay.cut()
        else:
            lab.local.stop()
            lab.local.start()
    elif "reload_credential" in changed:
        credential = lab.credential
        if spec.reload_credential:
            _call(lab.local_url, "POST", "/_nodes/reload_secure_settings", {})
        else:  # the node runs without it; then it is added, and the reload forgotten
            lab.set_credential(None)
            lab.set_credential(credential, reload=False)


__all__ = [
    "CERTIFICATES",
    "SNI_NAME",
    "issue_server_certificate",
    "on_pair",
    "relay_config",
    "transition",
]
