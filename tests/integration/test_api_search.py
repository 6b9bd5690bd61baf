"""Search APIs against a real node: query DSL, paging, sorting, source filtering, totals,
highlighting, scroll and ``_count``, with Elasticsearch 8/9's response shapes and errors.

Most tests read one small corpus created once for the module; tests that need their own data use
an index named after the test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index

CORPUS = "search-corpus"
LONG_MAX = 9223372036854775807  # ES's sort value for a missing long sorted ascending

MAPPING = {
    "properties": {
        "title": {"type": "text"},
        "tag": {"type": "keyword"},
        "category": {"type": "keyword"},
        "price": {"type": "long"},
        "rating": {"type": "float"},
        "published": {"type": "date"},
        "in_stock": {"type": "boolean"},
    }
}

DOCS: dict[str, dict[str, Any]] = {
    "1": {
        "title": "The quick brown fox",
        "tag": ["animal", "fast"],
        "category": "pets",
        "price": 10,
        "rating": 4.5,
        "published": "2024-01-01",
        "in_stock": True,
    },
    "2": {
        "title": "The lazy brown dog",
        "tag": ["animal", "slow"],
        "category": "pets",
        "price": 20,
        "rating": 3.0,
        "published": "2024-02-15",
        "in_stock": False,
    },
    "3": {
        "title": "Quick quiz about brown bears",
        "tag": ["book"],
        "category": "books",
        "price": 30,
        "rating": 4.0,
        "published": "2024-03-10",
        "in_stock": True,
    },
    "4": {
        "title": "A slow green turtle",
        "tag": ["animal", "slow"],
        "category": "pets",
        "price": 5,
        "rating": 2.5,
        "published": "2023-12-31",
    },
    "5": {
        "title": "Foxes and dogs are friends",
        "tag": ["book"],
        "category": "books",
        "rating": 5.0,
        "published": "2024-03-11",
    },
    "6": {
        "title": "quick quick quick",
        "category": "misc",
        "price": 15,
        "rating": 1.0,
        "published": "2024-01-20",
    },
}


@pytest.fixture(scope="module")
def corpus(es: Elasticsearch) -> Iterator[str]:
    es.indices.create(index=CORPUS, mappings=MAPPING)
    ops: list[dict[str, Any]] = []
    for doc_id, doc in DOCS.items():
        ops += [{"index": {"_index": CORPUS, "_id": doc_id}}, doc]
    assert es.bulk(operations=ops, refresh=True)["errors"] is False
    yield CORPUS
    es.indices.delete(index=CORPUS)


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("search-", request)


def ids(es: Elasticsearch, query: dict[str, Any], **kwargs: Any) -> set[str]:
    resp = es.search(index=CORPUS, query=query, size=100, **kwargs)
    return {h["_id"] for h in resp["hits"]["hits"]}


def ordered_ids(resp: Any) -> list[str]:
    return [h["_id"] for h in resp["hits"]["hits"]]


# --- response shape -----------------------------------------------------------------------------


def test_match_all_response_shape(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, query={"match_all": {}})
    body = resp.body
    assert list(body) == ["took", "timed_out", "_shards", "hits"]
    assert isinstance(body["took"], int)
    assert body["timed_out"] is False
    assert body["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert list(body["hits"]) == ["total", "max_score", "hits"]
    assert body["hits"]["total"] == {"value": 6, "relation": "eq"}
    assert body["hits"]["max_score"] == 1.0
    hit = body["hits"]["hits"][0]
    assert list(hit) == ["_index", "_id", "_score", "_source"]
    assert hit["_index"] == corpus
    assert hit["_score"] == 1.0
    assert hit["_source"] == DOCS[hit["_id"]]


def test_search_without_body_defaults_to_match_all_size_10(es: Elasticsearch, corpus: str) -> None:
    resp = es.perform_request("GET", f"/{corpus}/_search")
    assert resp["hits"]["total"] == {"value": 6, "relation": "eq"}
    assert len(resp["hits"]["hits"]) == 6


def test_uri_search_q_param(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, q="title:fox")
    assert ordered_ids(resp) == ["1"]
    resp = es.search(index=corpus, q="category:books")
    assert {h["_id"] for h in resp["hits"]["hits"]} == {"3", "5"}


# --- full text ----------------------------------------------------------------------------------


def test_match_analyzes_and_ranks(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, query={"match": {"title": "QUICK"}})
    assert {h["_id"] for h in resp["hits"]["hits"]} == {"1", "3", "6"}
    assert ordered_ids(resp)[0] == "6"  # highest term frequency, shortest field
    scores = [h["_score"] for h in resp["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert resp["hits"]["max_score"] == scores[0]


def test_match_operator(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"match": {"title": {"query": "quick brown", "operator": "and"}}}) == {"1", "3"}
    assert ids(es, {"match": {"title": {"query": "quick brown", "operator": "or"}}}) == {
        "1",
        "2",
        "3",
        "6",
    }


def test_match_minimum_should_match(es: Elasticsearch, corpus: str) -> None:
    q = "quick brown fox"
    assert ids(es, {"match": {"title": {"query": q, "minimum_should_match": 2}}}) == {"1", "3"}
    assert ids(es, {"match": {"title": {"query": q, "minimum_should_match": "100%"}}}) == {"1"}


def test_match_fuzziness(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"match": {"title": "quikc"}}) == set()
    assert ids(es, {"match": {"title": {"query": "quikc", "fuzziness": "AUTO"}}}) == {"1", "3", "6"}
    assert ids(es, {"match": {"title": {"query": "browm", "fuzziness": 1}}}) == {"1", "2", "3"}


def test_match_phrase(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"match_phrase": {"title": "brown fox"}}) == {"1"}
    assert ids(es, {"match_phrase": {"title": "fox brown"}}) == set()
    assert ids(es, {"match_phrase": {"title": {"query": "quick fox", "slop": 1}}}) == {"1"}


def test_match_phrase_prefix(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"match_phrase_prefix": {"title": "quick br"}}) == {"1"}
    assert ids(es, {"match_phrase_prefix": {"title": "the lazy b"}}) == {"2"}


def test_multi_match(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"multi_match": {"query": "books", "fields": ["title", "category"]}}) == {
        "3",
        "5",
    }
    assert ids(es, {"multi_match": {"query": "slow", "fields": ["title", "tag"]}}) == {"2", "4"}


def test_query_string(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"query_string": {"query": "title:quick AND category:pets"}}) == {"1"}
    assert ids(es, {"query_string": {"query": "brown -dog", "default_field": "title"}}) == {
        "1",
        "3",
    }
    assert ids(es, {"query_string": {"query": "price:[10 TO 20]"}}) == {"1", "2", "6"}


def test_simple_query_string(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"simple_query_string": {"query": "quick + brown", "fields": ["title"]}}) == {
        "1",
        "3",
    }
    assert ids(es, {"simple_query_string": {"query": "fox | turtle", "fields": ["title"]}}) == {
        "1",
        "4",
    }


# --- term level ---------------------------------------------------------------------------------


def test_term_and_terms(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"term": {"category": "pets"}}) == {"1", "2", "4"}
    assert ids(es, {"term": {"category": "Pets"}}) == set()  # keyword: not analyzed
    assert ids(es, {"term": {"title": "quick"}}) == {"1", "3", "6"}
    assert ids(es, {"term": {"in_stock": True}}) == {"1", "3"}
    assert ids(es, {"terms": {"tag": ["fast", "book"]}}) == {"1", "3", "5"}


def test_range_numbers(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"range": {"price": {"gte": 10, "lt": 30}}}) == {"1", "2", "6"}
    assert ids(es, {"range": {"price": {"gt": 10, "lte": 30}}}) == {"2", "3", "6"}
    assert ids(es, {"range": {"rating": {"gte": 4.5}}}) == {"1", "5"}


def test_range_dates(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"range": {"published": {"gte": "2024-02-01"}}}) == {"2", "3", "5"}
    assert ids(es, {"range": {"published": {"lt": "2024-01-01"}}}) == {"4"}
    q = {"range": {"published": {"gte": "01/01/2024", "lte": "31/01/2024", "format": "dd/MM/yyyy"}}}
    assert ids(es, q) == {"1", "6"}


def test_range_date_math(es: Elasticsearch, idx: str) -> None:
    today = dt.datetime.now(dt.UTC)
    docs = {
        "today": today,
        "yesterday": today - dt.timedelta(days=1),
        "last-week": today - dt.timedelta(days=7),
    }
    ops: list[dict[str, Any]] = []
    for doc_id, when in docs.items():
        ops += [
            {"index": {"_index": idx, "_id": doc_id}},
            {"at": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
        ]
    es.indices.create(index=idx, mappings={"properties": {"at": {"type": "date"}}})
    es.bulk(operations=ops, refresh=True)
    resp = es.search(index=idx, query={"range": {"at": {"gte": "now-1d/d"}}})
    assert {h["_id"] for h in resp["hits"]["hits"]} == {"today", "yesterday"}
    resp = es.search(index=idx, query={"range": {"at": {"lt": "now-2d/d"}}})
    assert {h["_id"] for h in resp["hits"]["hits"]} == {"last-week"}


def test_exists_ids_prefix_wildcard(es: Elasticsearch, corpus: str) -> None:
    assert ids(es, {"exists": {"field": "price"}}) == {"1", "2", "3", "4", "6"}
    assert ids(es, {"exists": {"field": "in_stock"}}) == {"1", "2", "3"}
    assert ids(es, {"ids": {"values": ["1", "4", "99"]}}) == {"1", "4"}
    assert ids(es, {"prefix": {"tag": "an"}}) == {"1", "2", "4"}
    assert ids(es, {"prefix": {"title": "qui"}}) == {"1", "3", "6"}
    assert ids(es, {"wildcard": {"category": "b*s"}}) == {"3", "5"}
    assert ids(es, {"wildcard": {"category": {"value": "p?ts"}}}) == {"1", "2", "4"}


# --- compound -----------------------------------------------------------------------------------


def test_bool_query(es: Elasticsearch, corpus: str) -> None:
    q = {
        "bool": {
            "must": [{"match": {"title": "brown"}}],
            "filter": [{"term": {"category": "pets"}}],
            "must_not": [{"term": {"tag": "slow"}}],
        }
    }
    assert ids(es, q) == {"1"}
    should = {
        "bool": {
            "should": [
                {"term": {"tag": "fast"}},
                {"term": {"tag": "book"}},
                {"term": {"category": "books"}},
            ],
            "minimum_should_match": 2,
        }
    }
    assert ids(es, should) == {"3", "5"}


def test_filter_only_bool_scores_zero(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, query={"bool": {"filter": [{"term": {"category": "pets"}}]}})
    assert {h["_score"] for h in resp["hits"]["hits"]} == {0.0}
    assert resp["hits"]["max_score"] == 0.0


def test_constant_score(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        query={"constant_score": {"filter": {"term": {"category": "books"}}, "boost": 1.5}},
    )
    assert {h["_id"] for h in resp["hits"]["hits"]} == {"3", "5"}
    assert [h["_score"] for h in resp["hits"]["hits"]] == [1.5, 1.5]


# --- paging and sorting -------------------------------------------------------------------------


def test_from_and_size(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, sort=[{"price": "asc"}], from_=1, size=2)
    assert ordered_ids(resp) == ["1", "6"]
    assert resp["hits"]["total"] == {"value": 6, "relation": "eq"}
    assert es.search(index=corpus, size=0)["hits"]["hits"] == []
    assert es.search(index=corpus, from_=6)["hits"]["hits"] == []


@pytest.mark.parametrize(
    ("param", "reason"),
    [
        # SearchSourceBuilder words the two differently.
        ("from", "[from] parameter cannot be negative but was [-2]"),
        ("size", "[size] parameter cannot be negative, found [-2]"),
    ],
)
def test_negative_from_or_size_is_rejected(
    es: Elasticsearch, corpus: str, param: str, reason: str
) -> None:
    status, body = api_error(
        lambda: es.perform_request(
            "POST",
            f"/{corpus}/_search",
            body={param: -2},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    assert body["error"]["root_cause"][0]["reason"] == reason


def test_version_and_seq_no_in_hits(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus, query={"ids": {"values": ["1"]}}, version=True, seq_no_primary_term=True
    )
    hit = resp["hits"]["hits"][0]
    assert hit["_version"] == 1
    assert isinstance(hit["_seq_no"], int)
    assert hit["_primary_term"] == 1
    assert list(hit)[:3] == ["_index", "_id", "_version"]


def test_max_result_window(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(lambda: es.search(index=corpus, from_=10000, size=1))
    assert status == 400
    err = body["error"]
    assert err["type"] == "search_phase_execution_exception"
    assert err["reason"] == "all shards failed"
    assert err["phase"] == "query"
    reason = (
        "Result window is too large, from + size must be less than or equal to: [10000] "
        "but was [10001]. See the scroll api for a more efficient way to request large data "
        "sets. This limit can be set by changing the [index.max_result_window] index level "
        "setting."
    )
    assert err["root_cause"] == [{"type": "illegal_argument_exception", "reason": reason}]
    assert err["failed_shards"][0]["index"] == corpus
    assert err["failed_shards"][0]["reason"]["reason"] == reason
    # exactly at the limit is fine
    assert es.search(index=corpus, from_=9999, size=1)["hits"]["hits"] == []


def test_sort_asc_desc_with_missing_last(es: Elasticsearch, corpus: str) -> None:
    asc = es.search(index=corpus, sort=[{"price": "asc"}])
    assert ordered_ids(asc) == ["4", "1", "6", "2", "3", "5"]
    assert asc["hits"]["max_score"] is None
    first = asc["hits"]["hits"][0]
    assert first["_score"] is None
    assert first["sort"] == [5]
    assert list(first) == ["_index", "_id", "_score", "_source", "sort"]
    assert asc["hits"]["hits"][-1]["sort"] == [LONG_MAX]

    desc = es.search(index=corpus, sort=[{"price": {"order": "desc"}}])
    assert ordered_ids(desc) == ["3", "2", "6", "1", "4", "5"]
    assert desc["hits"]["hits"][-1]["sort"] == [-LONG_MAX - 1]


def test_sort_missing_first(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, sort=[{"price": {"order": "asc", "missing": "_first"}}])
    assert ordered_ids(resp)[:2] == ["5", "4"]


def test_sort_multiple_keys(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, sort=[{"category": "asc"}, {"price": "desc"}])
    assert ordered_ids(resp) == ["3", "5", "6", "2", "1", "4"]
    assert resp["hits"]["hits"][0]["sort"] == ["books", 30]


def test_sort_by_date_returns_epoch_millis(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, sort=[{"published": "asc"}], size=1)
    assert ordered_ids(resp) == ["4"]
    assert resp["hits"]["hits"][0]["sort"] == [1703980800000]  # 2023-12-31T00:00:00Z


def test_sort_by_score_alone_is_the_default_relevance_order(es: Elasticsearch, corpus: str) -> None:
    # ES drops a lone ``_score`` (descending) sort: hits keep _score and carry no sort values.
    resp = es.search(index=corpus, query={"match": {"title": "quick"}}, sort=["_score"])
    hits = resp["hits"]["hits"]
    assert hits[0]["_id"] == "6"
    assert all("sort" not in h for h in hits)
    assert hits[0]["_score"] > hits[-1]["_score"]
    assert resp["hits"]["max_score"] == hits[0]["_score"]


def test_sort_by_field_then_score(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus, query={"match": {"title": "quick"}}, sort=[{"category": "asc"}, "_score"]
    )
    hits = resp["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["3", "6", "1"]
    assert hits[0]["sort"][0] == "books"
    assert isinstance(hits[0]["sort"][1], float)


def test_sort_on_text_field_is_rejected(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(lambda: es.search(index=corpus, sort=[{"title": "asc"}]))
    assert status == 400
    assert body["error"]["type"] == "search_phase_execution_exception"
    root = body["error"]["root_cause"][0]
    assert root["type"] == "illegal_argument_exception"
    assert root["reason"].startswith(f"Fielddata is disabled on [title] in [{corpus}].")


def test_search_after(es: Elasticsearch, corpus: str) -> None:
    page1 = es.search(index=corpus, sort=[{"price": "asc"}], size=2)
    assert ordered_ids(page1) == ["4", "1"]
    after = page1["hits"]["hits"][-1]["sort"]
    page2 = es.search(index=corpus, sort=[{"price": "asc"}], size=2, search_after=after)
    assert ordered_ids(page2) == ["6", "2"]
    page3 = es.search(
        index=corpus,
        sort=[{"price": "asc"}],
        size=10,
        search_after=page2["hits"]["hits"][-1]["sort"],
    )
    assert ordered_ids(page3) == ["3", "5"]


# --- source filtering and totals ----------------------------------------------------------------


def test_source_filtering(es: Elasticsearch, corpus: str) -> None:
    q = {"ids": {"values": ["1"]}}
    hit = es.search(index=corpus, query=q, source=["title", "price"])["hits"]["hits"][0]
    assert hit["_source"] == {"title": "The quick brown fox", "price": 10}
    hit = es.search(index=corpus, query=q, source={"includes": ["t*"], "excludes": ["tag"]})[
        "hits"
    ]["hits"][0]
    assert hit["_source"] == {"title": "The quick brown fox"}
    hit = es.search(index=corpus, query=q, source=False)["hits"]["hits"][0]
    assert "_source" not in hit
    hit = es.search(
        index=corpus,
        query=q,
        source_excludes=["tag", "rating"],
    )["hits"]["hits"][0]
    assert set(hit["_source"]) == {"title", "category", "price", "published", "in_stock"}


def test_track_total_hits(es: Elasticsearch, corpus: str) -> None:
    capped = es.search(index=corpus, track_total_hits=5, size=1)
    assert capped["hits"]["total"] == {"value": 5, "relation": "gte"}
    exact = es.search(index=corpus, track_total_hits=True, size=1)
    assert exact["hits"]["total"] == {"value": 6, "relation": "eq"}
    below_cap = es.search(index=corpus, track_total_hits=6, size=1)
    assert below_cap["hits"]["total"] == {"value": 6, "relation": "eq"}
    untracked = es.search(index=corpus, track_total_hits=False, size=1)
    assert "total" not in untracked["hits"]


def test_rest_total_hits_as_int(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(index=corpus, rest_total_hits_as_int=True, size=0)
    assert resp["hits"]["total"] == 6


# --- highlight ----------------------------------------------------------------------------------


def test_highlight(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus, query={"match": {"title": "fox"}}, highlight={"fields": {"title": {}}}
    )
    hit = resp["hits"]["hits"][0]
    assert hit["_id"] == "1"
    assert hit["highlight"] == {"title": ["The quick brown <em>fox</em>"]}


def test_no_highlight_key_when_field_did_not_match(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus, query={"term": {"category": "misc"}}, highlight={"fields": {"title": {}}}
    )
    assert "highlight" not in resp["hits"]["hits"][0]


def test_highlight_custom_tags_and_multiple_terms(es: Elasticsearch, corpus: str) -> None:
    resp = es.search(
        index=corpus,
        query={"match": {"title": "lazy dog"}},
        highlight={"pre_tags": ["<b>"], "post_tags": ["</b>"], "fields": {"title": {}}},
    )
    hit = resp["hits"]["hits"][0]
    assert hit["highlight"]["title"] == ["The <b>lazy</b> brown <b>dog</b>"]


# --- scroll -------------------------------------------------------------------------------------


def test_scroll_and_clear_scroll(es: Elasticsearch, corpus: str) -> None:
    first = es.search(index=corpus, scroll="1m", size=2, sort=["_doc"])
    scroll_id = first["_scroll_id"]
    assert next(iter(first.body)) == "_scroll_id"
    seen = ordered_ids(first)
    assert first["hits"]["total"] == {"value": 6, "relation": "eq"}
    while True:
        page = es.scroll(scroll_id=scroll_id, scroll="1m")
        if not page["hits"]["hits"]:
            break
        seen += ordered_ids(page)
        scroll_id = page["_scroll_id"]
    assert sorted(seen) == sorted(DOCS)
    assert len(seen) == len(set(seen))

    cleared = es.clear_scroll(scroll_id=scroll_id)
    assert cleared.body == {"succeeded": True, "num_freed": 1}

    status, body = api_error(lambda: es.scroll(scroll_id=scroll_id, scroll="1m"))
    assert status == 404
    assert body["error"]["root_cause"][0]["type"] == "search_context_missing_exception"


def test_clear_unknown_scroll_frees_nothing(es: Elasticsearch, corpus: str) -> None:
    first = es.search(index=corpus, scroll="1m", size=1)
    es.clear_scroll(scroll_id=first["_scroll_id"])
    resp = es.options(ignore_status=404).clear_scroll(scroll_id=first["_scroll_id"])
    assert resp.meta.status == 404
    assert resp.body == {"succeeded": True, "num_freed": 0}


# --- count --------------------------------------------------------------------------------------


def test_count(es: Elasticsearch, corpus: str) -> None:
    resp = es.count(index=corpus)
    assert resp.body == {
        "count": 6,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    }
    assert es.count(index=corpus, query={"term": {"category": "pets"}})["count"] == 3
    assert es.count(index=corpus, q="category:books")["count"] == 2


def test_count_missing_index(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(lambda: es.count(index=idx))
    assert status == 404
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["error"]["reason"] == f"no such index [{idx}]"


# --- request errors -----------------------------------------------------------------------------


def test_unknown_query_is_parsing_exception(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(lambda: es.search(index=corpus, query={"foo": {}}))
    assert status == 400
    assert body["error"]["type"] == "parsing_exception"
    assert body["error"]["reason"] == "unknown query [foo]"
    assert body["error"]["root_cause"][0]["type"] == "parsing_exception"


def test_unknown_url_parameter(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(
        lambda: es.perform_request("GET", f"/{corpus}/_search", params={"foo": "bar"})
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"request [/{corpus}/_search] contains unrecognized parameter: [foo]"
    )


def test_unknown_search_body_key(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(
        lambda: es.perform_request(
            "POST",
            f"/{corpus}/_search",
            body={"qurey": {"match_all": {}}},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["type"] == "parsing_exception"
    assert body["error"]["reason"] == "Unknown key for a START_OBJECT in [qurey]."


def test_query_string_syntax_error(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(
        lambda: es.search(
            index=corpus, query={"query_string": {"query": "title:(", "default_field": "title"}}
        )
    )
    assert status == 400
    assert body["error"]["type"] == "search_phase_execution_exception"
    root = body["error"]["root_cause"][0]
    assert root["type"] == "query_shard_exception"
    assert root["reason"] == "Failed to parse query [title:(]"
    assert root["index"] == corpus


def test_get_with_body_and_source_param(es: Elasticsearch, corpus: str) -> None:
    as_get = es.perform_request(
        "GET",
        f"/{corpus}/_search",
        body={"query": {"term": {"category": "misc"}}},
        headers={"content-type": "application/json"},
    )
    assert ordered_ids(as_get) == ["6"]
    as_param = es.perform_request(
        "GET",
        f"/{corpus}/_search",
        params={
            "source": '{"query":{"term":{"category":"misc"}}}',
            "source_content_type": "application/json",
        },
    )
    assert ordered_ids(as_param) == ["6"]


def test_query_malformed_for_known_type(es: Elasticsearch, corpus: str) -> None:
    status, body = api_error(lambda: es.search(index=corpus, query={"term": {}}))
    assert status == 400
    assert body["error"]["type"] == "parsing_exception"
