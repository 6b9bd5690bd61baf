"""Every cause the doctor can name: its code, stage, usual side and one-line meaning.  [no I/O]

A finding's ``cause`` is one of these codes. Each code has a section in ``docs/doctor.md`` with
what it means, how the doctor recognises it and how to fix it; a unit test keeps the two in step.
Codes are stable (tests, scripts and bundles refer to them): rename only with an alias.
"""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.doctor.model import Side, Stage


@dataclass(frozen=True)
class Cause:
    code: str
    stage: Stage
    side: Side
    title: str


_C = Cause
CAUSES: tuple[Cause, ...] = (
    # --- configuration -------------------------------------------------------------------------
    _C(
        "alias_not_configured",
        Stage.CONFIGURATION,
        Side.LOCAL,
        "the alias has no seeds or proxy_address on the local cluster",
    ),
    _C(
        "no_remote_cluster_client_role",
        Stage.CONFIGURATION,
        Side.LOCAL,
        "the local node lacks the remote_cluster_client role",
    ),
    _C(
        "invalid_remote_settings",
        Stage.CONFIGURATION,
        Side.LOCAL,
        "the alias's cluster.remote settings are invalid",
    ),
    _C(
        "remote_cluster_server_disabled",
        Stage.CONFIGURATION,
        Side.REMOTE,
        "remote_cluster_server.enabled is not true on the remote cluster",
    ),
    _C(
        "credentials_not_reloaded",
        Stage.CONFIGURATION,
        Side.LOCAL,
        "the keystore has credentials for the alias but the nodes were not reloaded",
    ),
    _C(
        "credentials_missing_on_nodes",
        Stage.CONFIGURATION,
        Side.LOCAL,
        "the credentials are in the keystore of some local nodes only",
    ),
    # --- DNS / TCP -------------------------------------------------------------------------------
    _C("dns_unresolvable", Stage.DNS, Side.NETWORK, "the seed or proxy host name does not resolve"),
    _C(
        "tcp_refused", Stage.TCP, Side.REMOTE, "nothing listens at the address (connection refused)"
    ),
    _C(
        "tcp_timeout",
        Stage.TCP,
        Side.NETWORK,
        "the address does not answer (black-holed or filtered)",
    ),
    _C("tcp_reset", Stage.TCP, Side.NETWORK, "the connection is reset as soon as it opens"),
    _C(
        "tcp_closed",
        Stage.TCP,
        Side.NETWORK,
        "the connection is closed (without a reset) as soon as it opens, before anything is sent",
    ),
    _C(
        "tcp_unreachable",
        Stage.TCP,
        Side.NETWORK,
        "no route to the address (host or network unreachable)",
    ),
    _C(
        "connection_unreliable",
        Stage.TCP,
        Side.NETWORK,
        "connections open but are closed by the remote or a middlebox later",
    ),
    _C(
        "advertised_address_unreachable",
        Stage.TCP,
        Side.REMOTE,
        "sniff mode: the seed answers, but the address a remote node advertises (its publish "
        "address) cannot be reached from the local nodes",
    ),
    _C(
        "connection_failed",
        Stage.TCP,
        Side.UNKNOWN,
        "the local cluster reports a failed connection without saying why (an undecided finding)",
    ),
    # --- protocol and port identification ---------------------------------------------------------
    _C(
        "http_port",
        Stage.PROTOCOL,
        Side.LOCAL,
        "the address is the remote's HTTP port, not a transport port",
    ),
    _C(
        "transport_port_with_credentials",
        Stage.PROTOCOL,
        Side.LOCAL,
        "API-key credentials are used against the transport port (9300), not the remote cluster server (9443)",
    ),
    _C(
        "remote_cluster_port_without_credentials",
        Stage.PROTOCOL,
        Side.LOCAL,
        "the remote cluster server port is used without cross-cluster credentials",
    ),
    _C(
        "tls_to_plaintext",
        Stage.PROTOCOL,
        Side.BOTH,
        "the local side speaks TLS to a plaintext port",
    ),
    _C(
        "plaintext_to_tls",
        Stage.PROTOCOL,
        Side.BOTH,
        "the local side speaks plaintext to a TLS port",
    ),
    _C(
        "proxy_no_route",
        Stage.PROTOCOL,
        Side.LOCAL,
        "an SNI-routing proxy closed the connection: the alias sends no server_name, or one it "
        "does not route",
    ),
    _C(
        "not_elasticsearch",
        Stage.PROTOCOL,
        Side.NETWORK,
        "something other than Elasticsearch answers at the address",
    ),
    _C(
        "http_proxy",
        Stage.PROTOCOL,
        Side.LOCAL,
        "an HTTP (forward) proxy answers at the address; transport connections do not use HTTP proxies",
    ),
    _C(
        "no_answer",
        Stage.PROTOCOL,
        Side.NETWORK,
        "the connection opens but nothing answers (a proxy or relay holding it, a hung process)",
    ),
    # --- TLS -------------------------------------------------------------------------------------
    _C(
        "tls_untrusted_ca",
        Stage.TLS,
        Side.LOCAL,
        "the local side does not trust the CA that issued the remote's certificate",
    ),
    _C(
        "tls_ca_regenerated",
        Stage.TLS,
        Side.BOTH,
        "the trusted CA has the issuer's name but another key (a regenerated CA)",
    ),
    _C(
        "tls_missing_intermediate",
        Stage.TLS,
        Side.REMOTE,
        "the remote does not send the intermediate certificate of its chain",
    ),
    _C(
        "tls_hostname_mismatch",
        Stage.TLS,
        Side.BOTH,
        "the remote's certificate does not name the dialled address or server_name",
    ),
    _C("tls_expired", Stage.TLS, Side.REMOTE, "the remote's certificate has expired"),
    _C(
        "tls_not_yet_valid",
        Stage.TLS,
        Side.REMOTE,
        "the remote's certificate is not valid yet (or the clocks disagree)",
    ),
    _C(
        "tls_client_certificate_required",
        Stage.TLS,
        Side.LOCAL,
        "the remote requires a client certificate the local side does not send",
    ),
    _C(
        "tls_client_untrusted",
        Stage.TLS,
        Side.REMOTE,
        "the remote does not trust the local side's client certificate",
    ),
    # --- handshake -------------------------------------------------------------------------------
    _C(
        "handshake_wrong_profile",
        Stage.HANDSHAKE,
        Side.LOCAL,
        "the remote cluster handshake reached the transport profile (wrong port for API keys)",
    ),
    _C(
        "handshake_incompatible_version",
        Stage.HANDSHAKE,
        Side.BOTH,
        "the clusters' versions are not wire-compatible",
    ),
    _C(
        "handshake_cluster_name",
        Stage.HANDSHAKE,
        Side.LOCAL,
        "the seed answers for another cluster than the alias pointed at before",
    ),
    _C(
        "handshake_closed",
        Stage.HANDSHAKE,
        Side.REMOTE,
        "the remote closed the connection during the handshake",
    ),
    _C(
        "handshake_timeout",
        Stage.HANDSHAKE,
        Side.REMOTE,
        "the remote accepted the connection but did not answer the handshake in time",
    ),
    # --- authentication --------------------------------------------------------------------------
    _C(
        "credentials_missing",
        Stage.AUTHENTICATION,
        Side.LOCAL,
        "the remote cluster server port needs cross-cluster credentials and none were sent",
    ),
    _C(
        "api_key_wrong_type",
        Stage.AUTHENTICATION,
        Side.LOCAL,
        "the credential is a REST API key, not a cross-cluster API key",
    ),
    _C(
        "api_key_invalid",
        Stage.AUTHENTICATION,
        Side.LOCAL,
        "the credential is malformed or its secret is wrong",
    ),
    _C(
        "api_key_unknown",
        Stage.AUTHENTICATION,
        Side.REMOTE,
        "the remote cluster has no API key with the credential's id",
    ),
    _C(
        "api_key_invalidated",
        Stage.AUTHENTICATION,
        Side.REMOTE,
        "the cross-cluster API key was invalidated",
    ),
    _C(
        "api_key_expired",
        Stage.AUTHENTICATION,
        Side.REMOTE,
        "the cross-cluster API key has expired",
    ),
    _C(
        "anonymous_handshake_unauthorized",
        Stage.AUTHENTICATION,
        Side.REMOTE,
        "the certificate model reached the remote cluster server port and ran as the anonymous user",
    ),
    _C(
        "certificate_identity_missing",
        Stage.AUTHENTICATION,
        Side.LOCAL,
        "the certificate model sent no authenticated identity (security off on one side)",
    ),
    # --- authorization ---------------------------------------------------------------------------
    _C(
        "key_access_excludes",
        Stage.AUTHORIZATION,
        Side.REMOTE,
        "the cross-cluster API key's access does not cover the index or action",
    ),
    _C(
        "user_lacks_remote_indices",
        Stage.AUTHORIZATION,
        Side.LOCAL,
        "the local user's roles have no remote_indices for the alias and index",
    ),
    _C(
        "remote_role_missing",
        Stage.AUTHORIZATION,
        Side.REMOTE,
        "certificate model: the remote has no role of the same name granting the index",
    ),
    _C(
        "remote_role_insufficient",
        Stage.AUTHORIZATION,
        Side.REMOTE,
        "certificate model: the remote's same-named role does not grant the action",
    ),
    # --- data ------------------------------------------------------------------------------------
    _C("index_not_found", Stage.DATA, Side.REMOTE, "no index on the remote matches the expression"),
    # --- appended: a warning of the authentication stage -----------------------------------------
    _C(
        "api_key_expiring",
        Stage.AUTHENTICATION,
        Side.REMOTE,
        "the alias's cross-cluster API key works but expires within 7 days",
    ),
)

BY_CODE: dict[str, Cause] = {c.code: c for c in CAUSES}


def cause(code: str) -> Cause:
    """The cause named ``code`` (a KeyError for a code that was never declared)."""
    return BY_CODE[code]
