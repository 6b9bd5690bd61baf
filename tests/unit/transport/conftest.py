"""Shared pieces for transport tests: identities, a registry, a server on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from isthmus.errors import IndexNotFoundError
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.transport.local import LocalNode
from isthmus.transport.server import TransportServer
from isthmus.wire import NodeIdentity

# Any free port the OS picks: a fixed range collides with other test runs on the same machine.
PORTS = (0, 0)


def local_node(name: str, cluster: str = "alpha", address: str = "127.0.0.1:0") -> LocalNode:
    node = NodeIdentity(
        id=f"{name}-id", name=name, publish_address=address, version="9.0.0", roles=("data",)
    )
    return LocalNode(cluster_name=cluster, cluster_uuid=f"{cluster}-uuid", node=node)


async def echo(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    return {"payload": payload, "headers": dict(ctx.headers)}


async def sleepy(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    await asyncio.sleep(payload)
    return payload


async def whoami(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    assert ctx.channel.remote_node is not None
    return {
        "node": ctx.channel.remote_node.name,
        "cluster": ctx.channel.remote_cluster_name,
        "peer_certificate": ctx.channel.peer_certificate,
    }


async def missing_index(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    raise IndexNotFoundError(payload)


async def buggy(payload: Any, ctx: TransportRequestContext[Any]) -> Any:
    raise KeyError("oops")


@pytest.fixture
def registry() -> ActionRegistry:
    reg = ActionRegistry()
    reg.register("test:echo", echo)
    reg.register("test:sleep", sleepy)
    reg.register("test:whoami", whoami)
    reg.register("indices:data/read/get", missing_index)
    reg.register("test:buggy", buggy)
    return reg


@contextlib.asynccontextmanager
async def serving(registry: ActionRegistry, **kw: Any) -> AsyncIterator[TransportServer]:
    async with TransportServer(
        "127.0.0.1", PORTS, registry, identity=local_node("server"), **kw
    ) as server:
        yield server


async def eventually(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (result := check()):
            await asyncio.sleep(0.01)
    return result
