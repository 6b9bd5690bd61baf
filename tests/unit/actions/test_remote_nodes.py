"""What another cluster reads of this one before it searches it: every node of the node's view,
at its transport address (``cluster:monitor/state``, certificate model) or, for the API-key model,
only the nodes running a remote cluster server, at that server's address."""

from __future__ import annotations

from typing import Any

from isthmus.actions.remote_nodes import (
    register_remote_cluster_server,
    register_transport_nodes,
    remote_cluster_identities,
    transport_identities,
)
from isthmus.cluster.nodes import DiscoveryNodes, NodesView, local_discovery_node
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.transport.channel_info import ChannelInfo, ChannelState
from isthmus.wire.names import CLUSTER_STATE_ACTION, REMOTE_CLUSTER_NODES_ACTION

A = local_discovery_node("a", "node-a", ("master",), {}, transport_address="10.0.0.1:9300")
B = local_discovery_node(
    "b",
    "node-b",
    ("data", "remote_cluster_client"),
    {"gateway": "true"},
    transport_address="10.0.0.2:9300",
    remote_cluster_address="10.0.0.2:9443",
)
C = local_discovery_node(
    "c",
    "node-c",
    ("data",),
    {},
    transport_address="10.0.0.3:9300",
    remote_cluster_address="10.0.0.3:9443",
)


def context(action: str) -> TransportRequestContext[object]:
    channel = ChannelInfo(
        ChannelState.OPEN, True, "default", "10.0.0.1:9300", "10.9.9.9:5000", None, None,
        None, None, None, 0, 0, 0, 0, 0, 0, None, None,
    )  # fmt: skip
    return TransportRequestContext(action, {}, channel)


async def test_both_answers_list_every_node_of_the_view() -> None:
    view = NodesView.single(A)
    registry: ActionRegistry[object] = ActionRegistry()
    register_transport_nodes(
        registry,
        cluster_name="fc",
        cluster_uuid=lambda: "fc-uuid",
        nodes=lambda: transport_identities(view.nodes),
    )
    register_remote_cluster_server(
        registry,
        cluster_name="fc",
        cluster_uuid=lambda: "fc-uuid",
        nodes=lambda: remote_cluster_identities(view.nodes),
    )

    async def ask(action: str) -> list[tuple[str, str]]:
        answer: Any = await registry.dispatch({"nodes": True}, context(action))
        assert (answer["cluster_name"], answer["cluster_uuid"]) == ("fc", "fc-uuid")
        return [(n["name"], n["publish_address"]) for n in answer["nodes"]]

    assert await ask(CLUSTER_STATE_ACTION) == [("node-a", "10.0.0.1:9300")]
    assert await ask(REMOTE_CLUSTER_NODES_ACTION) == []  # node-a runs no remote cluster server
    # Nodes join (the coordination store's membership replaces the view): read per request.
    view.update(DiscoveryNodes((A, B, C), "a", "a"))
    assert await ask(CLUSTER_STATE_ACTION) == [
        ("node-a", "10.0.0.1:9300"),
        ("node-b", "10.0.0.2:9300"),
        ("node-c", "10.0.0.3:9300"),
    ]
    assert await ask(REMOTE_CLUSTER_NODES_ACTION) == [
        ("node-b", "10.0.0.2:9443"),
        ("node-c", "10.0.0.3:9443"),
    ]
    answer: Any = await registry.dispatch({}, context(CLUSTER_STATE_ACTION))
    (b,) = [n for n in answer["nodes"] if n["id"] == "b"]
    assert b["roles"] == ["data", "remote_cluster_client"] and b["attributes"] == {
        "gateway": "true"
    }
