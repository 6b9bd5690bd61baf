"""Nodes' leased keys and the live view of them on real etcd: joins, updates, a node that
leaves (revoked lease: at once) and a node that stops renewing (gone after its TTL)."""

from __future__ import annotations

import asyncio
import time

from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.membership import (
    MembershipEvent,
    MembershipView,
    NodeDescription,
    NodeRegistration,
)
from isthmus.testing.etcd import EtcdTestCluster

TTL = 2


def _node(node_id: str, **extra: object) -> NodeDescription:
    values: dict[str, object] = {
        "node_id": node_id,
        "name": f"name-{node_id}",
        "ephemeral_id": f"eph-{node_id}",
        "roles": ("master", "data", "remote_cluster_client"),
        "transport_address": f"127.0.0.1:93{len(node_id)}0",
        "version": "8.15.0",
        "attributes": {"zone": "a"},
        "remote_cluster_address": "127.0.0.1:9443",
        "http_address": "127.0.0.1:9200",
    }
    values.update(extra)
    return NodeDescription(**values)  # type: ignore[arg-type]


async def test_join_update_leave_and_a_node_that_stops_renewing(
    etcd: EtcdTestCluster, unique_prefix: bytes
) -> None:
    keys = ClusterKeys(unique_prefix.decode().strip("/"))
    events: list[MembershipEvent] = []
    async with etcd.client() as client:
        a = NodeRegistration(client, keys, _node("a"), ttl=TTL)
        await a.register()  # before the view starts: seen by its first read
        view = MembershipView(client, keys, on_event=events.append)
        await view.start()
        b = NodeRegistration(client, keys, _node("b", roles=("data",)), ttl=TTL)
        c = NodeRegistration(client, keys, _node("c"), ttl=TTL)
        try:
            assert set(view.nodes) == {"a"}
            assert view.nodes["a"] == _node("a")  # every field round-trips
            await b.register()
            await c.register()
            await view.wait_for(lambda nodes: set(nodes) == {"a", "b", "c"}, timeout=5)
            assert view.nodes["b"].roles == ("data",)

            await b.update(_node("b", roles=("data",), attributes={"zone": "b"}))
            await view.wait_for(lambda n: n["b"].attributes == {"zone": "b"}, timeout=5)

            await b.deregister()  # a graceful stop: gone at once
            await view.wait_for(lambda nodes: "b" not in nodes, timeout=5)

            await c.close()  # stops renewing (as a killed node): gone after its TTL
            stopped = time.monotonic()
            await view.wait_for(lambda nodes: "c" not in nodes, timeout=TTL + 2)
            assert TTL * 0.5 < time.monotonic() - stopped < TTL + 1.0
        finally:
            await view.close()
            await a.deregister()
            await asyncio.gather(b.close(), c.close())
    assert [(e.kind, e.node.node_id) for e in events] == [
        ("join", "a"),
        ("join", "b"),
        ("join", "c"),
        ("update", "b"),
        ("leave", "b"),
        ("leave", "c"),
    ]
    assert [e.revision for e in events] == sorted(e.revision for e in events)
