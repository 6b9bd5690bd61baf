"""The guide's faults that need clusters of several nodes (issue 20), as lab scenarios.

* ``credential-on-one-node``: the cross-cluster API key is in the keystore of ``local-node``
  only ("add the key to the keystore on every node of the local cluster"): ``local-node-2`` has
  no credential for the alias, so it connects with the certificate model and its transport TLS,
  which does not trust the remote cluster server (the guide's Symptom 1, on that node only).
* ``no-remote-cluster-client-role``: no local node has ``remote_cluster_client``: every search
  naming the alias is refused with ES's message and no node connects.
* ``sniff-gateway-down`` (sniff mode): the remote has three nodes; one is killed after the
  alias connected: ``_remote/info`` counts two nodes and the alias stays connected.
* ``sniff-gateway-unreachable-publish-address`` (sniff mode): one of three remote nodes
  publishes a transport address the local cluster cannot reach: sniff connects to the two
  others and logs ES's connect failure for that one.

All four use the API-key model (API keys are cluster-wide: the key created on ``remote-node`` is
known to the other remote nodes).

Each is a :class:`MultiNodeScenario`: a :class:`~isthmus.lab.scenario_model.Scenario` (the same
expectations and verdicts as the one-node scenarios) with its :class:`NodesLayout`, the local
node whose view shows the symptom, and the multi-node facts to check (``num_nodes_connected``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from isthmus.lab.multinode import NodesLayout
from isthmus.lab.scenario_model import DoctorVerdict, Expected, Scenario
from isthmus.lab.topology import ALIAS, LabSpec
from isthmus.wire.names import REMOTE_CLUSTER_PROFILE

ROLE = "remote_cluster_client"
# The local nodes' roles without remote_cluster_client (ES's defaults otherwise).
ROLES_WITHOUT_CLIENT = ("data", "ingest", "master")


@dataclass(frozen=True)
class MultiNodeScenario(Scenario):
    layout: NodesLayout = field(default_factory=NodesLayout)
    # The local node (1-based) whose _remote/info, search and log show the symptom.
    observed_on: int = 1
    # The remote node (1-based) killed (SIGKILL) once every gateway is connected.
    kill_remote: int | None = None
    # ``_remote/info``'s num_nodes_connected on the observed node once the symptom shows.
    nodes_connected: int | None = None

    def check_spec(self) -> LabSpec:
        """The spec the one-node checks (``verify.mismatches``) read for the observed node: no
        credential in use (``_remote/info``'s cluster_credentials) when its keystore lacks it
        or it cannot connect to remote clusters at all."""
        lay = self.layout
        holds = lay.credential_on is None or self.observed_on in lay.credential_on
        client = lay.local_roles is None or ROLE in lay.local_roles
        return self.spec if holds and client else replace(self.spec, credential=None)


def multinode_scenarios(mode: str = "proxy") -> list[MultiNodeScenario]:
    out = [
        MultiNodeScenario(
            "credential-on-one-node",
            "The cross-cluster API key in the keystore of one local node only",
            LabSpec(mode=mode),
            Expected(
                connected=False,
                search_error=(
                    500,
                    "connect_transport_exception",
                    "failed to establish trust with server",
                ),
                local_log=(
                    "[WARN ][o.e.c.s.DiagnosticTrustManager] [local-node-2] failed to establish "
                    "trust with server at",
                    "the server provided a certificate with subject name [CN=remote-server]",
                    "this ssl context ([xpack.security.transport.ssl (with trust configuration: "
                    "PEM-trust{",
                ),
                remote_log=(
                    "client did not trust this server's certificate, closing connection "
                    "Netty4TcpChannel{",
                    f"profile={REMOTE_CLUSTER_PROFILE}}}",
                ),
            ),
            f"cluster.remote.{ALIAS}.credentials was added to the keystore of local-node only; "
            "local-node-2 has none, so it uses the certificate model and its transport TLS "
            "against the remote cluster server",
            "on local-node-2: _remote/info (no cluster_credentials), a search as the user "
            "(failed to establish trust with server) and its log; local-node searches fine",
            "add the cross-cluster API key to the keystore on every node of the local cluster, "
            "then POST _nodes/reload_secure_settings (it reaches every node)",
            verdict=DoctorVerdict.of("credentials_missing_on_nodes", nodes=("local-node-2",)),
            layout=NodesLayout(local_nodes=2, credential_on=(1,)),
            observed_on=2,
        ),
        MultiNodeScenario(
            "no-remote-cluster-client-role",
            f"No local node has the [{ROLE}] role",
            LabSpec(mode=mode),
            Expected(
                connected=False,
                search_error=(
                    400,
                    "illegal_argument_exception",
                    "does not have the remote cluster client role enabled",
                ),
            ),
            f"node.roles of every local node is {list(ROLES_WITHOUT_CLIENT)}: no node may "
            "connect to a remote cluster",
            "_nodes (no node has the role), _remote/info (no alias) and the search's error",
            f"add [{ROLE}] to node.roles of the nodes that coordinate cross-cluster searches "
            "and restart them",
            verdict=DoctorVerdict.of(
                "no_remote_cluster_client_role", nodes=("local-node", "local-node-2")
            ),
            layout=NodesLayout(local_nodes=2, local_roles=ROLES_WITHOUT_CLIENT),
        ),
    ]
    if mode == "sniff":
        out += [
            MultiNodeScenario(
                "sniff-gateway-down",
                "Sniff mode: one of three remote gateways goes down",
                LabSpec(mode=mode),
                Expected(
                    connected=True,
                    local_log=("transport connection to [{remote-node-3}",),
                ),
                "remote-node-3 was killed (SIGKILL) while the alias was connected to all three",
                "_remote/info: num_nodes_connected 2, connected true; the local log (the "
                "connection to remote-node-3 closed); searches still work",
                "nothing to do on the local side: sniff mode keeps the alias on the other "
                "gateways; bring the remote node back",
                layout=NodesLayout(remote_nodes=3),
                kill_remote=3,
                nodes_connected=2,
            ),
            MultiNodeScenario(
                "sniff-gateway-unreachable-publish-address",
                "Sniff mode: one remote gateway publishes an address the local cluster cannot "
                "reach",
                LabSpec(mode=mode),
                Expected(
                    connected=True,
                    local_log=(
                        "[DEBUG][o.e.t.SniffConnectionStrategy] [local-node] [my] failed to open "
                        "managed connection to node [{remote-node-3}",
                        "ConnectTransportException: [remote-node-3][127.0.0.2:",
                        "] connect_exception",
                    ),
                ),
                "remote-node-3 sets remote_cluster.publish_host to 127.0.0.2, an address nothing "
                "listens on (as a node behind NAT or in a container advertises one only its "
                "own network reaches)",
                "_remote/info: num_nodes_connected 2 of 3, connected true; the local log with "
                "logger.org.elasticsearch.transport.SniffConnectionStrategy at debug: "
                "connect_exception at [remote-node-3] on the address it publishes",
                "on the remote, set remote_cluster.publish_host (transport.publish_host in the "
                "certificate model) of remote-node-3 to an address the local nodes reach",
                layout=NodesLayout(remote_nodes=3, unreachable_publish_on=3, sniff_debug=True),
                nodes_connected=2,
            ),
        ]
    return out


__all__ = ["ROLES_WITHOUT_CLIENT", "MultiNodeScenario", "multinode_scenarios"]
