"""Follow request bodies and parameters: ES's defaults, parse errors and validation messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.ccr.follower_index import check_override_settings
from isthmus.ccr.params import (
    DEFAULTS,
    FollowParameters,
    enough_shards_active,
    parse_put_follow,
    parse_resume_body,
)
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IsthmusError,
    SettingsError,
    XContentParseError,
)

ES_DEFAULTS = {
    "max_read_request_operation_count": 5120,
    "max_write_request_operation_count": 5120,
    "max_outstanding_read_requests": 12,
    "max_outstanding_write_requests": 9,
    "max_read_request_size": "32mb",
    "max_write_request_size": "9223372036854775807b",
    "max_write_buffer_count": 2147483647,
    "max_write_buffer_size": "512mb",
    "max_retry_delay": "500ms",
    "read_poll_timeout": "1m",
}


def test_defaults_render_as_es_info_shows_them() -> None:
    assert DEFAULTS.to_json() == ES_DEFAULTS
    assert FollowParameters().resolved() == DEFAULTS


def test_put_follow_keeps_given_values_with_their_text() -> None:
    request = parse_put_follow(
        "f",
        {
            "remote_cluster": "leader",
            "leader_index": "logs",
            "max_read_request_size": "1kb",
            "max_outstanding_read_requests": "3",
            "read_poll_timeout": "10s",
            "settings": {"index": {"number_of_replicas": 0}},
        },
        None,
    )
    resolved = request.parameters.resolved().to_json()
    assert resolved["max_read_request_size"] == "1kb"
    assert resolved["max_outstanding_read_requests"] == 3
    assert resolved["read_poll_timeout"] == "10s"
    assert request.settings == {"index.number_of_replicas": "0"}
    assert request.wait_for_active_shards == "0"
    stored = request.parameters.to_store()
    assert FollowParameters.from_store(stored) == request.parameters


def test_missing_fields_and_bad_values_are_one_validation_error_in_es_order() -> None:
    with pytest.raises(ActionRequestValidationError) as caught:
        parse_put_follow(
            "f",
            {
                "max_read_request_operation_count": 0,
                "max_read_request_size": "0b",
                "max_retry_delay": "10m",
            },
            None,
        )
    assert caught.value.reason == (
        "Validation Failed: 1: max_read_request_operation_count must be larger than 0;"
        "2: max_read_request_size must be larger than 0;"
        "3: [max_retry_delay] must be less than [5m] but was [10m];"
        "4: remote_cluster is missing;5: leader_index is missing;"
    )


@pytest.mark.parametrize(
    ("body", "reason", "cause"),
    [
        ({"foo": 1}, "[indices:admin/xpack/ccr/put_follow] unknown field [foo]", None),
        (
            {"max_read_request_size": "12"},
            "[indices:admin/xpack/ccr/put_follow] failed to parse field [max_read_request_size]",
            "failed to parse setting [max_read_request_size] with value [12] as a size in "
            "bytes: unit is missing or unrecognized",
        ),
        (
            {"max_outstanding_read_requests": "many"},
            "[indices:admin/xpack/ccr/put_follow] failed to parse field "
            "[max_outstanding_read_requests]",
            'For input string: "many"',
        ),
        (
            {"read_poll_timeout": "soon"},
            "[indices:admin/xpack/ccr/put_follow] failed to parse field [read_poll_timeout]",
            "failed to parse setting [read_poll_timeout] with value [soon] as a time value: "
            "unit is missing or unrecognized",
        ),
    ],
)
def test_parse_errors(body: dict[str, object], reason: str, cause: str | None) -> None:
    with pytest.raises(XContentParseError) as caught:
        parse_put_follow("f", {"remote_cluster": "r", "leader_index": "l", **body}, None)
    assert caught.value.reason == reason
    if cause is not None:
        assert caught.value.caused_by is not None
        assert caught.value.caused_by.reason == cause


def test_resume_body_is_optional_and_strict() -> None:
    assert parse_resume_body(None) == FollowParameters()
    assert parse_resume_body({"max_write_buffer_count": 7}).max_write_buffer_count == 7
    with pytest.raises(
        XContentParseError, match=r"\[resume_follow\] unknown field \[leader_index\]"
    ):
        parse_resume_body({"leader_index": "x"})
    with pytest.raises(ActionRequestValidationError, match="must be positive but was \\[0ms\\]"):
        parse_resume_body({"max_retry_delay": "0ms"})


def test_wait_for_active_shards_values() -> None:
    body = {"remote_cluster": "r", "leader_index": "l"}
    assert parse_put_follow("f", body, "all").wait_for_active_shards == "all"
    assert parse_put_follow("f", body, None).wait_for_active_shards == "0"
    with pytest.raises(IllegalArgumentError, match=r"^cannot parse ActiveShardCount\[default\]$"):
        parse_put_follow("f", body, "default")
    with pytest.raises(IllegalArgumentError, match=r"^cannot parse ActiveShardCount\[x\]$"):
        parse_put_follow("f", body, "x")
    with pytest.raises(IllegalArgumentError, match=r"^shard count cannot be a negative value$"):
        parse_put_follow("f", body, "-1")


def test_only_non_replicated_settings_may_be_overridden() -> None:
    check_override_settings({"index.number_of_replicas": "0", "index.refresh_interval": "5s"})
    with pytest.raises(IllegalArgumentError) as caught:
        check_override_settings({"index.number_of_shards": "5"})
    assert caught.value.reason == (
        'can not put follower index that could override leader settings {"index.number_of_shards":"5"}'
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [*ES_DEFAULTS, "remote_cluster", "leader_index", "settings", "data_stream_name", "other"]
)


@given(body=st.dictionaries(field_names, json_values, max_size=6))
def test_any_body_parses_or_fails_with_a_client_error(body: dict[str, object]) -> None:
    """Whatever the body holds, the parser answers a request or an ES error with a 4xx status,
    never a Python exception (a 500)."""
    for parse in (
        lambda: parse_put_follow("f", body, None),
        lambda: parse_resume_body(body),
    ):
        try:
            parse()
        except IsthmusError as exc:
            assert 400 <= exc.http_status < 500, exc


def test_wait_timeout_is_es_30s_unless_given() -> None:
    body = {"remote_cluster": "r", "leader_index": "l"}
    assert parse_put_follow("f", body, None).wait_timeout.millis == 30_000
    assert parse_put_follow("f", body, "1", "1s").wait_timeout.millis == 1_000
    with pytest.raises(SettingsError, match=r"failed to parse setting \[timeout\]"):
        parse_put_follow("f", body, "1", "soon")


@pytest.mark.parametrize(
    ("wanted", "active", "replicas", "enough"),
    [
        ("0", [0, 0], 1, True),  # none: met before anything starts
        ("1", [1, 1], 1, True),
        ("1", [1, 0], 0, False),  # every shard must have its copies
        ("2", [1, 1], 5, False),  # one node: replicas never start
        ("all", [1, 1], 0, True),  # all = primary + replicas
        ("all", [1, 1], 1, False),
        ("3", [1], 0, False),  # more copies than a shard has: never met
    ],
)
def test_enough_shards_active(wanted: str, active: list[int], replicas: int, enough: bool) -> None:
    assert enough_shards_active(wanted, active, replicas) is enough
