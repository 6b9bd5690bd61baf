"""Finding the other nodes' etcd members through ``discovery.seed_hosts``.

A node that is about to start its member (or, without the master role, to use the others') asks
each seed host over the transport, as the system identity, how its member is reached:
``internal:isthmus/coordination/peer_info`` answers the node's name, id, whether it is
master-eligible and its member's client and peer URLs. Seeds that do not answer yet are asked
again every second (nodes of a new cluster start in any order), and ES's discovery warning is
logged every 10 s while some are missing.

When the members listen on unix sockets in a shared folder (one machine) nothing is asked: the
URLs follow from the node names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.errors import IllegalArgumentError, IsthmusError
from isthmus.transport.channel import TransportChannel
from isthmus.wire.names import PEER_INFO_ACTION

log = logging.getLogger("org.elasticsearch.discovery.PeerFinder")

RETRY_S = 1.0
WARN_EVERY_S = 10.0


@dataclass(frozen=True)
class PeerInfo:
    node_name: str
    node_id: str
    master_eligible: bool
    client_urls: tuple[str, ...]
    peer_urls: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "node_name": self.node_name,
            "node_id": self.node_id,
            "master_eligible": self.master_eligible,
            "client_urls": list(self.client_urls),
            "peer_urls": list(self.peer_urls),
        }

    @classmethod
    def from_json(cls, body: Any) -> PeerInfo:
        if not isinstance(body, Mapping):
            raise ValueError("peer info is not an object")

        def urls(key: str) -> tuple[str, ...]:
            value = body.get(key, [])
            if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
                raise ValueError(f"peer info [{key}] is not a list of strings")
            return tuple(value)

        return cls(
            node_name=str(body["node_name"]),
            node_id=str(body["node_id"]),
            master_eligible=bool(body["master_eligible"]),
            client_urls=urls("client_urls"),
            peer_urls=urls("peer_urls"),
        )


Connect = Callable[[str, int], Awaitable[TransportChannel]]


def split_host(seed: str, default_port: int = 9300) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) as ES reads a seed host; no port means 9300."""
    if seed.startswith("["):
        host, _, rest = seed[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = seed.rpartition(":")
    if not sep or not port.isdigit():
        return seed, default_port
    return host, int(port)


class PeerLocator:
    """Asks the seed hosts who they are until what is wanted is known."""

    def __init__(
        self,
        cluster_name: str,
        seed_hosts: tuple[str, ...],
        connect: Connect,
        headers: Mapping[str, str],
    ) -> None:
        self.cluster_name = cluster_name
        self.seed_hosts = seed_hosts
        self._connect = connect
        self._headers = dict(headers)

    async def ask(self, seed: str) -> PeerInfo | None:
        host, port = split_host(seed)
        try:
            channel = await self._connect(host, port)
        except (IsthmusError, OSError) as exc:
            log.debug("seed [%s] did not answer: %s", seed, exc)
            return None
        try:
            answer = await channel.request(
                PEER_INFO_ACTION, {"cluster_name": self.cluster_name}, self._headers, timeout=5.0
            )
            return PeerInfo.from_json(answer)
        except (IsthmusError, OSError, ValueError, KeyError) as exc:
            log.debug("seed [%s] gave no peer info: %s", seed, exc)
            return None
        finally:
            channel.close()

    async def ask_all(self) -> list[PeerInfo]:
        found = await asyncio.gather(*(self.ask(seed) for seed in self.seed_hosts))
        return [info for info in found if info is not None]

    async def wait_for_masters(self, names: set[str]) -> dict[str, PeerInfo]:
        """Each named master-eligible node's info (with its member's peer URL)."""
        known: dict[str, PeerInfo] = {}
        waited = 0.0
        while not names <= known.keys():
            for info in await self.ask_all():
                if info.master_eligible and info.peer_urls:
                    known[info.node_name] = info
            if names <= known.keys():
                break
            waited += RETRY_S
            if waited % WARN_EVERY_S < RETRY_S:
                log.warning(
                    "master not discovered yet, this node has not previously joined a "
                    "bootstrapped cluster, and this node must discover master-eligible nodes "
                    "%s to bootstrap a cluster: have discovered %s; discovery will continue "
                    "using %s from hosts providers",
                    sorted(names),
                    sorted(known),
                    list(self.seed_hosts),
                )
            await asyncio.sleep(RETRY_S)
        return {name: known[name] for name in names}

    async def wait_for_any_member(self) -> list[PeerInfo]:
        """The nodes whose answers name etcd client URLs (a node without the master role)."""
        while True:
            found = [i for i in await self.ask_all() if i.client_urls]
            if found:
                return found
            await asyncio.sleep(RETRY_S)


def peer_info_handler(
    cluster_name: str, info: Callable[[], PeerInfo]
) -> Callable[..., Awaitable[Any]]:
    """The transport handler of ``PEER_INFO_ACTION``: answered only to a node of this cluster
    (a remote cluster trusted on the same port learns nothing of the members)."""

    async def handle(payload: Any, ctx: Any) -> Any:
        asked = payload.get("cluster_name") if isinstance(payload, Mapping) else None
        if asked != cluster_name:
            raise IllegalArgumentError(
                f"peer info is only given to nodes of cluster [{cluster_name}]"
            )
        return info().to_json()

    return handle
