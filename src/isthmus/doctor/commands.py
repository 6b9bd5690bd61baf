"""The commands a fix prints, spelled so that they run as printed.  [no I/O]

A fix's steps are pasted into a shell or a console. Elasticsearch's tools are printed as ES ships
them, with Isthmus's equivalent in a trailing shell comment (the doctor cannot always tell which
one it is talking to, and the comment keeps the line runnable on either).
"""

from __future__ import annotations

import shlex


def keystore_add(setting: str, *, force: bool = False, note: str = "") -> str:
    flag = " -f" if force else ""
    where = f"{note}; " if note else ""
    return (
        f"bin/elasticsearch-keystore add{flag} {setting}   # {where}on Isthmus: "
        f"isthmus keystore add{flag} --config-dir <config dir> {setting}"
    )


def certutil_cert(names: str = "--dns <host> --ip <address>") -> str:
    return (
        f"bin/elasticsearch-certutil cert --ca <ca.p12> {names}   # on Isthmus: "
        f"isthmus certutil cert --ca <ca.p12> {names}"
    )


# No body: a body with a placeholder password fails on a keystore that has none.
RELOAD = (
    "POST /_nodes/reload_secure_settings   # body "
    '{"secure_settings_password": "..."} only if the keystore has a password'
)


def create_key(alias: str, index: str) -> str:
    """The cross-cluster API key for ``alias``, created on the remote (its `encoded` value is
    what the keystore step that follows is given)."""
    return (
        'POST /_security/cross_cluster/api_key {"name": "'
        + alias
        + '", "access": {"search": [{"names": ["'
        + index
        + '"]}]}}   # on the remote; copy the `encoded` value'
    )


SERVER_P12 = "remote-server.p12"  # the certificate file the renewal steps write and configure


def renew_server_certificate(
    prefix: str, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """Issue the remote's server a new certificate for ``dns`` and ``ips`` from the CA the local
    side trusts, configure it under ``prefix`` (the ssl settings of the remote's server: the
    remote cluster server's or the transport's) and restart: TLS identities are read at start.
    Without names the step says which ones to give."""
    names = (f" --dns {','.join(dns)}" if dns else "") + (f" --ip {','.join(ips)}" if ips else "")
    cert = f'cert --ca <ca.p12> --pass ""{names or " --dns <host> --ip <address>"} --out <config dir>/{SERVER_P12}'
    return (
        f"bin/elasticsearch-certutil {cert}   # on every remote node; on Isthmus: "
        f"isthmus certutil {cert}",
        f"{prefix}.keystore.path: {SERVER_P12}   # elasticsearch.yml of every remote node, "
        f"in place of {prefix}.certificate and .key",
        "restart every remote node (TLS certificates are read at start)",
    )


def trust_current_ca(setting: str, issuer: str | None) -> tuple[str, ...]:
    """Trust the CA that issues the remote's certificate now (a regenerated CA keeps its name
    but not its key: the old file can verify nothing any more)."""
    file = "remote-current-ca.crt"
    return (
        f"cp <current remote CA file> <config dir>/{file}   # on every local node: "
        f"the CA [{issuer or '?'}] that issued the remote's certificate",
        f'{setting}: ["{file}"]   # elasticsearch.yml of every local node, replacing the old '
        "CA of the same name (keep any other CA the list has)",
        "restart every local node (TLS trust is read at start)",
    )


def enable_remote_cluster_server(
    host: str, alias: str, mode: str, port: int = 9443
) -> tuple[str, ...]:
    """Turn the remote cluster server on at ``host:port`` of the remote's nodes (it needs a TLS
    identity of its own), restart them, and point the alias at it."""
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        names: tuple[tuple[str, ...], tuple[str, ...]] = ((), (host.strip("[]"),))
    except ValueError:
        names = ((host,), ())
    prefix = "xpack.security.remote_cluster_server.ssl"
    cert, keystore, restart = renew_server_certificate(prefix, *names)
    where = "elasticsearch.yml of every remote node"
    address = f"{host}:{port}"
    key, value = (
        ("proxy_address", f'"{address}"') if mode == "proxy" else ("seeds", f'["{address}"]')
    )
    return (
        f"remote_cluster_server.enabled: true   # {where}",
        f"remote_cluster.host: {host}   # {where}: an address the local nodes reach (the "
        "transport's)",
        f"remote_cluster.port: {port}   # {where} (the default port)",
        cert,
        keystore,
        restart,
        f'on the local cluster: PUT _cluster/settings {{"persistent": {{"cluster.remote.{alias}.'
        f'{key}": {value}}}}}',
    )


def trust_remote_ca(setting: str, issuer: str | None, source: str | None) -> tuple[str, ...]:
    """Trust the remote's CA (``source``: its file on the remote's nodes, when the remote's
    ``_ssl/certificates`` named it) beside the CAs ``setting`` lists already, then restart."""
    file = "remote-ca.crt"
    return (
        f"cp {shlex.quote(source) if source else '<current remote CA file>'} <config dir>/{file}"
        "   # on every local node: "
        f"the CA [{issuer or '?'}] that issued the remote's certificate (from the remote's nodes)",
        f'{setting}: ["{file}"]   # elasticsearch.yml of every local node, added to the CAs '
        "it lists",
        "restart every local node (TLS trust is read at start)",
    )
