"""An alias's timeline (the web console's last hour): fed by real strategies on in-memory
clusters in virtual time, bounded, one event per burst, and only the last hour answered."""

from __future__ import annotations

import pytest

from isthmus.errors import ConnectTransportError
from isthmus.remote.health_records import Timeline, TimelineEvent
from isthmus.testing.fake_clock import FakeClock, until
from isthmus.testing.memory_network import MemoryNetwork
from tests.unit.remote.conftest import cluster
from tests.unit.remote.test_health import report, sniff


async def test_connects_failures_and_losses_are_events_of_the_timeline(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    async with cluster("remote", network, clock) as fc:
        remote = sniff(network, clock, [fc.address()], connect_timeout=1.0)
        try:
            await remote.ensure_connected()
            health = remote.strategy.health
            # Two connections opened (the seed's and the managed one): one "connected".
            assert [e["kind"] for e in health.timeline_json()] == ["connected"]
            fc.servers[0].freeze()
            stats = remote.strategy.manager.stats
            await clock.advance_until(lambda: stats().declared_dead == 1, limit=10)
            await until(lambda: len(health.timeline) >= 2)
            lost = health.timeline_json()[1]
            assert (lost["kind"], lost["stage"], lost["cause"]) == ("lost", "tcp", "tcp_timeout")
            assert lost["time"] == report(remote)["last_error"]["time"]
        finally:
            await remote.close()


async def test_a_refused_address_is_one_failed_event_per_burst(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    dead = network.unused_address()
    remote = sniff(network, clock, [dead])
    try:
        for _ in range(3):  # the same failure within a second (the test's wall clock is fixed)
            with pytest.raises(ConnectTransportError):
                await remote.strategy.connect()
        events = remote.strategy.health.timeline_json()
        assert [(e["kind"], e["stage"], e["cause"]) for e in events] == [
            ("failed", "tcp", "tcp_refused")
        ]
    finally:
        await remote.close()


def test_the_timeline_is_bounded_and_answers_for_a_window() -> None:
    timeline = Timeline(size=4)
    for i in range(10):
        timeline.add(TimelineEvent(1000.0 + 10 * i, "failed", "tcp", f"cause-{i % 2}"))
    assert len(timeline) == 4
    assert [e.wall for e in timeline.since(1075.0)] == [1080.0, 1090.0]
    # A burst of one failure is one event; the link coming up is kept once, not per connection.
    burst = Timeline()
    burst.add(TimelineEvent(1.0, "failed", "tls", "tls_untrusted_ca"))
    burst.add(TimelineEvent(1.5, "failed", "tls", "tls_untrusted_ca"))
    burst.add(TimelineEvent(3.0, "failed", "tls", "tls_untrusted_ca"))
    burst.add(TimelineEvent(3.1, "connected"))
    burst.add(TimelineEvent(3.2, "connected"))
    assert [(e.wall, e.kind) for e in burst.since(0)] == [
        (1.0, "failed"),
        (3.0, "failed"),
        (3.1, "connected"),
    ]
    assert burst.since(0)[-1].to_json()["time"].startswith("1970-01-01T00:00:03.100")
