"""``POST /<leader>/_ccr/forget_follower``'s body, refused as ES's parser refuses it."""

from __future__ import annotations

from typing import Any

import pytest

from isthmus.errors import IllegalArgumentError, IsthmusError, XContentParseError
from isthmus.http.handlers.ccr_leader import forget_follower_body

GOOD = {
    "follower_cluster": "fc",
    "follower_index": "f",
    "follower_index_uuid": "u",
    "leader_remote_cluster": "lc",
}


def test_the_four_fields_are_read() -> None:
    assert forget_follower_body(dict(GOOD)) == GOOD


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        (
            {**GOOD, "extra": 1},
            XContentParseError,
            "[indices:admin/xpack/ccr/forget_follower] unknown field [extra]",
        ),
        (
            {**GOOD, "follower_index": 3},
            XContentParseError,
            "[indices:admin/xpack/ccr/forget_follower] follower_index doesn't support values of "
            "type: VALUE_NUMBER",
        ),
        (
            {**GOOD, "follower_index": ["a"]},
            XContentParseError,
            "[indices:admin/xpack/ccr/forget_follower] follower_index doesn't support values of "
            "type: START_ARRAY",
        ),
        (
            {k: v for k, v in GOOD.items() if k != "follower_cluster"},
            IllegalArgumentError,
            "[indices:admin/xpack/ccr/forget_follower] [follower_cluster] is required",
        ),
        (None, IllegalArgumentError, None),
    ],
)
def test_bad_bodies_are_400s(
    body: dict[str, Any] | None, error: type[IsthmusError], reason: str | None
) -> None:
    with pytest.raises(error) as raised:
        forget_follower_body(body)
    assert raised.value.http_status == 400
    if reason is not None:
        assert raised.value.reason == reason
