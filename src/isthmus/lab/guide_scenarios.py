"""The troubleshooting guide's failures as lab scenarios: the pair each is built on, and the
symptom the guide describes (:class:`~isthmus.lab.scenario_model.Expected`). Their doctor verdicts
are in :mod:`isthmus.lab.guide_verdicts`; :func:`isthmus.lab.scenarios.scenarios` joins the two.
"""

from __future__ import annotations

from isthmus.lab.scenario_model import KEY_ID, Expected, Scenario
from isthmus.lab.topology import ALIAS, INDEX, LabSpec
from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION as HANDSHAKE
from isthmus.wire.names import REMOTE_CLUSTER_PROFILE
from isthmus.wire.names import SEARCH_ACTION as SEARCH


def _connect_failure(mode: str) -> str:
    if mode == "proxy":
        return f"[WARN ][o.e.t.ProxyConnectionStrategy] [local-node] failed to open any proxy connections to cluster [{ALIAS}]"
    return f"[WARN ][o.e.t.SniffConnectionStrategy] [local-node] fetching nodes from external cluster [{ALIAS}] failed"


def _trust_failure(subject: str, context: str, profile: str, also: str | None = None) -> Expected:
    """The TLS trust failure: the local cluster names the certificate it was shown and its own
    ssl context; the remote says its certificate was not trusted, on ``profile``."""
    local = [
        "[WARN ][o.e.c.s.DiagnosticTrustManager] [local-node] failed to establish trust with "
        "server at",
        f"the server provided a certificate with subject name [{subject}]",
        f"this ssl context ({context}",
    ]
    if also is not None:
        local.append(also)
    return Expected(
        connected=False,
        search_error=(500, "connect_transport_exception", "failed to establish trust with server"),
        local_log=tuple(local),
        remote_log=(
            "[WARN ][o.e.x.c.s.t.n.SecurityNetty4Transport] [remote-node] client did not trust "
            "this server's certificate, closing connection Netty4TcpChannel{",
            f"profile={profile}}}",
        ),
    )


def _refused_key(reason: str) -> Expected:
    """A key the remote cannot authenticate: refused by the remote cluster server, which logs
    why (the error carries the reason too, in ``additional_unsuccessful_credentials``)."""
    return Expected(
        connected=False,
        local_log=(
            "Caused by: org.elasticsearch.ElasticsearchSecurityException: unable to authenticate "
            f"user [{KEY_ID}] for action [{HANDSHAKE}]",
        ),
        remote_log=(
            "[WARN ][o.e.x.s.a.ApiKeyAuthenticator] [remote-node] Authentication using apikey "
            f"failed - {reason}",
        ),
        search_error=(401, "security_exception", f"unable to authenticate user [{KEY_ID}]"),
    )


def guide_scenarios(mode: str) -> list[Scenario]:
    failed = _connect_failure(mode)
    out = [
        Scenario(
            "working",
            "The working setup: API-key model, remote cluster server, trusted CA",
            LabSpec(mode=mode),
            Expected(connected=True),
            "nothing",
            "GET /_remote/info shows connected and cluster_credentials",
            "-",
        ),
        Scenario(
            "server-disabled",
            "Remote cluster not reachable: the remote cluster server is not enabled",
            LabSpec(mode=mode, server_enabled=False),
            Expected(
                connected=False,
                local_log=(
                    failed,
                    "org.elasticsearch.transport.ConnectTransportException: [][127.0.0.1:",
                    "] connect_exception",
                ),
                search_error=(500, "connect_transport_exception", "connect_exception"),
            ),
            "remote_cluster_server.enabled is not set on the remote cluster, so nothing listens "
            "on its remote cluster port",
            "the local cluster's log (connect_exception)",
            "set remote_cluster_server.enabled: true (and remote_cluster.host/port) on every "
            "remote node and restart it",
        ),
        Scenario(
            "wrong-port",
            "Remote cluster not reachable: the alias points at a port nobody listens on",
            LabSpec(mode=mode, target="unused_port"),
            Expected(
                connected=False,
                local_log=(
                    failed,
                    "ConnectTransportException: [][127.0.0.1:",
                    "] connect_exception",
                ),
                search_error=(500, "connect_transport_exception", "connect_exception"),
            ),
            "the seeds / proxy_address name a port where nothing listens",
            "the local cluster's log (connect_exception)",
            "use the remote cluster server's publish address (GET /_nodes on the remote: "
            "remote_cluster_server.publish_address)",
        ),
        Scenario(
            "untrusted-ca",
            "TLS trust not established: the local cluster does not trust the remote server's CA",
            LabSpec(mode=mode, client_trusts_server_ca=False),
            _trust_failure(
                "CN=remote-server",
                "[xpack.security.remote_cluster_client.ssl (with trust configuration: PEM-trust{",
                REMOTE_CLUSTER_PROFILE,
            ),
            "xpack.security.remote_cluster_client.ssl.certificate_authorities on the local "
            "cluster names a CA that did not sign the remote cluster server's certificate",
            "the local log (failed to establish trust with server) and the remote log (client "
            "did not trust this server's certificate)",
            "trust the remote cluster server's CA in "
            "xpack.security.remote_cluster_client.ssl.certificate_authorities and restart",
        ),
        Scenario(
            "transport-port-different-ca",
            "API-key model pointed at the transport port, separate CAs (Symptom 1)",
            LabSpec(mode=mode, target="transport"),
            _trust_failure(
                "CN=remote-node",
                "[xpack.security.remote_cluster_client.ssl",
                "default",
                also="is issued by [CN=Isthmus Lab remote-transport CA]",
            ),
            "the alias points at the remote's transport port (9300) instead of its remote "
            "cluster server port (9443); the two interfaces use different CAs",
            "the local log (trust failure naming the transport certificate) and the remote log",
            "point the alias at the remote cluster server port",
        ),
        Scenario(
            "transport-port-shared-ca",
            "API-key model pointed at the transport port, one shared CA (Symptom 2)",
            LabSpec(mode=mode, target="transport", shared_ca=True),
            Expected(
                connected=False,
                search_error=(500, "connect_transport_exception", "requires a client certificate"),
                local_log=(
                    "[WARN ][o.e.t.TcpTransport       ] [local-node] exception caught on transport layer [Netty4TcpChannel{",
                    "profile=_remote_cluster}], closing connection",
                    "javax.net.ssl.SSLHandshakeException: Received fatal alert: bad_certificate",
                ),
                remote_log=(
                    "[WARN ][o.e.t.TcpTransport       ] [remote-node] exception caught on transport layer [Netty4TcpChannel{",
                    "profile=default}], closing connection",
                    "javax.net.ssl.SSLHandshakeException: Empty client certificate chain",
                ),
            ),
            "the alias points at the transport port; the transport requires a client "
            "certificate, which a remote cluster client does not have",
            "both logs (bad_certificate locally, Empty client certificate chain remotely)",
            "point the alias at the remote cluster server port",
        ),
        Scenario(
            "transport-port-client-cert",
            "API-key model pointed at the transport port, client has a certificate (Symptom 3)",
            LabSpec(mode=mode, target="transport", shared_ca=True, client_certificate=True),
            Expected(
                connected=False,
                search_error=(
                    401,
                    "security_exception",
                    f"missing authentication credentials for action [{HANDSHAKE}]",
                ),
                local_log=(
                    "org.elasticsearch.transport.RemoteTransportException: [remote-node][127.0.0.1:",
                    f"][{HANDSHAKE}]",
                    f"Caused by: org.elasticsearch.ElasticsearchSecurityException: missing authentication credentials for action [{HANDSHAKE}]",
                ),
                remote_log_absent=("missing authentication credentials",),
            ),
            "the alias points at the transport port and the client presents a certificate the "
            "transport trusts; the transport expects certificate-model authentication",
            "the local log only (missing authentication credentials)",
            "point the alias at the remote cluster server port",
        ),
        Scenario(
            "transport-port-anonymous",
            "API-key model pointed at the transport port, anonymous access on the remote "
            "(Symptom 4)",
            LabSpec(
                mode=mode,
                target="transport",
                shared_ca=True,
                client_certificate=True,
                remote_anonymous_role="reporting_user",
            ),
            Expected(
                connected=False,
                search_error=(
                    403,
                    "security_exception",
                    "is unauthorized for user [anonymous_foo]",
                ),
                local_log=(
                    f"Caused by: org.elasticsearch.ElasticsearchSecurityException: action [{HANDSHAKE}] is unauthorized for user [anonymous_foo] with effective roles [reporting_user], this action is granted by the cluster privileges [cross_cluster_search,cross_cluster_replication,manage,all]",
                ),
            ),
            "the alias points at the transport port; the remote lets anonymous users in, and "
            "its anonymous role cannot run the remote cluster handshake",
            "the local log (unauthorized for user [anonymous_foo])",
            "point the alias at the remote cluster server port",
        ),
        Scenario(
            "transport-port-anonymous-superuser",
            "API-key model pointed at the transport port, anonymous superuser on the remote "
            "(Symptom 4)",
            LabSpec(
                mode=mode,
                target="transport",
                shared_ca=True,
                client_certificate=True,
                remote_anonymous_role="superuser",
            ),
            Expected(
                connected=False,
                search_error=(
                    400,
                    "illegal_argument_exception",
                    "requires channel profile to be [_remote_cluster], but got [default]",
                ),
                local_log=(
                    "Caused by: java.lang.IllegalArgumentException: remote cluster handshake action requires channel profile to be [_remote_cluster], but got [default]",
                ),
            ),
            "the alias points at the transport port; the remote's anonymous user may run the "
            "handshake, which then refuses the transport profile",
            "the local log (requires channel profile to be [_remote_cluster])",
            "point the alias at the remote cluster server port",
        ),
        Scenario(
            "no-credentials",
            "Connecting without a cross-cluster API key, CAs differ (Symptom 1)",
            LabSpec(mode=mode, credential=None),
            _trust_failure(
                "CN=remote-server",
                "[xpack.security.transport.ssl (with trust configuration: PEM-trust{",
                REMOTE_CLUSTER_PROFILE,
            ),
            "no cluster.remote.my.credentials in the local keystore: the local cluster uses the "
            "certificate model and its transport TLS, which does not trust the remote server",
            "the local log (this ssl context ([xpack.security.transport.ssl ...])) and "
            "_remote/info (no cluster_credentials)",
            "add the cross-cluster API key to the keystore of every local node and call "
            "POST _nodes/reload_secure_settings",
        ),
        Scenario(
            "no-credentials-trusted",
            "Connecting without a cross-cluster API key, TLS trusted (Symptom 2)",
            LabSpec(mode=mode, credential=None, transport_trusts_server_ca=True),
            Expected(
                connected=False,
                search_error=(
                    400,
                    "illegal_argument_exception",
                    "require transport header [_cross_cluster_access_credentials] but none found",
                ),
                local_log=(
                    "Caused by: java.lang.IllegalArgumentException: Cross cluster requests through the dedicated remote cluster server port require transport header [_cross_cluster_access_credentials] but none found. Please ensure you have configured remote cluster credentials on the cluster originating the request.",
                ),
                remote_log_absent=("_cross_cluster_access_credentials",),
            ),
            "no credentials in the local keystore while TLS works: the remote cluster server "
            "refuses requests without the cross-cluster headers",
            "the local log only (require transport header [_cross_cluster_access_credentials])",
            "add the cross-cluster API key to the keystore and reload secure settings",
        ),
        Scenario(
            "rest-key",
            "Using the wrong API key type (a REST key)",
            LabSpec(mode=mode, credential="rest"),
            Expected(
                connected=False,
                local_log=(
                    "org.elasticsearch.transport.RemoteTransportException: [remote-node][127.0.0.1:",
                    f"Caused by: org.elasticsearch.ElasticsearchSecurityException: authentication expected API key type of [cross_cluster], but API key [{KEY_ID}] has type [rest]",
                ),
                remote_log_absent=("expected API key type", "Authentication using apikey failed"),
                search_error=(
                    401,
                    "security_exception",
                    "expected API key type of [cross_cluster]",
                ),
            ),
            "the keystore holds a REST API key (POST /_security/api_key) instead of a "
            "cross-cluster one",
            "the local log only (expected API key type of [cross_cluster])",
            "create a key with POST /_security/cross_cluster/api_key on the remote, put its "
            "encoded value in the keystore, reload secure settings",
        ),
        Scenario(
            "invalid-key",
            "Invalid API key (wrong secret)",
            LabSpec(mode=mode, credential="wrong_secret"),
            _refused_key(f"invalid credentials for API key [{KEY_ID}]"),
            "the keystore's credential has the right key id but a wrong secret",
            "the local log (unable to authenticate user) and the remote log (Authentication "
            "using apikey failed)",
            "get a valid cross-cluster key from the remote's administrator, replace the "
            "keystore entry, reload secure settings",
        ),
        Scenario(
            "invalidated-key",
            "Invalid API key (invalidated)",
            LabSpec(mode=mode, credential="invalidated"),
            _refused_key("api key has been invalidated"),
            "the key was invalidated on the remote (DELETE /_security/api_key)",
            "the local log and the remote log",
            "create a new cross-cluster key, replace the keystore entry, reload",
        ),
        Scenario(
            "expired-key",
            "Invalid API key (expired)",
            LabSpec(mode=mode, credential="expired"),
            _refused_key("api key is expired"),
            "the key expired (created with expiration 1ms)",
            "the local log and the remote log",
            "create a new cross-cluster key (or one without expiration), replace the keystore "
            "entry, reload",
        ),
        Scenario(
            "insufficient-privileges",
            "API key has insufficient privileges",
            LabSpec(mode=mode, key_access={"search": [{"names": ["metrics-*"]}]}),
            Expected(
                connected=True,
                remote_log_absent=("unauthorized",),
                search_error=(
                    403,
                    "security_exception",
                    f"action [{SEARCH}] towards remote cluster is unauthorized for user [foo] with assigned roles [foo-role] authenticated by API key id [{KEY_ID}] of user [elastic] on indices [{INDEX}], this action is granted by the index privileges [read,all]",
                ),
            ),
            "the cross-cluster key's access.search does not cover the searched index",
            "the search response only (no log line on either side)",
            "ask for a key whose access covers the index (or update it with PUT "
            "/_security/cross_cluster/api_key/<id>)",
        ),
        Scenario(
            "insufficient-user-privileges",
            "Local user has insufficient remote_indices privileges",
            LabSpec(
                mode=mode,
                user_remote_indices=(
                    {"clusters": [ALIAS], "names": ["metrics-*"], "privileges": ["read"]},
                ),
            ),
            Expected(
                connected=True,
                search_error=(
                    403,
                    "security_exception",
                    f"towards remote cluster is unauthorized for user [foo] with assigned roles [foo-role] authenticated by API key id [{KEY_ID}] of user [elastic] on indices [{INDEX}]",
                ),
            ),
            "the local user's remote_indices for the alias do not cover the searched index",
            "the search response only",
            "grant the local role remote_indices for the alias and index",
        ),
        Scenario(
            "no-remote-indices",
            "Local user has no remote_indices privileges",
            LabSpec(mode=mode, user_remote_indices=None),
            Expected(
                connected=True,
                search_error=(
                    403,
                    "security_exception",
                    f"action [{SEARCH}] towards remote cluster [{ALIAS}] is unauthorized for user [foo] with effective roles [foo-role] because no remote indices privileges apply for the target cluster",
                ),
            ),
            "the local user's role has no remote_indices for the alias",
            "the search response only (refused by the local cluster before sending)",
            "add remote_indices with clusters: [my] to the user's role",
        ),
        Scenario(
            "no-remote-indices-role-missing",
            "Local user has no remote_indices privileges: its role does not exist",
            LabSpec(mode=mode, user_role_missing=True),
            Expected(
                connected=True,
                search_error=(
                    403,
                    "security_exception",
                    f"action [{SEARCH}] towards remote cluster [{ALIAS}] is unauthorized for user [foo] with effective roles [] (assigned roles [foo-role] were not found) because no remote indices privileges apply for the target cluster",
                ),
            ),
            "the user is assigned the role foo-role, which does not exist on the local cluster",
            "the search response only (the guide's exact sentence)",
            "create the role (with remote_indices for clusters: [my]) or assign an existing one",
        ),
        Scenario(
            "unreliable-connection",
            "Remote cluster connection is unreliable: the remote stops answering, then comes back",
            LabSpec(mode=mode),
            Expected(
                connected=True,
                local_log=(
                    f"[local-node] remote cluster [{ALIAS}]: no data from [127.0.0.1:",
                    "closing the connection as dead",
                    "[INFO ][o.e.t.ClusterConnectionManager] [local-node] transport connection to [{",
                    "}] closed by remote",
                ),
            ),
            "the remote node was frozen (SIGSTOP) while connected, as a dead network path or a "
            "hung peer looks from the local side, then resumed",
            "the local log: the dead connection is detected within about 2 s (pings every 1 s), "
            "closed, and re-opened on the next use",
            "make the network between the clusters reliable; keep Isthmus's fast detection "
            "(transport.ping_schedule 1s, TCP keep-alive and user timeout) or, with ES's "
            "defaults, enable and tune TCP keep-alive and retransmission timeouts",
            fault="freeze",
        ),
    ]
    if mode == "sniff":  # proxy mode dials the proxy address only: nothing is advertised
        out.append(
            Scenario(
                "sniff-unreachable-publish-address",
                "Sniff mode: the seed answers, the address the remote node advertises does not",
                LabSpec(mode=mode, remote_publish_port="unused_port"),
                Expected(
                    connected=False,
                    local_log=(
                        failed,
                        "ConnectTransportException: [remote-node][127.0.0.1:",
                        "] connect_exception",
                        "Connection refused",
                    ),
                    search_error=(
                        500,
                        "connect_transport_exception",
                        "[remote-node][127.0.0.1:",
                    ),
                ),
                "the remote node advertises remote_cluster.publish_port, a port nothing listens "
                "on (as a node behind NAT, in a container or in Kubernetes advertises an address "
                "only its own network reaches); the seed is its bound address, which works",
                "the local log and _resolve/cluster: connect_exception at [remote-node] on an "
                "address that is not the seed",
                "on the remote, set remote_cluster.publish_host/publish_port (transport.* in the "
                "certificate model) to an address the local nodes reach, or switch the alias to "
                "proxy mode with proxy_address set to the seed",
            )
        )
    return out


__all__ = ["guide_scenarios"]
