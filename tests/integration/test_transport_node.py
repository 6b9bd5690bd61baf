"""The node's transport server: bound, published in ``_nodes``, answering the handshake."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess
from isthmus.transport.client import connect
from isthmus.transport.local import LocalNode
from isthmus.wire.handshake import NodeIdentity


def test_transport_handshake_against_a_running_node(tmp_path: Path) -> None:
    with NodeProcess(tmp_path / "n", {"cluster.name": "transport-test"}) as node:
        info = Elasticsearch(node.url).nodes.info()
        (node_id, only) = next(iter(info["nodes"].items()))
        host, port = only["transport_address"].rsplit(":", 1)
        assert only["transport"] == {
            "bound_address": [only["transport_address"]],
            "publish_address": only["transport_address"],
            "profiles": {},
        }
        assert "publish_address {" in node.log_text()

        async def handshake() -> tuple[str, str]:
            me = LocalNode("client", "uuid", NodeIdentity("cid", "client", "127.0.0.1:0", "9.1.0"))
            channel = await connect(
                host, int(port), identity=me, timeout=5, expected_cluster_name="transport-test"
            )
            try:
                assert channel.remote_node is not None
                return channel.remote_node.id, channel.remote_cluster_name or ""
            finally:
                channel.close()

        remote_id, cluster_name = asyncio.run(handshake())
        assert (remote_id, cluster_name) == (node_id, "transport-test")
        # Garbage on the transport port closes that connection; the node keeps serving.
        with socket.create_connection((host, int(port)), timeout=5) as garbage:
            garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # ES's answer to HTTP on a transport port, then the connection closes
            assert garbage.recv(100) == b"This is not an HTTP port"
            assert garbage.recv(100) == b""
        assert Elasticsearch(node.url).info()["cluster_name"] == "transport-test"
