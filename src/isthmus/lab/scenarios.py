"""The troubleshooting guide's failures as lab scenarios: how each is built, and what it shows.

Each :class:`Scenario` is a :class:`~isthmus.lab.topology.LabSpec` with one fault, plus the
symptom the guide describes: the lines the local and the remote cluster log (or must not log),
whether ``_remote/info`` says connected, and how a cross-cluster search as the lab user ends.
The integration tests assert exactly these expectations, and ``isthmus lab up`` builds the same
specs, so what a learner sees is what CI checked.

Each scenario also says what ``isthmus doctor`` should conclude (:class:`DoctorVerdict`) at each
evidence level (:class:`EvidenceLevel`: local REST only, + local logs and config, + the probe,
+ the remote side): ``scenario.verdict.levels()``. The doctor's tests iterate over them
(``tests/integration/test_doctor_lab_verdicts.py``). The faults beyond the guide (the path, proxies,
certificates, a forgotten reload) are in :mod:`isthmus.lab.fault_scenarios`; :func:`scenarios`
lists both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from isthmus.doctor.causes import cause
from isthmus.doctor.model import Side, Stage
from isthmus.lab.topology import ALIAS, INDEX, LabSpec
from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION as HANDSHAKE
from isthmus.wire.names import REMOTE_CLUSTER_PROFILE
from isthmus.wire.names import SEARCH_ACTION as SEARCH

# Placeholders filled in when the lab runs: the key id; the address the alias dials (the node
# a remote-side finding names before the doctor has the remote's own evidence).
KEY_ID = "{key_id}"
ADDRESS = "{address}"


@dataclass(frozen=True)
class Expected:
    """What a scenario shows. Log expectations are substrings of one log file; ``{key_id}`` is
    replaced by the id of the key the lab created."""

    connected: bool
    local_log: tuple[str, ...] = ()
    remote_log: tuple[str, ...] = ()
    # Substrings that must not be in the remote's log ("this does not show up in the logs of
    # the remote cluster").
    remote_log_absent: tuple[str, ...] = ()
    # A search as the lab user on ``my:logs``: None means it succeeds with hits; otherwise
    # (HTTP status, error type, substring of the reason anywhere in the error body).
    search_error: tuple[int, str, str] | None = None


class EvidenceLevel(enum.StrEnum):
    """How much the doctor is given, each level adding to the one before (the report's
    ``evidence_level`` names the same sources):

    * ``local_rest``: the local cluster's REST APIs only (``isthmus doctor --local ... --no-probe``);
    * ``local_files``: + the local nodes' logs and configuration (``--local-logs``,
      ``--local-config``, ``--since`` the fault);
    * ``probe``: + the active probe of the alias's address (without ``--no-probe``);
    * ``remote``: + the remote side: its REST APIs, logs and configuration (``--remote``,
      ``--remote-logs``, ``--remote-config``).
    """

    LOCAL_REST = "local_rest"
    LOCAL_FILES = "local_files"
    PROBE = "probe"
    REMOTE = "remote"

    @property
    def order(self) -> int:
        return list(EvidenceLevel).index(self)


LEVELS: tuple[EvidenceLevel, ...] = tuple(EvidenceLevel)


@dataclass(frozen=True)
class DoctorVerdict:
    """What ``isthmus doctor`` should conclude for a scenario given all the evidence (both
    clusters' REST APIs, logs and configuration, and an active probe): the first failing stage,
    its cause code (:mod:`isthmus.doctor.causes`), the side the fix goes to and the nodes at
    fault. A scenario without a verdict is healthy (green, no finding).

    ``candidates`` makes it an *undecided* verdict (exit 2): the finding at ``stage`` names
    exactly these candidates (the true cause among them) and picks none. ``warning`` makes it a
    warning (status yellow, exit 0): the alias works at the moment of the check, and the fault
    shows in its history (connections that keep being cut). ``below`` is what the doctor
    concludes with less evidence (:meth:`until`, :meth:`at`): it may stop at an earlier stage
    or stay undecided, never name a wrong cause or report a fault green. Without the remote's
    evidence a remote-side finding names the address the alias dials (:data:`ADDRESS`), the
    only name of the remote the local cluster knows."""

    stage: Stage
    cause: str
    side: Side
    nodes: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    warning: bool = False
    below: tuple[tuple[EvidenceLevel, DoctorVerdict], ...] = ()

    def __post_init__(self) -> None:
        declared = cause(self.cause)  # a KeyError for a code causes.py does not declare
        if declared.stage is not self.stage and not self.candidates:
            raise ValueError(f"cause [{self.cause}] belongs to stage [{declared.stage}]")
        for code in self.candidates:
            cause(code)

    @classmethod
    def of(
        cls, code: str, *, side: Side | None = None, nodes: tuple[str, ...] = ()
    ) -> DoctorVerdict:
        """The verdict naming ``code``, at its stage, on its usual side unless ``side``."""
        declared = cause(code)
        return cls(declared.stage, code, side or declared.side, nodes)

    @classmethod
    def undecided(
        cls,
        code: str,
        candidates: tuple[str, ...],
        *,
        stage: Stage | None = None,
        side: Side = Side.UNKNOWN,
        nodes: tuple[str, ...] = (),
    ) -> DoctorVerdict:
        """Undecided at ``stage`` (default: ``code``'s) between ``candidates``; the finding's
        own code is ``code`` (``connection_failed``, or the candidate it leans to)."""
        return cls(stage or cause(code).stage, code, side, nodes, tuple(sorted(candidates)))

    @property
    def decided(self) -> bool:
        return not self.candidates

    @property
    def exit_code(self) -> int:
        """``isthmus doctor``'s exit code for this verdict."""
        return 0 if self.warning else 1 if self.decided else 2

    def as_warning(self) -> DoctorVerdict:
        return replace(self, warning=True)

    def addressed(self) -> DoctorVerdict:
        """This verdict; below the remote level it names the dialled address, not the nodes."""
        return self.until(EvidenceLevel.REMOTE, replace(self, nodes=(ADDRESS,), below=()))

    def until(self, level: EvidenceLevel, verdict: DoctorVerdict) -> DoctorVerdict:
        """This verdict, concluding ``verdict`` instead at the levels below ``level`` (a later
        call for a lower level refines the levels below that one)."""
        return replace(self, below=(*self.below, (level, verdict)))

    def at(self, level: EvidenceLevel) -> DoctorVerdict:
        """The verdict at evidence ``level``: the declaration for the lowest threshold above it,
        else this (all-evidence) verdict."""
        above = [(t.order, v) for t, v in self.below if level.order < t.order]
        chosen = min(above, key=lambda item: item[0])[1] if above else self
        return replace(chosen, below=())

    def levels(self) -> dict[EvidenceLevel, DoctorVerdict]:
        """The verdict at each level, lowest first (what ``isthmus lab`` and the docs show)."""
        return {level: self.at(level) for level in LEVELS}

    def describe(self) -> str:
        where = f"{self.stage.value}/{self.cause} ({self.side.value}"
        where += f", {', '.join(self.nodes)})" if self.nodes else ")"
        if self.candidates:
            return f"undecided at {where} among {', '.join(self.candidates)}"
        return f"warning {where}" if self.warning else where


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    spec: LabSpec
    expected: Expected
    broken: str  # what was done wrong (shown with --reveal)
    look: str  # where the symptom shows
    fix: str
    # Done to the running pair before observing: "freeze" stops the remote node (SIGSTOP) until
    # the local cluster gives its connections up as dead, then resumes it (SIGCONT).
    fault: str | None = None
    verdict: DoctorVerdict | None = None  # None: healthy, the doctor reports green


_LOCAL, _REMOTE = ("local-node",), ("remote-node",)
_L = EvidenceLevel
_PORT = DoctorVerdict.of("transport_port_with_credentials", nodes=_LOCAL)
# A trust failure on the local side says which CA it lacks, not whether the address is the
# right port (whose certificate would come from another CA): the remote's _nodes or its log
# (the profile that refused) decide.
_PORT_OR_CA_UNDECIDED = DoctorVerdict.undecided(
    "tls_untrusted_ca",
    ("tls_untrusted_ca", "transport_port_with_credentials"),
    stage=Stage.PROTOCOL,
    side=Side.LOCAL,
    nodes=_LOCAL,
)
_NO_KEY = DoctorVerdict.of("remote_cluster_port_without_credentials", nodes=_LOCAL)
# Without a key in use, the local transport TLS fails against the remote cluster server; from
# its REST APIs alone the local cluster cannot tell a missing key (or one added to the keystore
# and not reloaded) from a CA its transport TLS lacks.
_NO_KEY_OR_CA = DoctorVerdict.undecided(
    "remote_cluster_port_without_credentials",
    ("credentials_not_reloaded", "remote_cluster_port_without_credentials", "tls_untrusted_ca"),
    stage=Stage.PROTOCOL,
    side=Side.LOCAL,
    nodes=_LOCAL,
)
_NO_KEY_OR_CA_FILES = replace(
    _NO_KEY_OR_CA, candidates=("remote_cluster_port_without_credentials", "tls_untrusted_ca")
)
_NO_REMOTE_INDICES = DoctorVerdict.of("user_lacks_remote_indices", nodes=_LOCAL)
# Connections cut now and then: at the moment of the check the alias works, so with the local
# REST APIs alone (the node's live health) it is a yellow warning; the logs make it a finding.
_UNRELIABLE = DoctorVerdict.of("connection_unreliable", nodes=_LOCAL).until(
    _L.LOCAL_FILES, DoctorVerdict.of("connection_unreliable", nodes=_LOCAL).as_warning()
)
# The guide's scenarios' verdicts. The five transport-port symptoms and the two without a key
# share their root cause, found at the protocol stage before the errors they lead to.
_GUIDE_VERDICTS: dict[str, DoctorVerdict] = {
    "server-disabled": DoctorVerdict.of("remote_cluster_server_disabled", nodes=_REMOTE).until(
        _L.REMOTE, DoctorVerdict.of("tcp_refused", nodes=(ADDRESS,))
    ),
    # Refused at an address the remote does not publish: the alias's address is wrong (only the
    # remote's _nodes shows it; before, a refused address is the remote's, not listening).
    "wrong-port": DoctorVerdict.of("tcp_refused", side=Side.LOCAL, nodes=_LOCAL).until(
        _L.REMOTE, DoctorVerdict.of("tcp_refused", nodes=(ADDRESS,))
    ),
    "untrusted-ca": DoctorVerdict.of("tls_untrusted_ca", nodes=_LOCAL).until(
        _L.REMOTE, _PORT_OR_CA_UNDECIDED
    ),
    "transport-port-different-ca": _PORT.until(_L.REMOTE, _PORT_OR_CA_UNDECIDED),
    # A server that wants a client certificate is a transport port, or a remote cluster server
    # configured so: the remote's _nodes or its log (the profile) tell.
    "transport-port-shared-ca": _PORT.until(
        _L.REMOTE,
        DoctorVerdict.undecided(
            "transport_port_with_credentials",
            ("tls_client_certificate_required", "transport_port_with_credentials"),
            side=Side.LOCAL,
            nodes=_LOCAL,
        ),
    ),
    "transport-port-client-cert": _PORT,
    "transport-port-anonymous": _PORT,
    "transport-port-anonymous-superuser": _PORT,
    # The keystore without the key rules out the forgotten reload; the probe sees the remote
    # cluster server where the transport TLS expected a transport port.
    "no-credentials": _NO_KEY.until(_L.PROBE, _NO_KEY_OR_CA_FILES).until(
        _L.LOCAL_FILES, _NO_KEY_OR_CA
    ),
    "no-credentials-trusted": _NO_KEY,
    "rest-key": DoctorVerdict.of("api_key_wrong_type", nodes=_LOCAL),
    "invalid-key": DoctorVerdict.of("api_key_invalid", nodes=_LOCAL),
    "invalidated-key": DoctorVerdict.of("api_key_invalidated", nodes=_REMOTE).addressed(),
    "expired-key": DoctorVerdict.of("api_key_expired", nodes=_REMOTE).addressed(),
    "insufficient-privileges": DoctorVerdict.of("key_access_excludes", nodes=_REMOTE).addressed(),
    "insufficient-user-privileges": _NO_REMOTE_INDICES,
    "no-remote-indices": _NO_REMOTE_INDICES,
    # A user without any role may not read GET / or _nodes: with the local REST APIs alone the
    # doctor cannot name the node (its config directory gives node.name).
    "no-remote-indices-role-missing": _NO_REMOTE_INDICES.until(
        _L.LOCAL_FILES, DoctorVerdict.of("user_lacks_remote_indices")
    ),
    "unreliable-connection": _UNRELIABLE,
    # The connect error names the remote node at an address that is no seed: every level sees it.
    "sniff-unreachable-publish-address": DoctorVerdict.of(
        "advertised_address_unreachable", nodes=_REMOTE
    ),
}


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


def scenarios(mode: str = "proxy") -> dict[str, Scenario]:
    """Every scenario, for remote ``mode`` ("proxy" or "sniff"): the guide's, then
    :mod:`isthmus.lab.fault_scenarios`' (some of which exist in proxy mode only)."""
    from isthmus.lab.fault_scenarios import fault_scenarios

    guide = [replace(s, verdict=_GUIDE_VERDICTS.get(s.name)) for s in _guide_scenarios(mode)]
    return {s.name: s for s in guide + fault_scenarios(mode)}


def lab_scenarios(mode: str = "proxy") -> dict[str, Scenario]:
    """What ``isthmus lab`` offers: :func:`scenarios` (the remote connection's faults, which the
    doctor diagnoses) and the replication failures of :mod:`isthmus.lab.ccr_scenarios`."""
    from isthmus.lab.ccr_scenarios import ccr_scenarios

    return {**scenarios(mode), **{s.name: s for s in ccr_scenarios(mode)}}


def _guide_scenarios(mode: str) -> list[Scenario]:
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


__all__ = [
    "ADDRESS",
    "KEY_ID",
    "LEVELS",
    "DoctorVerdict",
    "EvidenceLevel",
    "Expected",
    "Scenario",
    "lab_scenarios",
    "scenarios",
]
