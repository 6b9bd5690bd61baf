"""Suggester pieces that need no index: parsing, string distance, merging clusters' sections."""

from __future__ import annotations

import pytest

from isthmus.errors import ElasticsearchParseError, IllegalArgumentError, ParsingError
from isthmus.search.suggest import (
    PhraseSuggestion,
    TermSuggestion,
    edit_distance,
    merge_sections,
    parse_suggest,
    similarity,
)


def test_edit_distance_counts_a_transposition_once() -> None:
    assert edit_distance("quikc", "quick") == 1
    assert edit_distance("brwn", "brown") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert similarity("quikc", "quick") == pytest.approx(0.8)


def test_parse_uses_the_global_text_and_keeps_order() -> None:
    parsed = parse_suggest(
        {"text": "teh", "a": {"term": {"field": "f"}}, "b": {"text": "x", "phrase": {"field": "g"}}}
    )
    assert parsed == (TermSuggestion("a", "teh", "f"), PhraseSuggestion("b", "x", "g"))


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"size": 1}, ElasticsearchParseError, "the required field option [field] is missing"),
        ({"field": "f", "nope": 1}, ParsingError, "suggester[term] doesn't support field [nope]"),
        ({"field": "f", "max_edits": 3}, IllegalArgumentError, "maxEdits must be between 1 and 2"),
        ({"field": "f", "size": 0}, IllegalArgumentError, "size must be positive"),
    ],
)
def test_term_options_are_checked(
    options: dict[str, object], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text.replace("[", r"\[").replace("]", r"\]")):
        parse_suggest({"s": {"text": "x", "term": options}})


def test_clusters_sections_merge_by_option_text() -> None:
    term = TermSuggestion("s", "helo", "f", size=2)
    phrase = PhraseSuggestion("p", "x", "f")
    one = {
        "s": [{"text": "helo", "offset": 0, "length": 4, "options": [
            {"text": "hello", "score": 0.75, "freq": 2}, {"text": "help", "score": 0.75, "freq": 1},
        ]}],
        "p": [{"text": "x", "offset": 0, "length": 1, "options": [{"text": "y", "score": 2.0}]}],
    }  # fmt: skip
    two = {
        "s": [{"text": "helo", "offset": 0, "length": 4, "options": [
            {"text": "hello", "score": 0.75, "freq": 3}, {"text": "halo", "score": 0.75, "freq": 9},
        ]}],
        "p": [{"text": "x", "offset": 0, "length": 1, "options": [{"text": "y", "score": 3.0}]}],
    }  # fmt: skip
    merged = merge_sections([term, phrase], [one, two], typed_keys=True)
    assert merged["term#s"][0]["options"] == [
        {"text": "halo", "score": 0.75, "freq": 9},
        {"text": "hello", "score": 0.75, "freq": 5},
    ]
    assert merged["phrase#p"][0]["options"] == [{"text": "y", "score": 3.0}]
