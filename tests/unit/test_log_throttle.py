"""The per-peer log throttle: first event in full, then a count per interval."""

from __future__ import annotations

from isthmus.logs import Admission, LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_in_full_then_counted_then_summarised() -> None:
    clock = Clock()
    throttle = LogThrottle(interval=60, clock=clock)
    assert throttle.admit("k", "a") == Admission(True, 0)
    assert [throttle.admit("k", "a").log for _ in range(5)] == [False] * 5
    assert throttle.admit("k", "b") == Admission(True, 0)  # another peer has its own line
    clock.now += 60
    assert throttle.admit("k", "a") == Admission(
        True, 5
    )  # the next full line says what was left out
    assert throttle.admit("k", "a") == Admission(False, 0)


def test_burst_bounds_lines_across_many_peers() -> None:
    clock = Clock()
    throttle = LogThrottle(interval=60, burst=3, clock=clock)
    logged = [throttle.admit("k", f"peer-{i}").log for i in range(10)]
    assert logged == [True] * 3 + [False] * 7
    clock.now += 61
    assert throttle.admit("k", "peer-9") == Admission(True, 1)


def test_keys_are_bounded() -> None:
    throttle = LogThrottle(interval=60, burst=10**6, max_keys=100, clock=Clock())
    for i in range(1000):
        throttle.admit("k", f"peer-{i}")
    assert len(throttle._keys) == 100


def test_quiet_peers_get_their_count_once_the_interval_is_over() -> None:
    clock = Clock()
    throttle = LogThrottle(interval=60, clock=clock)
    throttle.admit("TLS failures", "10.0.0.1")
    for _ in range(7):
        throttle.admit("TLS failures", "10.0.0.1")
    assert throttle.expired() == []  # not before the interval is over
    clock.now += 60
    assert throttle.expired() == [("TLS failures", "10.0.0.1", 7)]
    assert throttle.expired() == []  # reported once
