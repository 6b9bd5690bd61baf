"""The follower's privilege question to its leader (ES's has_privileges before following): the
payloads both ways, and ES's refusal naming each missing privilege."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.ccr.follow_privileges import (
    FOLLOW_PRIVILEGES,
    IndexPrivilegesRequest,
    IndexPrivilegesResponse,
    check_follow_privileges,
)
from isthmus.errors import IllegalArgumentError, SecurityError

SHARD_CHANGES = "indices:data/read/xpack/ccr/shard_changes"
STATS = "indices:monitor/stats"


def test_the_payloads_round_trip() -> None:
    request = IndexPrivilegesRequest(("orders",))
    assert request.privileges == FOLLOW_PRIVILEGES == (STATS, SHARD_CHANGES)
    assert IndexPrivilegesRequest.from_payload(request.to_payload()) == request
    answer = IndexPrivilegesResponse({"orders": {STATS: True, SHARD_CHANGES: False}})
    assert IndexPrivilegesResponse.from_payload(answer.to_payload()) == answer


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"index": []},
        {"index": [{"names": ["a"]}]},
        {"index": [{"names": [], "privileges": [STATS]}]},
        {"index": [{"names": ["a"], "privileges": [1]}]},
        {"index": [{"names": ["a"], "privileges": [STATS]}, {"names": ["b"], "privileges": []}]},
    ],
)
def test_a_malformed_request_is_refused(payload: Any) -> None:
    with pytest.raises(IllegalArgumentError):
        IndexPrivilegesRequest.from_payload(payload)


@pytest.mark.parametrize(
    "payload", [None, {}, {"index": []}, {"index": {"a": {STATS: "yes"}}}, {"index": {"a": 1}}]
)
def test_a_malformed_answer_is_refused(payload: Any) -> None:
    with pytest.raises(IllegalArgumentError):
        IndexPrivilegesResponse.from_payload(payload)


def test_all_granted_follows() -> None:
    check_follow_privileges("l", IndexPrivilegesResponse({"l": {STATS: True, SHARD_CHANGES: True}}))


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ({STATS: True, SHARD_CHANGES: False}, [SHARD_CHANGES]),
        ({STATS: False, SHARD_CHANGES: True}, [STATS]),
        # ES's order (the answer's sorted map): shard_changes before the index stats.
        ({STATS: False, SHARD_CHANGES: False}, [SHARD_CHANGES, STATS]),
        ({}, [SHARD_CHANGES, STATS]),  # the leader said nothing of them: not granted
    ],
)
def test_each_missing_privilege_is_named(granted: dict[str, bool], missing: list[str]) -> None:
    with pytest.raises(SecurityError) as refused:
        check_follow_privileges("l", IndexPrivilegesResponse({"l": granted}))
    assert str(refused.value) == "insufficient privileges to follow index [l]" + "".join(
        f", privilege for action [{p}] is missing" for p in missing
    )
    assert refused.value.status == 403
