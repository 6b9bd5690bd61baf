"""Adversarial review of the session-8 batch (field types, data streams, aggregations): inputs
that crashed the node with a 500, silently rewrote a mapping or acted on a malformed parameter,
each answered as Elasticsearch answers it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import elastic_password


def error_of(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as err:
        call()
    body = err.value.body
    return err.value.status_code, body["error"]["type"], body["error"]["reason"]


def test_scaled_float_past_the_long_range_saturates(es: Elasticsearch) -> None:
    # ES keeps Math.round(value * factor): a huge finite value saturates at Long.MAX_VALUE (it
    # was an OverflowError 500, for the write and for a term query alike).
    idx = "rv8-scaled"
    es.indices.create(
        index=idx, mappings={"properties": {"sf": {"type": "scaled_float", "scaling_factor": 100}}}
    )
    es.index(index=idx, id="1", document={"sf": 1e308}, refresh=True)
    es.index(index=idx, id="2", document={"sf": -1e308}, refresh=True)
    hits = es.search(index=idx, query={"term": {"sf": 1e308}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["1"]


def test_numeric_aggregation_on_an_ip_field_is_refused(es: Elasticsearch) -> None:
    idx = "rv8-ip"
    es.indices.create(index=idx, mappings={"properties": {"ip": {"type": "ip"}}})
    es.index(index=idx, document={"ip": "10.0.0.1"}, refresh=True)
    with pytest.raises(ApiError) as err:
        es.search(index=idx, size=0, aggs={"a": {"avg": {"field": "ip"}}})
    assert err.value.status_code == 400
    assert err.value.body["error"]["root_cause"][0] == {
        "type": "illegal_argument_exception",
        "reason": "Field [ip] of type [ip] is not supported for aggregation [avg]",
    }


def test_search_after_pages_through_an_ip_sort(es: Elasticsearch) -> None:
    # The general sort path (search_after, several keys) read an address back as hex digits:
    # a 400 "invalid literal for int() with base 16: '10.0.0.1'".
    idx = "rv8-ip-sort"
    es.indices.create(
        index=idx, mappings={"properties": {"ip": {"type": "ip"}, "n": {"type": "long"}}}
    )
    for n, ip in enumerate(["10.0.0.1", "::1", "255.255.255.255"]):
        es.index(index=idx, document={"ip": ip, "n": n})
    es.indices.refresh(index=idx)
    page = es.search(index=idx, sort=[{"ip": "asc"}], search_after=["::1"], source=False)
    assert [h["sort"] for h in page["hits"]["hits"]] == [["10.0.0.1"], ["255.255.255.255"]]
    both = es.search(index=idx, sort=[{"ip": "desc"}, {"n": "asc"}], source=False)
    assert [h["sort"][0] for h in both["hits"]["hits"]] == ["255.255.255.255", "10.0.0.1", "::1"]


def test_exact_queries_on_geo_points_and_fuzzy_on_numbers_are_refused(es: Elasticsearch) -> None:
    # A term-level query on a geo_point reached tantivy with a point ("Expected F64 type for
    # field f3": a 500 from _count, _explain and _validate), a fuzzy query on a number likewise.
    idx = "rv8-geo"
    es.indices.create(
        index=idx, mappings={"properties": {"g": {"type": "geo_point"}, "n": {"type": "long"}}}
    )
    es.index(index=idx, id="1", document={"g": [1, 2], "n": 5}, refresh=True)
    geo = "Geometry fields do not support exact searching, use dedicated geometry queries instead: [g]"
    for call, reason in (
        (lambda: es.count(index=idx, query={"match": {"g": "2,1"}}), geo),
        (lambda: es.search(index=idx, query={"term": {"g": "2,1"}}), geo),
        (
            lambda: es.search(index=idx, query={"fuzzy": {"n": "5"}}),
            "Can only use fuzzy queries on keyword and text fields - not on [n] which is of type "
            "[long]",
        ),
    ):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status_code == 400
        assert err.value.body["error"]["root_cause"][0]["reason"] == reason


def test_queries_that_reached_tantivy_with_what_it_refuses(es: Elasticsearch) -> None:
    # Each was a 500 from _count (a leaked tantivy or Python error from _search): integer range
    # bounds past the type's range or infinite, a range on a geo_point, a date where an array
    # was given, a case-insensitive term and a phrase prefix on a flattened field's key.
    idx = "rv8-ranges"
    props = {
        "n": {"type": "long"},
        "ul": {"type": "unsigned_long"},
        "g": {"type": "geo_point"},
        "dn": {"type": "date_nanos"},
        "fl": {"type": "flattened"},
    }
    es.indices.create(index=idx, mappings={"properties": props})
    doc = {"n": 1, "ul": 5, "g": [1, 2], "dn": "2026-01-01", "fl": {"a": "abc"}}
    es.index(index=idx, id="1", document=doc, refresh=True)
    counts = {
        "lt past long": ({"range": {"n": {"lt": 2**70}}}, 1),
        "gte past long": ({"range": {"n": {"gte": 2**70}}}, 0),
        "infinite": ({"range": {"n": {"lt": "Infinity"}}}, 1),
        "unsigned infinite": ({"range": {"ul": {"gte": "Infinity"}}}, 0),
        "keyed case-insensitive": (
            {"term": {"fl.a": {"value": "ABC", "case_insensitive": True}}},
            1,
        ),
        "keyed phrase prefix": ({"match_phrase_prefix": {"fl.a": "ab"}}, 1),
    }
    for name, (query, expected) in counts.items():
        assert es.count(index=idx, query=query)["count"] == expected, name
    for query, reason in (
        (
            {"range": {"g": {"gte": 1}}},
            "Field [g] of type [geo_point] does not support range queries",
        ),
        ({"terms": {"dn": [[1, 2]]}}, None),
    ):
        with pytest.raises(ApiError) as err:
            es.count(index=idx, query=query)
        assert err.value.status_code == 400
        if reason is not None:
            assert err.value.body["error"]["root_cause"][0]["reason"] == reason


def test_objects_without_fields_keep_their_type(es: Elasticsearch) -> None:
    # A concrete value for a nested or object field that has no sub-fields yet turned the
    # field into a long (the mapping was rewritten); a disabled object takes any value.
    idx = "rv8-objects"
    props = {
        "n": {"type": "nested"},
        "o": {"type": "object"},
        "off": {"type": "object", "enabled": False},
    }
    es.indices.create(index=idx, mappings={"properties": props})
    for field in ("n", "o"):
        assert error_of(lambda f=field: es.index(index=idx, document={f: 5})) == (  # type: ignore[misc]
            400,
            "document_parsing_exception",
            f"object mapping for [{field}] tried to parse field [{field}] as object, but found "
            "a concrete value",
        )
    es.index(index=idx, document={"off": 5})
    es.index(index=idx, document={"off": {"x": 1}})
    assert error_of(
        lambda: es.indices.put_mapping(index=idx, properties={"n": {"type": "long"}})
    ) == (
        400,
        "illegal_argument_exception",
        "can't merge a non object mapping [n] with an object mapping",
    )
    mapping = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert mapping["n"]["type"] == "nested"
    assert "type" not in mapping["o"] and "properties" not in mapping["off"]


def test_metadata_fields_and_infinite_vector_elements_are_refused(es: Elasticsearch) -> None:
    idx = "rv8-meta"
    es.indices.create(
        index=idx,
        mappings={
            "properties": {"v": {"type": "dense_vector", "dims": 2, "similarity": "l2_norm"}}
        },
    )
    status, kind, reason = error_of(lambda: es.index(index=idx, document={"_id": "x"}))
    assert (status, kind) == (400, "document_parsing_exception")
    assert reason == (
        "Field [_id] is a metadata field and cannot be added inside a document. Use the index "
        "API request parameters."
    )
    status, kind, reason = error_of(lambda: es.index(index=idx, document={"v": [1e40, 1]}))
    assert (status, kind) == (400, "document_parsing_exception")
    assert "vectors do not support infinite values but found [Infinity] at dim [0]" in reason
    assert "_id" not in es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    # A query vector is held to the same float range (ES's checkVectorBounds).
    es.index(index=idx, document={"v": [1, 1]}, refresh=True)
    knn = {"field": "v", "query_vector": [1e40, 1], "k": 1, "num_candidates": 5}
    status, kind, _reason = error_of(lambda: es.search(index=idx, knn=knn))
    assert (status, kind) == (400, "search_phase_execution_exception")
    with pytest.raises(ApiError) as err:
        es.search(index=idx, knn=knn)
    cause = err.value.body["error"]["root_cause"][0]
    assert cause["type"] == "illegal_argument_exception"
    assert cause["reason"].startswith(
        "element_type [float] vectors do not support infinite values but found [Infinity] at dim "
        "[0]"
    )


def test_data_stream_writes_and_malformed_parameters(es: Elasticsearch) -> None:
    es.indices.put_index_template(
        name="rv8-ds", index_patterns=["rv8ds-*"], data_stream={}, priority=500
    )
    ds = "rv8ds-app"
    # POST /<stream>/_doc defaults to op_type create (ES's auto-id handler), so it appends.
    created = es.index(index=ds, document={"@timestamp": "2026-01-01T00:00:00Z"})
    assert created["result"] == "created" and created["_index"].startswith(f".ds-{ds}-")
    # A malformed boolean or wildcard state is refused before anything rolls over or goes.
    for call in (
        lambda: es.perform_request("POST", f"/{ds}/_rollover", params={"dry_run": "maybe"}),
        lambda: es.perform_request(
            "DELETE", f"/_data_stream/{ds}", params={"expand_wildcards": "xyz"}
        ),
    ):
        assert error_of(call)[:2] == (400, "illegal_argument_exception")
    (stream,) = es.indices.get_data_stream(name=ds)["data_streams"]
    assert stream["generation"] == 1


def test_data_stream_wildcards_name_streams_only(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    # A user who may view the metadata of some indices (and of no data stream) listed the data
    # streams as a 404 'no such index [<an index>]': the guard had narrowed `*` to index names.
    node = NodeProcess(tmp_path / "secured", {"xpack.security.enabled": True}).start()
    try:
        password = elastic_password(node.home)
        record_secret(password)
        admin = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=10)
        admin.security.put_role(
            name="meta", indices=[{"names": ["pub-*"], "privileges": ["view_index_metadata"]}]
        )
        admin.security.put_user(username="viewer", password="viewer-pw-8", roles=["meta"])
        record_secret("viewer-pw-8")
        admin.indices.create(index="pub-1")
        admin.indices.put_index_template(name="st", index_patterns=["st-*"], data_stream={})
        admin.indices.create_data_stream(name="st-one")
        viewer = Elasticsearch(node.url, basic_auth=("viewer", "viewer-pw-8"))
        assert viewer.indices.get_data_stream()["data_streams"] == []
        assert viewer.indices.get_data_stream(name="*")["data_streams"] == []
        assert [s["name"] for s in admin.indices.get_data_stream()["data_streams"]] == ["st-one"]
    finally:
        node.stop()


def test_concurrent_rollovers_of_a_stream_all_roll(es: Elasticsearch) -> None:
    # Rollovers racing for the same generation failed with 'index [.ds-...] already exists'
    # (a 400); as ES's master task, each rolls the stream as it is when it runs.
    es.indices.put_index_template(
        name="rv8-roll", index_patterns=["rv8roll-*"], data_stream={}, priority=500
    )
    es.indices.create_data_stream(name="rv8roll-x")
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: es.indices.rollover(alias="rv8roll-x"), range(6)))
    assert all(a["rolled_over"] for a in answers)
    assert len({a["new_index"] for a in answers}) == 6
    (ds,) = es.indices.get_data_stream(name="rv8roll-x")["data_streams"]
    assert ds["generation"] == 7


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        (
            {"if_seq_no": 0, "if_primary_term": 1},
            "create operations do not support compare and set. use index instead",
        ),
        (
            {"version": 2, "version_type": "external"},
            "create operations only support internal versioning. use index instead",
        ),
        (
            {"op_type": "index", "version": 2, "version_type": "external"},
            "an id must be provided if version type or value are set",
        ),
    ],
    ids=["compare-and-set", "external-version", "index-without-id"],
)
def test_a_generated_id_refuses_what_es_refuses(
    es: Elasticsearch, params: dict[str, Any], problem: str
) -> None:
    # POST /<index>/_doc is a create with a generated id (ES's IndexRequest.validate).
    idx = "rv8-autoid"
    status, kind, reason = error_of(lambda: es.index(index=idx, document={"a": 1}, **params))
    assert (status, kind, reason) == (
        400,
        "action_request_validation_exception",
        f"Validation Failed: 1: {problem};",
    )
    status, kind, reason = error_of(
        lambda: es.create(index=idx, id="1", document={"a": 1}, version=2)
    )
    assert reason == (
        "Validation Failed: 1: create operations do not support explicit versions. use index "
        "instead;"
    )
