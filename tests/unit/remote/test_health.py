"""Live remote health fed by real strategies on in-memory clusters, in virtual time.

Every test runs a real sniff or proxy strategy against :class:`MemoryNode` remotes on a
:class:`MemoryNetwork` with a :class:`FakeClock`: the health it shows comes from the attempts,
connections and rounds those strategies report, not from scripted events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from isthmus.doctor.causes import BY_CODE
from isthmus.errors import ConnectTransportError, IsthmusError, NoSeedNodeLeftError
from isthmus.remote.cluster import RemoteClusterConnection
from isthmus.remote.health import FLAPS_YELLOW, AliasHealth
from isthmus.remote.health_probe import HealthProbes
from isthmus.remote.health_records import LatencyWindow
from isthmus.remote.security_model import SecurityModel, SingleModel
from isthmus.remote.service import RemoteClusterService
from isthmus.settings.remote import remote_globals
from isthmus.settings.remote_health import HealthProbeSettings
from isthmus.testing.fake_clock import FakeClock, until
from isthmus.testing.memory_network import MemoryNetwork
from tests.unit.remote.conftest import cluster, configs, connector

P = TypeVar("P")
WALL = 1_800_000_000.0


def alias(
    network: MemoryNetwork | Any,
    clock: FakeClock,
    flat: dict[str, Any],
    *,
    connect_timeout: float = 5.0,
) -> RemoteClusterConnection:
    config = configs(flat)["my"]
    conn = connector(network, clock, connect_timeout)
    health = AliasHealth(
        "my", SecurityModel.CERTIFICATE, config.mode.value, clock=clock, wall=lambda: WALL
    )
    return RemoteClusterConnection(config, conn, initial_connect_timeout="30s", health=health)


def sniff(network: Any, clock: FakeClock, seeds: list[str], **kw: Any) -> RemoteClusterConnection:
    return alias(network, clock, {"cluster.remote.my.seeds": seeds}, **kw)


def report(remote: RemoteClusterConnection) -> dict[str, Any]:
    return remote.strategy.health.report(remote.strategy)


class BlackHole:
    """A network where connecting to one address never completes (SYNs dropped)."""

    def __init__(self, inner: MemoryNetwork, dark: str, clock: FakeClock) -> None:
        self.inner, self.dark, self.clock = inner, dark, clock

    async def create_connection(
        self, protocol_factory: Callable[[], P], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, P]:
        if f"{host}:{port}" == self.dark:
            await self.clock.sleep(10_000)
        return await self.inner.create_connection(protocol_factory, host, port)


async def test_a_healthy_alias_is_green_with_the_remote_it_reached(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()])
        try:
            await remote.ensure_connected()
            body = report(remote)
            assert body["status"] == "green"
            assert body["connected"] is True
            assert body["mode"] == "sniff"
            assert body["security_model"] == "certificate"
            assert body["remote"] == {
                "cluster_name": "remote",
                "cluster_uuid": "remote-uuid",
                "version": "9.0.0",
            }
            assert body["last_error"] is None
            assert body["consecutive_failures"] == 0
            assert body["flaps"]["count"] == 0  # the first connect is not a flap
            # two connections: the seed's transient one and the managed one it advertised
            assert body["latency"]["connect"]["samples"] == 2
            assert body["latency"]["handshake"]["samples"] == 2
            assert body["latency"]["tls"]["samples"] == 0  # plaintext
            assert body["credentials"] == {
                "present": False,
                "expiry": None,
                "expiry_known": False,
                "reloaded_at": None,  # no keystore reload since the alias was built
            }
            node = body["nodes"][fc.address()]
            assert node["status"] == "green"
            assert node["node_name"] == "remote-node-0"
            assert node["connections"] == 1
        finally:
            await remote.close()


async def test_a_refused_address_is_red_at_the_tcp_stage(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    dead = network.unused_address()
    remote = sniff(network, clock, [dead])
    try:
        with pytest.raises(ConnectTransportError):
            await remote.ensure_connected()
        body = report(remote)
        assert body["status"] == "red"
        error = body["last_error"]
        assert (error["stage"], error["cause"], error["address"]) == ("tcp", "tcp_refused", dead)
        assert error["message"].endswith("connect_exception: " + error["message"].split(": ")[-1])
        assert body["consecutive_failures"] == 1
        assert body["nodes"][dead]["status"] == "red"
        with pytest.raises(ConnectTransportError):
            await remote.strategy.connect()
        assert report(remote)["consecutive_failures"] == 2
    finally:
        await remote.close()


async def test_an_unknown_host_fails_at_the_dns_stage(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    remote = sniff(network, clock, ["no-such-host.invalid:9300"])
    try:
        with pytest.raises(IsthmusError):
            await remote.ensure_connected()
        error = report(remote)["last_error"]
        assert (error["stage"], error["cause"]) == ("dns", "dns_unresolvable")
    finally:
        await remote.close()


async def test_a_black_holed_address_is_reported_at_tcp_before_the_connect_timeout(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    dark = network.unused_address()
    remote = sniff(BlackHole(network, dark, clock), clock, [dark], connect_timeout=30.0)
    try:
        remote.strategy.connect_in_background("test")
        await clock.advance(2.9)
        assert report(remote)["status"] == "unknown"  # still within the probe timeout
        await clock.advance(0.2)
        body = report(remote)
        assert body["status"] == "red"
        error = body["last_error"]
        assert (error["stage"], error["cause"]) == ("tcp", "tcp_timeout")
        assert "still connecting" in error["message"]
        assert body["consecutive_failures"] == 1
        # The attempt ends at the connect timeout: the same failure, counted once.
        await clock.advance_until(lambda: remote.strategy.last_error is not None, limit=40)
        body = report(remote)
        assert (body["last_error"]["stage"], body["last_error"]["cause"]) == ("tcp", "tcp_timeout")
        assert body["consecutive_failures"] == 1
    finally:
        await remote.close()


async def test_a_frozen_remote_is_declared_dead_and_counted_as_a_flap(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()], connect_timeout=1.0)
        try:
            await remote.ensure_connected()
            fc.servers[0].freeze()
            stats = remote.strategy.manager.stats
            await clock.advance_until(lambda: stats().declared_dead == 1, limit=10)
            await until(lambda: remote.strategy.health.outcome.last_error is not None)
            body = report(remote)
            error = body["last_error"]
            assert (error["stage"], error["cause"]) == ("tcp", "tcp_timeout")
            assert "liveness" in error["message"]
            assert body["flaps"]["count"] >= 1
            assert body["last_success"] is not None  # before it went silent
        finally:
            await remote.close()


async def test_a_remote_that_closes_connections_shows_them_closed_by_remote(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()])
        try:
            await remote.ensure_connected()
            # The remote resets the connection but keeps listening: the reconnect succeeds.
            next(iter(fc.servers[0].channels)).abort("test: reset by the remote")
            await until(lambda: remote.strategy.health.outcome.last_error is not None)
            error = report(remote)["last_error"]
            assert (error["stage"], error["cause"]) == ("tcp", "connection_unreliable")
            assert "closed by remote" in error["message"]
        finally:
            await remote.close()


async def test_a_seed_of_another_cluster_fails_the_handshake_after_a_name_is_pinned(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc, cluster("other", network, clock) as oc:
        remote = sniff(network, clock, [fc.address()])
        try:
            await remote.ensure_connected()
            await fc.stop()
            await until(lambda: not remote.is_connected())
            # The only seed now answers for another cluster: the pinned name refuses it.
            remote.strategy.config = configs({"cluster.remote.my.seeds": [oc.address()]})["my"]
            with pytest.raises(IsthmusError):
                await remote.strategy.connect()
            error = report(remote)["last_error"]
            assert error["stage"] == "handshake"
            # Name and version mismatches are one class: the facts cannot tell which.
            assert error["cause"] is None
            assert set(error["candidates"]) == {
                "handshake_cluster_name",
                "handshake_incompatible_version",
            }
        finally:
            await remote.close()


async def test_proxy_mode_with_fewer_sockets_than_wanted_is_yellow(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        flat = {
            "cluster.remote.my.mode": "proxy",
            "cluster.remote.my.proxy_address": fc.address(),
            "cluster.remote.my.proxy_socket_connections": "2",
        }
        remote = alias(network, clock, flat)
        try:
            await remote.ensure_connected()
            assert report(remote)["status"] == "green"
            assert report(remote)["connections"] == {"open": 2, "wanted": 2}
            conn = remote.strategy.manager.connections()[0]
            conn.channel.abort("test: one socket cut")
            await until(lambda: remote.strategy.manager.size() == 1)
            body = report(remote)
            assert body["status"] == "yellow"
            assert body["last_error"]["cause"] == "connection_unreliable"
        finally:
            await remote.close()


async def test_connections_cut_one_by_one_are_flaps_while_the_alias_stays_connected(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """A path that cuts connections (an idle cut) takes them one after another and the strategy
    reopens each at once: the alias never goes down as a whole, yet every loss is a flap."""
    async with cluster("remote", network, clock) as fc:
        flat = {
            "cluster.remote.my.mode": "proxy",
            "cluster.remote.my.proxy_address": fc.address(),
            "cluster.remote.my.proxy_socket_connections": "2",
        }
        remote = alias(network, clock, flat)
        try:
            await remote.ensure_connected()
            for _ in range(2):
                opened = remote.strategy.manager.stats().opened
                remote.strategy.manager.connections()[0].channel.abort("test: idle cut")
                await clock.advance_until(
                    lambda o=opened: (
                        remote.strategy.manager.stats().opened > o  # type: ignore[misc]
                        and remote.strategy.manager.size() == 2
                    ),
                    limit=5,
                )
                assert remote.is_connected()
                await clock.advance(2.0)  # the next cut is another loss, not the same outage
            body = report(remote)
            assert body["flaps"]["count"] == 2
            assert body["flaps"]["connections_lost"] == 2
            assert body["flaps"]["first"] is not None and body["flaps"]["last"] is not None
            assert body["status"] == "yellow"
        finally:
            await remote.close()


async def test_connections_lost_in_one_outage_are_one_flap_and_flaps_leave_the_window() -> None:
    clock = FakeClock()
    health = AliasHealth("my", SecurityModel.CERTIFICATE, "proxy", clock=clock, wall=lambda: WALL)
    for _ in range(18):  # a restart closes every proxy socket at once
        health._lost(WALL)
    assert health.flaps() == 1
    assert health.flaps_json()["connections_lost"] == 18
    await clock.advance(5.0)
    health._lost(WALL + 5)
    assert health.flaps() == FLAPS_YELLOW
    await clock.advance(301.0)
    assert health.flaps() == 0
    assert health.flaps_json() == {
        "count": 0, "window_seconds": 300, "connections_lost": 0, "first": None, "last": None
    }  # fmt: skip


def test_latency_window_is_bounded_and_gives_nearest_rank_percentiles() -> None:
    window = LatencyWindow(size=100)
    for ms in range(1, 201):
        window.add(ms / 1000)
    summary = window.summary()
    assert summary["samples"] == 100  # only the last 100 kept: 101..200 ms
    assert summary["p50_ms"] == 150.0
    assert summary["p99_ms"] == 199.0
    assert LatencyWindow().summary() == {"samples": 0, "p50_ms": None, "p99_ms": None}


def test_every_cause_the_tracker_can_name_is_a_declared_cause() -> None:
    from isthmus.remote import health_classify as hc

    named = set(hc._TCP_ERRNO.values()) | {c for cs in hc._VERIFY.values() for c in cs}
    named |= set(hc._API_KEY_AUTHN) | {
        "dns_unresolvable",
        "tls_to_plaintext",
        "http_port",
        "not_elasticsearch",
        "tls_client_certificate_required",
        "tls_client_untrusted",
        "handshake_cluster_name",
        "handshake_incompatible_version",
        "handshake_closed",
        "plaintext_to_tls",
        "handshake_wrong_profile",
        "certificate_identity_missing",
        "anonymous_handshake_unauthorized",
        "key_access_excludes",
        "connection_unreliable",
        "tcp_timeout",
    }
    assert named <= set(BY_CODE)


# --- probes ------------------------------------------------------------------------------------


def service(network: MemoryNetwork, clock: FakeClock) -> RemoteClusterService:
    return RemoteClusterService(
        SingleModel(lambda config: connector(network, clock)), remote_globals({}), clock=clock
    )


async def test_probes_reconnect_idle_aliases_once_per_round_and_skip_busy_ones(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        svc = service(network, clock)
        dead = network.unused_address()
        await svc.apply(
            configs(
                {"cluster.remote.up.seeds": [fc.address()], "cluster.remote.down.seeds": [dead]}
            )
        )
        probes = HealthProbes(svc, lambda: HealthProbeSettings(10.0, 3.0), clock=clock)
        task = asyncio.create_task(probes.run())
        try:
            down = svc.get("down")
            rounds = down.strategy.rounds
            failures = down.strategy.health.outcome.consecutive_failures
            await clock.advance(10.0)
            await until(lambda: down.strategy.rounds == rounds + 1)
            assert down.strategy.health.outcome.consecutive_failures == failures + 1
            assert down.strategy.health.last_probe is not None
            # Traffic on "down" within the interval: no probe for it at the next tick.
            await clock.advance(5.0)
            down.strategy.health.on_use()
            await clock.advance(5.0)
            await asyncio.sleep(0)
            assert down.strategy.rounds == rounds + 1
            assert probes.ticks == 2
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await svc.close()


async def test_removing_an_alias_forgets_its_health(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    svc = service(network, clock)
    dead = network.unused_address()
    await svc.apply(configs({"cluster.remote.gone.seeds": [dead]}))
    assert svc.health.get("gone") is not None
    await svc.apply({})
    assert svc.health.get("gone") is None
    await svc.close()


async def test_no_seed_left_after_discovery_is_recorded_as_a_round_failure(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        # Only dedicated masters: the seed handshakes, discovery finds no gateway.
        await fc.stop()
        await fc.add_node("m", roles=("master",))
        remote = sniff(network, clock, [fc.address()])
        try:
            with pytest.raises((NoSeedNodeLeftError, IsthmusError)):
                await remote.ensure_connected()
            body = report(remote)
            assert body["status"] == "red"
            assert body["last_error"]["stage"] == "handshake"
        finally:
            await remote.close()


def test_a_remote_certificate_close_to_expiry_is_flagged_ahead_of_time() -> None:
    import datetime as dt

    from isthmus.transport.connect_trace import ConnectAttempt

    clock = FakeClock()
    health = AliasHealth("my", SecurityModel.API_KEY, "proxy", clock=clock, wall=lambda: WALL)
    now = dt.datetime.fromtimestamp(WALL, dt.UTC)
    for days, expiring in ((30, False), (6, True)):
        attempt = ConnectAttempt("10.0.0.1:9443", 0.0, tls=True)
        attempt.tcp_connected, attempt.tls_done, attempt.handshake_done = 0.001, 0.004, 0.005
        attempt.ended = 0.005
        attempt.peer_not_after = now + dt.timedelta(days=days)
        health.on_attempt_ended(attempt, pinned_cluster=False)
        assert health._certificate_expiring() is expiring
    assert health.latency["tls"].summary()["p50_ms"] == 3.0


async def test_probe_rounds_of_one_tick_start_apart(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    svc = service(network, clock)
    flat = {f"cluster.remote.d{i}.seeds": [network.unused_address()] for i in range(3)}
    await svc.apply(configs(flat))
    strategies = [svc.get(f"d{i}").strategy for i in range(3)]
    before = [s.rounds for s in strategies]
    probes = HealthProbes(svc, lambda: HealthProbeSettings(10.0, 3.0), clock=clock)
    tick = asyncio.create_task(probes.tick(10.0))
    try:
        await until(lambda: strategies[0].rounds == before[0] + 1)
        assert [s.rounds - b for s, b in zip(strategies, before, strict=True)] == [1, 0, 0]
        await clock.advance(0.05)
        await until(lambda: strategies[1].rounds == before[1] + 1)
        assert strategies[2].rounds == before[2]
        await clock.advance(0.05)
        assert await tick == 3
        await until(lambda: strategies[2].rounds == before[2] + 1)
    finally:
        await svc.close()


async def test_a_keystore_reload_is_noted_on_every_alias(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """The doctor then reads an authentication error from before the reload as history: it
    was about the key the alias had then."""
    svc = service(network, clock)
    await svc.apply(configs({"cluster.remote.d0.seeds": [network.unused_address()]}))
    strategy = svc.get("d0").strategy
    assert strategy.health.report(strategy)["credentials"]["reloaded_at"] is None
    await svc.rebuild_changed_models()
    assert isinstance(strategy.health.report(strategy)["credentials"]["reloaded_at"], str)
    await svc.close()
