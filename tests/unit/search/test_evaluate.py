"""In-memory query evaluation against hand-checked Elasticsearch semantics."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.errors import NotImplementedYet, ParsingError, QueryShardError
from isthmus.index.dates import parse_date
from isthmus.index.mapping import Mapping
from isthmus.search.dsl import parse_query
from isthmus.search.evaluate import EvalDoc, compile_query, matches
from isthmus.search.evaluate_fields import token_positions
from isthmus.search.phrase import phrase_matches
from isthmus.search.term_patterns import edit_distance, regexp_regex, wildcard_regex

NOW = parse_date("2024-03-15T12:00:00Z")

MAPPING = Mapping(
    {
        "properties": {
            "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "body": {"type": "text"},
            "first": {"type": "text"},
            "last": {"type": "text"},
            "tag": {"type": "keyword"},
            "code": {"type": "keyword", "ignore_above": 5},
            "count": {"type": "integer"},
            "big": {"type": "long"},
            "price": {"type": "double"},
            "flag": {"type": "boolean"},
            "date": {"type": "date"},
            "day": {"type": "date", "format": "yyyy-MM-dd"},
            "user": {"properties": {"name": {"type": "keyword"}, "age": {"type": "long"}}},
        }
    }
)


def hit(query: dict[str, Any], source: dict[str, Any], doc_id: str = "1") -> bool:
    return matches(parse_query(query), EvalDoc(doc_id, source), MAPPING, now_ms=NOW)


# --- term / terms / ids -------------------------------------------------------------------------


class TestTerm:
    def test_keyword_exact_value(self) -> None:
        assert hit({"term": {"tag": "red"}}, {"tag": "red"})
        assert not hit({"term": {"tag": "red"}}, {"tag": "Red"})
        assert not hit({"term": {"tag": "red"}}, {"tag": "red wine"})

    def test_keyword_case_insensitive(self) -> None:
        assert hit({"term": {"tag": {"value": "RED", "case_insensitive": True}}}, {"tag": "Red"})

    def test_text_field_compares_against_analysed_tokens(self) -> None:
        source = {"title": "Hello World"}
        assert not hit({"term": {"title": "Hello"}}, source)
        assert hit({"term": {"title": "hello"}}, source)
        assert not hit({"term": {"title": "hello world"}}, source)

    def test_multi_field_keyword_holds_whole_value(self) -> None:
        assert hit({"term": {"title.keyword": "Hello World"}}, {"title": "Hello World"})
        assert not hit({"term": {"title.keyword": "hello"}}, {"title": "Hello World"})

    def test_any_value_of_an_array(self) -> None:
        assert hit({"term": {"tag": "b"}}, {"tag": ["a", "b"]})

    def test_unmapped_field_matches_nothing(self) -> None:
        assert not hit({"term": {"nope": "x"}}, {"nope": "x"})

    def test_integer_values(self) -> None:
        assert hit({"term": {"count": 5}}, {"count": 5})
        assert hit({"term": {"count": "5"}}, {"count": "5"})
        assert hit({"term": {"count": 5.0}}, {"count": 5})
        # A fraction can never equal an integer field's value: ES answers match_none.
        assert not hit({"term": {"count": 5.5}}, {"count": 5})

    def test_number_that_does_not_parse_is_a_shard_error(self) -> None:
        with pytest.raises(QueryShardError, match=r'For input string: "abc"'):
            hit({"term": {"count": "abc"}}, {"count": 1})

    def test_integer_out_of_range(self) -> None:
        with pytest.raises(QueryShardError, match="out of range for an integer"):
            hit({"term": {"count": 2**40}}, {"count": 1})
        assert hit({"term": {"big": 2**40}}, {"big": 2**40})

    def test_double(self) -> None:
        assert hit({"term": {"price": 1.5}}, {"price": "1.5"})
        assert not hit({"term": {"price": 1.5}}, {"price": 1.25})

    def test_boolean(self) -> None:
        assert hit({"term": {"flag": True}}, {"flag": True})
        assert hit({"term": {"flag": "false"}}, {"flag": False})
        assert not hit({"term": {"flag": "true"}}, {"flag": False})
        with pytest.raises(QueryShardError, match=r"Can't parse boolean value \[yes\]"):
            hit({"term": {"flag": "yes"}}, {"flag": True})

    def test_date_term_covers_the_rounded_unit(self) -> None:
        source = {"date": "2024-01-01T15:30:00Z"}
        assert hit({"term": {"date": "2024-01-01T15:30:00Z"}}, source)
        assert not hit({"term": {"date": "2024-01-01T15:30:01Z"}}, source)
        # A bare day rounds down for the lower and up for the upper end: the whole day.
        assert hit({"term": {"date": "2024-01-01"}}, source)
        assert hit({"term": {"date": "2024-01-01||/d"}}, source)
        assert not hit({"term": {"date": "2024-01-02"}}, source)

    def test_keyword_over_ignore_above_is_not_indexed(self) -> None:
        assert hit({"term": {"code": "abc"}}, {"code": "abc"})
        assert not hit({"term": {"code": "abcdefg"}}, {"code": "abcdefg"})

    def test_id_field(self) -> None:
        assert hit({"term": {"_id": "7"}}, {}, doc_id="7")
        assert not hit({"term": {"_id": "7"}}, {}, doc_id="8")

    def test_terms_any_of(self) -> None:
        assert hit({"terms": {"tag": ["x", "red"]}}, {"tag": "red"})
        assert not hit({"terms": {"tag": ["x", "y"]}}, {"tag": "red"})
        assert hit({"terms": {"count": [1, 2, 3]}}, {"count": 2})
        assert hit({"terms": {"_id": ["1", "2"]}}, {}, doc_id="2")

    def test_ids(self) -> None:
        assert hit({"ids": {"values": ["1", "3"]}}, {}, doc_id="3")
        assert not hit({"ids": {"values": ["1", "3"]}}, {}, doc_id="2")


# --- match --------------------------------------------------------------------------------------


class TestMatch:
    SOURCE = {"body": "The quick brown fox jumps over the lazy dog"}

    def test_or_needs_one_token(self) -> None:
        assert hit({"match": {"body": "quick cat"}}, self.SOURCE)
        assert not hit({"match": {"body": "slow cat"}}, self.SOURCE)

    def test_query_is_analysed(self) -> None:
        assert hit({"match": {"body": "QUICK!"}}, self.SOURCE)

    def test_and_needs_every_token(self) -> None:
        assert hit({"match": {"body": {"query": "quick dog", "operator": "and"}}}, self.SOURCE)
        assert not hit({"match": {"body": {"query": "quick cat", "operator": "AND"}}}, self.SOURCE)

    def test_minimum_should_match(self) -> None:
        def q(msm: str | int) -> dict[str, Any]:
            text = "quick brown cat mouse"
            return {"match": {"body": {"query": text, "minimum_should_match": msm}}}

        assert not hit(q("75%"), self.SOURCE)  # 3 of 4 needed, 2 present
        assert hit(q("50%"), self.SOURCE)
        assert hit(q(-2), self.SOURCE)
        assert not hit(q(3), self.SOURCE)

    def test_minimum_should_match_is_ignored_for_a_single_term(self) -> None:
        assert hit({"match": {"body": {"query": "fox", "minimum_should_match": 2}}}, self.SOURCE)

    def test_fuzziness(self) -> None:
        # "quikc" is one transposition away from "quick"; AUTO allows 1 edit for 3-5 chars.
        assert hit({"match": {"body": {"query": "quikc", "fuzziness": "AUTO"}}}, self.SOURCE)
        assert hit({"match": {"body": {"query": "qick", "fuzziness": 1}}}, self.SOURCE)
        assert not hit({"match": {"body": {"query": "quikc"}}}, self.SOURCE)
        # AUTO gives 0 edits to 1-2 character terms.
        assert not hit({"match": {"body": {"query": "dg", "fuzziness": "AUTO"}}}, {"body": "do"})

    def test_fuzziness_prefix_length(self) -> None:
        q = {"match": {"body": {"query": "wuick", "fuzziness": 1, "prefix_length": 1}}}
        assert not hit(q, self.SOURCE)
        q["match"]["body"]["prefix_length"] = 0
        assert hit(q, self.SOURCE)

    def test_zero_terms_query(self) -> None:
        assert not hit({"match": {"body": "!!!"}}, self.SOURCE)
        assert hit({"match": {"body": {"query": "!!!", "zero_terms_query": "all"}}}, {})

    def test_keyword_field_keeps_the_value_whole(self) -> None:
        assert hit({"match": {"tag": "New York"}}, {"tag": "New York"})
        assert not hit({"match": {"tag": "york"}}, {"tag": "New York"})

    def test_keyword_fuzziness(self) -> None:
        assert hit({"match": {"tag": {"query": "Nex York", "fuzziness": 1}}}, {"tag": "New York"})

    def test_numeric_field_coerces_the_query(self) -> None:
        assert hit({"match": {"count": "42"}}, {"count": 42})
        with pytest.raises(QueryShardError, match=r'For input string: "forty"'):
            hit({"match": {"count": "forty"}}, {"count": 42})
        assert not hit({"match": {"count": {"query": "forty", "lenient": True}}}, {"count": 42})

    def test_fuzziness_on_numbers_is_refused(self) -> None:
        with pytest.raises(QueryShardError, match="Can only use fuzzy queries on keyword and text"):
            hit({"match": {"count": {"query": 4, "fuzziness": 1}}}, {"count": 4})

    def test_date_and_boolean_fields(self) -> None:
        assert hit({"match": {"date": "2024-01-01"}}, {"date": "2024-01-01T08:00:00Z"})
        assert hit({"match": {"flag": "true"}}, {"flag": True})

    def test_missing_or_unmapped_field(self) -> None:
        assert not hit({"match": {"body": "fox"}}, {})
        assert not hit({"match": {"nope": "fox"}}, {"nope": "fox"})


class TestPhrase:
    SOURCE = {"body": "the quick brown fox"}

    def test_exact_phrase(self) -> None:
        assert hit({"match_phrase": {"body": "quick brown"}}, self.SOURCE)
        assert hit({"match_phrase": {"body": "Quick, Brown!"}}, self.SOURCE)
        assert not hit({"match_phrase": {"body": "brown quick"}}, self.SOURCE)
        assert not hit({"match_phrase": {"body": "quick fox"}}, self.SOURCE)

    def test_slop_allows_gaps(self) -> None:
        assert hit({"match_phrase": {"body": {"query": "quick fox", "slop": 1}}}, self.SOURCE)
        assert not hit({"match_phrase": {"body": {"query": "the fox", "slop": 1}}}, self.SOURCE)

    def test_swapped_terms_cost_two(self) -> None:
        q = {"match_phrase": {"body": {"query": "brown quick", "slop": 1}}}
        assert not hit(q, self.SOURCE)
        q["match_phrase"]["body"]["slop"] = 2
        assert hit(q, self.SOURCE)

    def test_array_values_are_100_positions_apart(self) -> None:
        source = {"body": ["John Abraham", "Lincoln Smith"]}
        q = {"match_phrase": {"body": {"query": "Abraham Lincoln", "slop": 0}}}
        assert not hit(q, source)
        q["match_phrase"]["body"]["slop"] = 99
        assert not hit(q, source)
        q["match_phrase"]["body"]["slop"] = 100
        assert hit(q, source)

    def test_repeated_terms_need_distinct_positions(self) -> None:
        q = {"match_phrase": {"body": {"query": "ha ha", "slop": 3}}}
        assert not hit(q, {"body": "ha"})
        assert hit(q, {"body": "ha hi ha"})

    def test_phrase_prefix(self) -> None:
        assert hit({"match_phrase_prefix": {"body": "quick br"}}, self.SOURCE)
        assert not hit({"match_phrase_prefix": {"body": "quick fo"}}, self.SOURCE)
        assert hit({"match_phrase_prefix": {"body": "bro"}}, self.SOURCE)
        assert hit({"match_phrase_prefix": {"body": {"query": "quick fo", "slop": 1}}}, self.SOURCE)

    def test_phrase_on_keyword_is_exact(self) -> None:
        assert hit({"match_phrase": {"tag": "a b"}}, {"tag": "a b"})
        assert not hit({"match_phrase": {"tag": "a"}}, {"tag": "a b"})

    def test_no_tokens_matches_nothing(self) -> None:
        assert not hit({"match_phrase": {"body": "..."}}, self.SOURCE)


class TestMultiMatch:
    def test_any_field_matches(self) -> None:
        q = {"multi_match": {"query": "fox", "fields": ["title", "body"]}}
        assert hit(q, {"body": "a fox"})
        assert hit(q, {"title": "fox"})
        assert not hit(q, {"tag": "fox"})

    def test_wildcard_field_names(self) -> None:
        q = {"multi_match": {"query": "ann", "fields": ["user.*"], "lenient": True}}
        assert hit(q, {"user": {"name": "ann", "age": 3}})

    def test_all_fields_is_lenient(self) -> None:
        assert hit({"multi_match": {"query": "fox"}}, {"count": 3, "body": "fox"})

    def test_operator_applies_per_field(self) -> None:
        q = {"multi_match": {"query": "john smith", "fields": ["first", "last"], "operator": "and"}}
        assert not hit(q, {"first": "john", "last": "smith"})
        assert hit(q, {"first": "john smith"})

    def test_cross_fields_blends_fields(self) -> None:
        q = {
            "multi_match": {
                "query": "john smith",
                "fields": ["first", "last"],
                "type": "cross_fields",
                "operator": "and",
            }
        }
        assert hit(q, {"first": "john", "last": "smith"})
        assert not hit(q, {"first": "john", "last": "doe"})

    def test_cross_fields_refuses_fuzziness(self) -> None:
        q = {"multi_match": {"query": "x", "type": "cross_fields", "fuzziness": 1}}
        with pytest.raises(ParsingError, match=r"Fuzziness not allowed for type \[cross_fields\]"):
            hit(q, {})

    def test_phrase_type(self) -> None:
        q = {"multi_match": {"query": "brown fox", "fields": ["title", "body"], "type": "phrase"}}
        assert hit(q, {"body": "the brown fox"})
        assert not hit(q, {"body": "the fox is brown"})

    def test_bool_prefix_type(self) -> None:
        q = {
            "multi_match": {
                "query": "quick br",
                "fields": ["body"],
                "type": "bool_prefix",
                "operator": "and",
            }
        }
        assert hit(q, {"body": "brown and quick"})
        assert not hit(q, {"body": "quick only"})


# --- range / exists -----------------------------------------------------------------------------


class TestRange:
    def test_numbers(self) -> None:
        q = {"range": {"count": {"gte": 10, "lt": 20}}}
        assert hit(q, {"count": 10})
        assert hit(q, {"count": 19})
        assert not hit(q, {"count": 20})
        assert not hit(q, {"count": 9})

    def test_fractional_bound_on_integers(self) -> None:
        assert hit({"range": {"count": {"gt": 1.5}}}, {"count": 2})
        assert not hit({"range": {"count": {"lte": 1.5}}}, {"count": 2})

    def test_one_value_must_satisfy_all_bounds(self) -> None:
        assert not hit({"range": {"count": {"gte": 5, "lte": 6}}}, {"count": [1, 10]})
        assert hit({"range": {"count": {"gte": 5, "lte": 6}}}, {"count": [1, 5]})

    def test_from_to_form(self) -> None:
        q = {"range": {"price": {"from": 1, "to": 2, "include_upper": False}}}
        assert hit(q, {"price": 1})
        assert not hit(q, {"price": 2})

    def test_bad_number(self) -> None:
        with pytest.raises(QueryShardError):
            hit({"range": {"price": {"gte": "cheap"}}}, {"price": 1})

    def test_date_math_relative_to_now(self) -> None:
        q = {"range": {"date": {"gte": "now-1d/d", "lt": "now/d"}}}
        assert hit(q, {"date": "2024-03-14T00:00:00Z"})
        assert hit(q, {"date": "2024-03-14T23:59:59.999Z"})
        assert not hit(q, {"date": "2024-03-15T00:00:00Z"})
        assert not hit(q, {"date": "2024-03-13T23:59:59Z"})

    def test_rounding_rules(self) -> None:
        # gt rounds up: the whole day is excluded; lte rounds up: the whole day is included.
        late = {"date": "2024-01-01T23:00:00Z"}
        assert not hit({"range": {"date": {"gt": "2024-01-01||/d"}}}, late)
        assert hit({"range": {"date": {"lte": "2024-01-01||/d"}}}, late)
        # gte and lt round down.
        assert hit({"range": {"date": {"gte": "2024-01-01T12:00:00Z||/d"}}}, late)
        assert not hit({"range": {"date": {"lt": "2024-01-01T23:30:00Z||/d"}}}, late)

    def test_format_and_time_zone(self) -> None:
        q = {
            "range": {"date": {"gte": "02/01/2024", "format": "dd/MM/yyyy", "time_zone": "+01:00"}}
        }
        # 2024-01-02T00:00 at +01:00 is 2024-01-01T23:00Z.
        assert hit(q, {"date": "2024-01-01T23:00:00Z"})
        assert not hit(q, {"date": "2024-01-01T22:59:59Z"})

    def test_field_format_reads_bounds(self) -> None:
        assert hit({"range": {"day": {"gte": "2024-01-02"}}}, {"day": "2024-01-02"})
        assert not hit({"range": {"day": {"gt": "2024-01-02"}}}, {"day": "2024-01-02"})

    def test_keyword_is_lexicographic(self) -> None:
        q = {"range": {"tag": {"gte": "b", "lt": "d"}}}
        assert hit(q, {"tag": "banana"})
        assert hit(q, {"tag": "c"})
        assert not hit(q, {"tag": "d"})
        assert not hit(q, {"tag": "apple"})

    def test_text_compares_tokens(self) -> None:
        assert hit({"range": {"body": {"gte": "m"}}}, {"body": "Apple Zebra"})
        assert not hit({"range": {"body": {"gte": "b"}}}, {"body": "Apple"})


class TestExists:
    def test_values(self) -> None:
        q = {"exists": {"field": "tag"}}
        assert hit(q, {"tag": "x"})
        assert hit(q, {"tag": ["x", None]})
        assert not hit(q, {"tag": None})
        assert not hit(q, {"tag": []})
        assert not hit(q, {})

    def test_empty_string(self) -> None:
        assert hit({"exists": {"field": "tag"}}, {"tag": ""})
        assert hit({"exists": {"field": "body"}}, {"body": ""})

    def test_ignore_above_values_do_not_count(self) -> None:
        assert not hit({"exists": {"field": "code"}}, {"code": "too long"})

    def test_object_path_and_patterns(self) -> None:
        assert hit({"exists": {"field": "user"}}, {"user": {"age": 3}})
        assert not hit({"exists": {"field": "user"}}, {"user": {}})
        assert hit({"exists": {"field": "user.*"}}, {"user": {"name": "x"}})

    def test_unmapped(self) -> None:
        assert not hit({"exists": {"field": "nope"}}, {"nope": 1})


# --- prefix / wildcard / regexp / fuzzy ---------------------------------------------------------


class TestPatterns:
    def test_prefix(self) -> None:
        assert hit({"prefix": {"body": "bro"}}, {"body": "The Brown fox"})
        assert not hit({"prefix": {"body": "Bro"}}, {"body": "The Brown fox"})
        assert hit(
            {"prefix": {"body": {"value": "Bro", "case_insensitive": True}}}, {"body": "brown"}
        )
        assert hit({"prefix": {"tag": "New Y"}}, {"tag": "New York"})
        assert not hit({"prefix": {"tag": "York"}}, {"tag": "New York"})

    def test_prefix_on_id(self) -> None:
        assert hit({"prefix": {"_id": "ab"}}, {}, doc_id="abc")

    def test_wildcard(self) -> None:
        assert hit({"wildcard": {"body": "qu*k"}}, {"body": "Quick fox"})
        assert hit({"wildcard": {"body": {"value": "f?x"}}}, {"body": "Quick fox"})
        # Patterns are not analysed: upper case never meets the lower-cased tokens.
        assert not hit({"wildcard": {"body": "Qu*"}}, {"body": "Quick fox"})
        assert hit(
            {"wildcard": {"body": {"value": "Qu*", "case_insensitive": True}}},
            {"body": "Quick fox"},
        )
        assert hit({"wildcard": {"tag": "New*rk"}}, {"tag": "New York"})
        assert hit({"wildcard": {"tag": {"wildcard": "a\\*b"}}}, {"tag": "a*b"})
        assert not hit({"wildcard": {"tag": "a\\*b"}}, {"tag": "axb"})

    def test_regexp(self) -> None:
        assert hit({"regexp": {"body": "qu.*k"}}, {"body": "Quick"})
        assert hit({"regexp": {"tag": "[a-c]+"}}, {"tag": "abcabc"})
        assert not hit({"regexp": {"tag": "[a-c]+"}}, {"tag": "abcd"})
        # Lucene patterns are anchored and ^ is an ordinary character.
        assert not hit({"regexp": {"tag": "bc"}}, {"tag": "abc"})
        assert hit({"regexp": {"tag": "a^b"}}, {"tag": "a^b"})

    def test_pattern_queries_need_string_fields(self) -> None:
        for name in ("prefix", "wildcard", "regexp"):
            with pytest.raises(QueryShardError, match=f"Can only use {name} queries on keyword"):
                hit({name: {"count": "1"}}, {"count": 1})
        with pytest.raises(QueryShardError, match="Can only use fuzzy queries"):
            hit({"fuzzy": {"date": "x"}}, {})

    def test_fuzzy(self) -> None:
        assert hit({"fuzzy": {"body": "quikc"}}, {"body": "quick"})
        assert not hit(
            {"fuzzy": {"body": {"value": "quikc", "transpositions": False}}}, {"body": "quick"}
        )
        assert hit(
            {"fuzzy": {"body": {"value": "quikc", "fuzziness": 2, "transpositions": False}}},
            {"body": "quick"},
        )
        assert hit({"fuzzy": {"tag": {"value": "Nex York", "fuzziness": 1}}}, {"tag": "New York"})
        # The value is not analysed.
        assert not hit({"fuzzy": {"body": "QUICK"}}, {"body": "quick"})


# --- compound -----------------------------------------------------------------------------------


class TestBool:
    SOURCE = {"tag": "a", "count": 5}

    def test_must_filter_must_not(self) -> None:
        assert hit(
            {"bool": {"must": {"term": {"tag": "a"}}, "filter": [{"term": {"count": 5}}]}},
            self.SOURCE,
        )
        assert not hit(
            {"bool": {"must": [{"term": {"tag": "a"}}, {"term": {"count": 6}}]}}, self.SOURCE
        )
        assert not hit({"bool": {"must_not": {"term": {"tag": "a"}}}}, self.SOURCE)
        assert hit({"bool": {"must_not": {"term": {"tag": "b"}}}}, self.SOURCE)

    def test_should_alone_needs_one(self) -> None:
        assert hit(
            {"bool": {"should": [{"term": {"tag": "x"}}, {"term": {"tag": "a"}}]}}, self.SOURCE
        )
        assert not hit({"bool": {"should": [{"term": {"tag": "x"}}]}}, self.SOURCE)

    def test_should_is_optional_beside_must_or_filter(self) -> None:
        for occur in ("must", "filter"):
            q = {"bool": {occur: {"term": {"tag": "a"}}, "should": {"term": {"tag": "x"}}}}
            assert hit(q, self.SOURCE)

    def test_minimum_should_match(self) -> None:
        shoulds = [{"term": {"tag": "a"}}, {"term": {"count": 5}}, {"term": {"tag": "z"}}]
        assert hit({"bool": {"should": shoulds, "minimum_should_match": 2}}, self.SOURCE)
        assert not hit({"bool": {"should": shoulds, "minimum_should_match": "100%"}}, self.SOURCE)
        q = {
            "bool": {
                "filter": {"term": {"tag": "a"}},
                "should": shoulds[2:],
                "minimum_should_match": 1,
            }
        }
        assert not hit(q, self.SOURCE)

    def test_empty_bool_matches_everything(self) -> None:
        assert hit({"bool": {}}, {})

    def test_nested_bool(self) -> None:
        q = {
            "bool": {
                "must": {"bool": {"should": [{"term": {"tag": "a"}}]}},
                "must_not": {"bool": {"filter": {"range": {"count": {"gt": 10}}}}},
            }
        }
        assert hit(q, self.SOURCE)

    def test_constant_score_dis_max_match_all_none(self) -> None:
        assert hit({"constant_score": {"filter": {"term": {"tag": "a"}}}}, self.SOURCE)
        assert hit(
            {"dis_max": {"queries": [{"term": {"tag": "x"}}, {"term": {"count": 5}}]}}, self.SOURCE
        )
        assert not hit({"dis_max": {"queries": [{"term": {"tag": "x"}}]}}, self.SOURCE)
        assert hit({"match_all": {}}, {})
        assert not hit({"match_none": {}}, {})

    def test_compiled_predicate_is_reusable(self) -> None:
        pred = compile_query(parse_query({"term": {"tag": "a"}}), MAPPING, now_ms=NOW)
        docs = [EvalDoc(str(i), {"tag": t}) for i, t in enumerate("abca")]
        assert [d.id for d in docs if pred(d)] == ["0", "3"]

    def test_errors_surface_at_compile_time(self) -> None:
        with pytest.raises(QueryShardError):
            compile_query(parse_query({"term": {"count": "x"}}), MAPPING, now_ms=NOW)


# --- building blocks ----------------------------------------------------------------------------


class TestTermPatterns:
    @pytest.mark.parametrize(
        ("a", "b", "osa", "lev"),
        [
            ("", "", 0, 0),
            ("abc", "abc", 0, 0),
            ("ab", "ba", 1, 2),
            ("kitten", "sitting", 3, 3),
            ("quick", "quikc", 1, 2),
            ("abc", "", 3, 3),
        ],
    )
    def test_edit_distance(self, a: str, b: str, osa: int, lev: int) -> None:
        assert edit_distance(a, b) == osa
        assert edit_distance(a, b, transpositions=False) == lev

    def test_edit_distance_limit(self) -> None:
        assert edit_distance("aaaa", "bbbb", limit=1) == 2
        assert edit_distance("a", "abcdef", limit=2) == 3

    def test_wildcard_regex(self) -> None:
        assert wildcard_regex("a*c").fullmatch("abbbc")
        assert wildcard_regex("a?c").fullmatch("a\nc")
        assert not wildcard_regex("a.c").fullmatch("abc")

    def test_regexp_translation(self) -> None:
        assert regexp_regex('"a.b"c').fullmatch("a.bc")
        assert regexp_regex("a@").fullmatch("anything")
        assert not regexp_regex("#").fullmatch("")
        assert regexp_regex("<1-12>").fullmatch("7")
        assert regexp_regex("<1-12>").fullmatch("007")
        assert not regexp_regex("<1-12>").fullmatch("13")
        assert regexp_regex("<01-12>").fullmatch("07")
        assert not regexp_regex("<01-12>").fullmatch("7")
        assert regexp_regex("[^a-c]x").fullmatch("dx")
        assert regexp_regex("a{2,3}").fullmatch("aaa")
        assert regexp_regex("\\d+").fullmatch("123")

    def test_regexp_operators_without_python_equivalent(self) -> None:
        with pytest.raises(NotImplementedYet):
            regexp_regex("a&b")
        with pytest.raises(NotImplementedYet):
            regexp_regex("~a")

    def test_bad_regexp(self) -> None:
        with pytest.raises(QueryShardError):
            regexp_regex("a(b")


def _osa_reference(a: str, b: str) -> int:
    if not a or not b:
        return len(a) + len(b)
    best = min(
        _osa_reference(a[1:], b) + 1,
        _osa_reference(a, b[1:]) + 1,
        _osa_reference(a[1:], b[1:]) + (a[0] != b[0]),
    )
    if len(a) > 1 and len(b) > 1 and a[0] == b[1] and a[1] == b[0]:
        best = min(best, _osa_reference(a[2:], b[2:]) + 1)
    return best


@given(st.text("abc", max_size=5), st.text("abc", max_size=5))
def test_edit_distance_matches_reference(a: str, b: str) -> None:
    assert edit_distance(a, b) == _osa_reference(a, b)
    assert edit_distance(a, b) == edit_distance(b, a)


def _phrase_reference(keys: list[str], positions: list[list[int]], slop: int) -> bool:
    for choice in itertools.product(*positions):
        taken: dict[str, set[int]] = {}
        ok = True
        for key, pos in zip(keys, choice, strict=True):
            if pos in taken.setdefault(key, set()):
                ok = False
            taken[key].add(pos)
        phrase = [p - i for i, p in enumerate(choice)]
        if ok and max(phrase) - min(phrase) <= slop:
            return True
    return False


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from("abc"), min_size=1, max_size=4),
    st.lists(st.sampled_from("abc"), min_size=1, max_size=8),
    st.integers(0, 4),
)
def test_phrase_matches_brute_force(query: list[str], doc: list[str], slop: int) -> None:
    where = token_positions([" ".join(doc)])
    lists = [where.get(t, []) for t in query]
    assert phrase_matches(query, lists, slop) == _phrase_reference(query, lists, slop)


def test_token_positions_leave_a_gap_between_values() -> None:
    assert token_positions(["a b", "c"]) == {"a": [0], "b": [1], "c": [102]}
