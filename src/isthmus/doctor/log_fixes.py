"""The fix for each cause the logs can show, filled with what the lines told.  [no I/O]

A fix is what the guide's resolution says, made concrete: the setting to change with its JSON,
the keystore command, the reload call, the certificate command, on the side that must run it.
The facts come from the log lines (the alias, its mode, the dialled address, the ssl context
that refused the certificate, the key id), never from guesses: where a fact is unknown the step
says what to look up.
"""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.doctor.commands import (
    RELOAD,
    keystore_add,
    renew_server_certificate,
    trust_current_ca,
    trust_remote_ca,
)
from isthmus.doctor.model import Fix, Side


@dataclass(frozen=True)
class FixFacts:
    alias: str
    mode: str | None = None  # "proxy" / "sniff"
    address: str | None = None  # the dialled address
    context: str | None = None  # the local ssl context that refused the certificate
    issuer: str | None = None
    host: str | None = None  # the host the certificate must name
    sans: tuple[str, ...] = ()
    key_id: str | None = None


def _address_setting(f: FixFacts, address: str) -> str:
    """The alias's address, set on the local cluster (where the alias lives, whichever side the
    fault is on)."""
    key = "proxy_address" if f.mode == "proxy" else "seeds"
    value = f'"{address}"' if f.mode == "proxy" else f'["{address}"]'
    if f.mode is None:
        return (
            f'on the local cluster: PUT _cluster/settings {{"persistent": {{"cluster.remote.'
            f'{f.alias}.seeds": ["{address}"]}}}}   # or cluster.remote.{f.alias}.proxy_address '
            "in proxy mode"
        )
    return (
        f'on the local cluster: PUT _cluster/settings {{"persistent": {{"cluster.remote.'
        f'{f.alias}.{key}": {value}}}}}'
    )


def _host(f: FixFacts) -> str:
    return (f.address or "<remote host>:9443").rsplit(":", 1)[0]


def _new_key(f: FixFacts) -> tuple[str, ...]:
    return (
        'on the remote cluster: POST /_security/cross_cluster/api_key {"name": "'
        + f.alias
        + '-key", "access": {"search": [{"names": ["<indices>"]}]}} and keep its "encoded" value',
        keystore_add(
            f"cluster.remote.{f.alias}.credentials",
            force=True,
            note="on every local node; paste the encoded value",
        ),
        "on the local cluster: " + RELOAD,
    )


_SERVER_SSL = "xpack.security.remote_cluster_server.ssl"  # the server the API-key model dials


def _names(f: FixFacts, host: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names a new certificate for the remote carries: the old one's SANs (as the trust
    failure listed them), plus ``host`` (the dialled address it lacked)."""
    import ipaddress

    dns: list[str] = []
    ips: list[str] = []
    for name in [*(s.split(":", 1)[1] for s in f.sans if ":" in s), *([host] if host else [])]:
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            dns.append(name)
        else:
            ips.append(name.strip("[]"))
    return tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(ips))


def _trust_setting(f: FixFacts) -> str:
    context = f.context or "xpack.security.remote_cluster_client.ssl"
    if not context.startswith("xpack."):
        context = "xpack.security.remote_cluster_client.ssl"
    return context + ".certificate_authorities"


def fix_for(cause: str, f: FixFacts) -> Fix | None:
    """The fix for ``cause`` (None for a cause the logs never decide alone)."""
    rcs = f"{_host(f)}:9443"
    if cause == "advertised_address_unreachable":  # the log does not name the seed or model
        from isthmus.doctor.advertised import advertised_fix

        return advertised_fix(f.alias, api_key=None, seed=None, node=None)
    if cause in ("transport_port_with_credentials", "handshake_wrong_profile"):
        return Fix(
            f"point [{f.alias}] at the remote cluster server port (remote_cluster.port, 9443 by "
            f"default), not the transport port [{f.address or '?'}]",
            (
                "on the remote cluster: GET /_nodes/_all/remote_cluster_server (the "
                "publish_address of each node)",
                _address_setting(f, rcs),
            ),
            Side.LOCAL,
        )
    if cause == "credentials_missing_on_nodes":
        return Fix(
            f"add the credential of [{f.alias}] to the keystore of the nodes that fail, then "
            "reload secure settings",
            (
                keystore_add(
                    f"cluster.remote.{f.alias}.credentials",
                    force=True,
                    note="on each failing node; the same encoded value the other nodes hold",
                ),
                "on the local cluster: " + RELOAD,
            ),
            Side.LOCAL,
        )
    if cause in ("credentials_missing", "remote_cluster_port_without_credentials"):
        steps = _new_key(f)
        return Fix(
            f"add the cross-cluster API key for [{f.alias}] to the keystore of every local node "
            "and reload secure settings",
            steps[1:] if cause == "credentials_missing" else steps,
            Side.LOCAL,
        )
    if cause in ("api_key_wrong_type", "api_key_invalid", "api_key_unknown"):
        return Fix(
            f"replace the credential of [{f.alias}] with a valid cross-cluster API key "
            "(POST /_security/cross_cluster/api_key on the remote), on every local node",
            _new_key(f),
            Side.BOTH,
        )
    if cause in ("api_key_invalidated", "api_key_expired"):
        return Fix(
            f"the API key [{f.key_id or '?'}] is no longer valid: create a new cross-cluster key "
            "on the remote and replace the credential on every local node",
            _new_key(f),
            Side.BOTH,
        )
    if cause == "tls_untrusted_ca":
        return Fix(
            f"trust the CA that issued the remote's certificate ([{f.issuer or '?'}]) in "
            f"{_trust_setting(f)} on every local node, then restart them",
            trust_remote_ca(_trust_setting(f), f.issuer, None),
            Side.LOCAL,
        )
    if cause == "tls_ca_regenerated":
        return Fix(
            f"the CA named [{f.issuer or '?'}] was regenerated: trust the new one on the local "
            "side (or reissue the remote's certificate from the CA the local side trusts)",
            trust_current_ca(_trust_setting(f), f.issuer),
            Side.LOCAL,
        )
    if cause == "tls_missing_intermediate":
        return Fix(
            "make the remote send its whole chain: its certificate file must hold the node "
            f"certificate followed by the intermediate [{f.issuer or '?'}]",
            (
                "on each remote node: cat node.crt intermediate.crt > node-chain.crt and point "
                "xpack.security.remote_cluster_server.ssl.certificate at it",
                "or trust the intermediate on the local side, then restart",
            ),
            Side.REMOTE,
        )
    if cause == "tls_hostname_mismatch":
        return Fix(
            f"the remote's certificate does not name [{f.host or '?'}]: reissue it with that "
            f"address (or dial a name it has: one of [{','.join(f.sans)}])",
            renew_server_certificate(_SERVER_SSL, *_names(f, f.host)),
            Side.REMOTE,
        )
    if cause in ("tls_expired", "tls_not_yet_valid"):
        return Fix(
            "issue the remote a certificate valid now"
            + (" and check both clocks (NTP)" if cause == "tls_not_yet_valid" else ""),
            renew_server_certificate(_SERVER_SSL, *_names(f)),
            Side.REMOTE,
        )
    if cause == "tls_client_certificate_required":
        return Fix(
            "the remote requires a client certificate: give the local side one, or make the "
            "remote's remote cluster server not require it",
            (
                "local: xpack.security.remote_cluster_client.ssl.certificate and .key",
                "or remote: xpack.security.remote_cluster_server.ssl.client_authentication: none",
            ),
            Side.BOTH,
        )
    if cause in ("plaintext_to_tls", "tls_to_plaintext"):
        return Fix(
            "make both ends agree on TLS for this connection",
            (
                "local: xpack.security.remote_cluster_client.ssl.enabled: true (API-key model) or "
                "xpack.security.transport.ssl.enabled: true (certificate model)",
                "remote: xpack.security.remote_cluster_server.ssl.enabled: true",
            ),
            Side.BOTH,
        )
    if cause == "tcp_refused":
        return Fix(
            f"nothing listens at [{f.address or '?'}]: check the host and port of [{f.alias}] and "
            "that the remote cluster server is enabled on the remote",
            (
                "remote elasticsearch.yml: remote_cluster_server.enabled: true (and "
                "remote_cluster.host / remote_cluster.port), then restart",
                "on the remote: GET /_nodes/_all/remote_cluster_server (publish_address)",
                _address_setting(f, "<publish_address>"),
            ),
            Side.BOTH,
        )
    if cause in ("tcp_timeout", "tcp_unreachable", "tcp_reset"):
        return Fix(
            f"the network does not let the local nodes reach [{f.address or '?'}]: open the "
            "firewall / route for that port",
            (f"from each local node: nc -vz {(f.address or '<host> <port>').replace(':', ' ')}",),
            Side.NETWORK,
        )
    if cause == "dns_unresolvable":
        return Fix(
            "the host name of the alias does not resolve on the local nodes: fix DNS or use an IP",
            (_address_setting(f, "<ip>:<port>"),),
            Side.NETWORK,
        )
    if cause == "connection_unreliable":
        return Fix(
            "make the network keep long-lived idle connections and detect dead ones quickly",
            (
                "sysctl net.ipv4.tcp_keepalive_time=300 net.ipv4.tcp_retries2=5 on every node",
                f'on the local cluster: PUT _cluster/settings {{"persistent": {{"cluster.remote.'
                f'{f.alias}.transport.ping_schedule": "30s"}}}}',
                "ss -tonie on both ends shows each connection's keep-alive timer",
            ),
            Side.NETWORK,
        )
    if cause == "http_port":
        return Fix(
            f"[{f.address or '?'}] is the remote's HTTP port: use its remote cluster server port",
            (_address_setting(f, rcs),),
            Side.LOCAL,
        )
    if cause == "user_lacks_remote_indices":
        return Fix(
            f"grant the local user's role remote_indices for [{f.alias}]",
            (
                'PUT /_security/role/<role> {"remote_indices": [{"clusters": ["'
                + f.alias
                + '"], "names": ["<indices>"], "privileges": ["read", "read_cross_cluster"]}]}',
            ),
            Side.LOCAL,
        )
    if cause == "handshake_cluster_name":
        return Fix(
            f"the addresses of [{f.alias}] belong to different clusters: list nodes of one cluster",
            (_address_setting(f, "<node of the intended cluster>"),),
            Side.LOCAL,
        )
    if cause == "handshake_incompatible_version":
        return Fix(
            "the clusters' versions are not wire-compatible: upgrade the older one",
            (
                "GET / on both clusters (version.number, minimum_wire_compatibility_version)",
                "upgrade the older cluster (the API-key model needs both at 8.10 or later)",
            ),
            Side.BOTH,
        )
    if cause in ("handshake_closed", "handshake_timeout"):
        return Fix(
            f"the remote at [{f.address or '?'}] ends the handshake: its log says why (TLS "
            "on one side only, a proxy, an overloaded node)",
            (
                "the remote's log at the same time ('received plaintext traffic', 'closed "
                "during handshake')",
                "check that TLS is on at both ends: xpack.security.remote_cluster_client.ssl."
                "enabled (local) and xpack.security.remote_cluster_server.ssl.enabled (remote)",
            ),
            Side.REMOTE,
        )
    return None
