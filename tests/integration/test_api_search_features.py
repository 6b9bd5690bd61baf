"""Search request features beyond query and paging, against a real node with the official client
(issue 18 item 3): ``terminate_after``, ``rest_total_hits_as_int`` and its validation,
``search_type``, ``_source`` filter objects, ``search.max_buckets``, with Elasticsearch's shapes
and error texts. One small corpus is created once for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error

INDEX = "features-corpus"
MAPPING = {
    "properties": {
        "title": {"type": "text"},
        "tag": {"type": "keyword"},
        "price": {"type": "long"},
        "published": {"type": "date"},
        "user": {"properties": {"name": {"type": "keyword"}, "age": {"type": "integer"}}},
    }
}
DOCS: list[dict[str, Any]] = [
    {
        "title": "quick brown fox",
        "tag": ["b", "a"],
        "price": 10,
        "published": "2024-01-01",
        "user": {"name": "ann", "age": 30},
    },
    {
        "title": "lazy brown dog",
        "tag": "a",
        "price": 20,
        "published": "2024-02-01",
        "user": {"name": "bob", "age": 40},
    },
    {
        "title": "quick quiz",
        "tag": "c",
        "price": 30,
        "published": "2024-03-01",
        "user": {"name": "cid", "age": 50},
    },
    {
        "title": "slow green turtle",
        "tag": "c",
        "price": 5,
        "published": "2023-12-01",
        "user": {"name": "dan", "age": 60},
    },
    {
        "title": "brown bears quick",
        "tag": "b",
        "price": 15,
        "published": "2024-04-01",
        "user": {"name": "eve", "age": 70},
    },
]


@pytest.fixture(scope="module")
def corpus(es: Elasticsearch) -> Iterator[str]:
    es.indices.create(index=INDEX, mappings=MAPPING, settings={"number_of_shards": 2})
    ops: list[dict[str, Any]] = []
    for i, doc in enumerate(DOCS, start=1):
        ops += [{"index": {"_index": INDEX, "_id": str(i)}}, doc]
    assert es.bulk(operations=ops, refresh=True)["errors"] is False
    yield INDEX
    es.indices.delete(index=INDEX)


def test_terminate_after_stops_each_shard_and_says_so(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, terminate_after=1, size=10)
    assert list(resp.body)[:3] == ["took", "timed_out", "terminated_early"]
    assert resp["terminated_early"] is True
    # Each of the two shards collected one document.
    assert resp["hits"]["total"] == {"value": 2, "relation": "eq"}
    assert len(resp["hits"]["hits"]) == 2
    enough = es.search(index=corpus, body={"terminate_after": 100})
    assert enough["terminated_early"] is False and enough["hits"]["total"]["value"] == 5
    assert "terminated_early" not in es.search(index=corpus)
    assert es.search(index=corpus, terminate_after=0)["hits"]["total"]["value"] == 5
    status, body = api_error(lambda: es.search(index=corpus, body={"terminate_after": -1}))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "terminateAfter must be > 0"
    counted = es.count(index=corpus, terminate_after=1)
    assert list(counted.body) == ["count", "terminated_early", "_shards"]
    assert (counted["count"], counted["terminated_early"]) == (2, True)
    assert "terminated_early" not in es.count(index=corpus)


def test_rest_total_hits_as_int_counts_exactly_and_refuses_a_bound(
    es: Elasticsearch, corpus: str
) -> None:
    resp = es.search(index=corpus, rest_total_hits_as_int=True, size=0)
    assert resp["hits"]["total"] == 5
    off = es.search(index=corpus, rest_total_hits_as_int=True, track_total_hits=False, size=0)
    assert off["hits"]["total"] == -1
    status, body = api_error(
        lambda: es.search(index=corpus, rest_total_hits_as_int=True, track_total_hits=100)
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not "
        "accurate, got 100"
    )


def test_search_type(es: Elasticsearch, corpus: str) -> None:
    dfs = es.search(
        index=corpus, search_type="dfs_query_then_fetch", query={"match": {"title": "quick"}}
    )
    assert {h["_id"] for h in dfs["hits"]["hits"]} == {"1", "3", "5"}
    status, body = api_error(
        lambda: es.perform_request(
            "GET", f"/{corpus}/_search", params={"search_type": "query_and_fetch"}
        )
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "No search type for [query_and_fetch]"


def test_source_filter_object_takes_singular_include_and_exclude(
    es: Elasticsearch, corpus: str
) -> None:
    resp = es.search(
        index=corpus,
        query={"ids": {"values": ["1"]}},
        source={"include": ["user.*", "price"], "exclude": "user.age"},  # type: ignore[arg-type]
    )
    assert resp["hits"]["hits"][0]["_source"] == {"price": 10, "user": {"name": "ann"}}
    status, body = api_error(
        lambda: es.search(index=corpus, source={"inclusions": ["a"]})  # type: ignore[arg-type]
    )
    assert status == 400
    assert body["error"]["type"] == "parsing_exception"


def test_search_max_buckets_refuses_a_larger_aggregation(es: Elasticsearch, corpus: str) -> None:
    es.cluster.put_settings(persistent={"search.max_buckets": 2})
    try:
        status, body = api_error(
            lambda: es.search(index=corpus, size=0, aggs={"t": {"terms": {"field": "price"}}})
        )
        fits = es.search(index=corpus, size=0, aggs={"t": {"terms": {"field": "tag", "size": 2}}})
    finally:
        es.cluster.put_settings(persistent={"search.max_buckets": None})
    assert status == 400
    causes = [body["error"], *body["error"].get("root_cause", [])]
    cause = next(c for c in causes if c["type"] == "too_many_buckets_exception")
    assert cause["reason"] == (
        "Trying to create too many buckets. Must be less than or equal to: [2] but this number "
        "of buckets was exceeded. This limit can be set by changing the [search.max_buckets] "
        "cluster level setting."
    )
    assert len(fits["aggregations"]["t"]["buckets"]) == 2


def test_fields_option_reads_values_through_the_mapping(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        query={"ids": {"values": ["1"]}},
        fields=["user.*", {"field": "published", "format": "epoch_millis"}, "tag", "nope"],
        source=False,
    )
    (hit,) = resp["hits"]["hits"]
    assert "_source" not in hit
    assert hit["fields"] == {
        "user.name": ["ann"],
        "user.age": [30],
        "published": ["1704067200000"],
        "tag": ["b", "a"],  # source order
    }
    dates = es.search(index=corpus, query={"ids": {"values": ["1"]}}, fields=["published"])
    assert dates["hits"]["hits"][0]["fields"] == {"published": ["2024-01-01T00:00:00.000Z"]}
    assert list(dates["hits"]["hits"][0])[-2:] == ["_source", "fields"]


def test_docvalue_fields_are_sorted_doc_values(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        query={"ids": {"values": ["1"]}},
        docvalue_fields=["tag", "price", "published"],
    )
    (hit,) = resp["hits"]["hits"]
    assert hit["fields"] == {
        "tag": ["a", "b"],
        "price": [10],
        "published": ["2024-01-01T00:00:00.000Z"],
    }
    assert "_source" in hit
    status, body = api_error(lambda: es.search(index=corpus, docvalue_fields=["title"]))
    assert status == 400
    assert body["error"]["type"] == "search_phase_execution_exception"
    assert body["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    assert body["error"]["root_cause"][0]["reason"].startswith("Fielddata is disabled on [title]")


def test_stored_fields_none_drops_metadata_and_source(es: Elasticsearch, corpus: str) -> None:
    none = es.search(index=corpus, query={"ids": {"values": ["2"]}}, stored_fields="_none_")
    (hit,) = none["hits"]["hits"]
    assert hit == {"_index": corpus, "_score": 1.0}
    listed = es.search(index=corpus, query={"ids": {"values": ["2"]}}, stored_fields=["price"])
    assert listed["hits"]["hits"][0] == {"_index": corpus, "_id": "2", "_score": 1.0}
    both = es.search(
        index=corpus, query={"ids": {"values": ["2"]}}, stored_fields=["price"], source=True
    )
    assert both["hits"]["hits"][0]["_source"]["price"] == 20
    for extra, reason in (
        ({"source": True}, "[stored_fields] cannot be disabled if [_source] is requested"),
        (
            {"fields": ["price"]},
            "[stored_fields] cannot be disabled when using the [fields] option",
        ),
    ):
        status, body = api_error(
            lambda extra=extra: es.search(index=corpus, stored_fields="_none_", **extra)
        )
        assert status == 400
        assert body["error"]["type"] == "action_request_validation_exception"
        assert body["error"]["reason"] == f"Validation Failed: 1: {reason};"


def test_named_queries_show_in_matched_queries(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        query={
            "bool": {
                "should": [
                    {"match": {"title": {"query": "quick", "_name": "is_quick"}}},
                    {"term": {"tag": {"value": "b", "_name": "tag_b"}}},
                    {"range": {"price": {"gte": 15, "_name": "pricey"}}},
                ]
            }
        },
        post_filter={"terms": {"tag": ["a", "b", "c"], "_name": "any_tag"}},
        size=10,
    )
    matched = {h["_id"]: h["matched_queries"] for h in resp["hits"]["hits"]}
    assert {k: sorted(v) for k, v in matched.items()} == {
        "1": ["any_tag", "is_quick", "tag_b"],
        "2": ["any_tag", "pricey"],
        "3": ["any_tag", "is_quick", "pricey"],
        "5": ["any_tag", "is_quick", "pricey", "tag_b"],
    }
    assert list(resp["hits"]["hits"][0])[-1] == "matched_queries"
    plain = es.search(index=corpus, query={"match": {"title": "quick"}})
    assert all("matched_queries" not in h for h in plain["hits"]["hits"])


def ids_of(resp: Any) -> set[str]:
    return {h["_id"] for h in resp["hits"]["hits"]}


def test_match_bool_prefix(es: Elasticsearch, corpus: str) -> None:
    # "qu" is a prefix of quick/quiz; "brown" a whole term.
    either = es.search(index=corpus, query={"match_bool_prefix": {"title": "brown qu"}})
    assert ids_of(either) == {"1", "2", "3", "5"}
    both = es.search(
        index=corpus,
        query={"match_bool_prefix": {"title": {"query": "brown qu", "operator": "and"}}},
    )
    assert ids_of(both) == {"1", "5"}
    keyword = es.search(index=corpus, query={"match_bool_prefix": {"user.name": "a"}})
    assert ids_of(keyword) == {"1"}
    status, body = api_error(
        lambda: es.search(
            index=corpus, query={"match_bool_prefix": {"title": {"query": "x", "slop": 1}}}
        )
    )
    assert status == 400
    assert body["error"]["type"] == "parsing_exception"
    assert body["error"]["reason"] == "[match_bool_prefix] query does not support [slop]"


def test_multi_match_bool_prefix_adds_up_fields(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        query={
            "multi_match": {
                "query": "gre tu",
                "type": "bool_prefix",
                "fields": ["title", "user.name"],
            }
        },
    )
    assert ids_of(resp) == {"4"}
    typed = es.search(
        index=corpus,
        query={"multi_match": {"query": "quick b", "type": "bool_prefix", "fields": ["title"]}},
    )
    scores = {h["_id"]: h["_score"] for h in typed["hits"]["hits"]}
    assert set(scores) == {"1", "2", "3", "5"}
    # Matching the term and the prefix scores above matching one of them.
    assert min(scores["1"], scores["5"]) > max(scores["2"], scores["3"])


def test_terms_lookup_takes_values_from_another_document(es: Elasticsearch, corpus: str) -> None:
    es.index(
        index="features-lookup",
        id="picks",
        document={"wanted": {"tags": ["a", "c"]}, "list": [{"p": 5}, {"p": 30}]},
        refresh=True,
    )
    try:
        by_tag = {
            "terms": {"tag": {"index": "features-lookup", "id": "picks", "path": "wanted.tags"}}
        }
        assert ids_of(es.search(index=corpus, query=by_tag)) == {"1", "2", "3", "4"}
        nested = {"terms": {"price": {"index": "features-lookup", "id": "picks", "path": "list.p"}}}
        assert ids_of(es.search(index=corpus, query={"bool": {"filter": [nested]}})) == {"3", "4"}
        missing = {"terms": {"tag": {"index": "features-lookup", "id": "nope", "path": "x"}}}
        assert ids_of(es.search(index=corpus, query=missing)) == set()
        assert es.count(index=corpus, query=by_tag)["count"] == 4
        status, body = api_error(
            lambda: es.search(
                index=corpus,
                query={"terms": {"tag": {"index": "no-such-index", "id": "1", "path": "x"}}},
            )
        )
        assert status == 404
        assert body["error"]["type"] == "index_not_found_exception"
        status, body = api_error(
            lambda: es.search(
                index=corpus, query={"terms": {"tag": {"index": "features-lookup", "path": "x"}}}
            )
        )
        assert status == 400
        assert body["error"]["reason"] == "[terms] query lookup element requires specifying the id."
    finally:
        es.indices.delete(index="features-lookup")


def test_indices_boost_multiplies_the_scores_of_an_index(es: Elasticsearch, corpus: str) -> None:
    es.index(index="features-boosted", id="b1", document={"title": "quick"}, refresh=True)
    es.indices.put_alias(index="features-boosted", name="features-boost-alias")
    try:
        query = {"match": {"title": "quick"}}
        plain = es.search(index=[corpus, "features-boosted"], query=query)
        base = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}
        boosted = es.search(
            index=[corpus, "features-boosted"],
            query=query,
            indices_boost=[{"features-boost-alias": 3.0}, {"features-b*": 100}, {corpus: 0.5}],
        )
        scores = {h["_id"]: h["_score"] for h in boosted["hits"]["hits"]}
        assert scores["b1"] == pytest.approx(base["b1"] * 3.0)  # the first entry wins
        assert scores["1"] == pytest.approx(base["1"] * 0.5)
        assert boosted["hits"]["hits"][0]["_id"] == "b1"
        assert boosted["hits"]["max_score"] == pytest.approx(scores["b1"])
        status, body = api_error(
            lambda: es.search(index=corpus, indices_boost=[{"no-such-index": 2}])
        )
        assert status == 404 and body["error"]["type"] == "index_not_found_exception"
        for bad, reason in (
            ([{"a": "x"}], "Expected [VALUE_NUMBER] in [indices_boost] but found [VALUE_STRING]"),
            ([{"a": 1, "b": 2}], "Expected [END_OBJECT] in [indices_boost] but found [FIELD_NAME]"),
            ([{}], "Expected [FIELD_NAME] in [indices_boost] but found [END_OBJECT]"),
            ({"a": 1}, "Unknown key for a START_OBJECT in [indices_boost]."),
        ):
            status, body = api_error(
                lambda bad=bad: es.search(index=corpus, body={"indices_boost": bad})
            )
            assert (status, body["error"]["type"]) == (400, "parsing_exception")
            assert body["error"]["reason"] == reason
        # With REST API compatibility 7 the object form is read as the array form.
        compat = "application/vnd.elasticsearch+json;compatible-with=7"
        old = es.perform_request(
            "POST",
            f"/{corpus},features-boosted/_search",
            headers={"accept": compat, "content-type": compat},
            body={"query": query, "indices_boost": {"features-boosted": 3.0}},
        )
        assert old["hits"]["hits"][0]["_score"] == pytest.approx(base["b1"] * 3.0)
    finally:
        es.indices.delete(index="features-boosted")


@pytest.fixture(scope="module")
def groups(es: Elasticsearch) -> Iterator[str]:
    name = "features-collapse"
    es.indices.create(
        index=name,
        mappings={
            "properties": {"g": {"type": "keyword"}, "n": {"type": "long"}, "t": {"type": "text"}}
        },
        settings={"number_of_shards": 2},
    )
    rows = [
        ("1", "x", 10),
        ("2", "x", 30),
        ("3", "y", 20),
        ("4", None, 5),
        ("5", "y", 40),
        ("6", "z", 1),
    ]
    ops: list[dict[str, Any]] = []
    for doc_id, group, n in rows:
        ops += [
            {"index": {"_index": name, "_id": doc_id}},
            {"n": n, "t": "w", **({"g": group} if group else {})},
        ]
    ops += [{"index": {"_index": name, "_id": "7"}}, {"g": ["p", "q"], "n": 0}]
    es.bulk(operations=ops, refresh=True)
    yield name
    es.indices.delete(index=name)


def test_collapse_keeps_the_best_hit_per_value_with_inner_hits(
    es: Elasticsearch, groups: str
) -> None:
    resp = es.search(
        index=groups,
        query={"exists": {"field": "t"}},
        sort=[{"n": "desc"}],
        collapse={
            "field": "g",
            "inner_hits": [
                {"name": "low", "size": 1, "sort": [{"n": "asc"}], "_source": False},
                {"name": "all"},
            ],
        },
        size=3,
    )
    hits = resp["hits"]["hits"]
    assert resp["hits"]["total"] == {"value": 6, "relation": "eq"}  # every match counts
    assert [(h["_id"], h["fields"]["g"]) for h in hits] == [
        ("5", ["y"]),
        ("2", ["x"]),
        ("4", [None]),
    ]
    assert list(hits[0])[-3:] == ["fields", "sort", "inner_hits"]
    low = hits[0]["inner_hits"]["low"]["hits"]
    assert low["total"] == {"value": 2, "relation": "eq"}
    assert [(h["_id"], h["sort"]) for h in low["hits"]] == [("3", [20])]
    assert "_source" not in low["hits"][0]
    assert [h["_id"] for h in hits[1]["inner_hits"]["all"]["hits"]["hits"]] == ["2", "1"]
    page2 = es.search(
        index=groups,
        query={"exists": {"field": "t"}},
        sort=[{"n": "desc"}],
        collapse={"field": "g"},
        from_=3,
    )
    assert [h["_id"] for h in page2["hits"]["hits"]] == ["6"]


def test_collapse_errors(es: Elasticsearch, groups: str) -> None:
    for collapse, status, kind, reason in (
        (
            {"field": "t"},
            400,
            "illegal_argument_exception",
            "unknown type for collapse field `t`, only keywords and numbers are accepted",
        ),
        (
            {"field": "nope"},
            400,
            "illegal_argument_exception",
            "no mapping found for `nope` in order to collapse on",
        ),
        ({"field": "g"}, 500, "illegal_state_exception", "failed to collapse"),
    ):
        code, body = api_error(lambda c=collapse: es.search(index=groups, collapse=c))
        assert (code, body["error"]["type"]) == (status, "search_phase_execution_exception")
        cause = body["error"]["root_cause"][0]
        assert cause["type"] == kind and cause["reason"].startswith(reason)
    code, body = api_error(lambda: es.search(index=groups, collapse={"field": "g", "x": 1}))
    assert (code, body["error"]["type"]) == (400, "x_content_parse_exception")
    assert body["error"]["reason"] == "[1:26] [collapse] unknown field [x]"  # the key's location
    # ES 8.15+ validates it with the request (SearchSourceBuilder.validate's scroll checks).
    code, body = api_error(lambda: es.search(index=groups, collapse={"field": "g"}, scroll="1m"))
    assert (code, body["error"]["type"]) == (400, "action_request_validation_exception")
    assert body["error"]["reason"] == (
        "Validation Failed: 1: cannot use `collapse` in a scroll context;"
    )


def test_rescore_recombines_the_top_window(es: Elasticsearch, corpus: str) -> None:
    query = {"match": {"title": "brown"}}  # 1, 2, 5
    plain = {h["_id"]: h["_score"] for h in es.search(index=corpus, query=query)["hits"]["hits"]}
    resp = es.search(
        index=corpus,
        query=query,
        rescore={
            "window_size": 50,
            "query": {
                "rescore_query": {"term": {"tag": "a"}},  # 1 and 2
                "query_weight": 0.5,
                "rescore_query_weight": 2.0,
            },
        },
    )
    scores = {h["_id"]: h["_score"] for h in resp["hits"]["hits"]}
    assert scores["5"] == pytest.approx(plain["5"] * 0.5)
    term = es.search(index=corpus, query={"term": {"tag": "a"}})["hits"]["hits"]
    for hit in term:  # the rescore query's own score, doubled, added
        doc = hit["_id"]
        assert scores[doc] == pytest.approx(plain[doc] * 0.5 + hit["_score"] * 2.0)
    ranked = [h["_score"] for h in resp["hits"]["hits"]]
    assert ranked == sorted(ranked, reverse=True)
    assert resp["hits"]["max_score"] == pytest.approx(max(scores.values()))
    multiplied = es.search(
        index=corpus,
        query=query,
        rescore=[
            {"window_size": 50, "query": {"rescore_query": {"match_all": {}}, "query_weight": 0}},
            {"query": {"rescore_query": {"ids": {"values": ["5"]}}, "score_mode": "max"}},
        ],
    )
    # The first rescorer leaves every score 0 + 1; the second lifts only 5 (max of 1 and 1).
    assert {h["_score"] for h in multiplied["hits"]["hits"]} == {1.0}
    for body, status, kind, reason in (
        (
            {"rescore": {"query": {"rescore_query": {"match_all": {}}}}, "sort": ["price"]},
            400,
            "search_phase_execution_exception",
            "Cannot use [sort] option in conjunction with [rescore].",
        ),
        (
            {"rescore": {"window_size": 10001, "query": {"rescore_query": {"match_all": {}}}}},
            400,
            "search_phase_execution_exception",
            "Rescore window [10001] is too large.",
        ),
        (
            {
                "rescore": {"query": {"rescore_query": {"match_all": {}}}},
                "collapse": {"field": "tag"},
            },
            500,
            "search_phase_execution_exception",
            "cannot use `collapse` in conjunction with `rescore`",
        ),
        (
            {"rescore": {"query": {"rescore_query": {"match_all": {}}, "score_mode": "x"}}},
            400,
            "illegal_argument_exception",
            "illegal score_mode [x]",
        ),
        ({"rescore": {"window_size": 5}}, 400, "parsing_exception", "missing rescore type"),
    ):
        code, err = api_error(lambda body=body: es.search(index=corpus, body=body))
        assert (code, err["error"]["type"]) == (status, kind)
        causes = [err["error"], *err["error"].get("root_cause", [])]
        assert any(c["reason"].startswith(reason) for c in causes), err
    code, err = api_error(
        lambda: es.search(
            index=corpus, scroll="1m", rescore={"query": {"rescore_query": {"match_all": {}}}}
        )
    )
    assert (code, err["error"]["type"]) == (400, "action_request_validation_exception")
    assert err["error"]["reason"] == (
        "Validation Failed: 1: using [rescore] is not allowed in a scroll context;"
    )


def _explanation_shape(node: dict[str, Any]) -> None:
    assert set(node) == {"value", "description", "details"}
    assert isinstance(node["value"], float) and isinstance(node["description"], str)
    for child in node["details"]:
        _explanation_shape(child)


def test_explain_on_hits(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, query={"match": {"title": "quick"}}, explain=True, size=1)
    (hit,) = resp["hits"]["hits"]
    assert list(hit)[:3] == ["_shard", "_node", "_index"]
    assert hit["_shard"] in (f"[{corpus}][0]", f"[{corpus}][1]")
    assert hit["_node"] in es.nodes.info()["nodes"]
    assert list(hit)[-1] == "_explanation"
    _explanation_shape(hit["_explanation"])
    assert hit["_explanation"]["value"] == pytest.approx(hit["_score"], rel=1e-5)
    assert "_explanation" not in es.search(index=corpus, size=1)["hits"]["hits"][0]


def test_explain_api(es: Elasticsearch, corpus: str) -> None:
    match = es.explain(index=corpus, id="3", query={"match": {"title": "quick"}})
    assert list(match.body) == ["_index", "_id", "matched", "explanation"]
    assert (match["_index"], match["_id"], match["matched"]) == (corpus, "3", True)
    _explanation_shape(match["explanation"])
    score = es.search(
        index=corpus,
        query={
            "bool": {
                "must": [{"match": {"title": "quick"}}],
                "filter": [{"ids": {"values": ["3"]}}],
            }
        },
    )
    assert match["explanation"]["value"] == pytest.approx(score["hits"]["max_score"], rel=1e-5)
    miss = es.explain(index=corpus, id="4", q="title:quick")
    assert miss.body == {
        "_index": corpus,
        "_id": "4",
        "matched": False,
        "explanation": {"value": 0.0, "description": "no matching term", "details": []},
    }
    with_source = es.explain(index=corpus, id="3", q="tag:c", source_includes=["price"])
    assert with_source["get"]["_source"] == {"price": 30} and with_source["get"]["found"] is True
    code, body = api_error(lambda: es.explain(index=corpus, id="nope", q="tag:c"))
    assert code == 404 and body == {"_index": corpus, "_id": "nope", "matched": False}
    code, body = api_error(lambda: es.perform_request("GET", f"/{corpus}/_explain/3"))
    assert (code, body["error"]["type"]) == (400, "action_request_validation_exception")
    assert body["error"]["reason"] == "Validation Failed: 1: query is missing;"
    code, body = api_error(lambda: es.explain(index="no-such-index", id="1", q="x"))
    assert (code, body["error"]["type"]) == (404, "index_not_found_exception")


def test_validate_query(es: Elasticsearch, corpus: str) -> None:
    ok = es.indices.validate_query(index=corpus, query={"match": {"title": "quick"}})
    assert ok.body == {"valid": True, "_shards": {"total": 1, "successful": 1, "failed": 0}}
    assert list(ok.body) == ["valid", "_shards"]
    explained = es.indices.validate_query(
        index=corpus,
        explain=True,
        query={
            "bool": {
                "must": [{"match": {"title": "Quick Fox"}}],
                "filter": [{"term": {"tag": "a"}}],
            }
        },
    )
    assert explained["valid"] is True
    assert explained["explanations"] == [
        {"index": corpus, "valid": True, "explanation": "+(title:quick title:fox) #tag:a"}
    ]
    by_q = es.indices.validate_query(index=corpus, q="tag:a", explain=True)
    assert by_q["explanations"][0]["explanation"] == "tag:a"
    unknown = es.indices.validate_query(index=corpus, query={"nope": {}}, explain=True)
    assert unknown.body == {
        "valid": False,
        "error": "org.elasticsearch.common.ParsingException: unknown query [nope]",
    }
    assert es.indices.validate_query(index=corpus, query={"nope": {}}).body == {"valid": False}
    bad_value = es.indices.validate_query(
        index=corpus, explain=True, query={"range": {"published": {"gte": "not a date"}}}
    )
    assert bad_value["valid"] is False
    (entry,) = bad_value["explanations"]
    assert entry["index"] == corpus and entry["valid"] is False and "not a date" in entry["error"]
    every = es.indices.validate_query(index=corpus, all_shards=True, explain=True, q="tag:a")
    assert every["_shards"]["total"] == 2
    assert sorted(e["shard"] for e in every["explanations"]) == [0, 1]


@pytest.fixture(scope="module")
def yearly(es: Elasticsearch) -> Iterator[str]:
    ops: list[dict[str, Any]] = []
    for year in (2021, 2022, 2023):
        name = f"features-pf-{year}"
        es.indices.create(index=name, mappings={"properties": {"at": {"type": "date"}}})
        for month in (1, 6, 12):
            ops += [{"index": {"_index": name}}, {"at": f"{year}-{month:02d}-15"}]
    es.bulk(operations=ops, refresh=True)
    yield "features-pf-*"
    es.indices.delete(index=",".join(f"features-pf-{y}" for y in (2021, 2022, 2023)))


def test_pre_filter_skips_shards_that_cannot_match(es: Elasticsearch, yearly: str) -> None:
    in_2022 = {"range": {"at": {"gte": "2022-01-01", "lt": "2023-01-01"}}}
    resp = es.search(index=yearly, query=in_2022, pre_filter_shard_size=1)
    assert resp["_shards"] == {"total": 3, "successful": 3, "skipped": 2, "failed": 0}
    assert resp["hits"]["total"]["value"] == 3
    # Without the parameter (or with more room than shards) nothing is skipped.
    assert es.search(index=yearly, query=in_2022)["_shards"]["skipped"] == 0
    assert (
        es.search(index=yearly, query=in_2022, pre_filter_shard_size=3)["_shards"]["skipped"] == 0
    )
    # A range inside one index's span still may match there (ES compares with min and max).
    gap = {"range": {"at": {"gte": "2022-02-01", "lte": "2022-03-01"}}}
    assert es.search(index=yearly, query=gap, pre_filter_shard_size=1)["_shards"]["skipped"] == 2
    by_name = {"bool": {"filter": [{"term": {"_index": "features-pf-2021"}}]}}
    named = es.search(index=yearly, query=by_name, pre_filter_shard_size=1)
    assert named["_shards"]["skipped"] == 2 and named["hits"]["total"]["value"] == 3
    # Nothing can match: one shard is searched all the same.
    never = {"range": {"at": {"gte": "2030-01-01"}}}
    none = es.search(
        index=yearly,
        query=never,
        pre_filter_shard_size=1,
        aggs={"n": {"value_count": {"field": "at"}}},
    )
    assert none["_shards"] == {"total": 3, "successful": 3, "skipped": 2, "failed": 0}
    assert none["aggregations"]["n"]["value"] == 0
    code, body = api_error(lambda: es.search(index=yearly, pre_filter_shard_size=0))
    assert (code, body["error"]["reason"]) == (400, "preFilterShardSize must be >= 1")


def test_term_suggester(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        size=0,
        suggest={"text": "quikc brwn fox", "spell": {"term": {"field": "title"}}},
    )
    entries = resp["suggest"]["spell"]
    assert [(e["text"], e["offset"], e["length"]) for e in entries] == [
        ("quikc", 0, 5),
        ("brwn", 6, 4),
        ("fox", 11, 3),
    ]
    assert entries[0]["options"][0] == {"text": "quick", "score": 0.8, "freq": 3}  # a transposition
    assert entries[1]["options"][0]["text"] == "brown" and entries[1]["options"][0]["freq"] == 3
    assert entries[2]["options"] == []  # shorter than min_word_length (and in the index)
    typed = es.search(
        index=corpus,
        size=0,
        typed_keys=True,
        suggest={"spell": {"text": "quiz", "term": {"field": "title", "suggest_mode": "always"}}},
    )
    (entry,) = typed["suggest"]["term#spell"]
    assert [o["text"] for o in entry["options"]] == ["quick"]  # quiz itself is not a suggestion
    code, body = api_error(
        lambda: es.search(index=corpus, suggest={"s": {"text": "x", "term": {"size": 2}}})
    )
    assert (code, body["error"]["type"]) == (400, "parse_exception")
    assert body["error"]["reason"] == "the required field option [field] is missing"
    code, body = api_error(
        lambda: es.search(
            index=corpus, suggest={"s": {"text": "x", "term": {"field": "title", "x": 1}}}
        )
    )
    assert (code, body["error"]["reason"]) == (400, "suggester[term] doesn't support field [x]")


def test_phrase_suggester(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        size=0,
        suggest={
            "fix": {
                "text": "lazy brwn dog",
                "phrase": {"field": "title", "highlight": {"pre_tag": "<em>", "post_tag": "</em>"}},
            }
        },
    )
    (entry,) = resp["suggest"]["fix"]
    assert (entry["text"], entry["offset"], entry["length"]) == ("lazy brwn dog", 0, 13)
    best = entry["options"][0]
    assert best["text"] == "lazy brown dog"
    assert best["highlighted"] == "lazy <em>brown</em> dog"
    assert best["score"] > 1.0
    fine = es.search(
        index=corpus,
        size=0,
        suggest={"fix": {"text": "lazy brown dog", "phrase": {"field": "title"}}},
    )
    assert fine["suggest"]["fix"][0]["options"] == []


def test_named_queries_with_their_scores(es: Elasticsearch, corpus: str) -> None:
    query = {
        "bool": {
            "should": [
                {"match": {"title": {"query": "quick", "_name": "q"}}},
                {"term": {"tag": {"value": "b", "_name": "b"}}},
            ]
        }
    }
    plain = es.search(index=corpus, query={"match": {"title": "quick"}}, size=10)
    quick = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}
    resp = es.search(index=corpus, query=query, size=10, include_named_queries_score=True)
    by_id = {h["_id"]: h["matched_queries"] for h in resp["hits"]["hits"]}
    assert (
        set(by_id["1"]) == {"q", "b"} and set(by_id["3"]) == {"q"} and set(by_id["5"]) == {"q", "b"}
    )
    for doc, named in by_id.items():
        if "q" in named:
            assert named["q"] == pytest.approx(quick[doc], rel=1e-5)


def test_docvalue_fields_limit_and_collapse_with_search_after(
    es: Elasticsearch, groups: str
) -> None:
    es.indices.put_settings(index=groups, settings={"index.max_docvalue_fields_search": 1})
    try:
        code, body = api_error(lambda: es.search(index=groups, docvalue_fields=["g", "n"]))
    finally:
        es.indices.put_settings(index=groups, settings={"index.max_docvalue_fields_search": None})
    assert (code, body["error"]["type"]) == (400, "search_phase_execution_exception")
    assert body["error"]["root_cause"][0]["reason"] == (
        "Trying to retrieve too many docvalue_fields. Must be less than or equal to: [1] but was "
        "[2]. This limit can be set by changing the [index.max_docvalue_fields_search] index "
        "level setting."
    )
    page = es.search(
        index=groups,
        query={"exists": {"field": "t"}},
        collapse={"field": "g"},
        sort=[{"g": "asc"}],
        search_after=["x"],
    )
    assert [h["fields"]["g"] for h in page["hits"]["hits"]] == [["y"], ["z"], [None]]
    code, body = api_error(
        lambda: es.search(
            index=groups, collapse={"field": "g"}, sort=[{"n": "asc"}], search_after=[1]
        )
    )
    assert (code, body["error"]["root_cause"][0]["type"]) == (500, "search_exception")
