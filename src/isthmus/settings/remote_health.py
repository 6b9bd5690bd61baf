"""Isthmus-only settings of live remote health (``isthmus.remote.health.*``).  [no I/O]

Elasticsearch has no live remote health, so these keys live under the ``isthmus.`` prefix, which
no ES setting uses and no remote alias can produce (``cluster.remote.<alias>.*`` is the alias
namespace: ``cluster.remote.health.probe_interval`` would read as alias ``health``). Both are
dynamic cluster settings, also accepted in ``isthmus.yml`` and with ``-E``.

- ``isthmus.remote.health.probe_interval`` (default ``10s``; ``-1`` turns probes off, else at
  least ``1s``): how often an alias with no traffic is probed.
- ``isthmus.remote.health.probe_timeout`` (default ``3s``, at least ``100ms``): how long a connect
  attempt may stay in one phase before health reports it stuck there (the attempt itself keeps
  its ``transport.connect_timeout``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

PREFIX = "isthmus.remote.health."
PROBE_INTERVAL = PREFIX + "probe_interval"
PROBE_TIMEOUT = PREFIX + "probe_timeout"
DEFAULT_PROBE_INTERVAL = v.TimeValue(10_000, "10s")
DEFAULT_PROBE_TIMEOUT = v.TimeValue(3_000, "3s")


def _interval(value: v.TimeValue) -> None:
    if value.millis != -1 and value.millis < 1000:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [1s] "
            "or -1 to disable probes"
        )


def _timeout(value: v.TimeValue) -> None:
    if value.millis < 100:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [100ms]"
        )


REMOTE_HEALTH_SETTINGS: tuple[Setting, ...] = (
    Setting(
        PROBE_INTERVAL, v.parse_time, DEFAULT_PROBE_INTERVAL, Scope.CLUSTER, True, False, _interval
    ),
    Setting(
        PROBE_TIMEOUT, v.parse_time, DEFAULT_PROBE_TIMEOUT, Scope.CLUSTER, True, False, _timeout
    ),
)
_BY_KEY = {s.key: s for s in REMOTE_HEALTH_SETTINGS}


@dataclass(frozen=True)
class HealthProbeSettings:
    interval: float | None  # seconds; None: probes off
    timeout: float

    @classmethod
    def from_settings(cls, flat: Mapping[str, Any]) -> HealthProbeSettings:
        """From the effective flat settings (each value already validated by the registry)."""

        def get(key: str) -> v.TimeValue:
            setting = _BY_KEY[key]
            raw = flat.get(key)
            value: v.TimeValue = setting.default if raw is None else setting.coerce(key, raw)
            return value

        interval = get(PROBE_INTERVAL)
        return cls(
            None if interval.millis == -1 else interval.millis / 1000,
            get(PROBE_TIMEOUT).millis / 1000,
        )
