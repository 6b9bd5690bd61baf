"""Search context keep-alive settings (ES's ``SearchService``): declarations and the rule tying
``search.default_keep_alive`` to ``search.max_keep_alive``.  [no I/O]

* ``search.keep_alive_interval`` (static node setting, default ``1m``, ``>= 0``): how often the
  reaper frees the point-in-time and scroll contexts whose keep-alive ran out. ES declares it
  ``NodeScope`` only, so a ``PUT _cluster/settings`` of it is refused as for any static setting.
* ``search.default_keep_alive`` (5m) and ``search.max_keep_alive`` (24h) are dynamic cluster
  settings declared with the other search settings (:mod:`isthmus.settings.registry`); the
  default may not exceed the maximum, refused with ES's message at startup and on update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

KEEP_ALIVE_INTERVAL = "search.keep_alive_interval"
DEFAULT_KEEP_ALIVE = "search.default_keep_alive"
MAX_KEEP_ALIVE = "search.max_keep_alive"
_DEFAULTS = {DEFAULT_KEEP_ALIVE: "5m", MAX_KEEP_ALIVE: "24h"}


def _not_negative(value: v.TimeValue) -> None:
    # ES's positiveTimeSetting: a minimum of 0ms, with timeSetting's message.
    if value.millis < 0:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [0ms]"
        )


SEARCH_CONTEXT_SETTINGS = (
    Setting(
        KEEP_ALIVE_INTERVAL,
        v.parse_time,
        v.TimeValue(60_000, "1m"),
        Scope.NODE,
        validator=_not_negative,
    ),
)


def _millis(flat: Mapping[str, Any], key: str) -> int:
    return int(v.parse_time(flat.get(key) or _DEFAULTS[key]).millis)


def validate_keep_alives(flat: Mapping[str, Any]) -> None:
    """ES's ``SearchService.validateKeepAlives`` over effective flat settings."""
    default_ms = _millis(flat, DEFAULT_KEEP_ALIVE)
    max_ms = _millis(flat, MAX_KEEP_ALIVE)
    if default_ms > max_ms:
        raise SettingsError(
            f"Default keep alive setting for request [{DEFAULT_KEEP_ALIVE}] should be smaller "
            f"than max keep alive [{MAX_KEEP_ALIVE}], was ({v.human_time(default_ms)} > "
            f"{v.human_time(max_ms)})"
        )


__all__ = [
    "DEFAULT_KEEP_ALIVE",
    "KEEP_ALIVE_INTERVAL",
    "MAX_KEEP_ALIVE",
    "SEARCH_CONTEXT_SETTINGS",
    "validate_keep_alives",
]
