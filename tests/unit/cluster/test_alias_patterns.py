"""Alias name patterns (ES's findAliases and GET _alias missing-name rules) and per-action
results of ``_aliases``."""

from __future__ import annotations

import pytest

from isthmus.cluster.alias_actions import alias_matcher, missing_aliases
from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, IndexMetadata
from isthmus.cluster.resolve import IndicesOptions, resolve
from isthmus.index.mapping import Mapping

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


# --- index expressions: an exclusion removes what an alias brought in ----------------------------

F_RED = {"term": {"color": "red"}}


def _cluster() -> ClusterMetadata:
    def idx(name: str, aliases: dict[str, AliasMetadata]) -> IndexMetadata:
        return IndexMetadata(
            name=name, uuid=f"u-{name}", settings={}, mapping=Mapping(), aliases=aliases
        )

    return ClusterMetadata(
        "cu",
        indices={
            "a1": idx("a1", {"al-one": AliasMetadata("al-one")}),
            "a2": idx("a2", {"al-two": AliasMetadata("al-two", F_RED)}),
        },
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("al-*,-al-one", ["a2"]),  # the alias named by the wildcard is excluded by name
        ("al-*,-al-o*", ["a2"]),
        ("al-*,-a1", ["a1", "a2"]),  # a1 came in as al-one, not as itself
        ("*,-al-*", ["a1", "a2"]),  # "*" names the indices themselves
        ("a*,-al-*", ["a1", "a2"]),
        ("al-*,a1,-al-one", ["a1", "a2"]),
    ],
)
def test_exclusions_remove_aliases_a_wildcard_added(expression: str, expected: list[str]) -> None:
    found = resolve(_cluster(), expression, IndicesOptions())
    assert [r.index.name for r in found] == expected


def test_filters_follow_the_aliases_that_remain() -> None:
    # a2 was named itself and through al-two: excluding the name leaves the filtered alias.
    found = resolve(_cluster(), "al-*,a*,-a2", IndicesOptions())
    assert {r.index.name: r.filters for r in found} == {"a1": None, "a2": (F_RED,)}
