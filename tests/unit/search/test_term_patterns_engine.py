"""Lucene regexps and wildcards on the linear-time engine: meaning, limits, and running time.

The timing tests are the point of issue 14 finding 3: on the old backtracking translation
``(a+)+b`` against 27 ``a`` took 4.5 s and doubled per character; here every pattern below runs
against a value of thousands of characters in well under the bounds asserted.
"""

from __future__ import annotations

import time

import pytest
import tantivy
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.cluster.patterns import simple_match
from isthmus.errors import NotImplementedYet, QueryShardError, TooComplexToDeterminizeError
from isthmus.search.term_patterns import (
    check_query_patterns,
    check_regex_length,
    include_exclude_regex,
    regexp_regex,
    wildcard_regex,
)

# Patterns that take exponential (or high-polynomial) time on a backtracking engine.
HOSTILE_REGEXPS = ["(a+)+b", "(a|a)*b", "(a|aa)+b", "(.*a){12}b", "(a*)*b", ".*a.*a.*a.*a.*a.*a.*b"]
HOSTILE_WILDCARDS = ["*a*a*a*a*a*a*a*a*a*a*a*a*b", "*?*?*?*?*?*?*?*?*b"]


def _elapsed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


@pytest.mark.parametrize("pattern", HOSTILE_REGEXPS)
def test_hostile_regexps_match_in_linear_time(pattern: str) -> None:
    compiled = regexp_regex(pattern)
    for length in (27, 40, 5000):
        value = "a" * length
        assert _elapsed(compiled.fullmatch, value) < 0.05
        assert not compiled.fullmatch(value)
    assert compiled.fullmatch("a" * 30 + "b")


@pytest.mark.parametrize("pattern", HOSTILE_WILDCARDS)
def test_hostile_wildcards_match_in_linear_time(pattern: str) -> None:
    compiled = wildcard_regex(pattern)
    assert _elapsed(compiled.fullmatch, "a" * 20_000) < 0.05
    assert compiled.fullmatch("a" * 50 + "b")


def test_index_name_patterns_do_not_backtrack() -> None:
    # ``.*a.*a...b`` on a backtracking engine: 255 characters and 30 stars never finish.
    pattern = "*a" * 30 + "*b"
    assert _elapsed(simple_match, "a" * 255, pattern) < 0.05
    assert not simple_match("a" * 255, pattern)
    assert simple_match("a" * 40 + "b", pattern)
    assert simple_match("logs-2024", "logs-*") and not simple_match("secret", "secre*[t:]")


@given(st.text("ab", max_size=8), st.text("ab*?", max_size=6))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_simple_match_agrees_with_fnmatch_on_globs(name: str, pattern: str) -> None:
    import fnmatch

    assert simple_match(name, pattern) == fnmatch.fnmatchcase(name, pattern)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("k.*y", "kimchy", True),
        ("bc", "abc", False),  # anchored at both ends
        ("a^b$", "a^b$", True),  # ^ and $ are ordinary characters
        ("a.c", "a\nc", True),  # . matches newlines
        ("a{2,3}", "aaa", True),
        ("a{2,3}", "aaaa", False),
        ("a{2,}", "aaaaa", True),
        ("a{1500}", "a" * 1500, True),  # counts past RE2's 1000
        ("a{1500,2500}", "a" * 2501, False),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("[a\\-c]", "-", True),
        ("\\d+\\s\\w", "12 x", True),
        ("[\\d]x", "5x", True),
        ("@", "anything at all", True),  # ANYSTRING
        ("#", "", False),  # EMPTY language
        ("#|ab", "ab", True),
        ("()", "", True),
        ('"a.b"', "a.b", True),  # quoted literal
        ('"a.b"', "axb", False),
        ("a\\.b", "a.b", True),
        ("<1-10>", "7", True),  # interval, any leading zeros when widths differ
        ("<1-10>", "007", True),
        ("<1-10>", "11", False),
        ("<01-10>", "07", True),  # equal widths: fixed, zero-padded
        ("<01-10>", "7", False),
        ("<0-999999999999>", "123456789012", True),  # wide intervals cost nothing
        ("é+", "ééé", True),
    ],
)
def test_lucene_regexp_meaning(pattern: str, value: str, expected: bool) -> None:
    assert regexp_regex(pattern).fullmatch(value) is expected


def test_case_insensitive_and_wildcard_escapes() -> None:
    assert regexp_regex("ki.*", True).fullmatch("KIMCHY")
    assert not regexp_regex("ki.*").fullmatch("KIMCHY")
    assert wildcard_regex("a\\*b").fullmatch("a*b")
    assert not wildcard_regex("a\\*b").fullmatch("axb")
    assert wildcard_regex("k?m*").fullmatch("kimchy")


@pytest.mark.parametrize("pattern", ["(a", "a{3,1}", "[a", "*a", "a{x}", "<1-x>", 'a"b'])
def test_malformed_regexps_are_query_shard_errors(pattern: str) -> None:
    with pytest.raises(QueryShardError) as info:
        regexp_regex(pattern)
    assert info.value.reason.startswith("failed to create query: ")
    assert info.value.http_status == 400


def test_intersection_and_complement_are_refused_with_400() -> None:
    for pattern in ("a&b", "~a"):
        with pytest.raises(NotImplementedYet) as info:
            regexp_regex(pattern)
        assert info.value.http_status == 400


def test_determinization_limit() -> None:
    # ES's documentation example of a pattern too complex to determinize.
    with pytest.raises(QueryShardError) as info:
        regexp_regex("[ac]*a[ac]{50,200}")
    cause = info.value.caused_by
    assert isinstance(cause, TooComplexToDeterminizeError)
    assert cause.es_type == "too_complex_to_determinize_exception"
    assert cause.reason.startswith("Determinizing automaton with ")
    assert cause.reason.endswith(" would require more than 10000 effort.")
    assert info.value.reason == f"failed to create query: {cause.reason}"
    # A lower per-query limit refuses what the default accepts, a higher one accepts more.
    regexp_regex("[ac]*a[ac]{6}")
    with pytest.raises(QueryShardError):
        regexp_regex("[ac]*a[ac]{6}", False, 20)
    # The check itself is bounded: a pattern whose automaton explodes is refused quickly (CPU
    # time, which other processes on a loaded machine do not inflate).
    start = time.process_time()
    with pytest.raises(QueryShardError):
        regexp_regex("(.*a.{30}){3}x")
    assert time.process_time() - start < 2


def test_wildcards_get_the_default_work_limit() -> None:
    with pytest.raises(QueryShardError) as info:
        wildcard_regex("*a" + "?" * 20)
    assert isinstance(info.value.caused_by, TooComplexToDeterminizeError)


def test_include_exclude_reports_lucene_exception_itself() -> None:
    with pytest.raises(TooComplexToDeterminizeError) as info:
        include_exclude_regex("[ac]*a[ac]{50,200}")
    assert info.value.http_status == 400
    assert include_exclude_regex("(a+)+b").fullmatch("aab")


def test_max_regex_length_message() -> None:
    check_regex_length("a" * 1000, 1000)
    with pytest.raises(QueryShardError) as info:
        check_regex_length("a" * 1001, 1000)
    assert info.value.caused_by is not None
    assert info.value.caused_by.es_type == "illegal_argument_exception"
    assert info.value.caused_by.reason == (
        "The length of regex [1001] used in the Regexp Query request has exceeded the allowed "
        "maximum of [1000]. This maximum can be set by changing the [index.max_regex_length] "
        "index level setting."
    )


def test_check_query_patterns_walks_nested_queries() -> None:
    from isthmus.search import dsl

    query = dsl.parse_query(
        {"bool": {"filter": [{"bool": {"should": [{"regexp": {"k": {"value": "a" * 20}}}]}}]}}
    )
    check_query_patterns(query, 20)
    with pytest.raises(QueryShardError):
        check_query_patterns(query, 19)
    per_query = dsl.parse_query(
        {"regexp": {"k": {"value": "[ac]*a[ac]{6}", "max_determinized_states": 20}}}
    )
    with pytest.raises(QueryShardError):
        check_query_patterns(per_query)


@pytest.mark.parametrize(
    "pattern", ["k.*y", "<1-10>", '"a.b"', "[^a-c]x", "#|kimchy", "é+", "\\d\\s\\w"]
)
def test_engine_text_runs_on_tantivy_with_the_same_meaning(pattern: str) -> None:
    values = ["kimchy", "7", "007", "a.b", "dx", "a" * 1500, "ééé", "1 x", "ax"]
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("k", tokenizer_name="raw", stored=True)
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer()
    for value in values:
        writer.add_document(tantivy.Document(k=value))
    writer.commit()
    index.reload()
    compiled = regexp_regex(pattern)
    expected = {v for v in values if compiled.fullmatch(v)}
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.regex_query(schema, "k", compiled.syntax), 20).hits
    found = {searcher.doc(addr)["k"][0] for _score, addr in hits}
    assert found == expected


# --- search.max_buckets, counted as buckets are created ----------------------------------------


def test_max_buckets_refuses_filters_before_evaluating_them() -> None:
    from isthmus.errors import TooManyBucketsError
    from isthmus.index.mapping import Mapping
    from isthmus.search.aggs import AggDoc, AggLimits, collect_aggs, parse_aggs

    mapping = Mapping({"properties": {"k": {"type": "keyword"}}})
    docs = [AggDoc(index="i", id=str(i), score=None, source={"k": f"v{i}"}) for i in range(50)]
    filters = {f"f{i}": {"term": {"k": f"v{i}"}} for i in range(2_000)}
    spec = parse_aggs({"x": {"filters": {"filters": filters}}})
    start = time.perf_counter()
    with pytest.raises(TooManyBucketsError) as info:
        collect_aggs(spec, docs, mapping, now_ms=0, limits=AggLimits(max_buckets=1_999))
    assert time.perf_counter() - start < 0.05  # refused before 100,000 evaluations
    assert info.value.http_status == 400
    assert info.value.extra == {"max_buckets": 1_999}
    full = collect_aggs(spec, docs, mapping, now_ms=0, limits=AggLimits(max_buckets=2_000))
    assert len(full["x"].buckets) == 2_000  # type: ignore[attr-defined]
    # Sub-aggregation buckets count once per parent bucket: 50 terms x 2 filters = 150 > 120.
    nested = parse_aggs(
        {
            "t": {
                "terms": {"field": "k", "size": 50},
                "aggs": {"f": {"filters": {"filters": [{"match_all": {}}, {"match_none": {}}]}}},
            }
        }
    )
    with pytest.raises(TooManyBucketsError):
        collect_aggs(nested, docs, mapping, now_ms=0, limits=AggLimits(max_buckets=120))
    collect_aggs(nested, docs, mapping, now_ms=0, limits=AggLimits(max_buckets=150))


def test_nested_counts_past_re2_limit_and_the_size_guard() -> None:
    # Lucene accepts a^10000 written as nested counts; RE2 alone refuses nested products > 1000.
    assert regexp_regex("(((a{10}){10}){10}){10}").fullmatch("a" * 10_000)
    assert not regexp_regex("(a{2}){2,4}").fullmatch("a" * 5)
    # A raised max_determinized_states never lets an enormous automaton be written out.
    start = time.perf_counter()
    with pytest.raises(QueryShardError):
        regexp_regex("(((a{2}){1000}){1000}){1000}", False, 10**9)
    assert time.perf_counter() - start < 2
    # ... but it does accept more than the default where the automaton stays small.
    assert regexp_regex("[ac]*a[ac]{50,200}", False, 10**9).fullmatch("a" * 60)
