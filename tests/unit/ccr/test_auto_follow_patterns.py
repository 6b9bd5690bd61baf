"""Auto-follow patterns: ES's request validation, matching and stored form."""

from __future__ import annotations

import pytest

from isthmus.ccr.auto_follow import (
    AutoFollowPattern,
    parse_put_pattern,
    patterns_of,
    with_patterns,
)
from isthmus.errors import ActionRequestValidationError, XContentParseError


def test_validation_messages_in_es_order() -> None:
    with pytest.raises(ActionRequestValidationError) as caught:
        parse_put_pattern("_a,b", {"max_outstanding_read_requests": 0})
    assert caught.value.reason == (
        "Validation Failed: 1: max_outstanding_read_requests must be larger than 0;"
        "2: [name] name must not contain a ',';3: [name] name must not start with '_';"
        "4: [remote_cluster] is missing;5: [leader_index_patterns] is missing;"
    )
    with pytest.raises(XContentParseError, match=r"\[put_auto_follow_pattern_request\] unknown"):
        parse_put_pattern("p", {"remote_cluster": "r", "leader_index_patterns": ["x"], "z": 1})


def test_matching_exclusions_and_follower_names() -> None:
    pattern = parse_put_pattern(
        "p",
        {
            "remote_cluster": "leader",
            "leader_index_patterns": ["logs-*", "metrics"],
            "leader_index_exclusion_patterns": ["logs-secret*"],
            "follow_index_pattern": "{{leader_index}}-copy",
            "max_read_request_operation_count": 7,
        },
    )
    assert pattern.matches("logs-1") and pattern.matches("metrics")
    assert not pattern.matches("logs-secret-1") and not pattern.matches("metrics-2")
    # ES's simple match: only '*' is a wildcard.
    literal = AutoFollowPattern("r", ("a?c", "[x]*"))
    assert literal.matches("a?c") and not literal.matches("abc")
    assert literal.matches("[x]-1") and not literal.matches("x-1")
    assert pattern.follower_name("logs-1") == "logs-1-copy"
    assert AutoFollowPattern("r", ("a*",)).follower_name("abc") == "abc"
    rendered = pattern.to_json()
    assert rendered == {
        "active": True,
        "remote_cluster": "leader",
        "leader_index_patterns": ["logs-*", "metrics"],
        "leader_index_exclusion_patterns": ["logs-secret*"],
        "follow_index_pattern": "{{leader_index}}-copy",
        "max_read_request_operation_count": 7,
    }


def test_stored_form_round_trips_with_what_was_handled() -> None:
    pattern = (
        parse_put_pattern(
            "p",
            {
                "remote_cluster": "r",
                "leader_index_patterns": "x*",
                "settings": {"index": {"number_of_replicas": 0}},
            },
        )
        .handled(["u1", "u2"])
        .handled(["u2", "u3"])
    )
    assert pattern.followed == ("u1", "u2", "u3")
    customs = with_patterns({"other": 1}, {"p": pattern})
    assert patterns_of(customs) == {"p": pattern}
    assert with_patterns(customs, {}) == {"other": 1}
