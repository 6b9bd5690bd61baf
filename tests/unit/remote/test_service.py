"""RemoteClusterService: applying settings the way ES's updateRemoteCluster does.

The remotes are in-memory nodes (see conftest.py); connect deadlines and the service's own
waits run on the fake clock.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from isthmus.errors import NoSuchRemoteClusterError, RemoteClusterClientRoleError
from isthmus.remote.security_model import SingleModel
from isthmus.remote.service import RemoteClusterService, UpdateStatus
from isthmus.settings.remote import remote_globals
from isthmus.testing.fake_clock import FakeClock
from isthmus.testing.memory_network import MemoryNetwork
from tests.unit.remote.conftest import cluster, configs, connector


def service(network: MemoryNetwork, clock: FakeClock, **kw: object) -> RemoteClusterService:
    return RemoteClusterService(
        SingleModel(lambda config: connector(network, clock)),
        remote_globals({}),
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


async def test_add_update_rebuild_remove(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with cluster("remote", network, clock) as fc:
        svc = service(network, clock)
        try:
            flat: dict[str, object] = {"cluster.remote.my.seeds": [fc.address()]}
            assert await svc.apply(configs(flat)) == {"my": UpdateStatus.CONNECTED}
            assert svc.info()["my"]["connected"] is True
            assert (
                "project [default] remote cluster connection [my] updated: CONNECTED" in caplog.text
            )
            first = svc.get("my")

            flat["cluster.remote.my.skip_unavailable"] = "false"
            assert await svc.apply(configs(flat)) == {"my": UpdateStatus.UNCHANGED}
            assert svc.get("my") is first  # in place: no reconnect
            assert svc.info()["my"]["skip_unavailable"] is False
            assert fc.servers[0].accepted == 2  # the seed's transient one and the managed one

            flat["cluster.remote.my.node_connections"] = "5"
            assert await svc.apply(configs(flat)) == {"my": UpdateStatus.RECONNECTED}
            assert svc.get("my") is not first
            assert svc.info()["my"]["max_connections_per_cluster"] == 5

            assert await svc.apply({}) == {"my": UpdateStatus.DISCONNECTED}
            assert svc.info() == {}
            with pytest.raises(NoSuchRemoteClusterError, match=r"no such remote cluster: \[my\]"):
                svc.get("my")
        finally:
            await svc.close()


async def test_unreachable_remote_is_accepted_and_logged(
    network: MemoryNetwork, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service(network, clock)
    try:
        status = await svc.apply(configs({"cluster.remote.my.seeds": [network.unused_address()]}))
        assert status == {"my": UpdateStatus.CONNECTED}
        assert svc.info()["my"]["connected"] is False
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            r.getMessage().startswith(
                "project [default] failed to update remote cluster connection [my]"
            )
            for r in warnings
        )
    finally:
        await svc.close()


async def test_update_wait_is_bounded(network: MemoryNetwork, clock: FakeClock) -> None:
    # A listener that never answers the handshake: the attempt outlives the wait.
    silent = network.listen("127.0.0.1", 0, asyncio.Protocol)
    svc = service(network, clock, update_wait=0.2)
    try:
        applying = asyncio.ensure_future(
            svc.apply(configs({"cluster.remote.my.seeds": [silent.address]}))
        )
        await clock.advance(0.199)
        assert not applying.done()
        await clock.advance(0.001)
        assert applying.done()  # at update_wait, long before the 5 s connect timeout
        status = await applying
        assert status == {"my": UpdateStatus.CONNECTED}
        assert svc.info()["my"]["connected"] is False
    finally:
        await svc.close()


async def test_without_the_role(network: MemoryNetwork, clock: FakeClock) -> None:
    svc = service(network, clock, enabled=False, node_name="n1")
    with pytest.raises(RemoteClusterClientRoleError) as err:
        svc.get("my")
    # ES's RemoteClusterService.ensureClientIsEnabled
    assert err.value.reason == "node [n1] does not have the [remote_cluster_client] role"
    assert await svc.apply(configs({"cluster.remote.my.seeds": ["127.0.0.1:1"]})) == {}
