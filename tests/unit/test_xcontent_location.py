"""Parse errors located in the raw request body as ES's Jackson parser locates them
(xcontent.locate_in_body): 1-based line and column, the column in bytes of the UTF-8 body."""

from __future__ import annotations

import orjson
import pytest

from isthmus import xcontent
from isthmus.errors import IsthmusError, ParsingError, XContentParseError
from isthmus.search import dsl
from isthmus.search.aggs import parse_aggs
from isthmus.search.request import parse_search


def _located(raw: bytes, parse: str = "search") -> IsthmusError:
    body = orjson.loads(raw)
    with pytest.raises(IsthmusError) as info:
        if parse == "search":
            parse_search(body, {})
        elif parse == "query":
            dsl.parse_query(body)
        else:
            parse_aggs(body)
    xcontent.locate_in_body(info.value, raw)
    return info.value


def test_object_parser_unknown_field_at_its_key() -> None:
    # ES 8: {"query":{"bool":{"foo":[]}}} -> "[1:19] [bool] unknown field [foo]"
    err = _located(b'{"query":{"bool":{"foo":[]}}}')
    assert isinstance(err, XContentParseError)
    assert err.reason == "[1:19] [bool] unknown field [foo]"
    assert err.to_body()["error"]["root_cause"][0]["reason"] == err.reason


def test_hand_written_parser_error_at_the_value() -> None:
    raw = b'{\n  "query": {"match": {"title": {"query": "x", "nope": 1}}}\n}'
    err = _located(raw)
    assert isinstance(err, ParsingError)
    assert err.to_body()["error"]["line"] == 2
    assert err.to_body()["error"]["col"] == raw.split(b"\n")[1].index(b"1}") + 1  # nope's value
    assert err.reason == "[match] query does not support [nope]"


def test_top_level_key_is_matched_from_the_root_only() -> None:
    # A nested "sizee" (a field name) comes first; the top-level key is the one reported.
    raw = b'{"query": {"term": {"sizee": 1}}, "sizee": 3}'
    err = _located(raw)
    assert err.reason == "Unknown key for a VALUE_NUMBER in [sizee]."
    assert (err.extra["line"], err.extra["col"]) == (1, raw.index(b"3}") + 1)


def test_unknown_query_and_aggregation_type_at_their_object() -> None:
    raw = b'{"bool": {"filter": [{"nope": {}}]}}'
    err = _located(raw, "query")
    # bool's ObjectParser wraps it, at the token the inner parser stopped on.
    at = raw.index(b"{}") + 1
    assert err.reason == f"[1:{at}] [bool] failed to parse field [filter]"
    assert err.caused_by is not None
    assert (err.caused_by.extra["line"], err.caused_by.extra["col"]) == (1, at)
    raw = b'{"x": {"termz": {}}}'
    err = _located(raw, "aggs")
    assert err.reason == "Unknown aggregation type [termz] did you mean [terms]?"
    assert (err.extra["line"], err.extra["col"]) == (1, raw.index(b"{}") + 1)
    err = _located(b'{"x": {"terms": {"field": "a", "sizee": 1}}}', "aggs")
    assert err.reason == "[1:32] [terms] unknown field [sizee] did you mean [size]?"


def test_columns_count_utf8_bytes_and_escapes_are_skipped() -> None:
    raw = '{"query": {"term": {"é\\"x": {"value": 1, "nope": 2}}}}'.encode()
    err = _located(raw)
    # "é" is two bytes: the column is one more than the character count.
    assert (err.extra["line"], err.extra["col"]) == (1, raw.index(b"2}") + 1)
    assert err.extra["col"] == raw.decode().index("2}") + 2


@pytest.mark.parametrize(
    "raw",
    [
        b'{"sizee": 1}\n{"size": 2}\n',  # NDJSON: not one document
        b"sizee: 1\n",  # YAML
        b'{"sizee": 1',  # truncated
        b"",
    ],
)
def test_no_location_rather_than_a_wrong_one(raw: bytes) -> None:
    err = xcontent.at(ParsingError("Unknown key for a VALUE_NUMBER in [sizee]."), "sizee")
    xcontent.locate_in_body(err, raw)
    assert "line" not in err.extra


def test_errors_without_a_mark_or_of_other_kinds_are_left_alone() -> None:
    plain = ParsingError("[bool] query malformed, no start_object after query name")
    xcontent.locate_in_body(plain, b'{"query": {"bool": []}}')
    assert plain.extra == {}
    other = xcontent.at(IsthmusError("boom"), "query")
    assert not hasattr(other, "body_key")


@pytest.mark.parametrize("kind", ["multi_match", "query_string", "simple_query_string"])
def test_full_text_option_errors_at_the_value(kind: str) -> None:
    raw = b'{"%s": {"query": "x", "nope": 7}}' % kind.encode()
    err = _located(raw, "query")
    assert err.reason == f"[{kind}] query does not support [nope]"
    assert (err.extra["line"], err.extra["col"]) == (1, raw.index(b"7}") + 1)
