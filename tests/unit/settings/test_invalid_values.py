"""Setting and parameter values that do not parse: a 400 whose message names what it can."""

from __future__ import annotations

import pytest

from isthmus.errors import InvalidValue, IsthmusError
from isthmus.settings.catalog import find
from isthmus.settings.registry import Scope
from isthmus.settings.values import parse_bytes, parse_int, parse_log_level, parse_time


def test_a_caller_that_names_the_parameter() -> None:
    with pytest.raises(InvalidValue) as info:
        parse_time("abc", "timeout")
    assert info.value.reason == (
        "failed to parse setting [timeout] with value [abc] as a time value: unit is missing or "
        "unrecognized"
    )


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: parse_time("abc"), "failed to parse value [abc] as a time value"),
        (lambda: parse_bytes("abc"), "failed to parse value [abc] as a size in bytes"),
        (lambda: parse_int("x"), "Failed to parse value [x]"),
    ],
)
def test_no_caller_ever_shows_an_unfilled_key(call: object, reason: str) -> None:
    with pytest.raises(IsthmusError) as info:
        call()  # type: ignore[operator]
    assert "{key}" not in info.value.reason
    assert info.value.reason.startswith(reason)
    assert info.value.http_status == 400


def test_the_registry_names_the_setting() -> None:
    setting = find("search.max_buckets", (Scope.CLUSTER,))
    assert setting is not None
    with pytest.raises(IsthmusError) as info:
        setting.coerce("search.max_buckets", "many")
    assert info.value.reason == "Failed to parse value [many] for setting [search.max_buckets]"


def test_time_values_stay_within_a_long() -> None:
    with pytest.raises(InvalidValue):
        parse_time("99999999999999999d")


@pytest.mark.parametrize("value", ["info", "WARN", "trace", "Error"])
def test_log_levels(value: str) -> None:
    assert parse_log_level(value) == value.upper()


@pytest.mark.parametrize("value", ["LOUD", "0", 3, None])
def test_unknown_log_levels(value: object) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_log_level(value)
    assert info.value.reason == f"Unknown level constant [{str(value).upper()}]."
