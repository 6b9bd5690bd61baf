"""Alias name patterns (ES's findAliases and GET _alias missing-name rules) and per-action
results of ``_aliases``."""

from __future__ import annotations

import pytest

from isthmus.cluster.alias_actions import alias_matcher, missing_aliases

NAMES = ["a", "ab", "b", "keep"]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ([], NAMES),
        (["_all"], NAMES),
        (["a*"], ["a", "ab"]),
        (["*", "-ab"], ["a", "b", "keep"]),
        (["*", "-a*", "ab"], ["ab", "b", "keep"]),  # a later include brings one back
        (["-ab"], []),  # before a wildcard "-ab" is a name, and no alias has it
        (["*", "-_all"], []),
    ],
)
def test_alias_matcher(patterns: list[str], expected: list[str]) -> None:
    matches = alias_matcher(patterns)
    assert [n for n in NAMES if matches(n)] == expected


@pytest.mark.parametrize(
    ("patterns", "found", "missing"),
    [
        (["x"], [], ["x"]),
        (["x", "a"], ["a"], ["x"]),
        (["x*"], [], []),
        (["x", "*", "-x"], ["a"], []),
        (["*", "-x"], ["a"], []),
        (["-x"], [], ["-x"]),
    ],
)
def test_missing_aliases(patterns: list[str], found: list[str], missing: list[str]) -> None:
    assert missing_aliases(patterns, found) == missing
