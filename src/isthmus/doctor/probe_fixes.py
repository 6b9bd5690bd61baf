"""The first fix for each cause the probe can name, with the alias's own names filled in.  [no I/O]

A probe finding names one address of one alias; its fix says what to change and where, in the
words of ES's settings and tools. The doctor engine may replace a fix with a more precise one
built from configuration evidence (it knows the remote's ports and files); these are what the
probe alone can say. Unknown codes have no fix (``None``), never a made-up one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isthmus.doctor.commands import (
    RELOAD,
    create_key,
    keystore_add,
    renew_server_certificate,
    trust_current_ca,
)
from isthmus.doctor.model import Fix, Side
from isthmus.remote.model_kind import SecurityModel

if TYPE_CHECKING:
    from isthmus.doctor.probe import ProbeTarget


def fix_for(code: str, target: ProbeTarget) -> Fix | None:
    """The fix for ``code`` at ``target`` (None when the probe has none to offer)."""
    a = target.alias
    mode_key = f"cluster.remote.{a}.proxy_address / cluster.remote.{a}.seeds"
    point = _point(target)
    api_key = target.model is SecurityModel.API_KEY
    server_ssl = (
        "xpack.security.remote_cluster_server.ssl" if api_key else "xpack.security.transport.ssl"
    )
    client_ca = (
        "xpack.security.remote_cluster_client.ssl.certificate_authorities"
        if api_key
        else "xpack.security.transport.ssl.certificate_authorities"
    )
    names = _names(target)
    new_key = (
        create_key(a, target.index or "*"),
        keystore_add(
            f"cluster.remote.{a}.credentials",
            force=True,  # the same step adds a missing entry and replaces a wrong one
            note="on every local node; paste the cross-cluster key's `encoded` value",
        ),
        RELOAD,
    )
    fixes: dict[str, Fix] = {
        "dns_unresolvable": Fix(
            f"make [{target.host}] resolvable from every local node, or use an address that is",
            (point,),
            Side.LOCAL,
        ),
        "tcp_refused": Fix(
            f"point {mode_key} at a port the remote listens on (the remote cluster server's "
            "remote_cluster.port for API keys, transport.port for certificates), or start the "
            "remote node / enable remote_cluster_server.enabled",
            (point,),
            Side.REMOTE,
        ),
        "tcp_timeout": Fix(
            f"open the path from the local nodes to {target.address} (firewall, security group, "
            "routing)",
            (),
            Side.NETWORK,
        ),
        "tcp_unreachable": Fix(
            f"add a route from the local nodes to {target.address}", (), Side.NETWORK
        ),
        "tcp_reset": Fix(
            f"find what resets connections to {target.address} (a proxy without backend, a "
            "filter, a node over its connection limit)",
            (),
            Side.NETWORK,
        ),
        "tcp_closed": Fix(
            f"find what closes connections to {target.address} (a proxy without backend)",
            (),
            Side.NETWORK,
        ),
        "http_port": Fix(
            "use the remote's transport port (certificates) or remote cluster server port (API "
            "keys), not its HTTP port",
            (point,),
            Side.LOCAL,
        ),
        "proxy_no_route": Fix(
            f"set cluster.remote.{a}.server_name to the name the proxy routes to the remote",
            (
                f'PUT _cluster/settings {{"persistent": {{"cluster.remote.{a}.server_name": '
                '"<name the proxy routes>"}}',
            ),
            Side.LOCAL,
        ),
        "http_proxy": Fix(
            "point the alias at the remote itself, or at a TCP or SNI proxy (proxy mode with "
            "server_name), not at an HTTP proxy",
            (point,),
            Side.LOCAL,
        ),
        "transport_port_with_credentials": Fix(
            "point the alias at the remote cluster server (remote_cluster.port, 9443 by "
            "default; GET _nodes on the remote shows remote_cluster_server.publish_address)",
            (point,),
            Side.LOCAL,
        ),
        "handshake_wrong_profile": Fix(
            "point the alias at the remote cluster server (remote_cluster.port), not the "
            "transport port",
            (point,),
            Side.LOCAL,
        ),
        "remote_cluster_port_without_credentials": Fix(
            f"add a cross-cluster API key for [{a}] to every local node's keystore and reload, "
            "or point the alias at the remote's transport port for the certificate model",
            new_key,
            Side.LOCAL,
        ),
        "credentials_missing": Fix(
            f"add the cross-cluster API key for [{a}] to every local node's keystore and reload",
            new_key,
            Side.LOCAL,
        ),
        "tls_to_plaintext": Fix(
            "enable TLS on the remote's port, or disable it for this client "
            "(xpack.security.remote_cluster_client.ssl / xpack.security.transport.ssl)",
            (),
            Side.BOTH,
        ),
        "plaintext_to_tls": Fix(
            "enable TLS on the client side (xpack.security.remote_cluster_client.ssl.enabled "
            "for API keys, xpack.security.transport.ssl.enabled for certificates)",
            (),
            Side.LOCAL,
        ),
        "not_elasticsearch": Fix(
            f"check that {target.address} is the remote's address, not another service's",
            (point,),
            Side.LOCAL,
        ),
        "no_answer": Fix(
            f"find what holds connections to {target.address} without answering (a relay, a "
            "load balancer, a hung process)",
            (),
            Side.NETWORK,
        ),
        "tls_untrusted_ca": Fix(
            "trust the CA that issued the remote's certificate on the local side",
            (
                "xpack.security.remote_cluster_client.ssl.certificate_authorities: [<remote CA>] "
                "(API keys) or xpack.security.transport.ssl.certificate_authorities (certificates)",
            ),
            Side.LOCAL,
        ),
        "tls_ca_regenerated": Fix(
            "replace the trusted copy of the CA with the new one (same name, new key), or "
            "re-issue the remote's certificate from the CA the local side trusts",
            trust_current_ca(client_ca, None),
            Side.LOCAL,
        ),
        "tls_missing_intermediate": Fix(
            "configure the remote's certificate file with its full chain (leaf, then the "
            "intermediate certificates)",
            (),
            Side.REMOTE,
        ),
        "tls_hostname_mismatch": Fix(
            f"re-issue the remote's certificate with [{target.server_name or target.host}] in "
            "its subject alternative names, or dial a name it has (server_name in proxy mode)",
            renew_server_certificate(server_ssl, *names),
            Side.REMOTE,
        ),
        "tls_expired": Fix(
            "renew the remote's certificate",
            renew_server_certificate(server_ssl, *names),
            Side.REMOTE,
        ),
        "tls_not_yet_valid": Fix(
            "check both machines' clocks (NTP), and issue the remote a certificate valid now",
            renew_server_certificate(server_ssl, *names),
            Side.REMOTE,
        ),
        "tls_client_certificate_required": Fix(
            "give the local side a client certificate the remote trusts",
            (
                "xpack.security.remote_cluster_client.ssl.certificate / .key (API keys), or "
                "xpack.security.transport.ssl.certificate / .key (certificates)",
            ),
            Side.LOCAL,
        ),
        "tls_client_untrusted": Fix(
            "trust the local side's client CA on the remote (its certificate_authorities)",
            (),
            Side.REMOTE,
        ),
        "handshake_timeout": Fix(
            f"find out why {target.address} accepts connections but does not answer "
            "(overloaded node, a relay holding them)",
            (),
            Side.REMOTE,
        ),
        "handshake_closed": Fix(
            "read the remote's log for this connection: it says why it closed it",
            (),
            Side.REMOTE,
        ),
        "handshake_incompatible_version": Fix(
            "upgrade the older cluster to a wire-compatible version", (), Side.BOTH
        ),
    }
    key_fix = Fix(
        "ask the remote's administrator for a new cross-cluster API key, store it on every "
        "local node and reload",
        (
            "POST /_security/cross_cluster/api_key (on the remote)",
            keystore_add(f"cluster.remote.{a}.credentials", force=True, note="on every local node"),
            RELOAD,
        ),
        Side.LOCAL,
    )
    for key_code in (
        "api_key_wrong_type",
        "api_key_invalid",
        "api_key_unknown",
        "api_key_invalidated",
        "api_key_expired",
    ):
        fixes[key_code] = key_fix
    return fixes.get(code)


def _point(target: ProbeTarget) -> str:
    """The settings call that points the alias at the remote's own address for its security
    model, when the doctor knows it (the remote's ``_nodes``); else what to look up. It runs on
    the local cluster, where the alias lives, whichever side is at fault."""
    a = target.alias
    if target.mode is None or not target.remote_addresses:
        return (
            f'on the local cluster: PUT _cluster/settings {{"persistent": {{"cluster.remote.{a}.<seeds or proxy_address>": '
            '"<host>:<port>"}}   # the remote\'s remote_cluster_server.publish_address (API keys) '
            "or transport address (certificates): GET /_nodes on the remote"
        )
    address = target.remote_addresses[0]
    if target.mode == "proxy":
        setting = f'"cluster.remote.{a}.proxy_address": "{address}"'
    else:
        setting = f'"cluster.remote.{a}.seeds": ["{address}"]'
    return f'on the local cluster: PUT _cluster/settings {{"persistent": {{{setting}}}}}'


def _names(target: ProbeTarget) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The DNS names and IP addresses a new certificate for the remote must carry: the dialled
    host and the server name the alias sends."""
    import ipaddress

    dns: list[str] = []
    ips: list[str] = []
    for name in (target.host, target.server_name):
        if not name:
            continue
        try:
            ipaddress.ip_address(name)
        except ValueError:
            dns.append(name)
        else:
            ips.append(name)
    return tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(ips))
