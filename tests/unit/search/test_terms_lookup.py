"""Terms lookups found in a search body and replaced by the values read for them."""

from __future__ import annotations

import pytest

from isthmus.errors import IllegalArgumentError, XContentParseError
from isthmus.search.terms_lookup import TermsLookup, apply_lookups, extract_values, find_lookups


def test_lookups_anywhere_under_query_and_post_filter_are_replaced_in_a_copy() -> None:
    spec = {"index": "u", "id": "1", "path": "f", "routing": "r"}
    body = {
        "query": {"bool": {"should": [{"terms": {"tag": spec, "boost": 2}}]}},
        "post_filter": {"terms": {"x": [1, 2]}},
        "aggs": {"terms": {"terms": {"field": "tag"}}},
    }
    (lookup,) = find_lookups(body)
    assert lookup == TermsLookup("u", "1", "f", "r")
    out = apply_lookups(body, {lookup: ["a", "b"]})
    assert out["query"]["bool"]["should"][0] == {"terms": {"tag": ["a", "b"], "boost": 2}}
    assert body["query"]["bool"]["should"][0]["terms"]["tag"] is spec  # the caller's, untouched
    assert out["aggs"] == body["aggs"]


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        ({"index": "u", "path": "f"}, IllegalArgumentError, "requires specifying the id."),
        ({"index": "u", "id": "1"}, IllegalArgumentError, "requires specifying the path."),
        ({"id": "1", "path": "f"}, IllegalArgumentError, "requires specifying the index."),
        ({"index": "u", "id": "1", "path": "f", "x": 1}, XContentParseError, "unknown field [x]"),
        (
            {"index": "u", "id": "1", "pth": "f"},
            XContentParseError,
            "[terms_lookup] unknown field [pth] did you mean [path]?",
        ),
    ],
)
def test_malformed_lookups(spec: dict[str, object], error: type[Exception], text: str) -> None:
    with pytest.raises(error) as info:
        find_lookups({"query": {"terms": {"f": spec}}})
    assert str(info.value).endswith(text) or text in str(info.value)


def test_values_are_extracted_through_arrays_of_objects() -> None:
    source = {"a": [{"b": [1, 2]}, {"b": 3}, {"c": 4}], "d": {"e": "x"}}
    assert extract_values(source, "a.b") == [1, 2, 3]
    assert extract_values(source, "d.e") == ["x"]
    assert extract_values(source, "d") == []
    assert extract_values(source, "missing.path") == []
