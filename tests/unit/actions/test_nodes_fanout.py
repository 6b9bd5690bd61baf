"""The fan-out's rules without sockets: which nodes are asked, ES's refusal of a password in
clear text, how answers and failures merge, and a node request from another cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from isthmus.actions.nodes_fanout import (
    CLEAR_TEXT_PASSWORD,
    NodesFanout,
    SecureSettingsReload,
    merged,
)
from isthmus.cluster.nodes import DiscoveryNodes, NodesView, local_discovery_node
from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.security.secure_settings import SecureSettingsHolder
from isthmus.settings.secret import Secret
from isthmus.transport.actions import ActionRegistry
from isthmus.transport.channel import TransportChannel
from isthmus.wire.names import NODES_STATS_NODE_ACTION, RELOAD_SECURE_SETTINGS_NODE_ACTION


def _view() -> NodesView:
    a = local_discovery_node("id-a", "a", ["master"], {}, transport_address="127.0.0.1:1")
    b = local_discovery_node("id-b", "b", ["data"], {}, transport_address="127.0.0.1:2")
    return NodesView(DiscoveryNodes((a, b), "id-a", "id-a"))


class _Unreachable:
    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def __call__(self, node: Any) -> TransportChannel:
        self.dialled.append(node.name)
        raise OSError("connection refused")


def _reload(tls: bool, dial: _Unreachable) -> tuple[SecureSettingsReload, list[Secret | None]]:
    seen: list[Secret | None] = []

    def loader(password: Secret | None) -> None:
        seen.append(password)
        return None

    fanout = NodesFanout("c", _view(), dial, transport_tls=tls)
    reload = SecureSettingsReload(fanout, SecureSettingsHolder(loader, None), "a")  # type: ignore[arg-type]
    fanout.register(ActionRegistry(), RELOAD_SECURE_SETTINGS_NODE_ACTION, reload.reload_here)
    return reload, seen


def test_a_password_for_several_nodes_needs_transport_tls() -> None:
    dial = _Unreachable()
    reload, seen = _reload(False, dial)
    with pytest.raises(IsthmusError) as caught:
        asyncio.run(reload.reload(None, "pw"))
    assert caught.value.reason == CLEAR_TEXT_PASSWORD
    assert caught.value.http_status == 500 and caught.value.es_type == "exception"
    assert seen == [] and dial.dialled == []  # refused before anything was read or sent
    # This node alone: the password never leaves it.
    body = asyncio.run(reload.reload("_local", "pw"))
    assert body["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    assert [s.reveal() if s else None for s in seen] == ["pw"]
    # No password: every node is asked, TLS or not; the unreachable one is a failure.
    body = asyncio.run(reload.reload(None, None))
    assert dial.dialled == ["b"]
    assert body["_nodes"]["failed"] == 1
    (failure,) = body["_nodes"]["failures"]
    assert failure["type"] == "failed_node_exception"
    assert failure["reason"] == "Failed node [id-b]"
    assert failure["node_id"] == "id-b"
    assert failure["caused_by"]["type"] == "exception"
    assert body["nodes"] == {"id-a": {"name": "a"}}


def test_merge_without_failures_has_no_failures_key() -> None:
    assert merged("c", []) == {
        "_nodes": {"total": 0, "successful": 0, "failed": 0},
        "cluster_name": "c",
        "nodes": {},
    }


def test_a_node_request_naming_another_cluster_is_refused() -> None:
    registry: ActionRegistry[Any] = ActionRegistry()
    fanout = NodesFanout("mine", _view(), _Unreachable(), transport_tls=True)

    async def answer(payload: Mapping[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    fanout.register(registry, NODES_STATS_NODE_ACTION, answer)
    handler = registry.handler(NODES_STATS_NODE_ACTION)
    with pytest.raises(IllegalArgumentError):
        asyncio.run(handler({"cluster_name": "other"}, None))
    assert asyncio.run(handler({"cluster_name": "mine"}, None)) == {"ok": True}
