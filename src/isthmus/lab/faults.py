"""The faults the lab adds beyond the guide's configuration mistakes: on the path between the
clusters (a relay in front of the remote) and in the remote's certificate; and moving a running
lab from one :class:`~isthmus.lab.topology.LabSpec` to another.

Certificates of remote's remote cluster server (``LabSpec.remote_certificate``), see
:data:`CERTIFICATES`. They name :data:`SNI_NAME` too, so that a proxy routing by ``server_name``
can stand in front of the remote without breaking hostname verification.

:func:`transition` applies a spec to a running pair the way an operator changes a running
system: the relay's mode switches (and the connections open through the old path are closed),
the alias's dynamic settings are updated, a certificate is replaced and the remote restarted
(Isthmus, like ES, reads the remote cluster server's certificate at start), a credential is put
in the keystore with or without the reload. The tests use it to run many scenarios on one pair,
and to heal a fault by applying the working spec again (what the doctor's fix should achieve).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isthmus.lab.relay import RelayConfig, RelayMode, parse_address

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


def relay_config(lab: Lab) -> RelayConfig:
    """The relay's configuration for ``lab.spec``: its backend is remote's remote cluster
    server (routed under :data:`SNI_NAME` in sni mode)."""
    spec = lab.spec
    assert spec.relay is not None
    backend = parse_address(lab.remote_cluster_address())
    return RelayConfig(
        mode=spec.relay,
        backend=backend,
        routes={SNI_NAME: backend} if spec.relay is RelayMode.SNI else {},
        hold=RELAY_HOLD,
        idle_cut=spec.relay_idle_cut,
    )


# Fields a running lab can change, and what changing them takes.
_RELAY = frozenset({"relay", "relay_idle_cut"})
_ALIAS = frozenset({"server_name", "ping_schedule", "skip_unavailable"})
_CHANGEABLE = _RELAY | _ALIAS | {"remote_certificate", "reload_credential"}


def transition(lab: Lab, spec: LabSpec) -> None:
    """Change the running ``lab`` into ``spec`` (see the module docstring). Fields that would
    need the pair rebuilt (CAs, ports, users, keys, the mode...) raise ``ValueError``."""
    from isthmus.lab.topology import _call

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
    if lab.relay is not None and changed & (_RELAY | {"remote_certificate"}):
        lab.relay.configure(relay_config(lab))
        lab.relay.cut()  # connections through the old path end with it
    if changed & _ALIAS:
        lab.register()
    if "reload_credential" in changed:
        credential = lab.credential
        if spec.reload_credential:
            _call(lab.local_url, "POST", "/_nodes/reload_secure_settings", {})
        else:  # the node runs without it; then it is added, and the reload forgotten
            lab.set_credential(None)
            lab.set_credential(credential, reload=False)


__all__ = ["CERTIFICATES", "SNI_NAME", "issue_server_certificate", "relay_config", "transition"]
