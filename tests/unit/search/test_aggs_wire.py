"""Aggregation results across the wire: what cross-cluster search relies on.

The property: partial results collected on separate clusters, encoded, sent through msgpack,
decoded and reduced render exactly like one search over all the documents. Where an aggregation
is not exactly mergeable that way (terms truncated per shard, compensated sums of arbitrary
doubles, top_hits sorted by ``_doc``), the codec must still be invisible: the decoded partials
reduce exactly like the partials themselves.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from collections.abc import Sequence
from typing import Any

import ormsgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.search.aggs import (
    AggDoc,
    AggResult,
    AggsSpec,
    collect_aggs,
    parse_aggs,
    reduce_results,
    results_json,
)
from isthmus.search.aggs_bucket import COUNT_DESC, Bucket, SingleBucketResult
from isthmus.search.aggs_format import RAW, BooleanFormat, DocFormat
from isthmus.search.aggs_metric import CardinalityResult, StatsResult, StatsState
from isthmus.search.aggs_terms import TermsResult
from isthmus.search.aggs_top_hits import RankedHit, SortKey, SourceFilter, TopHitsResult
from isthmus.search.aggs_wire import (
    MAX_DEPTH,
    REGISTRY,
    WIRE_VERSION,
    AggsWireError,
    decode_results,
    encode_results,
)
from isthmus.wire import RemoteProtocolError
from tests.unit.search.test_aggs import DOCS, MAPPING, NOW

INDEX = "products"

# Every aggregation type Isthmus computes, in the variants whose internal state differs
# (formats, keyed output, orders, bounds, offsets, time zones, sub-aggregations).
MERGEABLE: dict[str, Any] = {
    "tags": {
        "terms": {"field": "tag", "size": 3, "order": [{"avg_price": "desc"}, {"_key": "asc"}]},
        "meta": {"owner": ["ops", 1]},
        "aggs": {
            "avg_price": {"avg": {"field": "price"}},
            "n": {"value_count": {"field": "count"}},
            "best": {
                "top_hits": {
                    "size": 1,
                    "sort": [{"price": {"order": "desc"}}],
                    "_source": {"includes": ["tag", "price"]},
                }
            },
        },
    },
    "by_count": {"terms": {"field": "count", "order": {"_count": "desc"}, "min_doc_count": 2}},
    "by_flag": {"terms": {"field": "flag"}},
    "by_date": {"terms": {"field": "date", "format": "yyyy-MM-dd", "order": {"_key": "desc"}}},
    "unmapped": {"terms": {"field": "nope", "missing": "N/A"}},
    "hist": {
        "histogram": {
            "field": "price",
            "interval": 50,
            "extended_bounds": {"min": -100, "max": 300},
        },
        "aggs": {"st": {"stats": {"field": "count"}}},
    },
    "hist_keyed": {
        "histogram": {
            "field": "count",
            "interval": 5,
            "offset": 1,
            "keyed": True,
            "min_doc_count": 1,
            "order": {"_count": "desc"},
        }
    },
    "hist_hard": {
        "histogram": {"field": "price", "interval": 25.5, "hard_bounds": {"min": -50, "max": 50}}
    },
    "months": {
        "date_histogram": {
            "field": "date",
            "calendar_interval": "month",
            "time_zone": "+01:00",
            "extended_bounds": {"min": "2023-12-01", "max": "2024-06-01"},
        },
        "aggs": {"tags": {"cardinality": {"field": "tag"}}},
    },
    "weeks": {
        "date_histogram": {
            "field": "day",
            "fixed_interval": "7d",
            "offset": "1d",
            "hard_bounds": {"min": "2023-01-01", "max": "2025-01-01"},
        }
    },
    "ranges": {
        "range": {
            "field": "price",
            "ranges": [{"to": 0}, {"from": 0, "to": 100}, {"from": 100, "key": "big"}],
        },
        "aggs": {"ext": {"extended_stats": {"field": "price", "sigma": 1.5}}},
    },
    "ranges_keyed": {
        "range": {
            "field": "count",
            "keyed": True,
            "format": "0.0",
            "ranges": [{"to": 5}, {"from": 5}],
        }
    },
    "dates": {
        "date_range": {
            "field": "date",
            "format": "yyyy-MM",
            "time_zone": "-05:00",
            "ranges": [{"to": "2024-02"}, {"from": "2024-02", "to": "now"}],
        }
    },
    "flagged": {"filter": {"term": {"flag": True}}, "aggs": {"s": {"sum": {"field": "price"}}}},
    "named": {
        "filters": {
            "filters": {
                "low": {"range": {"count": {"lt": 5}}},
                "high": {"range": {"count": {"gte": 5}}},
            },
            "other_bucket": True,
        },
        "aggs": {"mx": {"max": {"field": "price"}}},
    },
    "anonymous": {
        "filters": {
            "filters": [{"term": {"tag": "a"}}, {"exists": {"field": "price"}}],
            "keyed": False,
        }
    },
    "everything": {"global": {}, "aggs": {"mn": {"min": {"field": "count"}}}},
    "untagged": {
        "missing": {"field": "tag"},
        "aggs": {"pc": {"percentiles": {"field": "price", "percents": [10, 50, 99]}}},
    },
    "pct": {"percentiles": {"field": "count", "keyed": False}},
    "pct_dates": {"percentiles": {"field": "date", "percents": [50]}},
    "card_count": {"cardinality": {"field": "count"}},
    "card_flag": {"cardinality": {"field": "flag"}},
    "card_index": {"cardinality": {"field": "_index"}},
    "price_stats": {"stats": {"field": "price", "format": "#,##0.00"}},
    # (not extended_stats: on a date field it renders sum_of_squares as a date and overflows)
    "date_stats": {"stats": {"field": "date"}},
    "flag_avg": {"avg": {"field": "flag"}},
    "tag_count": {"value_count": {"field": "tag"}},
    "top": {
        "top_hits": {
            "from": 1,
            "size": 3,
            "sort": [{"date": "asc"}, {"count": {"order": "desc", "missing": "_first"}}, "_score"],
            "_source": {"excludes": ["title"]},
            "track_scores": True,
        }
    },
    "top_scored": {"top_hits": {"size": 2, "_source": False}},
}

# Not exactly mergeable: per-shard truncation (doc_count_error, sum_other_doc_count), Kahan
# sums of arbitrary doubles (partial sums round differently), and ``_doc`` positions (which
# restart in every partial, as Lucene doc ids do per shard).
NOT_EXACT: dict[str, Any] = {
    "truncated": {"terms": {"field": "count", "size": 2, "shard_size": 2}},
    "truncated_by_key": {
        "terms": {"field": "tag", "size": 1, "shard_size": 1, "order": {"_key": "asc"}}
    },
    "sum": {"sum": {"field": "price"}},
    "ext": {"extended_stats": {"field": "price"}},
    "by_doc": {"top_hits": {"size": 3, "sort": ["_doc"]}},
}


# --- helpers ------------------------------------------------------------------------------------


def roundtrip(results: dict[str, AggResult]) -> dict[str, AggResult]:
    return decode_results(ormsgpack.unpackb(ormsgpack.packb(encode_results(results))))


def canon(value: Any) -> Any:
    """A strict, hashable picture of a value: int ≠ float ≠ bool, -0.0 ≠ 0.0, NaN == NaN,
    tuple ≠ list, set ≠ frozenset (members unordered), dict key order and key types kept,
    objects by class and fields."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(canon(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value).__name__, frozenset(canon(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((canon(k), canon(v)) for k, v in value.items()))
    if dataclasses.is_dataclass(value):
        fields = dataclasses.fields(value)
        return (
            type(value).__name__,
            tuple((f.name, canon(getattr(value, f.name))) for f in fields),
        )
    if isinstance(value, DocFormat):
        return (type(value).__name__, canon(vars(value)))
    raise TypeError(f"no canonical form for {type(value).__name__}")


def _difference(a: Any, b: Any, path: str = "") -> str:
    """Where two values first differ (keeps failure reports short: pytest's own diff of large
    nested values is very slow)."""
    if isinstance(a, dict) and isinstance(b, dict) and list(a) == list(b):
        for k in a:
            if canon(a[k]) != canon(b[k]):
                return _difference(a[k], b[k], f"{path}[{k!r}]")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if canon(x) != canon(y):
                return _difference(x, y, f"{path}[{i}]")
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if canon(x) != canon(y):
                return _difference(x, y, f"{path}.{f.name}")
    return f"{path or 'top'}: {a!r:.300} != {b!r:.300}"


def assert_same(a: Any, b: Any) -> None:
    if canon(a) != canon(b):
        pytest.fail(f"differ at {_difference(a, b)}", pytrace=False)


def collect(spec: AggsSpec, docs: Sequence[AggDoc]) -> dict[str, AggResult]:
    return collect_aggs(spec, docs, MAPPING, now_ms=NOW, index=INDEX, all_docs=docs)


def split(docs: list[AggDoc], cuts: tuple[int, int]) -> list[list[AggDoc]]:
    a, b = sorted(min(c, len(docs)) for c in cuts)
    return [docs[:a], docs[a:b], docs[b:]]


DAYS = [f"2024-{m:02d}-{d:02d}" for m in (1, 2, 3, 5) for d in (1, 9, 28)]
TAGS = st.sampled_from("abcde")


@st.composite
def documents(draw: st.DrawFn, prices: st.SearchStrategy[float]) -> list[AggDoc]:
    row = st.fixed_dictionaries(
        {},
        optional={
            "tag": st.one_of(TAGS, st.lists(TAGS, max_size=3)),
            "count": st.integers(0, 12),
            "price": prices,
            "flag": st.booleans(),
            "date": st.builds(
                lambda d, h: f"{d}T{h:02d}:30:00Z", st.sampled_from(DAYS), st.integers(0, 23)
            ),
            "day": st.sampled_from(DAYS),
            "title": st.sampled_from(["red apple", "green pear"]),
        },
    )
    rows = draw(st.lists(row, max_size=24))
    scores = draw(
        st.lists(st.sampled_from([None, 0.5, 1.0, 2.25]), min_size=len(rows), max_size=len(rows))
    )
    return [AggDoc(INDEX, str(i), s, r) for i, (r, s) in enumerate(zip(rows, scores, strict=True))]


# Multiples of 1/4 add up without rounding, so compensated sums merge exactly.
DYADIC = st.integers(-4000, 4000).map(lambda k: k / 4)
# Any double, within a range that keeps histogram fills (interval 50) small.
ANY_DOUBLE = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)
CUTS = st.tuples(st.integers(0, 24), st.integers(0, 24))


# --- the CCS property ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(DYADIC), CUTS)
def test_reduce_of_decoded_partials_equals_one_search(
    docs: list[AggDoc], cuts: tuple[int, int]
) -> None:
    spec = parse_aggs(MERGEABLE)
    partials = [roundtrip(collect(spec, part)) for part in split(docs, cuts)]
    assert_same(results_json(reduce_results(partials)), results_json(collect(spec, docs)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(ANY_DOUBLE), CUTS)
def test_codec_is_invisible_to_reduce(docs: list[AggDoc], cuts: tuple[int, int]) -> None:
    spec = parse_aggs({**MERGEABLE, **NOT_EXACT})
    partials = [collect(spec, part) for part in split(docs, cuts)]
    decoded = [roundtrip(p) for p in partials]
    for raw, back in zip(partials, decoded, strict=True):
        assert_same(back, raw)
        assert_same(results_json(back), results_json(raw))
    assert_same(results_json(reduce_results(decoded)), results_json(reduce_results(partials)))


def test_fixed_documents_merge_exactly() -> None:
    spec = parse_aggs(MERGEABLE)
    parts = [DOCS[:2], DOCS[2:3], DOCS[3:]]
    merged = reduce_results([roundtrip(collect(spec, p)) for p in parts])
    assert_same(results_json(merged), results_json(collect(spec, DOCS)))


def test_truncated_terms_are_not_exact_but_survive_the_wire() -> None:
    docs = [
        AggDoc(INDEX, str(i), None, {"count": c}) for i, c in enumerate([1, 1, 2, 3, 3, 3, 2, 2, 4])
    ]
    spec = parse_aggs({"t": NOT_EXACT["truncated"]})
    parts = [collect(spec, docs[:4]), collect(spec, docs[4:])]
    merged = results_json(reduce_results([roundtrip(p) for p in parts]))
    assert merged == results_json(reduce_results(parts))
    assert merged["t"]["doc_count_error_upper_bound"] > 0
    assert merged != results_json(collect(spec, docs))


# --- value fidelity -----------------------------------------------------------------------------


def test_values_keep_their_types() -> None:
    tricky = (1, -0.0, math.nan, 2**70, "x", None, True, [1.0, {"@": 1}], {3: "int key"})
    source = {
        "@": "not a tag",
        "nested": {"list": [1, 1.0, -0.0, math.inf, -math.inf, "s", None, False]},
        "big": -(2**80),
    }
    hit = RankedHit(
        AggDoc("remote:idx", "7", -0.0, source), keys=(None, 3, 2.0), shown=("a", 3, -0.0)
    )
    meta = {"m": {1: "int key", "1": "str key", (2, 3): "tuple key"}, "t": tricky}
    values = {1, 2.5, "1", (1, "a"), frozenset({2}), None, 2**65}
    results: dict[str, AggResult] = {
        "@": SingleBucketResult(
            Bucket(
                -0.0,
                2,
                {
                    "card": CardinalityResult(values),
                    "stats": StatsResult("stats", StatsState(count=0), BooleanFormat(), sigma=2.0),
                    "top": TopHitsResult(
                        hits=[hit],
                        total=1,
                        sort=(
                            SortKey("f", True, missing=("_last", 1)),
                            SortKey("g", False, mode="max"),
                            SortKey("_score", False),
                        ),
                        start=0,
                        size=3,
                        source=SourceFilter(True, ("a*",), ()),
                        show_scores=True,
                        max_score=math.nan,
                    ),
                },
            ),
            meta=meta,
        )
    }
    back = roundtrip(results)
    assert_same(back, results)
    single = back["@"]
    assert isinstance(single, SingleBucketResult) and single.meta is not None
    assert math.copysign(1, single.bucket.key) < 0
    got = single.meta["t"]
    assert type(got) is tuple and math.isnan(got[2]) and math.copysign(1, got[1]) < 0
    assert (
        got[3] == 2**70
        and got[6] is True
        and got[7] == [1.0, {"@": 1}]
        and got[8] == {3: "int key"}
    )
    assert single.meta["m"] == meta["m"]
    card = single.bucket.subs["card"]
    assert isinstance(card, CardinalityResult) and card.values == values
    top = single.bucket.subs["top"]
    assert isinstance(top, TopHitsResult) and top.max_score is not None
    assert top.hits[0].doc.source == source and type(top.hits[0].keys[2]) is float
    assert top.sort[0].missing == ("_last", 1) and math.isnan(top.max_score)
    stats = single.bucket.subs["stats"]
    assert isinstance(stats, StatsResult) and isinstance(stats.fmt, BooleanFormat)
    assert_same(results_json(back), results_json(results))


def test_raw_format_decodes_to_the_singleton() -> None:
    res: dict[str, AggResult] = {"s": StatsResult("sum", StatsState(), RAW)}
    back = roundtrip(res)["s"]
    assert isinstance(back, StatsResult) and back.fmt is RAW


def test_encoding_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(TypeError, match="plain data"):
        encode_results({"x": SingleBucketResult(Bucket(object(), 1))})
    stranger: Any = object()
    with pytest.raises(TypeError, match="not a registered AggResult"):
        encode_results({"x": SingleBucketResult(Bucket(None, 1, {"y": stranger}))})
    fractional: Any = 1.5
    with pytest.raises(TypeError, match=r"TermsResult\.size"):
        encode_results({"x": TermsResult([], 0, 0, 0, fractional, 1, COUNT_DESC, RAW, False)})
    not_a_list: Any = ()
    with pytest.raises(TypeError, match=r"TermsResult\.buckets: expected list"):
        encode_results({"x": TermsResult(not_a_list, 0, 0, 0, 1, 1, COUNT_DESC, RAW, False)})


# --- the allow-list -----------------------------------------------------------------------------


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        out += [sub, *_subclasses(sub)]
    return out


def _classes_in(hint: Any) -> list[type]:
    args = typing.get_args(hint)
    if args:
        return [c for a in args for c in _classes_in(a)]
    return [hint] if isinstance(hint, type) and hint.__module__.startswith("isthmus.") else []


def test_every_aggregation_result_is_registered() -> None:
    # Importing the registry (isthmus.search.aggs) imported every aggregation module.
    registered = set(REGISTRY.values())
    missing = [
        f"{c.__module__}.{c.__qualname__}"
        for c in _subclasses(AggResult)
        if not inspect.isabstract(c) and c not in registered
    ]
    assert not missing, f"register these in aggs_wire._ALLOWED: {missing}"


def test_every_class_a_registered_field_can_hold_is_registered() -> None:
    registered = set(REGISTRY.values())
    missing = set()
    for cls in registered:
        if not dataclasses.is_dataclass(cls):
            continue
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            for held in _classes_in(hints[f.name]):
                for c in (held, *_subclasses(held)):
                    if not inspect.isabstract(c) and c not in registered:
                        missing.add(f"{cls.__name__}.{f.name}: {c.__qualname__}")
    assert not missing, f"register these in aggs_wire._ALLOWED: {sorted(missing)}"


def test_tags_are_class_names() -> None:
    assert all(cls.__name__ == name for name, cls in REGISTRY.items())


# --- garbage ------------------------------------------------------------------------------------


def test_error_type_is_a_remote_protocol_error() -> None:
    assert issubclass(AggsWireError, RemoteProtocolError)


def _valid_payload() -> dict[str, Any]:
    spec = parse_aggs({**MERGEABLE, **NOT_EXACT})
    packed = ormsgpack.packb(encode_results(collect(spec, DOCS)))
    value: dict[str, Any] = ormsgpack.unpackb(packed)
    return value


def _wrap(aggs: Any) -> dict[str, Any]:
    return {"v": WIRE_VERSION, "aggs": aggs}


def _stats(**changes: Any) -> dict[str, Any]:
    state = {
        "@": "StatsState",
        "count": 1,
        "total": {"@": "CompensatedSum", "value": 1.0, "delta": 0.0},
        "squares": {"@": "CompensatedSum", "value": 1.0, "delta": 0.0},
        "min": 1.0,
        "max": 1.0,
    }
    out = {
        "@": "StatsResult",
        "meta": None,
        "kind": "avg",
        "state": state,
        "fmt": {"@": "RawFormat"},
        "sigma": 2.0,
    }
    out.update(changes)
    return out


def _bucket(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"@": "Bucket", "key": None, "doc_count": 1, "subs": {}}
    out.update(changes)
    return {"@": "SingleBucketResult", "meta": None, "bucket": out}


def _plain(value: Any) -> dict[str, Any]:
    """A payload whose only questionable part is plain data (in ``meta``)."""
    return _wrap({"a": _stats(meta={"x": value})})


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_a_valid_hand_written_payload_decodes() -> None:
    decoded = decode_results(
        _wrap(
            {
                "a": _stats(),
                "b": _bucket(key=2.5),
                "c": _stats(meta={"x": {"@": "tuple", "items": [1, "x"]}}),
            }
        )
    )
    assert isinstance(decoded["a"], StatsResult) and decoded["a"].state.avg == 1.0
    assert isinstance(decoded["b"], SingleBucketResult) and decoded["b"].bucket.key == 2.5
    assert decoded["c"].meta == {"x": (1, "x")}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "aggs",
        b"\x00",
        {"v": WIRE_VERSION},
        {"v": 2, "aggs": {}},
        {"v": True, "aggs": {}},
        {"v": 10**5000, "aggs": {}},
        _wrap({"a": {"@": 10**5000}}),
        _wrap({"a": {"@": [1] * 10**5}}),
        {"v": WIRE_VERSION, "aggs": {}, "extra": 1},
        _wrap([]),
        _wrap({"a": 1}),
        _wrap({"a": {}}),
        _wrap({"a": {"@": "os.system", "command": "true"}}),
        _wrap({"a": {"@": "Nope"}}),
        _wrap({"a": {"@": ["StatsResult"]}}),
        _wrap({"a": {"@": "Bucket", "key": None, "doc_count": 1, "subs": {}}}),  # not a result
        _wrap({"a": {"@": "AggResult", "meta": None}}),  # abstract, not allow-listed
        _wrap({"a": {"@": "dict", "items": []}}),  # plain tag where a class belongs
        _wrap({"a": _stats(kind=3)}),
        _wrap({"a": _stats(kind="median")}),
        _wrap({"a": _stats(sigma="2")}),
        _wrap({"a": _stats(sigma=True)}),
        _wrap({"a": _stats(fmt=None)}),
        _wrap({"a": _stats(fmt={"@": "Bounds", "low": None, "high": None})}),
        _wrap({"a": _stats(fmt={"@": "RawFormat", "raw": False})}),
        _wrap({"a": _stats(meta=[1])}),
        _wrap({"a": {k: v for k, v in _stats().items() if k != "sigma"}}),
        _wrap({"a": {**_stats(), "extra": 1}}),
        _wrap({"a": _bucket(doc_count=True)}),
        _wrap({"a": _bucket(doc_count=1.0)}),
        _wrap({"a": _bucket(doc_count=-1)}),
        _wrap({"a": _bucket(doc_count={"@": "int", "v": "ten"})}),
        _wrap({"a": _bucket(doc_count={"@": "int", "v": "9" * 5000})}),
        _wrap({"a": _bucket(subs=[])}),
        _wrap({"a": _bucket(subs={"x": None})}),
        _plain(b"bytes"),
        _plain({"@": "Bucket", "key": None, "doc_count": 1, "subs": {}}),
        _plain({"@": "set", "items": [[1]]}),
        _plain({"@": "set", "items": 1}),
        _plain({"@": "dict", "items": [[1]]}),
        _plain({"@": "dict", "items": [[[1], 2]]}),
        _plain({"@": "tuple", "items": [], "more": 1}),
        _plain({"@": "eval", "items": []}),
        _plain({1: "non-string key"}),
        _plain(_nested(MAX_DEPTH + 5)),
        _plain(_nested(50_000)),
        _plain(object()),
        _wrap({"a": _bucket(key=(1, 2))}),  # a Python tuple is not a msgpack value
        _wrap({"a": _bucket(key=[1])}),  # bucket keys are scalars
        _wrap({"a": _bucket(key={"@": "tuple", "items": [1]})}),
    ],
)
def test_garbage_raises_the_wire_error(payload: Any) -> None:
    with pytest.raises(AggsWireError):
        decode_results(payload)


def test_broken_invariants_are_refused() -> None:
    payload = _valid_payload()
    hist = payload["aggs"]["hist"]
    assert hist["rounding"]["@"] == "NumericRounding"
    for interval in (0.0, -5.0, math.nan, math.inf):
        hist["rounding"]["interval"] = interval
        with pytest.raises(AggsWireError, match="interval"):
            decode_results(payload)
    hist["rounding"]["interval"] = 50.0
    decode_results(payload)
    top = payload["aggs"]["top"]
    top["hits"][0]["keys"] = top["hits"][0]["keys"][:1]
    with pytest.raises(AggsWireError, match="sort values"):
        decode_results(payload)


def test_error_names_where_it_happened() -> None:
    with pytest.raises(
        AggsWireError,
        match=r"expected an integer, got bool at \['a'\] > SingleBucketResult.bucket > Bucket.doc_count",
    ):
        decode_results(_wrap({"a": _bucket(doc_count=True)}))


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=4)
    | st.sampled_from(["@", "v", "aggs", *REGISTRY, "tuple", "set", "dict", "int"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["@", "v", "aggs", "key", "items", "meta", "x"]) | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(msgpack_values)
def test_random_values_raise_the_wire_error(value: Any) -> None:
    for payload in (value, _wrap(value), _wrap({"a": value})):
        try:
            decoded = decode_results(payload)
        except AggsWireError:
            continue
        assert all(isinstance(r, AggResult) for r in decoded.values())


def _locations(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _locations(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _locations(v, (*path, i))
    return out


VALID = _valid_payload()
LOCATIONS = _locations(VALID)[1:]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(LOCATIONS),
    st.one_of(
        st.just("delete"),
        msgpack_values,
        st.sampled_from([{"@": name} for name in REGISTRY]),
    ),
)
def test_mutated_payloads_decode_or_raise_the_wire_error(
    location: tuple[Any, ...], replacement: Any
) -> None:
    payload = ormsgpack.unpackb(ormsgpack.packb(VALID))
    parent = payload
    for step in location[:-1]:
        parent = parent[step]
    if replacement == "delete":
        del parent[location[-1]]
    else:
        parent[location[-1]] = replacement
    try:
        decoded = decode_results(payload)
    except AggsWireError:
        return
    assert all(isinstance(r, AggResult) for r in decoded.values())


def test_histogram_interval_below_float_precision_is_refused_not_a_hang() -> None:
    from isthmus.errors import IllegalArgumentError
    from isthmus.index.mapping import Mapping as IndexMapping
    from isthmus.search.aggs import AggDoc, parse_aggs, run_aggs

    mapping = IndexMapping({"properties": {"p": {"type": "double"}}})
    docs = [
        AggDoc(index="i", id=str(i), score=None, source={"p": v})
        for i, v in enumerate((1e10, 1e10 + 0.001))
    ]
    spec = parse_aggs({"h": {"histogram": {"field": "p", "interval": 1e-10}}})
    with pytest.raises(IllegalArgumentError, match="too many buckets"):
        run_aggs(spec, docs, mapping, now_ms=0)
