"""Aggregations against hand-computed Elasticsearch responses."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.errors import (
    IllegalArgumentError,
    NotImplementedYet,
    ParsingError,
    QueryShardError,
    TooManyBucketsError,
    XContentParseError,
)
from isthmus.index.dates import parse_date
from isthmus.index.mapping import Mapping
from isthmus.search.aggs import (
    AggDoc,
    collect_aggs,
    parse_aggs,
    reduce_results,
    results_json,
    run_aggs,
)
from isthmus.search.aggs_format import DecimalFormat, java_double_str
from isthmus.search.aggs_metric import percentile

NOW = parse_date("2024-03-15T12:00:00Z")
DAY = 86_400_000

MAPPING = Mapping(
    {
        "properties": {
            "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "tag": {"type": "keyword"},
            "count": {"type": "integer"},
            "price": {"type": "double"},
            "flag": {"type": "boolean"},
            "date": {"type": "date"},
            "day": {"type": "date", "format": "yyyy-MM-dd"},
        }
    }
)

SOURCES: list[dict[str, Any]] = [
    {
        "tag": "a",
        "price": 10.0,
        "count": 1,
        "date": "2024-01-01T10:00:00Z",
        "flag": True,
        "title": "red apple",
    },
    {"tag": "b", "price": 20.0, "count": 2, "date": "2024-01-01T20:00:00Z", "flag": False},
    {"tag": ["a", "b"], "price": 30.0, "count": 3, "date": "2024-01-03T00:00:00Z", "flag": True},
    {"tag": "c", "price": 45.5, "date": "2024-02-10T00:00:00Z"},
    {"price": None},
]
DOCS = [AggDoc("products", str(i), float(i), s) for i, s in enumerate(SOURCES, 1)]


def run(body: dict[str, Any], docs: list[AggDoc] | None = None, **kw: Any) -> dict[str, Any]:
    return run_aggs(parse_aggs(body), DOCS if docs is None else docs, MAPPING, now_ms=NOW, **kw)


def one(agg: dict[str, Any], docs: list[AggDoc] | None = None, **kw: Any) -> Any:
    return run({"x": agg}, docs, **kw)["x"]


def docs_of(*sources: dict[str, Any]) -> list[AggDoc]:
    return [AggDoc("idx", str(i), 1.0, s) for i, s in enumerate(sources, 1)]


# --- terms --------------------------------------------------------------------------------------


class TestTerms:
    def test_keyword_counts_ordered_by_count_then_key(self) -> None:
        assert one({"terms": {"field": "tag"}}) == {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [
                {"key": "a", "doc_count": 2},
                {"key": "b", "doc_count": 2},
                {"key": "c", "doc_count": 1},
            ],
        }

    def test_size_and_sum_other_doc_count(self) -> None:
        out = one({"terms": {"field": "tag", "size": 1}})
        assert out["buckets"] == [{"key": "a", "doc_count": 2}]
        assert out["sum_other_doc_count"] == 3

    def test_shard_size_tail_counts_as_other(self) -> None:
        out = one({"terms": {"field": "tag", "size": 1, "shard_size": 1}})
        assert out["sum_other_doc_count"] == 3

    def test_min_doc_count(self) -> None:
        out = one({"terms": {"field": "tag", "min_doc_count": 2}})
        assert [b["key"] for b in out["buckets"]] == ["a", "b"]
        assert out["sum_other_doc_count"] == 0

    def test_order_by_key_and_count(self) -> None:
        by_key = one({"terms": {"field": "tag", "order": {"_key": "desc"}}})
        assert [b["key"] for b in by_key["buckets"]] == ["c", "b", "a"]
        by_count = one({"terms": {"field": "tag", "order": [{"_count": "asc"}]}})
        assert [b["key"] for b in by_count["buckets"]] == ["c", "a", "b"]

    def test_order_by_sub_aggregation(self) -> None:
        out = one(
            {
                "terms": {"field": "tag", "order": {"avg_price": "desc"}},
                "aggs": {"avg_price": {"avg": {"field": "price"}}},
            }
        )
        assert out["buckets"] == [
            {"key": "c", "doc_count": 1, "avg_price": {"value": 45.5}},
            {"key": "b", "doc_count": 2, "avg_price": {"value": 25.0}},
            {"key": "a", "doc_count": 2, "avg_price": {"value": 20.0}},
        ]

    def test_order_by_multi_value_metric_and_single_bucket_path(self) -> None:
        out = one(
            {
                "terms": {"field": "tag", "order": {"s.min": "desc"}},
                "aggs": {"s": {"stats": {"field": "price"}}},
            }
        )
        assert [b["key"] for b in out["buckets"]] == ["c", "b", "a"]
        out = one(
            {
                "terms": {"field": "tag", "order": {"cheap>n": "desc"}},
                "aggs": {
                    "cheap": {
                        "filter": {"range": {"price": {"lt": 25}}},
                        "aggs": {"n": {"value_count": {"field": "price"}}},
                    }
                },
            }
        )
        assert [b["key"] for b in out["buckets"]] == ["a", "b", "c"]

    def test_order_by_unknown_sub_aggregation(self) -> None:
        with pytest.raises(IllegalArgumentError, match=r"Invalid aggregation order path \[nope\]"):
            parse_aggs({"x": {"terms": {"field": "tag", "order": {"nope": "asc"}}}})

    def test_bad_order_direction(self) -> None:
        with pytest.raises(ParsingError, match=r"Unknown order direction \[up\]"):
            parse_aggs({"x": {"terms": {"field": "tag", "order": {"_key": "up"}}}})

    def test_missing_value(self) -> None:
        out = one({"terms": {"field": "tag", "missing": "N/A"}})
        assert {"key": "N/A", "doc_count": 1} in out["buckets"]

    def test_include_exclude(self) -> None:
        regex = one({"terms": {"field": "tag", "include": "a|c"}})
        assert [b["key"] for b in regex["buckets"]] == ["a", "c"]
        listed = one({"terms": {"field": "tag", "exclude": ["a"]}})
        assert [b["key"] for b in listed["buckets"]] == ["b", "c"]
        both = one({"terms": {"field": "tag", "include": "[ab]", "exclude": "b"}})
        assert [b["key"] for b in both["buckets"]] == ["a"]
        numbers = one({"terms": {"field": "count", "include": [1, 3]}})
        assert [b["key"] for b in numbers["buckets"]] == [1, 3]

    def test_regex_include_on_numbers_is_refused(self) -> None:
        with pytest.raises(IllegalArgumentError, match="cannot support regular expression"):
            one({"terms": {"field": "count", "include": "1.*"}})

    def test_partitions_are_not_implemented(self) -> None:
        with pytest.raises(NotImplementedYet):
            parse_aggs(
                {"x": {"terms": {"field": "tag", "include": {"partition": 0, "num_partitions": 2}}}}
            )

    def test_numeric_keys(self) -> None:
        ints = one({"terms": {"field": "count"}})
        assert ints["buckets"] == [
            {"key": 1, "doc_count": 1},
            {"key": 2, "doc_count": 1},
            {"key": 3, "doc_count": 1},
        ]
        doubles = one({"terms": {"field": "price", "size": 1, "order": {"_key": "asc"}}})
        assert doubles["buckets"] == [{"key": 10.0, "doc_count": 1}]
        assert isinstance(doubles["buckets"][0]["key"], float)

    def test_boolean_keys(self) -> None:
        assert one({"terms": {"field": "flag"}})["buckets"] == [
            {"key": 1, "key_as_string": "true", "doc_count": 2},
            {"key": 0, "key_as_string": "false", "doc_count": 1},
        ]

    def test_date_keys(self) -> None:
        out = one({"terms": {"field": "date", "size": 1, "order": {"_key": "asc"}}})
        assert out["buckets"] == [
            {
                "key": parse_date("2024-01-01T10:00:00Z"),
                "key_as_string": "2024-01-01T10:00:00.000Z",
                "doc_count": 1,
            }
        ]
        formatted = one(
            {"terms": {"field": "day", "format": "yyyy/MM/dd"}}, docs_of({"day": "2024-01-02"})
        )
        assert formatted["buckets"][0]["key_as_string"] == "2024/01/02"

    def test_multi_valued_document_counts_once_per_bucket(self) -> None:
        out = one({"terms": {"field": "tag"}}, docs_of({"tag": ["a", "a", "b"]}))
        assert out["buckets"] == [{"key": "a", "doc_count": 1}, {"key": "b", "doc_count": 1}]

    def test_text_field_needs_fielddata(self) -> None:
        with pytest.raises(IllegalArgumentError) as info:
            one({"terms": {"field": "title"}})
        assert info.value.reason == (
            "Fielddata is disabled on [title] in [products]. Text fields are not optimised for "
            "operations that require per-document field data like aggregations and sorting, so "
            "these operations are disabled by default. Please use a keyword field instead. "
            "Alternatively, set fielddata=true on [title] in order to load field data by "
            "uninverting the inverted index. Note that this can use significant memory."
        )

    def test_fielddata_error_names_the_index_without_documents(self) -> None:
        with pytest.raises(IllegalArgumentError, match=r"in \[logs\]"):
            one({"terms": {"field": "title"}}, [], index="logs")

    def test_unmapped_field(self) -> None:
        assert one({"terms": {"field": "nope"}}) == {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [],
        }
        missing = one({"terms": {"field": "nope", "missing": "none"}})
        assert missing["buckets"] == [{"key": "none", "doc_count": 5}]

    def test_index_meta_field(self) -> None:
        docs = [AggDoc("remote:logs", "1", None, {}), *DOCS[:2]]
        assert one({"terms": {"field": "_index"}}, docs)["buckets"] == [
            {"key": "products", "doc_count": 2},
            {"key": "remote:logs", "doc_count": 1},
        ]
        assert one({"cardinality": {"field": "_index"}}, docs) == {"value": 2}
        with pytest.raises(IllegalArgumentError, match=r"\[_index\] of type \[_index\]"):
            one({"avg": {"field": "_index"}})

    def test_multi_field_keyword(self) -> None:
        out = one({"terms": {"field": "title.keyword"}})
        assert out["buckets"] == [{"key": "red apple", "doc_count": 1}]

    def test_parameter_errors(self) -> None:
        with pytest.raises(IllegalArgumentError, match=r"\[size\] must be greater than 0"):
            parse_aggs({"x": {"terms": {"field": "tag", "size": 0}}})
        # ES's object parser: an x-content error with its "did you mean".
        with pytest.raises(XContentParseError) as unknown:
            parse_aggs({"x": {"terms": {"field": "tag", "sise": 3}}})
        assert unknown.value.reason == "[terms] unknown field [sise] did you mean [size]?"
        with pytest.raises(XContentParseError) as bad:
            parse_aggs({"x": {"terms": {"field": "tag", "size": "many"}}})
        assert bad.value.reason == "[terms] failed to parse field [size]"
        assert bad.value.caused_by is not None
        assert bad.value.caused_by.reason == 'For input string: "many"'
        with pytest.raises(XContentParseError) as kind:
            parse_aggs({"x": {"terms": {"field": "tag", "size": True}}})
        assert kind.value.reason == "[terms] size doesn't support values of type: VALUE_BOOLEAN"
        with pytest.raises(XContentParseError) as flag:
            parse_aggs({"x": {"histogram": {"field": "n", "interval": 1, "keyed": "yes"}}})
        assert flag.value.reason == "[histogram] failed to parse field [keyed]"
        with pytest.raises(IllegalArgumentError, match=r"Required one of fields \[field, script\]"):
            parse_aggs({"x": {"terms": {}}})
        with pytest.raises(NotImplementedYet):
            parse_aggs({"x": {"terms": {"script": "doc['tag']"}}})

    def test_show_term_doc_count_error(self) -> None:
        out = one({"terms": {"field": "tag", "size": 1, "show_term_doc_count_error": True}})
        assert out["buckets"] == [{"key": "a", "doc_count": 2, "doc_count_error_upper_bound": 0}]


# --- metrics ------------------------------------------------------------------------------------


class TestSingleValueMetrics:
    def test_values(self) -> None:
        out = run(
            {
                "avg": {"avg": {"field": "price"}},
                "sum": {"sum": {"field": "price"}},
                "min": {"min": {"field": "price"}},
                "max": {"max": {"field": "price"}},
                "n": {"value_count": {"field": "price"}},
                "tags": {"value_count": {"field": "tag"}},
                "distinct": {"cardinality": {"field": "tag"}},
            }
        )
        assert out == {
            "avg": {"value": 26.375},
            "sum": {"value": 105.5},
            "min": {"value": 10.0},
            "max": {"value": 45.5},
            "n": {"value": 4},
            "tags": {"value": 5},
            "distinct": {"value": 3},
        }

    def test_no_values(self) -> None:
        out = run(
            {
                "avg": {"avg": {"field": "nope"}},
                "sum": {"sum": {"field": "nope"}},
                "min": {"min": {"field": "price"}},
                "max": {"max": {"field": "price"}},
                "n": {"value_count": {"field": "price"}},
                "c": {"cardinality": {"field": "tag"}},
            },
            docs=[],
        )
        assert out == {
            "avg": {"value": None},
            "sum": {"value": 0.0},
            "min": {"value": None},
            "max": {"value": None},
            "n": {"value": 0},
            "c": {"value": 0},
        }

    def test_integers_are_doubles(self) -> None:
        out = run({"s": {"sum": {"field": "count"}}, "m": {"max": {"field": "count"}}})
        assert out == {"s": {"value": 6.0}, "m": {"value": 3.0}}
        assert isinstance(out["s"]["value"], float)

    def test_missing_parameter(self) -> None:
        # Documents 4 and 5 have no count: (1 + 2 + 3 + 10 + 10) / 5.
        assert one({"avg": {"field": "count", "missing": 10}}) == {"value": 5.2}

    def test_dates_have_value_as_string(self) -> None:
        out = run({"min": {"min": {"field": "date"}}, "max": {"max": {"field": "day"}}})
        first = parse_date("2024-01-01T10:00:00Z")
        assert out["min"] == {"value": float(first), "value_as_string": "2024-01-01T10:00:00.000Z"}
        assert out["max"] == {"value": None}

    def test_booleans_are_numbers(self) -> None:
        assert one({"avg": {"field": "flag"}}) == {
            "value": 2 / 3,
            "value_as_string": "true",
        }

    def test_decimal_format(self) -> None:
        assert one({"avg": {"field": "price", "format": "0.00"}}) == {
            "value": 26.375,
            "value_as_string": "26.38",
        }

    def test_unsupported_field_types(self) -> None:
        with pytest.raises(
            IllegalArgumentError,
            match=r"Field \[tag\] of type \[keyword\] is not supported for aggregation \[avg\]",
        ):
            one({"avg": {"field": "tag"}})
        with pytest.raises(IllegalArgumentError, match="Fielddata is disabled on"):
            one({"cardinality": {"field": "title"}})

    def test_metrics_refuse_sub_aggregations(self) -> None:
        with pytest.raises(IllegalArgumentError, match="cannot accept sub-aggregations"):
            parse_aggs(
                {"x": {"avg": {"field": "price"}, "aggs": {"y": {"max": {"field": "price"}}}}}
            )


class TestStats:
    def test_stats(self) -> None:
        assert one({"stats": {"field": "price"}}) == {
            "count": 4,
            "min": 10.0,
            "max": 45.5,
            "avg": 26.375,
            "sum": 105.5,
        }

    def test_empty_stats(self) -> None:
        assert one({"stats": {"field": "price"}}, []) == {
            "count": 0,
            "min": None,
            "max": None,
            "avg": None,
            "sum": 0.0,
        }

    def test_stats_on_dates(self) -> None:
        out = one(
            {"stats": {"field": "date"}}, docs_of({"date": "2024-01-01"}, {"date": "2024-01-03"})
        )
        assert out["min_as_string"] == "2024-01-01T00:00:00.000Z"
        assert out["max_as_string"] == "2024-01-03T00:00:00.000Z"
        assert out["avg_as_string"] == "2024-01-02T00:00:00.000Z"
        assert out["count"] == 2

    def test_extended_stats_matches_es_documentation(self) -> None:
        docs = docs_of({"price": 50}, {"price": 100})
        assert one({"extended_stats": {"field": "price"}}, docs) == {
            "count": 2,
            "min": 50.0,
            "max": 100.0,
            "avg": 75.0,
            "sum": 150.0,
            "sum_of_squares": 12500.0,
            "variance": 625.0,
            "variance_population": 625.0,
            "variance_sampling": 1250.0,
            "std_deviation": 25.0,
            "std_deviation_population": 25.0,
            "std_deviation_sampling": 35.35533905932738,
            "std_deviation_bounds": {
                "upper": 125.0,
                "lower": 25.0,
                "upper_population": 125.0,
                "lower_population": 25.0,
                "upper_sampling": 145.71067811865476,
                "lower_sampling": 4.289321881345245,
            },
        }

    def test_extended_stats_sigma(self) -> None:
        out = one(
            {"extended_stats": {"field": "price", "sigma": 1}},
            docs_of({"price": 50}, {"price": 100}),
        )
        assert out["std_deviation_bounds"]["upper"] == 100.0
        with pytest.raises(
            IllegalArgumentError, match=r"\[sigma\] must be greater than or equal to 0"
        ):
            parse_aggs({"x": {"extended_stats": {"field": "price", "sigma": -1}}})

    def test_extended_stats_of_one_value(self) -> None:
        out = one({"extended_stats": {"field": "price"}}, docs_of({"price": 3}))
        assert out["variance"] == 0.0
        # Java divides 0.0 by zero: NaN, which Jackson writes as a string.
        assert out["variance_sampling"] == "NaN"
        assert out["std_deviation_bounds"]["upper_sampling"] == "NaN"

    def test_empty_extended_stats(self) -> None:
        out = one({"extended_stats": {"field": "price"}}, [])
        assert out["count"] == 0 and out["sum"] == 0.0 and out["sum_of_squares"] is None
        assert out["std_deviation_bounds"] == {
            "upper": None,
            "lower": None,
            "upper_population": None,
            "lower_population": None,
            "upper_sampling": None,
            "lower_sampling": None,
        }

    def test_compensated_summation(self) -> None:
        docs = docs_of(*({"price": 0.1} for _ in range(10)))
        assert one({"sum": {"field": "price"}}, docs) == {"value": 1.0}


class TestPercentiles:
    def test_default_percents_keyed(self) -> None:
        assert one({"percentiles": {"field": "price"}}) == {
            "values": {
                "1.0": pytest.approx(10.3),
                "5.0": pytest.approx(11.5),
                "25.0": 17.5,
                "50.0": 25.0,
                "75.0": 33.875,
                "95.0": pytest.approx(43.175),
                "99.0": pytest.approx(45.035),
            }
        }

    def test_not_keyed(self) -> None:
        out = one({"percentiles": {"field": "count", "percents": [50, 0, 100], "keyed": False}})
        assert out == {
            "values": [
                {"key": 0.0, "value": 1.0},
                {"key": 50.0, "value": 2.0},
                {"key": 100.0, "value": 3.0},
            ]
        }

    def test_empty(self) -> None:
        assert one({"percentiles": {"field": "price", "percents": [50, 99.9]}}, []) == {
            "values": {"50.0": None, "99.9": None}
        }

    def test_dates(self) -> None:
        out = one(
            {"percentiles": {"field": "date", "percents": [50]}}, docs_of({"date": "2024-01-01"})
        )
        assert out == {
            "values": {
                "50.0": float(parse_date("2024-01-01")),
                "50.0_as_string": "2024-01-01T00:00:00.000Z",
            }
        }

    def test_bad_percents(self) -> None:
        with pytest.raises(IllegalArgumentError, match=r"percent must be in \[0,100\]"):
            parse_aggs({"x": {"percentiles": {"field": "price", "percents": [101]}}})
        with pytest.raises(IllegalArgumentError, match="must not be empty"):
            parse_aggs({"x": {"percentiles": {"field": "price", "percents": []}}})

    def test_interpolation(self) -> None:
        assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
        assert percentile([5.0], 99) == 5.0
        assert math.isnan(percentile([], 50))


# --- histograms ---------------------------------------------------------------------------------


class TestHistogram:
    def test_buckets_and_empty_fill(self) -> None:
        assert one({"histogram": {"field": "price", "interval": 10}}) == {
            "buckets": [
                {"key": 10.0, "doc_count": 1},
                {"key": 20.0, "doc_count": 1},
                {"key": 30.0, "doc_count": 1},
                {"key": 40.0, "doc_count": 1},
            ]
        }
        out = one({"histogram": {"field": "price", "interval": 15}})
        assert out["buckets"] == [
            {"key": 0.0, "doc_count": 1},
            {"key": 15.0, "doc_count": 1},
            {"key": 30.0, "doc_count": 1},
            {"key": 45.0, "doc_count": 1},
        ]
        gaps = one(
            {"histogram": {"field": "price", "interval": 5}}, docs_of({"price": 1}, {"price": 12})
        )
        assert gaps["buckets"] == [
            {"key": 0.0, "doc_count": 1},
            {"key": 5.0, "doc_count": 0},
            {"key": 10.0, "doc_count": 1},
        ]

    def test_min_doc_count(self) -> None:
        out = one(
            {"histogram": {"field": "price", "interval": 5, "min_doc_count": 1}},
            docs_of({"price": 1}, {"price": 12}),
        )
        assert [b["key"] for b in out["buckets"]] == [0.0, 10.0]

    def test_offset(self) -> None:
        out = one({"histogram": {"field": "price", "interval": 20, "offset": 5}})
        assert out["buckets"] == [
            {"key": 5.0, "doc_count": 2},
            {"key": 25.0, "doc_count": 1},
            {"key": 45.0, "doc_count": 1},
        ]

    def test_extended_and_hard_bounds(self) -> None:
        docs = docs_of({"price": 12})
        extended = one(
            {
                "histogram": {
                    "field": "price",
                    "interval": 10,
                    "extended_bounds": {"min": 0, "max": 35},
                }
            },
            docs,
        )
        assert [b["key"] for b in extended["buckets"]] == [0.0, 10.0, 20.0, 30.0]
        assert [b["doc_count"] for b in extended["buckets"]] == [0, 1, 0, 0]
        hard = one(
            {"histogram": {"field": "price", "interval": 10, "hard_bounds": {"min": 20, "max": 40}}}
        )
        assert [b["key"] for b in hard["buckets"]] == [20.0, 30.0, 40.0]
        no_docs = one(
            {
                "histogram": {
                    "field": "price",
                    "interval": 10,
                    "extended_bounds": {"min": 0, "max": 10},
                }
            },
            [],
        )
        assert no_docs["buckets"] == [{"key": 0.0, "doc_count": 0}, {"key": 10.0, "doc_count": 0}]

    def test_keyed(self) -> None:
        out = one({"histogram": {"field": "count", "interval": 2, "keyed": True}})
        assert out == {
            "buckets": {
                "0.0": {"key": 0.0, "doc_count": 1},
                "2.0": {"key": 2.0, "doc_count": 2},
            }
        }

    def test_order_by_count(self) -> None:
        out = one({"histogram": {"field": "count", "interval": 2, "order": {"_count": "desc"}}})
        assert [b["key"] for b in out["buckets"]] == [2.0, 0.0]

    def test_empty_buckets_carry_empty_sub_aggregations(self) -> None:
        out = one(
            {
                "histogram": {"field": "price", "interval": 5},
                "aggs": {"m": {"max": {"field": "price"}}},
            },
            docs_of({"price": 1}, {"price": 12}),
        )
        assert out["buckets"][1] == {"key": 5.0, "doc_count": 0, "m": {"value": None}}

    def test_errors(self) -> None:
        with pytest.raises(
            IllegalArgumentError, match=r"\[interval\] must be >0 for histogram aggregation \[x\]"
        ):
            parse_aggs({"x": {"histogram": {"field": "price", "interval": 0}}})
        with pytest.raises(IllegalArgumentError, match=r"\[interval\] must be >0"):
            parse_aggs({"x": {"histogram": {"field": "price"}}})
        with pytest.raises(
            IllegalArgumentError, match=r"cannot be greater than \[extended_bounds.max\]"
        ):
            parse_aggs(
                {
                    "x": {
                        "histogram": {
                            "field": "price",
                            "interval": 1,
                            "extended_bounds": {"min": 5, "max": 1},
                        }
                    }
                }
            )
        with pytest.raises(IllegalArgumentError, match=r"of type \[keyword\] is not supported"):
            one({"histogram": {"field": "tag", "interval": 1}})
        with pytest.raises(TooManyBucketsError, match="too many buckets") as too_many:
            one({"histogram": {"field": "price", "interval": 0.0001}})
        assert too_many.value.es_type == "too_many_buckets_exception"

    def test_unmapped(self) -> None:
        assert one({"histogram": {"field": "nope", "interval": 1}}) == {"buckets": []}


class TestDateHistogram:
    def test_calendar_month(self) -> None:
        assert one({"date_histogram": {"field": "date", "calendar_interval": "month"}}) == {
            "buckets": [
                {"key_as_string": "2024-01-01T00:00:00.000Z", "key": 1704067200000, "doc_count": 3},
                {"key_as_string": "2024-02-01T00:00:00.000Z", "key": 1706745600000, "doc_count": 1},
            ]
        }

    def test_calendar_day_fills_empty_days(self) -> None:
        docs = docs_of({"date": "2024-01-01T05:00:00Z"}, {"date": "2024-01-03T05:00:00Z"})
        out = one(
            {
                "date_histogram": {
                    "field": "date",
                    "calendar_interval": "1d",
                    "format": "yyyy-MM-dd",
                }
            },
            docs,
        )
        assert out["buckets"] == [
            {"key_as_string": "2024-01-01", "key": 1704067200000, "doc_count": 1},
            {"key_as_string": "2024-01-02", "key": 1704067200000 + DAY, "doc_count": 0},
            {"key_as_string": "2024-01-03", "key": 1704067200000 + 2 * DAY, "doc_count": 1},
        ]

    def test_field_format_is_used_for_keys(self) -> None:
        out = one(
            {"date_histogram": {"field": "day", "calendar_interval": "year"}},
            docs_of({"day": "2023-05-06"}),
        )
        assert out["buckets"] == [
            {"key_as_string": "2023-01-01", "key": parse_date("2023-01-01"), "doc_count": 1}
        ]

    def test_fixed_interval(self) -> None:
        out = one(
            {"date_histogram": {"field": "date", "fixed_interval": "12h", "min_doc_count": 1}}
        )
        assert [(b["key_as_string"], b["doc_count"]) for b in out["buckets"]] == [
            ("2024-01-01T00:00:00.000Z", 1),
            ("2024-01-01T12:00:00.000Z", 1),
            ("2024-01-03T00:00:00.000Z", 1),
            ("2024-02-10T00:00:00.000Z", 1),
        ]

    def test_time_zone(self) -> None:
        docs = docs_of({"date": "2024-01-01T23:30:00Z"})
        out = one(
            {
                "date_histogram": {
                    "field": "date",
                    "calendar_interval": "day",
                    "time_zone": "+01:00",
                }
            },
            docs,
        )
        assert out["buckets"] == [
            {
                "key_as_string": "2024-01-02T00:00:00.000+01:00",
                "key": parse_date("2024-01-01T23:00:00Z"),
                "doc_count": 1,
            }
        ]
        fixed = one(
            {"date_histogram": {"field": "date", "fixed_interval": "1d", "time_zone": "-02:00"}},
            docs,
        )
        assert fixed["buckets"][0]["key"] == parse_date("2024-01-01T02:00:00Z")

    def test_named_time_zone_keys(self) -> None:
        docs = docs_of({"date": "2024-07-01T12:00:00Z"})
        out = one(
            {
                "date_histogram": {
                    "field": "date",
                    "calendar_interval": "day",
                    "time_zone": "Europe/Paris",
                }
            },
            docs,
        )
        assert out["buckets"][0]["key_as_string"] == "2024-07-01T00:00:00.000+02:00"
        assert out["buckets"][0]["key"] == parse_date("2024-06-30T22:00:00Z")

    def test_offset(self) -> None:
        docs = docs_of({"date": "2024-01-01T05:00:00Z"}, {"date": "2024-01-01T07:00:00Z"})
        out = one(
            {"date_histogram": {"field": "date", "calendar_interval": "day", "offset": "+6h"}}, docs
        )
        assert [(b["key_as_string"], b["doc_count"]) for b in out["buckets"]] == [
            ("2023-12-31T06:00:00.000Z", 1),
            ("2024-01-01T06:00:00.000Z", 1),
        ]

    def test_legacy_interval(self) -> None:
        calendar = one({"date_histogram": {"field": "date", "interval": "month"}})
        assert len(calendar["buckets"]) == 2
        fixed = one({"date_histogram": {"field": "date", "interval": "30d"}})
        assert sum(b["doc_count"] for b in fixed["buckets"]) == 4

    def test_extended_bounds_with_date_math(self) -> None:
        docs = docs_of({"date": "2024-03-14T10:00:00Z"})
        out = one(
            {
                "date_histogram": {
                    "field": "date",
                    "calendar_interval": "day",
                    "extended_bounds": {"min": "now-2d/d", "max": "now/d"},
                }
            },
            docs,
        )
        assert [(b["key_as_string"][:10], b["doc_count"]) for b in out["buckets"]] == [
            ("2024-03-13", 0),
            ("2024-03-14", 1),
            ("2024-03-15", 0),
        ]

    def test_keyed(self) -> None:
        out = one(
            {"date_histogram": {"field": "day", "calendar_interval": "day", "keyed": True}},
            docs_of({"day": "2024-01-01"}),
        )
        assert out == {
            "buckets": {
                "2024-01-01": {
                    "key_as_string": "2024-01-01",
                    "key": parse_date("2024-01-01"),
                    "doc_count": 1,
                }
            }
        }

    def test_sub_aggregations(self) -> None:
        out = one(
            {
                "date_histogram": {"field": "date", "calendar_interval": "month"},
                "aggs": {"tags": {"terms": {"field": "tag"}}},
            }
        )
        assert out["buckets"][0]["tags"]["buckets"] == [
            {"key": "a", "doc_count": 2},
            {"key": "b", "doc_count": 2},
        ]

    def test_errors(self) -> None:
        with pytest.raises(
            IllegalArgumentError,
            match=r"The supplied interval \[2d\] could not be parsed as a calendar interval",
        ):
            one({"date_histogram": {"field": "date", "calendar_interval": "2d"}})
        with pytest.raises(
            IllegalArgumentError, match=r"Cannot use \[fixed_interval\] with \[calendar_interval\]"
        ):
            parse_aggs(
                {
                    "x": {
                        "date_histogram": {
                            "field": "date",
                            "calendar_interval": "1d",
                            "fixed_interval": "1d",
                        }
                    }
                }
            )
        with pytest.raises(IllegalArgumentError, match="Required one of fields"):
            parse_aggs({"x": {"date_histogram": {"field": "date"}}})
        with pytest.raises(IllegalArgumentError, match="failed to parse setting"):
            parse_aggs({"x": {"date_histogram": {"field": "date", "fixed_interval": "1M"}}})
        with pytest.raises(IllegalArgumentError, match="Unknown time-zone ID"):
            parse_aggs(
                {
                    "x": {
                        "date_histogram": {
                            "field": "date",
                            "calendar_interval": "1d",
                            "time_zone": "Mars/Base",
                        }
                    }
                }
            )


# --- ranges -------------------------------------------------------------------------------------


class TestRange:
    def test_keys_from_to_and_sorting(self) -> None:
        out = one(
            {
                "range": {
                    "field": "price",
                    "ranges": [{"from": 40}, {"to": 20}, {"from": 20, "to": 40}],
                }
            }
        )
        assert out == {
            "buckets": [
                {"key": "*-20.0", "to": 20.0, "doc_count": 1},
                {"key": "20.0-40.0", "from": 20.0, "to": 40.0, "doc_count": 2},
                {"key": "40.0-*", "from": 40.0, "doc_count": 1},
            ]
        }

    def test_keyed_and_custom_keys(self) -> None:
        out = one(
            {
                "range": {
                    "field": "price",
                    "keyed": True,
                    "ranges": [{"key": "cheap", "to": 25}, {"key": "dear", "from": 25}],
                },
                "aggs": {"n": {"value_count": {"field": "price"}}},
            }
        )
        assert out == {
            "buckets": {
                "cheap": {"to": 25.0, "doc_count": 2, "n": {"value": 2}},
                "dear": {"from": 25.0, "doc_count": 2, "n": {"value": 2}},
            }
        }

    def test_overlapping_ranges_and_multi_values(self) -> None:
        docs = docs_of({"count": [1, 5]}, {"count": 3})
        out = one(
            {"range": {"field": "count", "ranges": [{"from": 0, "to": 4}, {"from": 2}]}}, docs
        )
        assert [b["doc_count"] for b in out["buckets"]] == [2, 2]

    def test_range_on_dates_formats_bounds(self) -> None:
        out = one({"range": {"field": "date", "ranges": [{"to": "2024-01-02T00:00:00Z"}]}})
        bound = float(parse_date("2024-01-02"))
        assert out["buckets"] == [
            {
                "key": "*-2024-01-02T00:00:00.000Z",
                "to": bound,
                "to_as_string": "2024-01-02T00:00:00.000Z",
                "doc_count": 2,
            }
        ]

    def test_date_range(self) -> None:
        out = one(
            {
                "date_range": {
                    "field": "date",
                    "format": "yyyy-MM-dd",
                    "ranges": [{"from": "2024-01-02", "to": "now"}, {"to": "2024-01-02"}],
                }
            }
        )
        assert out == {
            "buckets": [
                {
                    "key": "*-2024-01-02",
                    "to": float(parse_date("2024-01-02")),
                    "to_as_string": "2024-01-02",
                    "doc_count": 2,
                },
                {
                    "key": "2024-01-02-2024-03-15",
                    "from": float(parse_date("2024-01-02")),
                    "from_as_string": "2024-01-02",
                    "to": float(NOW),
                    "to_as_string": "2024-03-15",
                    "doc_count": 2,
                },
            ]
        }

    def test_errors(self) -> None:
        with pytest.raises(IllegalArgumentError, match=r"No \[ranges\] specified"):
            parse_aggs({"x": {"range": {"field": "price"}}})
        # ES's range entry parser refuses the key; the aggregation's parser wraps that.
        with pytest.raises(XContentParseError) as unknown:
            parse_aggs({"x": {"range": {"field": "price", "ranges": [{"fro": 1}]}}})
        assert unknown.value.reason == "[range] failed to parse field [ranges]"
        cause = unknown.value.caused_by
        assert cause is not None
        assert cause.reason == "[range] unknown field [fro] did you mean [from]?"
        # Lucene's Levenshtein counts a transposition as two edits: [form] is not close enough.
        with pytest.raises(XContentParseError) as far:
            parse_aggs({"x": {"range": {"field": "price", "ranges": [{"form": 1}]}}})
        assert far.value.caused_by is not None
        assert far.value.caused_by.reason == "[range] unknown field [form]"

    def test_hand_parsed_aggregations_refuse_keys_as_es_does(self) -> None:
        # filters, nested and top_hits are read by hand in ES: no object parser, no suggestion.
        cases = [
            ({"filters": {"filters": {}, "other_bucket_ky": "x"}}, "Unknown key for a VALUE_STRING in [x]: [other_bucket_ky]."),
            ({"filters": {"filters": {}, "size": 3}}, "Unexpected token VALUE_NUMBER in [x]."),
            ({"nested": {"pth": "a"}}, "Unknown key for a VALUE_STRING in [x]: [pth]."),
            ({"top_hits": {"sise": 3}}, "Unknown key for a VALUE_NUMBER in [sise]."),
        ]  # fmt: skip
        for body, reason in cases:
            with pytest.raises(ParsingError) as info:
                parse_aggs({"x": body})
            assert info.value.reason == reason


# --- single bucket and filters ------------------------------------------------------------------


class TestFilterAndFriends:
    def test_filter_with_sub_aggregation(self) -> None:
        out = one({"filter": {"term": {"tag": "a"}}, "aggs": {"avg": {"avg": {"field": "price"}}}})
        assert out == {"doc_count": 2, "avg": {"value": 20.0}}

    def test_filter_query_errors(self) -> None:
        with pytest.raises(ParsingError, match=r"unknown query \[trem\]"):
            parse_aggs({"x": {"filter": {"trem": {"tag": "a"}}}})
        with pytest.raises(QueryShardError):
            one({"filter": {"term": {"count": "many"}}})

    def test_named_filters_sorted_by_key(self) -> None:
        out = one(
            {
                "filters": {
                    "filters": {
                        "zz": {"term": {"tag": "a"}},
                        "aa": {"range": {"price": {"gt": 25}}},
                    },
                    "other_bucket": True,
                }
            }
        )
        assert list(out["buckets"]) == ["aa", "zz", "_other_"]
        assert out == {
            "buckets": {
                "aa": {"doc_count": 2},
                "zz": {"doc_count": 2},
                "_other_": {"doc_count": 2},
            }
        }

    def test_named_filters_not_keyed(self) -> None:
        out = one({"filters": {"keyed": False, "filters": {"b": {"term": {"tag": "b"}}}}})
        assert out == {"buckets": [{"key": "b", "doc_count": 2}]}

    def test_anonymous_filters_and_other_key(self) -> None:
        out = one(
            {
                "filters": {
                    "filters": [{"term": {"tag": "c"}}, {"match_all": {}}],
                    "other_bucket_key": "rest",
                },
                "aggs": {"m": {"max": {"field": "count"}}},
            }
        )
        assert out == {
            "buckets": [
                {"doc_count": 1, "m": {"value": None}},
                {"doc_count": 5, "m": {"value": 3.0}},
                {"doc_count": 0, "m": {"value": None}},
            ]
        }

    def test_missing(self) -> None:
        assert one({"missing": {"field": "tag"}}) == {"doc_count": 1}
        assert one({"missing": {"field": "nope"}}) == {"doc_count": 5}

    def test_global_uses_every_document(self) -> None:
        out = run(
            {"all": {"global": {}, "aggs": {"n": {"value_count": {"field": "price"}}}}},
            docs=DOCS[:1],
            all_docs=DOCS,
        )
        assert out == {"all": {"doc_count": 5, "n": {"value": 4}}}
        with pytest.raises(NotImplementedYet):
            run({"all": {"global": {}}})


# --- top_hits -----------------------------------------------------------------------------------


class TestTopHits:
    def test_default_sort_by_score(self) -> None:
        out = one({"top_hits": {"size": 2, "_source": False}})
        assert out == {
            "hits": {
                "total": {"value": 5, "relation": "eq"},
                "max_score": 5.0,
                "hits": [
                    {"_index": "products", "_id": "5", "_score": 5.0},
                    {"_index": "products", "_id": "4", "_score": 4.0},
                ],
            }
        }

    def test_field_sort_and_source_filtering(self) -> None:
        out = one(
            {
                "top_hits": {
                    "size": 2,
                    "sort": [{"price": {"order": "desc"}}],
                    "_source": {"includes": ["tag"]},
                }
            }
        )
        assert out == {
            "hits": {
                "total": {"value": 5, "relation": "eq"},
                "max_score": None,
                "hits": [
                    {
                        "_index": "products",
                        "_id": "4",
                        "_score": None,
                        "_source": {"tag": "c"},
                        "sort": [45.5],
                    },
                    {
                        "_index": "products",
                        "_id": "3",
                        "_score": None,
                        "_source": {"tag": ["a", "b"]},
                        "sort": [30.0],
                    },
                ],
            }
        }

    def test_missing_values_sort_last_with_sentinels(self) -> None:
        out = one({"top_hits": {"from": 3, "size": 2, "sort": ["count"], "_source": False}})
        assert [h["_id"] for h in out["hits"]["hits"]] == ["4", "5"]
        assert out["hits"]["hits"][0]["sort"] == [2**63 - 1]
        desc = one({"top_hits": {"size": 1, "sort": [{"count": "desc"}], "_source": False}})
        assert desc["hits"]["hits"][0]["sort"] == [3]

    def test_date_sort_values_are_millis_and_track_scores(self) -> None:
        out = one(
            {
                "top_hits": {
                    "size": 1,
                    "sort": [{"date": "desc"}],
                    "track_scores": True,
                    "_source": ["date"],
                }
            }
        )
        hit = out["hits"]["hits"][0]
        assert hit["sort"] == [parse_date("2024-02-10")]
        assert hit["_score"] == 4.0
        assert out["hits"]["max_score"] == 5.0

    def test_source_excludes_and_nested_paths(self) -> None:
        docs = [AggDoc("i", "1", 1.0, {"a": {"b": 1, "c": 2}, "d": 3})]
        out = one({"top_hits": {"_source": {"excludes": ["a.c"]}}}, docs)
        assert out["hits"]["hits"][0]["_source"] == {"a": {"b": 1}, "d": 3}
        out = one({"top_hits": {"_source": "a.*"}}, docs)
        assert out["hits"]["hits"][0]["_source"] == {"a": {"b": 1, "c": 2}}

    def test_errors(self) -> None:
        with pytest.raises(IllegalArgumentError, match="Top hits result window is too large"):
            parse_aggs({"x": {"top_hits": {"from": 90, "size": 20}}})
        with pytest.raises(QueryShardError, match=r"No mapping found for \[nope\]"):
            one({"top_hits": {"sort": ["nope"]}})
        with pytest.raises(IllegalArgumentError, match="Fielddata is disabled"):
            one({"top_hits": {"sort": ["title"]}})
        with pytest.raises(NotImplementedYet):
            parse_aggs({"x": {"top_hits": {"highlight": {}}}})

    def test_unmapped_type_sort(self) -> None:
        out = one(
            {
                "top_hits": {
                    "size": 1,
                    "sort": [{"nope": {"unmapped_type": "long"}}],
                    "_source": False,
                }
            }
        )
        assert out["hits"]["hits"][0]["_id"] == "1"

    def test_inside_terms(self) -> None:
        out = one(
            {
                "terms": {"field": "tag", "size": 1},
                "aggs": {"top": {"top_hits": {"size": 1, "sort": ["price"], "_source": False}}},
            }
        )
        assert out["buckets"][0]["top"]["hits"]["hits"] == [
            {"_index": "products", "_id": "1", "_score": None, "sort": [10.0]}
        ]


# --- request shape and errors -------------------------------------------------------------------


class TestParsing:
    def test_unknown_type(self) -> None:
        with pytest.raises(
            ParsingError, match=r"^Unknown aggregation type \[term\] did you mean \[terms\]\?$"
        ):
            parse_aggs({"x": {"term": {"field": "tag"}}})
        with pytest.raises(ParsingError, match=r"^Unknown aggregation type \[zzz\]$"):
            parse_aggs({"x": {"zzz": {}}})

    def test_known_but_unimplemented_type(self) -> None:
        with pytest.raises(NotImplementedYet, match=r"composite"):
            parse_aggs({"x": {"composite": {}}})

    def test_shape_errors(self) -> None:
        with pytest.raises(ParsingError, match=r"Missing definition for aggregation \[x\]"):
            parse_aggs({"x": {}})
        with pytest.raises(
            ParsingError,
            match=r"Found two aggregation type definitions in \[x\]: \[avg\] and \[max\]",
        ):
            parse_aggs({"x": {"avg": {"field": "p"}, "max": {"field": "p"}}})
        with pytest.raises(ParsingError, match="Invalid aggregation name"):
            parse_aggs({"a>b": {"avg": {"field": "p"}}})
        with pytest.raises(
            ParsingError, match=r"Found two sub aggregation definitions under \[x\]"
        ):
            parse_aggs({"x": {"terms": {"field": "t"}, "aggs": {}, "aggregations": {}}})
        with pytest.raises(ParsingError, match="expected a \\[START_OBJECT\\]"):
            parse_aggs({"x": "terms"})

    def test_meta_is_echoed(self) -> None:
        out = one({"max": {"field": "price"}, "meta": {"color": "blue"}})
        assert out == {"meta": {"color": "blue"}, "value": 45.5}

    def test_deep_nesting_and_aggregations_alias(self) -> None:
        out = one(
            {
                "terms": {"field": "tag"},
                "aggregations": {
                    "months": {
                        "date_histogram": {"field": "date", "calendar_interval": "month"},
                        "aggs": {
                            "cheap": {
                                "filter": {"range": {"price": {"lt": 15}}},
                                "aggs": {"n": {"value_count": {"field": "price"}}},
                            }
                        },
                    }
                },
            }
        )
        a_months = out["buckets"][0]["months"]["buckets"]
        assert a_months == [
            {
                "key_as_string": "2024-01-01T00:00:00.000Z",
                "key": 1704067200000,
                "doc_count": 2,
                "cheap": {"doc_count": 1, "n": {"value": 1}},
            },
        ]


# --- formatting helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100.0, "100.0"),
        (0.001, "0.001"),
        (1e7, "1.0E7"),
        (1.5e-4, "1.5E-4"),
        (1420070400000.0, "1.4200704E12"),
        (-2.5e10, "-2.5E10"),
        (9999999.0, "9999999.0"),
    ],
)
def test_java_double_str(value: float, text: str) -> None:
    assert java_double_str(value) == text


@pytest.mark.parametrize(
    ("pattern", "value", "text"),
    [
        ("0.00", 3.14159, "3.14"),
        ("#,##0.00", 1234567.891, "1,234,567.89"),
        ("0", 2.5, "2"),
        ("0", 3.5, "4"),
        ("000", 7, "007"),
        ("$#,##0", 1234, "$1,234"),
    ],
)
def test_decimal_format(pattern: str, value: float, text: str) -> None:
    assert DecimalFormat(pattern).format(value) == text


# --- properties ---------------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, max_size=30))
def test_stats_are_consistent(values: list[float]) -> None:
    docs = docs_of(*({"price": v} for v in values))
    stats = one({"extended_stats": {"field": "price"}}, docs)
    assert stats["count"] == len(values)
    if not values:
        assert stats["min"] is None and stats["avg"] is None
        return
    assert stats["min"] == min(values) and stats["max"] == max(values)
    assert stats["sum"] == pytest.approx(math.fsum(values), abs=1e-6)
    assert stats["avg"] == pytest.approx(stats["sum"] / len(values))
    assert stats["variance"] >= 0
    assert stats["std_deviation"] == pytest.approx(math.sqrt(stats["variance"]))
    bounds = stats["std_deviation_bounds"]
    assert bounds["lower"] <= stats["avg"] <= bounds["upper"]
    plain = one({"stats": {"field": "price"}}, docs)
    assert plain == {k: stats[k] for k in ("count", "min", "max", "avg", "sum")}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1000, 1000), min_size=1, max_size=30), st.floats(0.5, 1000))
def test_histogram_counts_every_value_once(values: list[float], interval: float) -> None:
    docs = docs_of(*({"price": v} for v in values))
    out = one({"histogram": {"field": "price", "interval": interval}}, docs)
    buckets = out["buckets"]
    assert sum(b["doc_count"] for b in buckets) == len(values)
    keys = [b["key"] for b in buckets]
    assert keys == sorted(keys)
    for v in values:
        key = math.floor(v / interval) * interval
        assert any(k == pytest.approx(key) for k in keys)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=30))
def test_percentiles_are_monotone_and_bounded(values: list[float]) -> None:
    docs = docs_of(*({"price": v} for v in values))
    out = one({"percentiles": {"field": "price", "percents": [0, 10, 50, 90, 100]}}, docs)
    got = list(out["values"].values())
    assert got == sorted(got)
    assert got[0] == min(values) and got[-1] == max(values)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 50)), max_size=30),
    st.integers(1, 29),
)
def test_reduce_of_partials_equals_one_pass(rows: list[tuple[str, int]], cut: int) -> None:
    docs = docs_of(*({"tag": t, "count": c} for t, c in rows))
    spec = parse_aggs(
        {
            "tags": {
                "terms": {"field": "tag", "size": 3},
                "aggs": {"s": {"sum": {"field": "count"}}},
            },
            "stats": {"stats": {"field": "count"}, "meta": {"m": 1}},
            "hist": {"histogram": {"field": "count", "interval": 10}},
            "pct": {"percentiles": {"field": "count", "percents": [50]}},
            "card": {"cardinality": {"field": "tag"}},
            "top": {"top_hits": {"size": 2, "sort": [{"count": "desc"}], "_source": False}},
            "f": {"filters": {"filters": {"low": {"range": {"count": {"lt": 10}}}}}},
            "r": {"range": {"field": "count", "ranges": [{"to": 25}, {"from": 25}]}},
        }
    )
    whole = collect_aggs(spec, docs, MAPPING, now_ms=NOW)
    parts = [
        collect_aggs(spec, docs[:cut], MAPPING, now_ms=NOW, index="idx"),
        collect_aggs(spec, docs[cut:], MAPPING, now_ms=NOW, index="idx"),
    ]
    # Every shard keeps all six tags (shard_size 14), so the merge is exact, error bound included.
    assert results_json(reduce_results(parts)) == results_json(whole)
