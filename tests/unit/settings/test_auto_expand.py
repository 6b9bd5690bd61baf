"""``index.auto_expand_replicas`` (ES's AutoExpandReplicas parsing, texts and expansion)."""

from __future__ import annotations

import pytest

from isthmus.settings.auto_expand import bounds, desired_replicas, parse_auto_expand


def test_bounds() -> None:
    assert bounds("false") is None
    assert bounds("0-1") == (0, 1)
    assert bounds("1-all") == (1, 2**31 - 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1-boom", "failed to parse [index.auto_expand_replicas] from value: [1-boom] at index 1"),
        ("boom-1", "failed to parse [index.auto_expand_replicas] from value: [boom-1] at index 4"),
        ("true", "failed to parse [index.auto_expand_replicas] from value: [true] at index -1"),
        ("2-1", "[index.auto_expand_replicas] minReplicas must be =< maxReplicas but wasn't 2 > 1"),
    ],
)
def test_es_errors(value: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_auto_expand(value)
    assert str(info.value) == reason


def test_one_data_node_expands_to_zero_only_when_min_allows() -> None:
    assert desired_replicas("0-all") == 0
    assert desired_replicas("0-5") == 0
    assert desired_replicas("1-all") is None  # needs a second node: left as it is
    assert desired_replicas("false") is None
    assert desired_replicas("0-all", data_nodes=3) == 2
    assert desired_replicas("1-1", data_nodes=3) == 1
