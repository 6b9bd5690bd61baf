"""The remote cluster server (API-key model, fulfilling side): its own listener and profile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.errors import IllegalArgumentError
from isthmus.testing.process import NodeProcess
from isthmus.transport.client import connect
from isthmus.transport.local import LocalNode
from isthmus.wire.handshake import NodeIdentity
from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION

ME = LocalNode("local", "uuid", NodeIdentity("cid", "local-node", "127.0.0.1:0", "9.1.0"))


def test_enabled_server_listens_on_its_own_port_and_profile(tmp_path: Path) -> None:
    settings = {"remote_cluster_server.enabled": True, "remote_cluster.port": 0}
    with NodeProcess(tmp_path / "n", {"cluster.name": "fc", **settings}) as node:
        (info,) = Elasticsearch(node.url).nodes.info()["nodes"].values()
        section = info["remote_cluster_server"]
        address = section["publish_address"]
        assert section["bound_address"] == [address]
        assert address != info["transport_address"]
        assert info["transport"]["profiles"] == {}  # _remote_cluster is not a transport profile
        host, port = address.rsplit(":", 1)
        transport_port = int(info["transport_address"].rsplit(":", 1)[1])

        async def exchange() -> None:
            # The remote cluster port handshakes and names the node at its own address.
            channel = await connect(host, int(port), identity=ME, timeout=5)
            try:
                assert channel.remote_node is not None
                assert channel.remote_node.publish_address == address
                assert channel.remote_cluster_name == "fc"
            finally:
                channel.close()
            # On the transport port the remote cluster handshake says which profile it needs.
            with pytest.raises(IllegalArgumentError) as err:
                await connect(
                    host,
                    transport_port,
                    identity=ME,
                    timeout=5,
                    handshake_action=REMOTE_CLUSTER_HANDSHAKE_ACTION,
                )
            assert err.value.reason == (
                "remote cluster handshake action requires channel profile to be "
                "[_remote_cluster], but got [default]"
            )

        asyncio.run(exchange())


def test_disabled_server_has_no_section_and_no_listener(tmp_path: Path) -> None:
    with NodeProcess(tmp_path / "n", {"cluster.name": "plain"}) as node:
        (info,) = Elasticsearch(node.url).nodes.info()["nodes"].values()
        assert "remote_cluster_server" not in info
        assert "remote cluster server publish_address" not in node.log_text()


def test_remote_cluster_profile_is_refused(tmp_path: Path) -> None:
    node = NodeProcess(
        tmp_path / "n",
        {
            "remote_cluster_server.enabled": True,
            "transport.profiles._remote_cluster.port": "9555",
        },
    )
    with pytest.raises(RuntimeError) as err:
        node.start()
    assert (
        "Remote Access settings should not be configured using the [_remote_cluster] profile. "
        "Use the [remote_cluster.] settings instead." in str(err.value)
    )
