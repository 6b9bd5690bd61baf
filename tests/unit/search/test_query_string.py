"""query_string and simple_query_string text → query DSL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import (
    IllegalArgumentError,
    IsthmusError,
    ParsingError,
    QueryParseError,
    QueryShardError,
)
from isthmus.search.query_string import parse_query_string, parse_simple_query_string

ALLOWED_TYPES = {
    "bool", "match", "match_phrase", "multi_match", "term", "range", "prefix", "wildcard",
    "regexp", "fuzzy", "exists", "match_all",
}  # fmt: skip
NONE: dict[str, Any] = {"bool": {"must_not": [{"match_all": {}}]}}
BEST = {"type": "best_fields"}


def qs(query: str, **body: Any) -> dict[str, Any]:
    """``query_string`` on default field ``f`` unless the test says otherwise."""
    if "fields" not in body:
        body.setdefault("default_field", "f")
    return parse_query_string({"query": query, **body})


def sqs(query: str, **body: Any) -> dict[str, Any]:
    body.setdefault("fields", ["f"])
    return parse_simple_query_string({"query": query, **body})


def m(text: str, field: str = "f", **params: Any) -> dict[str, Any]:
    return {"match": {field: {"query": text, **params}}}


def types_in(query: Any) -> set[str]:
    """Every query type used anywhere in a DSL tree."""
    found: set[str] = set()
    if isinstance(query, dict) and len(query) == 1:
        ((kind, inner),) = query.items()
        found.add(kind)
        if kind == "bool":
            for occur in ("must", "should", "must_not", "filter"):
                for clause in inner.get(occur, []):
                    found |= types_in(clause)
    return found


# --- query_string: single clauses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("quick", m("quick")),
        ("title:quick", m("quick", "title")),
        ('title:"quick fox"', {"match_phrase": {"title": {"query": "quick fox"}}}),
        ('"quick fox"~2', {"match_phrase": {"f": {"query": "quick fox", "slop": 2}}}),
        ('"quick fox"~', {"match_phrase": {"f": {"query": "quick fox"}}}),
        ("quikc~", m("quikc", fuzziness="AUTO")),
        ("quikc~1", m("quikc", fuzziness=1)),
        ("quikc~5", m("quikc", fuzziness=2)),  # Lucene's limit is two edits
        ("quikc~0.5", m("quikc", fuzziness=0)),
        ("qu?ck", {"wildcard": {"f": {"value": "qu?ck"}}}),
        ("te?m*", {"wildcard": {"f": {"value": "te?m*"}}}),
        ("*ick", {"wildcard": {"f": {"value": "*ick"}}}),
        ("qui*", {"prefix": {"f": {"value": "qui"}}}),
        ("Qui*", {"prefix": {"f": {"value": "Qui", "case_insensitive": True}}}),
        ("/jo.*n/", {"regexp": {"f": {"value": "jo.*n"}}}),
        (r"/a\/b/", {"regexp": {"f": {"value": r"a\/b"}}}),
        ("age:[1 TO 5]", {"range": {"age": {"gte": "1", "lte": "5"}}}),
        ("age:{1 TO 5}", {"range": {"age": {"gt": "1", "lt": "5"}}}),
        ("age:[1 TO 5}", {"range": {"age": {"gte": "1", "lt": "5"}}}),
        ("age:{1 TO 5]", {"range": {"age": {"gt": "1", "lte": "5"}}}),
        ("age:[10 TO *]", {"range": {"age": {"gte": "10"}}}),
        ("age:[* TO 10]", {"range": {"age": {"lte": "10"}}}),
        ("age:[* TO *]", {"exists": {"field": "age"}}),
        ('name:["a b" TO c]', {"range": {"name": {"gte": "a b", "lte": "c"}}}),
        ("day:[now-1d/d TO now]", {"range": {"day": {"gte": "now-1d/d", "lte": "now"}}}),
        ("age:>=5", {"range": {"age": {"gte": "5"}}}),
        ("age:>5", {"range": {"age": {"gt": "5"}}}),
        ("age:<=5", {"range": {"age": {"lte": "5"}}}),
        ("age:<5", {"range": {"age": {"lt": "5"}}}),
        ("date:>now-1d", {"range": {"date": {"gt": "now-1d"}}}),
        ("_exists_:title", {"exists": {"field": "title"}}),
        ("_exists_:title*", {"exists": {"field": "title*"}}),
        ("title:*", {"exists": {"field": "title"}}),
        ("*", {"exists": {"field": "f"}}),
        ("*:*", {"match_all": {}}),
        ("quick^2", m("quick", boost=2.0)),
        ("quick^0.5", m("quick", boost=0.5)),
        ("quikc~1^2", m("quikc", fuzziness=1, boost=2.0)),
        ("quikc^2~1", m("quikc", fuzziness=1, boost=2.0)),
        ('"a b"^3', {"match_phrase": {"f": {"query": "a b", "boost": 3.0}}}),
        ("age:[1 TO 5]^2", {"range": {"age": {"gte": "1", "lte": "5", "boost": 2.0}}}),
        ("qui*^2", {"prefix": {"f": {"value": "qui", "boost": 2.0}}}),
        ("foo-bar", m("foo-bar")),  # - inside a word is not an operator
        ("a&&b", m("a&&b")),
        ("ANDROID", m("ANDROID")),
        ("and", m("and")),  # operators are upper case only
        ("12.5", m("12.5")),
        ("a=b", m("a=b")),
    ],
)
def test_query_string_clauses(query: str, expected: dict[str, Any]) -> None:
    assert qs(query) == expected


def test_range_operators_need_a_field() -> None:
    assert parse_query_string({"query": ">5"}) == {
        "multi_match": {"query": ">5", "fields": ["*"], "type": "best_fields", "lenient": True}
    }
    assert qs(">5") == {"range": {"f": {"gt": "5"}}}  # a single default_field counts
    assert qs("age:>") == m(">", "age")


def test_range_passes_time_zone() -> None:
    assert qs("d:[2024-01-01 TO now]", time_zone="+01:00") == {
        "range": {"d": {"gte": "2024-01-01", "lte": "now", "time_zone": "+01:00"}}
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (r"foo\:bar", m("foo:bar")),
        (r"\(1\+1\)\=2", m("(1+1)=2")),
        (r"a\ b", m("a b")),
        (r"\"quoted\"", m('"quoted"')),
        (r"caf\u00e9", m("café")),
        (r"\*", m("*")),
        (r"foo\*", m("foo*")),  # an escaped star is not a prefix
        (r"fo\*o*", {"prefix": {"f": {"value": "fo*o"}}}),
        (r"f\*o?", {"wildcard": {"f": {"value": r"f\*o?"}}}),  # wildcards keep their escapes
        (r'"say \"hi\""', {"match_phrase": {"f": {"query": 'say "hi"'}}}),
        (r"my\ field:x", m("x", "my field")),
        (r"book.\*:quick", {"multi_match": {"query": "quick", "fields": ["book.*"], **BEST}}),
        (r"\AND", m("AND")),
        (r"a\/b", m("a/b")),
    ],
)  # fmt: skip
def test_escapes(query: str, expected: dict[str, Any]) -> None:
    assert qs(query) == expected


def test_escape_parameter_makes_every_character_literal() -> None:
    assert qs("a+b:(c)", escape=True) == m("a+b:(c)")
    # Lucene's escape() leaves the word operators alone, so AND still joins.
    assert qs('"x" AND y*', escape=True) == {"bool": {"must": [m('"x"'), m("y*")]}}


# --- query_string: operators and precedence -------------------------------------------------------


def test_default_operator_or_and_and() -> None:
    assert qs("a b") == {"bool": {"should": [m("a"), m("b")]}}
    assert qs("a b", default_operator="AND") == {
        "bool": {"must": [m("a", operator="and"), m("b", operator="and")]}
    }


@pytest.mark.parametrize(
    ("query", "operator", "expected"),
    [
        ("+a -b c", "or", {"must": ["a"], "should": ["c"], "must_not": ["b"]}),
        ("a AND b", "or", {"must": ["a", "b"]}),
        ("a && b", "or", {"must": ["a", "b"]}),
        ("a OR b", "or", {"should": ["a", "b"]}),
        ("a || b", "or", {"should": ["a", "b"]}),
        ("a OR b", "and", {"should": ["a", "b"]}),
        ("a b", "and", {"must": ["a", "b"]}),
        ("a -b", "and", {"must": ["a"], "must_not": ["b"]}),
        ("NOT a", "or", {"must_not": ["a"]}),
        ("!a", "or", {"must_not": ["a"]}),
        ("-a", "or", {"must_not": ["a"]}),
        ("+a", "or", {"must": ["a"]}),
        ("a AND NOT b", "or", {"must": ["a"], "must_not": ["b"]}),
        ("a && !b", "or", {"must": ["a"], "must_not": ["b"]}),
        ("NOT a AND b", "or", {"must": ["b"], "must_not": ["a"]}),
        ("a NOT b", "or", {"should": ["a"], "must_not": ["b"]}),
        # Lucene's classic rules mark neighbours rather than build a tree (ES documents this):
        ("a AND b OR c", "or", {"must": ["a", "b"], "should": ["c"]}),
        ("a OR b AND c", "or", {"must": ["b", "c"], "should": ["a"]}),
        ("a OR b AND c", "and", {"must": ["b", "c"], "should": ["a"]}),
        ("a AND b c", "and", {"must": ["a", "b", "c"]}),
        ("-a OR b", "and", {"should": ["b"], "must_not": ["a"]}),
        ("+a OR b", "and", {"should": ["a", "b"]}),
        ("a + b", "and", {"must": ["a", "b"]}),  # a lone operator is dropped
        ("a ! b", "or", {"should": ["a", "b"]}),
    ],
)
def test_classic_operator_rules(query: str, operator: str, expected: dict[str, list[str]]) -> None:
    params = {"operator": "and"} if operator == "and" else {}
    want = {occur: [m(t, **params) for t in terms] for occur, terms in expected.items()}
    assert qs(query, default_operator=operator) == {"bool": want}


def test_groups() -> None:
    assert qs("(a OR b) AND c") == {
        "bool": {"must": [{"bool": {"should": [m("a"), m("b")]}}, m("c")]}
    }
    assert qs("title:(quick brown)") == {
        "bool": {"should": [m("quick", "title"), m("brown", "title")]}
    }
    assert qs("title:(quick body:fox)") == {
        "bool": {"should": [m("quick", "title"), m("fox", "body")]}
    }
    assert qs("(a b)^2") == {"bool": {"should": [m("a"), m("b")], "boost": 2.0}}
    assert qs("((a))") == m("a")
    assert qs("-(a b)") == {"bool": {"must_not": [{"bool": {"should": [m("a"), m("b")]}}]}}
    assert qs("status:active AND -(title:draft OR title:tmp)") == {
        "bool": {
            "must": [m("active", "status")],
            "must_not": [{"bool": {"should": [m("draft", "title"), m("tmp", "title")]}}],
        }
    }


# --- query_string: fields -------------------------------------------------------------------------


def test_all_fields_by_default() -> None:
    mm = {"fields": ["*"], "lenient": True}
    assert parse_query_string({"query": "quick"}) == {
        "multi_match": {"query": "quick", "type": "best_fields", **mm}
    }
    assert parse_query_string({"query": '"quick fox"~1'}) == {
        "multi_match": {"query": "quick fox", "type": "phrase", "slop": 1, **mm}
    }
    assert parse_query_string({"query": "*"}) == {"match_all": {}}
    assert parse_query_string({"query": "qu*"}) == {"prefix": {"*": {"value": "qu"}}}
    assert parse_query_string({"query": "quick", "default_field": "*", "lenient": False}) == {
        "multi_match": {"query": "quick", "fields": ["*"], "type": "best_fields", "lenient": False}
    }


def test_fields_list_with_boosts() -> None:
    fields = ["title^2", "body"]
    assert qs("quick", fields=fields) == {
        "multi_match": {"query": "quick", "fields": fields, "type": "best_fields"}
    }
    assert qs('"a b"', fields=fields, phrase_slop=1) == {
        "multi_match": {"query": "a b", "fields": fields, "type": "phrase", "slop": 1}
    }
    assert qs("qu*", fields=fields) == {
        "bool": {
            "should": [
                {"prefix": {"title": {"value": "qu", "boost": 2.0}}},
                {"prefix": {"body": {"value": "qu"}}},
            ]
        }
    }
    title, body = {"field": "title", "boost": 2.0}, {"field": "body"}
    assert qs("*", fields=fields) == {"bool": {"should": [{"exists": title}, {"exists": body}]}}
    assert qs("quick", fields=["title"]) == m("quick", "title")
    assert qs("quick", fields=["title"], type="most_fields", tie_breaker=0.3) == m("quick", "title")
    mm = {"query": "quick", "fields": fields, "type": "most_fields", "tie_breaker": 0.3}
    assert qs("quick", fields=fields, type="most_fields", tie_breaker=0.3) == {"multi_match": mm}


def test_fuzzy_options_travel_with_fuzzy_words() -> None:
    body = {"fuzziness": 1, "fuzzy_prefix_length": 2, "fuzzy_max_expansions": 10}
    assert qs("quikc~ quick", **body) == {
        "bool": {
            "should": [m("quikc", fuzziness=1, prefix_length=2, max_expansions=10), m("quick")]
        }
    }


def test_leading_wildcard_can_be_refused() -> None:
    assert qs("*ick", allow_leading_wildcard=True) == {"wildcard": {"f": {"value": "*ick"}}}
    with pytest.raises(QueryShardError) as info:
        qs("*ick", allow_leading_wildcard=False)
    assert info.value.caused_by is not None
    assert "'*' or '?' not allowed as first character" in info.value.caused_by.reason


# --- query_string: body-level options -------------------------------------------------------------


def test_body_options_apply_to_the_top_query() -> None:
    assert qs("a b c", minimum_should_match="2", boost=2, _name="q") == {
        "bool": {
            "should": [m("a"), m("b"), m("c")],
            "minimum_should_match": "2",
            "boost": 2.0,
            "_name": "q",
        }
    }
    assert qs("a^2", boost=3) == m("a", boost=6.0)
    assert qs("+a +b", minimum_should_match=1) == {"bool": {"must": [m("a"), m("b")]}}
    assert qs("a", minimum_should_match="100%") == m("a", minimum_should_match="100%")
    assert qs("a", lenient=True) == m("a", lenient=True)


def test_empty_query_matches_nothing() -> None:
    assert qs("") == NONE
    assert qs("   ") == NONE
    assert qs("+ ") == NONE  # only a lone operator, which analyses to nothing
    assert qs("", boost=2) == {"bool": {"must_not": [{"match_all": {}}], "boost": 2.0}}


def test_query_may_be_a_number() -> None:
    assert parse_query_string({"query": 42, "default_field": "f"}) == m("42")
    assert parse_query_string({"query": True, "default_field": "f"}) == m("true")


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        ({}, ParsingError, "[query_string] must be provided with a [query]"),
        ({"query": "a", "foo": 1}, ParsingError, "[query_string] query does not support [foo]"),
        ({"query": ["a"]}, ParsingError, "[query_string] unknown token [START_ARRAY] after"),
        ({"query": "a", "default_operator": "xor"}, IllegalArgumentError, "No enum constant"),
        ({"query": "a", "phrase_slop": "x"}, ParsingError, "[query_string] failed to parse"),
        ({"query": "a", "fields": ["t^x"]}, IllegalArgumentError, "failed to parse field boost"),
        (
            {"query": "a", "fields": ["t"], "default_field": "f"},
            QueryShardError,
            "failed to create query: Validation Failed: 1: [query_string] cannot use [fields] "
            "parameter in conjunction with [default_field]",
        ),
    ],
)  # fmt: skip
def test_bad_bodies(body: dict[str, Any], error: type[IsthmusError], reason: str) -> None:
    with pytest.raises(error) as info:
        parse_query_string(body)
    assert info.value.reason.startswith(reason)
    assert info.value.http_status == 400


# --- query_string: syntax errors ------------------------------------------------------------------


def test_syntax_error_has_es_shape() -> None:
    with pytest.raises(QueryShardError) as info:
        qs("a AND")
    detail = 'Encountered "<EOF>" at line 1, column 5.'
    assert info.value.http_status == 400
    assert info.value.to_cause() == {
        "type": "query_shard_exception",
        "reason": "Failed to parse query [a AND]",
        "caused_by": {
            "type": "parse_exception",
            "reason": f"Cannot parse 'a AND': {detail}",
            "caused_by": {"type": "parse_exception", "reason": detail},
        },
    }
    assert isinstance(info.value.caused_by, QueryParseError)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("AND a", 'Encountered " <AND> "AND "" at line 1, column 0.'),
        ("a OR", 'Encountered "<EOF>" at line 1, column 4.'),
        ("(a", 'Encountered "<EOF>" at line 1, column 2.'),
        ("a)", 'Encountered " ")" ") "" at line 1, column 1.'),
        ("()", 'Encountered " ")" ") "" at line 1, column 1.'),
        ("title:", 'Encountered "<EOF>" at line 1, column 6.'),
        ("a:b:c", 'Encountered " ":" ": "" at line 1, column 3.'),
        ("a^", 'Encountered "<EOF>" at line 1, column 2.'),
        ("a~2~2", 'Encountered " <FUZZY_SLOP> "~2 "" at line 1, column 3.'),
        ("[a TO", 'Encountered "<EOF>" at line 1, column 5.'),
        ("[a TO b", 'Encountered "<EOF>" at line 1, column 7.'),
        ("[a TO]", 'Encountered " "]" "] "" at line 1, column 5.'),
        ("+-a", 'Encountered " "-" "- "" at line 1, column 1.'),
        ("NOT NOT a", 'Encountered " <NOT> "NOT "" at line 1, column 4.'),
        ("qui*:x", 'Encountered " ":" ": "" at line 1, column 4.'),
        ('"abc', 'Lexical error at line 1, column 5.  Encountered: <EOF> after : "\\"abc"'),
        ("a\\", 'Lexical error at line 1, column 3.  Encountered: <EOF> after : "a\\\\"'),
        ("a^x", 'Lexical error at line 1, column 3.  Encountered: "x" (120), after : ""'),
        ("a/b", 'Lexical error at line 1, column 4.  Encountered: <EOF> after : "/b"'),
        ("a ] b", 'Lexical error at line 1, column 3.  Encountered: "]" (93), after : ""'),
    ],
)
def test_syntax_errors(query: str, detail: str) -> None:
    with pytest.raises(QueryShardError) as info:
        qs(query)
    assert info.value.reason == f"Failed to parse query [{query}]"
    cause = info.value.caused_by
    assert cause is not None
    assert cause.reason == f"Cannot parse '{query}': {detail}"
    assert cause.caused_by is not None
    assert cause.caused_by.reason == detail


def test_deep_nesting_is_refused_not_a_crash() -> None:
    assert qs("(" * 60 + "a" + ")" * 60) == m("a")
    with pytest.raises(QueryShardError):
        qs("(" * 5000 + "a" + ")" * 5000)


LUCENE_ALPHABET = st.sampled_from(
    [*'ab AND OR NOT TO +-!():^[]{}"~*?\\/&|<>=._', "f:", "\t", "\n", "é", "1", "x:"]
)


@given(st.lists(LUCENE_ALPHABET, max_size=25).map("".join))
def test_query_string_returns_dsl_or_raises_our_error(text: str) -> None:
    try:
        out = parse_query_string({"query": text})
    except QueryShardError as exc:
        assert exc.http_status == 400
        assert isinstance(exc.caused_by, QueryParseError)
        return
    assert types_in(out) <= ALLOWED_TYPES
    json.dumps(out)


# --- simple_query_string --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("quick", m("quick")),
        ("quick brown", {"bool": {"should": [m("quick"), m("brown")]}}),
        ("quick + brown", {"bool": {"must": [m("quick"), m("brown")]}}),
        ("quick | brown", {"bool": {"should": [m("quick"), m("brown")]}}),
        ("-quick", {"bool": {"must_not": [m("quick")]}}),
        ("--quick", m("quick")),  # two negations cancel
        ("a -b", {"bool": {"should": [m("a"), {"bool": {"must_not": [m("b")]}}]}}),
        ('"quick fox"', {"match_phrase": {"f": {"query": "quick fox"}}}),
        ('"quick fox"~2', {"match_phrase": {"f": {"query": "quick fox", "slop": 2}}}),
        ("qui*", {"prefix": {"f": {"value": "qui"}}}),
        ("Qui*", {"prefix": {"f": {"value": "Qui", "case_insensitive": True}}}),
        ("quikc~", m("quikc", fuzziness=2)),
        ("quikc~1", m("quikc", fuzziness=1)),
        ("quikc~9", m("quikc", fuzziness=2)),
        ("quikc~0", m("quikc")),
        ("quikc~x", m("quikc")),
        ("*", {"match_all": {}}),
        ("", NONE),
        ("()", NONE),
        ('""', NONE),
        ("foo-bar", m("foo-bar")),
        (r"a\*", m("a*")),
        (r"a\+b", m("a+b")),
        (r'"say \"hi\""', {"match_phrase": {"f": {"query": 'say "hi"'}}}),
        ("(a", m("a")),  # unbalanced parentheses and quotes are ignored
        ("a)", m("a")),
        ('"abc', m("abc")),
        ("+ a", m("a")),
        ("a + + b", {"bool": {"must": [m("a"), m("b")]}}),
        ("a|b+c", {"bool": {"must": [{"bool": {"should": [m("a"), m("b")]}}, m("c")]}}),
        ("((((a))))", m("a")),
    ],
)
def test_simple_query_string(query: str, expected: dict[str, Any]) -> None:
    assert sqs(query) == expected


def test_simple_operators_nest_left_to_right() -> None:
    assert sqs("a + b | c") == {"bool": {"should": [{"bool": {"must": [m("a"), m("b")]}}, m("c")]}}
    assert sqs("(a | b) + c") == {
        "bool": {"must": [{"bool": {"should": [m("a"), m("b")]}}, m("c")]}
    }
    assert sqs("a b", default_operator="and") == {
        "bool": {"must": [m("a", operator="and"), m("b", operator="and")]}
    }
    assert sqs("a | b", default_operator="and") == {
        "bool": {"should": [m("a", operator="and"), m("b", operator="and")]}
    }


def test_simple_flags() -> None:
    assert sqs("a b", flags="NONE") == m("a b")
    assert sqs("a* -b", flags="PREFIX|WHITESPACE") == {
        "bool": {"should": [{"prefix": {"f": {"value": "a"}}}, m("-b")]}
    }
    assert sqs("a -b", flags="and|not|whitespace") == {
        "bool": {"should": [m("a"), {"bool": {"must_not": [m("b")]}}]}
    }
    assert sqs('"a b"', flags="WHITESPACE") == {"bool": {"should": [m('"a'), m('b"')]}}
    assert sqs("a~1", flags="ALL|NONE") == m("a", fuzziness=1)
    assert sqs("a~1", flags=0) == m("a~1")
    with pytest.raises(IllegalArgumentError, match=r"Unknown simple_query_string flag \[BOGUS\]"):
        sqs("a", flags="AND|BOGUS")


def test_simple_fields_and_defaults() -> None:
    assert parse_simple_query_string({"query": "a"}) == {
        "multi_match": {"query": "a", "fields": ["*"], "type": "best_fields", "lenient": True}
    }
    assert sqs("a", fields=["t^2", "b*"]) == {
        "multi_match": {"query": "a", "fields": ["t^2", "b*"], "type": "best_fields"}
    }
    assert sqs("a b", minimum_should_match=2, boost=2, _name="s") == {
        "bool": {"should": [m("a"), m("b")], "minimum_should_match": 2, "boost": 2.0, "_name": "s"}
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "[simple_query_string] query text missing"),
        ({"query": "a", "default_field": "f"}, "[simple_query_string] query does not support"),
        ({"query": "a", "phrase_slop": 1}, "[simple_query_string] query does not support"),
    ],
)
def test_simple_bad_bodies(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(ParsingError) as info:
        parse_simple_query_string(body)
    assert info.value.reason.startswith(reason)


SIMPLE_ALPHABET = st.sampled_from([*'ab +-|"*()~\\12 \t', "~2", "é", "ab*"])


@given(
    st.lists(SIMPLE_ALPHABET, max_size=30).map("".join),
    st.sampled_from(["ALL", "NONE", "AND|OR", "PHRASE|NEAR", "ESCAPE|PREFIX", "PRECEDENCE"]),
    st.sampled_from(["or", "and"]),
)
def test_simple_query_string_never_raises(text: str, flags: str, operator: str) -> None:
    body = {"query": text, "flags": flags, "default_operator": operator}
    out = parse_simple_query_string(body)
    assert types_in(out) <= ALLOWED_TYPES
    json.dumps(out)


@given(st.text(max_size=40))
def test_simple_query_string_never_raises_on_any_text(text: str) -> None:
    assert types_in(parse_simple_query_string({"query": text})) <= ALLOWED_TYPES


def test_simple_deep_nesting_does_not_crash() -> None:
    out = sqs("(" * 5000 + "a" + ")" * 5000)
    assert types_in(out) <= ALLOWED_TYPES
