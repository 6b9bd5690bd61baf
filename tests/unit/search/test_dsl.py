"""Query DSL parsing: every query type, its ES error messages, and the shared helpers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import IsthmusError, ParsingError, XContentParseError
from isthmus.search import dsl
from isthmus.search.dsl import fuzzy_distance, minimum_should_match, parse_query


def fails(body: Any) -> str:
    with pytest.raises(ParsingError) as info:
        parse_query(body)
    assert info.value.http_status == 400
    assert info.value.to_body()["error"]["type"] == "parsing_exception"
    return info.value.reason


# --- envelope -----------------------------------------------------------------------------------


def test_envelope_errors() -> None:
    assert fails([]) == "query malformed, must start with start_object"
    assert fails("match_all") == "query malformed, must start with start_object"
    assert fails({}) == "query malformed, empty clause found"
    assert fails({"match_all": {}, "term": {}}) == (
        "[match_all] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
    )
    assert fails({"nope": {}}) == "unknown query [nope]"


def test_match_all_and_none() -> None:
    assert parse_query({"match_all": {}}) == dsl.MatchAll()
    assert parse_query({"match_all": {"boost": 2}}) == dsl.MatchAll(boost=2.0)
    assert parse_query({"match_none": {}}) == dsl.MatchNone()


# --- term-level ---------------------------------------------------------------------------------


def test_term_forms() -> None:
    assert parse_query({"term": {"tag": "red"}}) == dsl.Term(field="tag", value="red")
    assert parse_query({"term": {"n": 5}}) == dsl.Term(field="n", value=5)
    assert parse_query(
        {"term": {"tag": {"value": "Red", "boost": 2, "case_insensitive": True, "_name": "q"}}}
    ) == dsl.Term(field="tag", value="Red", boost=2.0, case_insensitive=True)
    assert parse_query({"term": {"tag": "x", "boost": 3}}) == dsl.Term(field="tag", value="x")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"term": "x"}, "[term] query malformed, no start_object after query name"),
        ({"term": {}}, "[term] query malformed, no field specified"),
        (
            {"term": {"a": 1, "b": 2}},
            "[term] query doesn't support multiple fields, found [a] and [b]",
        ),
        ({"term": {"a": {"value": 1, "bogus": 1}}}, "[term] query does not support [bogus]"),
        ({"term": {"a": {"boost": 2}}}, "[term] query doesn't support the empty value"),
        ({"term": {"a": [1]}}, "[term] query does not support array of values"),
        ({"term": {"a": {"value": {"x": 1}}}}, "[term] query does not support array of values"),
        ({"term": {"a": {"value": "x", "boost": "abc"}}}, "[boost] failed to parse value [abc]"),
    ],
)
def test_term_errors(body: Any, reason: str) -> None:
    assert fails(body) == reason


def test_terms() -> None:
    assert parse_query({"terms": {"tag": ["a", 1], "boost": 2}}) == dsl.Terms(
        field="tag", values=("a", 1), boost=2.0
    )
    assert parse_query({"terms": {"tag": []}}) == dsl.Terms(field="tag", values=())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"terms": "x"}, "[terms] query malformed, no start_object after query name"),
        ({"terms": {}}, "[terms] query requires a field"),
        ({"terms": {"boost": 1}}, "[terms] query requires a field"),
        ({"terms": {"a": [1], "b": [2]}}, "[terms] query does not support multiple fields"),
        ({"terms": {"a": 1}}, "[terms] query does not support [a]"),
    ],
)
def test_terms_errors(body: Any, reason: str) -> None:
    assert fails(body) == reason


def test_ids() -> None:
    assert parse_query({"ids": {"values": [1, "2"]}}) == dsl.Ids(values=("1", "2"))
    assert parse_query({"ids": {}}) == dsl.Ids(values=())
    assert fails({"ids": {"values": "x"}}) == "[ids] query malformed, [values] must be an array"
    assert fails({"ids": []}) == "[ids] query malformed, no start_object after query name"


def test_exists() -> None:
    assert parse_query({"exists": {"field": "a", "boost": 2}}) == dsl.Exists(field="a", boost=2.0)
    assert fails({"exists": {}}) == "[exists] must be provided with a [field]"
    assert fails({"exists": "a"}) == "[exists] must be provided with a [field]"


@pytest.mark.parametrize(
    ("name", "cls"), [("prefix", dsl.Prefix), ("wildcard", dsl.Wildcard), ("regexp", dsl.Regexp)]
)
def test_pattern_queries(name: str, cls: type[dsl.Query]) -> None:
    assert parse_query({name: {"a": "x*"}}) == cls(field="a", value="x*")  # type: ignore[call-arg]
    assert parse_query(
        {
            name: {
                "a": {"value": 5, "case_insensitive": True, "boost": 2, "rewrite": "constant_score"}
            }
        }
    ) == cls(field="a", value="5", case_insensitive=True, boost=2.0)  # type: ignore[call-arg]
    assert (
        fails({name: {"a": {"value": "x", "bogus": 1}}})
        == f"[{name}] query does not support [bogus]"
    )
    assert fails({name: {"a": {}}}) == f"[{name}] query doesn't support the empty value"


def test_wildcard_key_form() -> None:
    assert parse_query({"wildcard": {"a": {"wildcard": "x?"}}}) == dsl.Wildcard(
        field="a", value="x?"
    )


def test_regexp_flags_accepted() -> None:
    assert parse_query({"regexp": {"a": {"value": "x.*", "flags": "ALL"}}}) == dsl.Regexp(
        field="a", value="x.*"
    )


def test_fuzzy() -> None:
    assert parse_query({"fuzzy": {"a": "x"}}) == dsl.Fuzzy(field="a", value="x", fuzziness="AUTO")
    assert parse_query(
        {
            "fuzzy": {
                "a": {"value": "x", "fuzziness": 1, "prefix_length": 2, "transpositions": False}
            }
        }
    ) == dsl.Fuzzy(field="a", value="x", fuzziness=1, prefix_length=2, transpositions=False)
    assert (
        fails({"fuzzy": {"a": {"value": "x", "slop": 1}}})
        == "[fuzzy] query does not support [slop]"
    )


def test_range() -> None:
    assert parse_query(
        {
            "range": {
                "d": {"gte": "now-1d", "lt": "now", "format": "epoch_millis", "time_zone": "+01:00"}
            }
        }
    ) == dsl.Range(field="d", gte="now-1d", lt="now", format="epoch_millis", time_zone="+01:00")
    assert parse_query({"range": {"n": {"gt": 1, "lte": 5, "boost": 2}}}) == dsl.Range(
        field="n", gt=1, lte=5, boost=2.0
    )


def test_range_from_to() -> None:
    assert parse_query({"range": {"n": {"from": 1, "to": 5}}}) == dsl.Range(field="n", gte=1, lte=5)
    assert parse_query(
        {"range": {"n": {"from": 1, "to": 5, "include_lower": False, "include_upper": False}}}
    ) == dsl.Range(field="n", gt=1, lt=5)


def test_range_errors() -> None:
    assert fails({"range": {"n": 5}}) == "[range] query malformed, no start_object after query name"
    assert (
        fails({"range": {"n": {"gte": 1, "bogus": 1}}}) == "[range] query does not support [bogus]"
    )
    assert fails({"range": {"n": {}, "m": {}}}) == (
        "[range] query doesn't support multiple fields, found [n] and [m]"
    )


# --- full text ----------------------------------------------------------------------------------


def test_match_forms() -> None:
    assert parse_query({"match": {"t": "quick fox"}}) == dsl.Match(field="t", query="quick fox")
    assert parse_query(
        {
            "match": {
                "t": {
                    "query": "quick fox",
                    "operator": "AND",
                    "minimum_should_match": "75%",
                    "fuzziness": "AUTO",
                    "prefix_length": 1,
                    "zero_terms_query": "ALL",
                    "lenient": True,
                    "analyzer": "standard",
                }
            }
        }
    ) == dsl.Match(
        field="t",
        query="quick fox",
        operator="and",
        minimum_should_match="75%",
        fuzziness="AUTO",
        prefix_length=1,
        zero_terms_query="all",
        lenient=True,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"match": {"t": {"query": "x", "operator": "xor"}}},
            "[match] query does not support operator [xor]",
        ),
        ({"match": {"t": {"operator": "and"}}}, "[match] query malformed, missing [query]"),
        ({"match": {"t": {"query": "x", "bogus": 1}}}, "[match] query does not support [bogus]"),
        ({"match": {}}, "[match] query malformed, no field specified"),
        ({"match": "x"}, "[match] query malformed, no start_object after query name"),
    ],
)
def test_match_errors(body: Any, reason: str) -> None:
    assert fails(body) == reason


def test_match_phrase_and_prefix() -> None:
    assert parse_query({"match_phrase": {"t": {"query": "a b", "slop": 2}}}) == dsl.MatchPhrase(
        field="t", query="a b", slop=2
    )
    assert parse_query({"match_phrase_prefix": {"t": {"query": "a b", "max_expansions": 9}}}) == (
        dsl.MatchPhrase(field="t", query="a b", prefix=True, max_expansions=9)
    )
    assert parse_query({"match_phrase": {"t": 5}}) == dsl.MatchPhrase(field="t", query="5")
    assert fails({"match_phrase": {"t": {"query": "x", "operator": "and"}}}) == (
        "[match_phrase] query does not support [operator]"
    )


def test_multi_match() -> None:
    assert parse_query(
        {
            "multi_match": {
                "query": "x",
                "fields": ["a^2", "b", "c^0.5"],
                "type": "most_fields",
                "tie_breaker": 0.3,
                "operator": "AND",
                "slop": 1,
            }
        }
    ) == dsl.MultiMatch(
        query="x",
        fields=(("a", 2.0), ("b", 1.0), ("c", 0.5)),
        type="most_fields",
        tie_breaker=0.3,
        operator="and",
        slop=1,
    )
    assert parse_query({"multi_match": {"query": "x"}}).fields == (("*", 1.0),)  # type: ignore[attr-defined]
    assert parse_query({"multi_match": {"query": "x", "fields": "a^3"}}).fields == (("a", 3.0),)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"multi_match": {"fields": ["a"]}}, "No text specified for multi_match query"),
        ({"multi_match": "x"}, "No text specified for multi_match query"),
        (
            {"multi_match": {"query": "x", "type": "nope"}},
            "failed to parse [multi_match] query type [nope]. unknown type.",
        ),
        (
            {"multi_match": {"query": "x", "bogus": 1}},
            "[multi_match] query does not support [bogus]",
        ),
    ],
)
def test_multi_match_errors(body: Any, reason: str) -> None:
    assert fails(body) == reason


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (None, (("*", 1.0),)),
        ([], (("*", 1.0),)),
        ("a", (("a", 1.0),)),
        (["a^2", "b.*^1.5"], (("a", 2.0), ("b.*", 1.5))),
    ],
)
def test_parse_field_boosts(fields: Any, expected: tuple[tuple[str, float], ...]) -> None:
    assert dsl.parse_field_boosts(fields) == expected


def test_query_string_is_rewritten() -> None:
    assert parse_query({"query_string": {"query": "title:fox"}}) == dsl.Match(
        field="title", query="fox", lenient=True
    )
    assert fails({"query_string": "x"}) == (
        "[query_string] query malformed, no start_object after query name"
    )
    assert fails({"simple_query_string": "x"}) == (
        "[simple_query_string] query malformed, no start_object after query name"
    )


# --- compound -----------------------------------------------------------------------------------


def test_bool() -> None:
    q = parse_query(
        {
            "bool": {
                "must": {"match_all": {}},
                "should": [{"term": {"a": 1}}, {"term": {"a": 2}}],
                "must_not": [{"exists": {"field": "x"}}],
                "filter": [],
                "minimum_should_match": "50%",
                "boost": 2,
                "_name": "b",
                "adjust_pure_negative": True,
            }
        }
    )
    assert q == dsl.Bool(
        must=(dsl.MatchAll(),),
        should=(dsl.Term(field="a", value=1), dsl.Term(field="a", value=2)),
        must_not=(dsl.Exists(field="x"),),
        filter=(),
        minimum_should_match="50%",
        boost=2.0,
    )
    assert parse_query({"bool": {}}) == dsl.Bool()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"bool": []}, "[bool] query malformed, no start_object after query name"),
        ({"bool": {"must": "x"}}, "[bool] query malformed, [must] must be an object or an array"),
    ],
)
def test_bool_errors(body: Any, reason: str) -> None:
    assert fails(body) == reason


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"bool": {"must": [1]}}, "must", "query malformed, must start with start_object"),
        ({"bool": {"filter": [{"nope": {}}]}}, "filter", "unknown query [nope]"),
        ({"bool": {"should": {"bool": {"must": {"x": {}}}}}}, "should", None),
    ],
)
def test_bool_clause_errors_are_wrapped_as_es_object_parser(
    body: Any, field: str, reason: str | None
) -> None:
    # ES's ObjectParser: "[bool] failed to parse field [<clause>]" around the clause's error,
    # which stays the root cause.
    with pytest.raises(XContentParseError) as info:
        parse_query(body)
    assert info.value.reason == f"[bool] failed to parse field [{field}]"
    root = info.value.root_cause()
    assert isinstance(root, ParsingError)
    assert root.reason == (reason or "unknown query [x]")
    assert info.value.to_body()["error"]["root_cause"][0]["reason"] == root.reason


def test_bool_unknown_field_is_an_object_parser_error() -> None:
    # ES 8 reads bool with an ObjectParser: x_content_parse_exception with "did you mean".
    with pytest.raises(XContentParseError) as info:
        parse_query({"bool": {"mustt": []}})
    assert info.value.reason == (
        "[bool] unknown field [mustt] did you mean any of [must, mustNot, must_not]?"
    )


def test_bool_must_not_deprecated_name() -> None:
    parsed = parse_query(
        {"bool": {"mustNot": {"term": {"a": 1}}, "must_not": [{"term": {"b": 2}}]}}
    )
    assert parsed == dsl.Bool(must_not=(dsl.Term(field="a", value=1), dsl.Term(field="b", value=2)))


def test_constant_score() -> None:
    assert parse_query({"constant_score": {"filter": {"term": {"a": 1}}, "boost": 2}}) == (
        dsl.ConstantScore(filter=dsl.Term(field="a", value=1), boost=2.0)
    )
    assert fails({"constant_score": {}}) == "[constant_score] requires a 'filter' element"
    assert fails({"constant_score": {"filter": {"match_all": {}}, "query": {}}}) == (
        "[constant_score] query does not support [query]"
    )


def test_dis_max() -> None:
    assert parse_query(
        {"dis_max": {"queries": [{"match_all": {}}, {"term": {"a": 1}}], "tie_breaker": 0.3}}
    ) == dsl.DisMax(queries=(dsl.MatchAll(), dsl.Term(field="a", value=1)), tie_breaker=0.3)
    assert fails({"dis_max": {}}) == "[dis_max] requires 'queries' field with at least one clause"


def test_nested_trees() -> None:
    body = {
        "bool": {
            "must": [
                {"bool": {"should": [{"constant_score": {"filter": {"ids": {"values": ["1"]}}}}]}}
            ]
        }
    }
    assert parse_query(body) == dsl.Bool(
        must=(dsl.Bool(should=(dsl.ConstantScore(filter=dsl.Ids(values=("1",))),)),)
    )


# --- bad option values must stay 400s -----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"match": {"t": {"query": "x", "prefix_length": "abc"}}},
        {"match_phrase": {"t": {"query": "x", "slop": "s"}}},
        {"dis_max": {"queries": [{"match_all": {}}], "tie_breaker": "abc"}},
        {"multi_match": {"query": "x", "fields": ["a^x"]}},
        {"fuzzy": {"a": {"value": "x", "prefix_length": "p"}}},
    ],
)
def test_bad_numbers_are_parsing_errors(body: Any) -> None:
    with pytest.raises(IsthmusError) as info:
        parse_query(body)
    assert info.value.http_status == 400


# --- minimum_should_match -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "optional", "expected"),
    [
        (None, 5, 0),
        (2, 5, 2),
        ("2", 5, 2),
        (" 2 ", 5, 2),
        (0, 5, 0),
        (-1, 5, 4),
        ("-2", 5, 3),
        (-10, 3, 0),
        ("75%", 4, 3),
        ("50%", 3, 1),
        ("100%", 3, 3),
        ("0%", 3, 0),
        ("-25%", 4, 3),
        ("-50%", 3, 2),
        ("-100%", 3, 0),
        ("3<90%", 3, 3),
        ("3<90%", 2, 2),
        ("3<90%", 5, 4),
        ("3<90%", 10, 9),
        ("2<-25% 9<-3", 2, 2),
        ("2<-25% 9<-3", 4, 3),
        ("2<-25% 9<-3", 9, 7),
        ("2<-25% 9<-3", 10, 7),
        ("1<-1", 1, 1),
        ("1<-1", 4, 3),
        ("50%", 0, 0),
    ],
)
def test_minimum_should_match(spec: Any, optional: int, expected: int) -> None:
    assert minimum_should_match(spec, optional) == expected


def test_minimum_should_match_above_clause_count_is_not_capped() -> None:
    assert minimum_should_match(10, 3) == 10


def test_minimum_should_match_spaces_around_less_than() -> None:
    assert minimum_should_match("3 < 90%", 5) == 4


@given(st.integers(0, 50), st.integers(-60, 60))
def test_minimum_should_match_integer_property(optional: int, n: int) -> None:
    # Not capped at the clause count (ES's Queries.calculateMinShouldMatch): more than there
    # are matches nothing.
    result = minimum_should_match(n, optional)
    assert result >= 0
    expected = n if n >= 0 else optional + n
    assert result == max(0, expected)


@given(st.integers(0, 50), st.integers(0, 100))
def test_minimum_should_match_percent_property(optional: int, pct: int) -> None:
    assert minimum_should_match(f"{pct}%", optional) == optional * pct // 100
    # like ES's Integer.parseInt, "-0%" is 0%
    negative = optional - optional * pct // 100 if pct else 0
    assert minimum_should_match(f"-{pct}%", optional) == negative


# --- fuzzy_distance -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fuzziness", "term", "distance"),
    [
        ("AUTO", "", 0),
        ("AUTO", "ab", 0),
        ("AUTO", "abc", 1),
        ("AUTO", "abcde", 1),
        ("AUTO", "abcdef", 2),
        ("auto", "abcdefghij", 2),
        ("AUTO:2,4", "a", 0),
        ("AUTO:2,4", "ab", 1),
        ("AUTO:2,4", "abc", 1),
        ("AUTO:2,4", "abcd", 2),
        (None, "abcdef", 0),
        (0, "abc", 0),
        (1, "abc", 1),
        ("2", "abc", 2),
        ("1.0", "abc", 1),
    ],
)
def test_fuzzy_distance(fuzziness: Any, term: str, distance: int) -> None:
    assert fuzzy_distance(fuzziness, term) == distance


def test_fuzzy_distance_garbage() -> None:
    with pytest.raises(ParsingError) as info:
        fuzzy_distance("fuzzy", "abc")
    assert info.value.reason == "failed to parse fuzziness [fuzzy]"


def test_fuzzy_distance_malformed_auto() -> None:
    with pytest.raises(IsthmusError):
        fuzzy_distance("AUTO:3", "abc")


@given(st.text(max_size=20))
def test_fuzzy_auto_property(term: str) -> None:
    n = len(term)
    assert fuzzy_distance("AUTO", term) == (0 if n <= 2 else 1 if n <= 5 else 2)
