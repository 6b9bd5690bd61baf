"""Faults users meet beyond the guide's configuration mistakes, as lab scenarios: a path that cuts
idle connections, black-holes, resets or never answers; proxies (routing by SNI, HTTP CONNECT); the remote's
certificate (expired, not yet valid, without the dialled address, from a regenerated CA); a
credential added to the keystore without the reload.

They share one base: the working setup with the lab's relay in front of the remote's remote
cluster server (``proxy_address`` points at the relay) and a 2 s ``transport.connect_timeout``
on local, so that a black hole shows within seconds. Each scenario changes the base in fields a
running pair can change (:func:`isthmus.lab.faults.transition`), so the tests run them all on one
pair and heal each fault by going back to the base.

Relay scenarios exist in proxy mode only: in sniff mode the relay would stand in front of the
seed alone, and the connections opened after sniffing bypass it. The multi-node fault
"credential on one node's keystore but not another's" needs clusters of several nodes and is
not here yet.
"""

from __future__ import annotations

from dataclasses import replace

from isthmus.doctor.model import Side, Stage
from isthmus.lab.faults import SNI_NAME
from isthmus.lab.relay_config import RelayMode
from isthmus.lab.scenario_model import DoctorVerdict, EvidenceLevel, Expected, Scenario
from isthmus.lab.topology import ALIAS, LabSpec
from isthmus.wire.names import REMOTE_CLUSTER_PROFILE

LOCAL, REMOTE = ("local-node",), ("remote-node",)
_L = EvidenceLevel
# Connections cut now and then: at the moment of the check the alias works; the node's live
# health (local REST) shows it as a yellow warning, the logs as a finding.
_UNRELIABLE = DoctorVerdict.of("connection_unreliable", nodes=LOCAL).until(
    _L.LOCAL_FILES, DoctorVerdict.of("connection_unreliable", nodes=LOCAL).as_warning()
)
# Until a probe looks, what the local node saw of the connection is all there is: it opened,
# then TLS never finished (silent), was closed while connecting (a proxy, or the remote), or the
# answer was not TLS. The node lists the causes that fit; the probe (what answers, with and
# without SNI) decides.
_SILENT = DoctorVerdict.undecided(
    "no_answer",
    ("no_answer", "not_elasticsearch", "tls_to_plaintext"),
    stage=Stage.TLS,
    nodes=LOCAL,
)
_CLOSED_CONNECTING = DoctorVerdict.undecided(
    "proxy_no_route", ("handshake_closed", "proxy_no_route"), nodes=LOCAL
)
_NOT_TLS = DoctorVerdict.undecided(
    "tls_to_plaintext",
    ("http_port", "http_proxy", "not_elasticsearch", "tls_to_plaintext"),
    stage=Stage.PROTOCOL,
    nodes=LOCAL,
)
# No key in use: from the local REST APIs alone, a key never added, one added and not reloaded,
# or a CA the transport TLS lacks; the keystores decide.
_NOT_IN_USE = DoctorVerdict.undecided(
    "remote_cluster_port_without_credentials",
    ("credentials_not_reloaded", "remote_cluster_port_without_credentials", "tls_untrusted_ca"),
    stage=Stage.PROTOCOL,
    side=Side.LOCAL,
    nodes=LOCAL,
)


def base_spec(mode: str) -> LabSpec:
    """The working pair every scenario here starts from (relay in front in proxy mode)."""
    relay = RelayMode.PASS if mode == "proxy" else None
    return LabSpec(mode=mode, relay=relay, connect_timeout="2s")


def _connect_failed(*detail: str, search: str) -> Expected:
    """The proxy strategy could not open a connection; ``detail`` is what the local log and the
    search error say about why."""
    return Expected(
        connected=False,
        local_log=(
            f"[WARN ][o.e.t.ProxyConnectionStrategy] [local-node] failed to open any proxy "
            f"connections to cluster [{ALIAS}]",
            "org.elasticsearch.transport.ConnectTransportException: [][127.0.0.1:",
            *detail,
        ),
        search_error=(500, "connect_transport_exception", search),
    )


def _untrusted_server(*detail: str, context: str = "remote_cluster_client") -> Expected:
    """Local rejects remote's server certificate (``detail``: the clauses and the Java
    exception that say why); remote says its certificate was not trusted."""
    return Expected(
        connected=False,
        local_log=(
            "[WARN ][o.e.c.s.DiagnosticTrustManager] [local-node] failed to establish trust with "
            "server at [127.0.0.1]; the server provided a certificate with subject name "
            "[CN=remote-server]",
            f"this ssl context ([xpack.security.{context}.ssl (with trust configuration: PEM-trust{{",
            *detail,
        ),
        remote_log=(
            "[WARN ][o.e.x.c.s.t.n.SecurityNetty4Transport] [remote-node] client did not trust "
            "this server's certificate, closing connection Netty4TcpChannel{",
            f"profile={REMOTE_CLUSTER_PROFILE}}}",
        ),
        search_error=(500, "connect_transport_exception", "failed to establish trust with server"),
    )


def _path_scenarios(base: LabSpec) -> list[Scenario]:
    return [
        Scenario(
            "idle-cut",
            "Remote cluster connection is unreliable: a firewall cuts idle connections",
            replace(base, relay_idle_cut=1.0, ping_schedule="-1"),
            Expected(
                connected=True,
                local_log=(
                    "[INFO ][o.e.t.ClusterConnectionManager] [local-node] transport connection "
                    f"to [{{{ALIAS}#127.0.0.1:",
                    "}] closed by remote",
                ),
            ),
            "a relay on the path closes connections that carried nothing for 1 s (a firewall or "
            "NAT that forgets idle flows), and the alias does not ping (ES's default, "
            "transport.ping_schedule -1)",
            "the local log (closed by remote) while searches keep working after reconnecting",
            "permit long-lived idle connections on the network, or keep them busy: set "
            f"cluster.remote.{ALIAS}.transport.ping_schedule (e.g. 30s, shorter than the idle "
            "timeout) and enable TCP keep-alive",
            verdict=_UNRELIABLE,
        ),
        Scenario(
            "blackholed",
            "Remote cluster not reachable: the path black-holes the connection",
            replace(base, relay=RelayMode.BLACKHOLE),
            _connect_failed("] connect_timeout[2s]", search="connect_timeout[2s]"),
            "packets to the remote are dropped on the path (a firewall that drops instead of "
            "rejecting): the TCP handshake never completes",
            "the local log (connect_timeout after transport.connect_timeout)",
            "open the firewall between the clusters for the remote cluster server port",
            verdict=DoctorVerdict.of("tcp_timeout", nodes=LOCAL),
        ),
        Scenario(
            "reset",
            "Remote cluster not reachable: the path resets the connection",
            replace(base, relay=RelayMode.RESET),
            _connect_failed("Connection reset by peer", search="Connection reset by peer"),
            "something on the path accepts the connection and resets it at once (a firewall "
            "rejecting with TCP RST, a proxy without a backend)",
            "the local log (Connection reset by peer)",
            "find what resets connections on the path (firewall rule, load balancer) and let the "
            "remote cluster server port through",
            verdict=DoctorVerdict.of("tcp_reset", nodes=LOCAL),
        ),
        Scenario(
            "silent-path",
            "Remote cluster not reachable: something on the path accepts and never answers",
            replace(base, relay=RelayMode.DROP),
            _connect_failed("] connect_timeout[2s]", search="connect_timeout[2s]"),
            "the TCP connection opens, but what accepted it (a proxy without a working backend, "
            "a hung process) never answers the TLS hello",
            "the local log (connect_timeout, although TCP connected: a probe tells it from a "
            "black hole)",
            "find what holds connections at the proxy_address (a proxy, a load balancer) and "
            "point it at the remote cluster server, or the alias at the server itself",
            verdict=DoctorVerdict.of("no_answer", nodes=LOCAL).until(_L.PROBE, _SILENT),
        ),
        Scenario(
            "sni-proxy",
            "Through an SNI-routing proxy, with server_name set (working)",
            replace(base, relay=RelayMode.SNI, server_name=SNI_NAME),
            Expected(connected=True),
            "nothing: the proxy routes by the TLS server_name the alias sends",
            f"GET /_remote/info shows connected and server_name [{SNI_NAME}]",
            "-",
        ),
        Scenario(
            "sni-proxy-no-server-name",
            "An SNI-routing proxy, and the alias sends no server_name",
            replace(base, relay=RelayMode.SNI),
            _connect_failed("handshake failed: closed by peer", search="closed by peer"),
            "proxy_address points at a proxy that routes by TLS SNI (as in a hosted "
            "deployment), but the alias has no server_name, so the proxy closes the connection",
            "the local log (handshake failed: closed by peer); nothing on the remote",
            f"set cluster.remote.{ALIAS}.server_name to the name the proxy routes to the remote "
            f"([{SNI_NAME}])",
            verdict=DoctorVerdict.of("proxy_no_route", nodes=LOCAL).until(
                _L.PROBE, _CLOSED_CONNECTING
            ),
        ),
        Scenario(
            "http-proxy",
            "The alias points at an HTTP (CONNECT) proxy",
            replace(base, relay=RelayMode.CONNECT),
            _connect_failed(
                "received plaintext traffic on an encrypted channel",
                search="received plaintext traffic on an encrypted channel",
            ),
            "proxy_address points at an HTTP proxy; remote cluster connections are TLS over TCP "
            "and cannot go through HTTP CONNECT, so the proxy answers the TLS hello with an "
            "HTTP error",
            "the local log (received plaintext traffic on an encrypted channel)",
            "point proxy_address at the remote cluster server or at a TCP/SNI proxy in front of it",
            verdict=DoctorVerdict.of("http_proxy", side=Side.LOCAL, nodes=LOCAL).until(
                _L.PROBE, _NOT_TLS
            ),
        ),
    ]


def _certificate_scenarios(base: LabSpec) -> list[Scenario]:
    cert = "remote's remote cluster server presents a certificate "
    return [
        Scenario(
            "ca-regenerated",
            "TLS trust not established: the remote's CA was regenerated with the same name",
            replace(base, remote_certificate="regenerated_ca"),
            _untrusted_server(
                "trusts [1] certificate with subject name [CN=Isthmus Lab remote-server CA] and "
                "fingerprint [",
                "] but the signatures do not match",
                "PKIX path building failed",
            ),
            cert + "issued by a new CA with the same name as the one local trusts (the CA was "
            "regenerated and the new CA file not given to local)",
            "the local log (trusts a certificate with that subject name but the signatures do "
            "not match) and the remote log",
            "put the new CA in xpack.security.remote_cluster_client.ssl.certificate_authorities "
            "on every local node and restart them",
            verdict=DoctorVerdict.of("tls_ca_regenerated", side=Side.LOCAL, nodes=LOCAL),
        ),
        Scenario(
            "expired-certificate",
            "TLS trust not established: the remote's certificate has expired",
            replace(base, remote_certificate="expired"),
            _untrusted_server("certificate has expired)", "validity check failed"),
            cert + "whose validity ended 35 days ago",
            "the local log (certificate has expired) and the remote log",
            "issue a new certificate for the remote cluster server (certutil cert --ca ...) and "
            "restart the remote nodes",
            verdict=DoctorVerdict.of("tls_expired", nodes=REMOTE).addressed(),
        ),
        Scenario(
            "not-yet-valid-certificate",
            "TLS trust not established: the remote's certificate is not valid yet",
            replace(base, remote_certificate="not_yet_valid"),
            _untrusted_server("certificate is not yet valid)", "validity check failed"),
            cert + "valid from 30 days from now (issued with a wrong clock, or the clocks "
            "disagree)",
            "the local log (certificate is not yet valid) and the remote log",
            "fix the clock of the machine that issued it (or local's) and issue a new certificate",
            verdict=DoctorVerdict.of("tls_not_yet_valid", nodes=REMOTE).addressed(),
        ),
        Scenario(
            "certificate-without-address",
            "TLS trust not established: the remote's certificate does not name the dialled address",
            replace(base, remote_certificate="no_dialled_address"),
            _untrusted_server(
                f"the certificate has subject alternative names [DNS:{SNI_NAME}]",
                "No subject alternative names matching IP address 127.0.0.1 found",
            ),
            cert + f"for [{SNI_NAME}] only, while local dials 127.0.0.1 with verification_mode "
            "full",
            "the local log (No subject alternative names matching IP address) and the remote log",
            "issue the remote's certificate with the address local dials (or dial a name it "
            f"carries: server_name [{SNI_NAME}])",
            verdict=DoctorVerdict.of("tls_hostname_mismatch", nodes=REMOTE).addressed(),
        ),
        Scenario(
            "credential-not-reloaded",
            "The cross-cluster API key was added to the keystore, but secure settings were never "
            "reloaded",
            replace(base, reload_credential=False),
            _untrusted_server("is not configured to trust that issuer", context="transport"),
            f"cluster.remote.{ALIAS}.credentials is in local's keystore, but POST "
            "_nodes/reload_secure_settings was not called: the node still runs without it and "
            "uses the certificate model",
            "_remote/info (no cluster_credentials) while the keystore lists the credential; the "
            "local log (this ssl context ([xpack.security.transport.ssl ...]))",
            "POST _nodes/reload_secure_settings on the local cluster",
            verdict=DoctorVerdict.of("credentials_not_reloaded", nodes=LOCAL).until(
                _L.LOCAL_FILES, _NOT_IN_USE
            ),
        ),
    ]


def fault_scenarios(mode: str = "proxy") -> list[Scenario]:
    """The scenarios of this module for remote ``mode`` (the relay ones in proxy mode only)."""
    base = base_spec(mode)
    path = _path_scenarios(base) if mode == "proxy" else []
    return path + _certificate_scenarios(base)


__all__ = ["base_spec", "fault_scenarios"]
