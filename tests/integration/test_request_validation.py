"""Request validation as Elasticsearch answers it (issue 18, item 8), through the official client
on the shared node: long term patterns, mapping parameter values, sorts on fields without
fielddata, geo distances, search body and URL parameter types. Each expected status, error type
and reason is ES's (its source is named at each test).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error

LONG = "a" * 4000


@pytest.fixture(scope="module")
def docs(es: Elasticsearch) -> Iterator[str]:
    index = "rv-docs"
    es.indices.create(
        index=index,
        mappings={
            "properties": {
                "k": {"type": "keyword"},
                "v": {"type": "dense_vector", "dims": 2},
                "c": {"type": "completion"},
                "g": {"type": "geo_point"},
            }
        },
    )
    ops: list[dict[str, Any]] = []
    for doc_id, key in (("1", LONG + "x"), ("2", LONG), ("3", "a" + LONG), ("4", "b" + LONG)):
        ops += [{"index": {"_index": index, "_id": doc_id}}, {"k": key, "v": [1, 2], "c": "hi"}]
    assert es.bulk(operations=ops, refresh=True)["errors"] is False
    yield index
    es.indices.delete(index=index)


def _ids(es: Elasticsearch, index: str, query: dict[str, Any]) -> list[str]:
    return sorted(h["_id"] for h in es.search(index=index, query=query)["hits"]["hits"])


def _root(body: dict[str, Any]) -> tuple[str, str]:
    cause = body["error"]["root_cause"][0]
    return cause["type"], cause["reason"]


# --- long term patterns: Lucene runs them as automata, whatever their length ------------------


def test_long_prefix_and_wildcard_match_as_in_es(es: Elasticsearch, docs: str) -> None:
    assert _ids(es, docs, {"prefix": {"k": LONG}}) == ["1", "2", "3"]
    assert _ids(es, docs, {"prefix": {"k": LONG + "x"}}) == ["1"]
    assert _ids(es, docs, {"prefix": {"k": {"value": "A" + LONG, "case_insensitive": True}}}) == [
        "3"
    ]
    assert _ids(es, docs, {"wildcard": {"k": "?" + LONG}}) == ["3", "4"]
    assert _ids(es, docs, {"wildcard": {"k": LONG + "*"}}) == ["1", "2", "3"]
    # A regexp within index.max_regex_length (1000) that tantivy's engine refuses.
    assert _ids(es, docs, {"regexp": {"k": "a{900}.*x"}}) == ["1"]
    # The other queries written as a term regex: a case-insensitive term, a keyword's
    # match_bool_prefix / match_phrase_prefix, a keyword range.
    term = {"term": {"k": {"value": LONG.upper(), "case_insensitive": True}}}
    assert _ids(es, docs, term) == ["2"]
    assert _ids(es, docs, {"match_bool_prefix": {"k": LONG}}) == ["1", "2", "3"]
    assert _ids(es, docs, {"match_phrase_prefix": {"k": "b" + LONG}}) == ["4"]
    assert _ids(es, docs, {"range": {"k": {"gt": LONG, "lt": "b"}}}) == ["1", "3"]


# --- mapping parameter values (ES's field mappers) ------------------------------------------


@pytest.mark.parametrize(
    ("field", "reason", "cause"),
    [
        # IpFieldMapper.parseNullValue
        (
            {"type": "ip", "null_value": "foo"},
            "Error parsing [null_value] on field [f]: 'foo' is not an IP string literal.",
            "mapper_parsing_exception",
        ),
        # FieldMapper's analyzer parameter
        (
            {"type": "completion", "analyzer": "nope"},
            "analyzer [nope] has not been configured in mappings",
            "illegal_argument_exception",
        ),
        # FlattenedFieldMapper's depth_limit validator and intParam
        (
            {"type": "flattened", "depth_limit": -1},
            "[depth_limit] must be positive, got [-1]",
            "illegal_argument_exception",
        ),
        (
            {"type": "flattened", "depth_limit": "x"},
            'For input string: "x"',
            "number_format_exception",
        ),
        # DateFieldMapper.buildFormatter (date_nanos shares it)
        (
            {"type": "date_nanos", "format": "yyyy-MM-dd||foo"},
            "Error parsing [format] on field [f]: Invalid format: [foo]: Unknown pattern letter: f",
            "illegal_argument_exception",
        ),
    ],
)
def test_mapping_parameter_values_refused(
    es: Elasticsearch, field: dict[str, Any], reason: str, cause: str
) -> None:
    status, body = api_error(
        lambda: es.indices.create(index="rv-bad-mapping", mappings={"properties": {"f": field}})
    )
    assert status == 400
    error = body["error"]
    assert (error["type"], error["reason"]) == (
        "mapper_parsing_exception",
        f"Failed to parse mapping: {reason}",
    )
    assert error["caused_by"]["type"] == cause
    assert not es.indices.exists(index="rv-bad-mapping")


def test_valid_mapping_parameter_values_accepted(es: Elasticsearch) -> None:
    properties = {
        "ip": {"type": "ip", "null_value": "10.0.0.1"},
        "c": {"type": "completion", "analyzer": "standard", "search_analyzer": "english"},
        "f": {"type": "flattened", "depth_limit": 0},
        "d": {"type": "date_nanos", "format": "strict_date_optional_time_nanos||yyyy/MM/dd'T'HH"},
    }
    es.indices.create(index="rv-good-mapping", mappings={"properties": properties})
    es.indices.delete(index="rv-good-mapping")


def test_byte_vector_elements_checked_at_index_time(es: Elasticsearch) -> None:
    index = "rv-byte-vectors"
    es.indices.create(
        index=index,
        mappings={"properties": {"v": {"type": "dense_vector", "dims": 3, "element_type": "byte"}}},
    )
    try:
        # DenseVectorFieldMapper.ElementType.BYTE.parseVectorArray
        for vector, reason in (
            ([1, 2, 128], "integers between [-128, 127] but found [128] at dim [2];"),
            ([1, 2.5, 3], "non-decimal values but found decimal value [2.5] at dim [1];"),
        ):
            status, body = api_error(lambda v=vector: es.index(index=index, document={"v": v}))
            assert status == 400
            assert body["error"]["type"] == "document_parsing_exception"
            assert body["error"]["caused_by"]["reason"] == (
                f"element_type [byte] vectors only support {reason}"
            )
        # A byte vector need not be unit length for dot_product (the default cosine only
        # refuses a zero vector).
        assert es.index(index=index, document={"v": [-128, 0, 127]})["result"] == "created"
    finally:
        es.indices.delete(index=index)


def test_flattened_depth_limit_at_index_time(es: Elasticsearch) -> None:
    index = "rv-flattened-depth"
    es.indices.create(
        index=index, mappings={"properties": {"f": {"type": "flattened", "depth_limit": 2}}}
    )
    try:
        # FlattenedFieldParser.validateDepthLimit: the first object too deep is the preview.
        deep = {"f": [{"x": 1}, {"a": {"b": {"c": "z", "d": [1, 2]}}}]}
        status, body = api_error(lambda: es.index(index=index, id="1", document=deep))
        assert status == 400
        assert (body["error"]["type"], body["error"]["reason"]) == (
            "document_parsing_exception",
            "failed to parse field [f] of type [flattened] in document with id '1'. "
            "Preview of field's value: '{c=z, d=[1, 2]}'",
        )
        assert body["error"]["caused_by"]["reason"] == (
            "The provided [flattened] field [f] exceeds the maximum depth limit of [2]."
        )
        # Two levels, and arrays add none.
        ok = {"f": {"a": {"b": 1}, "c": [{"d": [1, 2]}, {"e": 3}]}}
        assert es.index(index=index, id="2", document=ok)["result"] == "created"
    finally:
        es.indices.delete(index=index)


# --- sorts on fields without fielddata ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("v", "Field [v] of type [dense_vector] doesn't support sort"),  # VectorIndexFieldData
        ("c", "Fielddata is not supported on field [c] of type [completion]"),  # MappedFieldType
    ],
)
def test_sort_on_field_without_fielddata(
    es: Elasticsearch, docs: str, field: str, reason: str
) -> None:
    status, body = api_error(lambda: es.search(index=docs, sort=[{field: "asc"}]))
    assert status == 400
    assert body["error"]["type"] == "search_phase_execution_exception"
    assert _root(body) == ("illegal_argument_exception", reason)


# --- search body and parameters ----------------------------------------------------------------


@pytest.mark.parametrize("distance", ["-1km", "0", 0])
def test_geo_distance_must_be_positive(es: Elasticsearch, docs: str, distance: Any) -> None:
    # GeoDistanceQueryBuilder.distance(String, DistanceUnit)
    query = {"geo_distance": {"distance": distance, "g": {"lat": 1, "lon": 1}}}
    status, body = api_error(lambda: es.search(index=docs, query=query))
    assert status == 400
    assert _root(body) == ("illegal_argument_exception", "distance must be greater than zero")


def test_stored_fields_must_be_a_string_or_array(es: Elasticsearch, docs: str) -> None:
    # StoredFieldsContext.fromXContent
    status, body = api_error(lambda: es.search(index=docs, body={"stored_fields": 5}))
    assert status == 400
    assert _root(body) == (
        "parsing_exception",
        "Expected [VALUE_STRING] or [START_ARRAY] in [stored_fields] but found [VALUE_NUMBER]",
    )


@pytest.mark.parametrize("param", ["explain", "version", "seq_no_primary_term", "track_scores"])
def test_boolean_url_parameters(es: Elasticsearch, docs: str, param: str) -> None:
    # RestRequest.paramAsBoolean -> Booleans.parseBoolean (the client sends these options in the
    # body, so the URL parameter is sent as such)
    path = f"/{docs}/_search"
    status, body = api_error(lambda: es.perform_request("GET", path, params={param: "maybe"}))
    assert status == 400
    assert _root(body) == (
        "illegal_argument_exception",
        "Failed to parse value [maybe] as only [true] or [false] are allowed.",
    )
    ok = es.perform_request("GET", path, params={param: "false", "size": "0"})
    assert ok.body["hits"]["total"]["value"] == 4


# --- where in the body a parse error arose (ES's Jackson token locations) ---------------------


def test_parse_errors_show_their_location(es: Elasticsearch, docs: str) -> None:
    path = f"/{docs}/_search"
    headers = {"content-type": "application/json", "accept": "application/json"}

    def post(raw: str) -> dict[str, Any]:
        status, body = api_error(
            lambda: es.perform_request("POST", path, headers=headers, body=raw)
        )
        assert status == 400
        return dict(body["error"])

    # ObjectParser (bool): the unknown key's own location, as the reason's "[line:col] " prefix.
    error = post('{"query":{"bool":{"mustt":[]}}}')
    assert (error["type"], error["reason"]) == (
        "x_content_parse_exception",
        "[1:19] [bool] unknown field [mustt] did you mean any of [must, mustNot, must_not]?",
    )
    # A clause's error inside bool: wrapped by bool's ObjectParser, the clause's error stays
    # the root cause (ES's guessRootCauses unwraps x-content parse errors).
    raw = '{"query":{"bool":{"must":[{"nope":{}}]}}}'
    status, body = api_error(lambda: es.perform_request("POST", path, headers=headers, body=raw))
    at = raw.index("{}") + 1
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        400,
        "x_content_parse_exception",
        f"[1:{at}] [bool] failed to parse field [must]",
    )
    assert body["error"]["root_cause"] == [
        {"type": "parsing_exception", "reason": "unknown query [nope]", "line": 1, "col": at}
    ]
    # Hand-written parsers: the value's location, as line and col fields.
    error = post('{\n  "query": {"match": {"k": {"query": "a", "nope": true}}}\n}')
    assert (error["type"], error["reason"], error["line"], error["col"]) == (
        "parsing_exception",
        "[match] query does not support [nope]",
        2,
        51,
    )
    error = post('{"size": 1, "sizee": 2}')
    assert (error["reason"], error["line"], error["col"]) == (
        "Unknown key for a VALUE_NUMBER in [sizee].",
        1,
        22,
    )
    error = post('{"aggs": {"a": {"terms": {"field": "k", "sizee": 1}}}}')
    assert error["reason"] == "[1:41] [terms] unknown field [sizee] did you mean [size]?"
    # Other object parsers of the body: highlight, rescore's query, knn.
    error = post('{"highlight": {"pre_tag": ["<b>"]}}')
    assert error["reason"].startswith("[1:16] [highlight] unknown field [pre_tag]")
    error = post('{"rescore": {"query": {"rescore_query": {"match_all": {}}, "weight": 2}}}')
    assert error["reason"] == "[1:60] [query] unknown field [weight]"


def test_url_boolean_overrides_the_body(es: Elasticsearch, docs: str) -> None:
    # RestSearchAction.parseSearchSource applies URL parameters over the parsed body.
    path = f"/{docs}/_search"
    headers = {"content-type": "application/json", "accept": "application/json"}
    body = '{"explain": true, "version": false, "size": 1}'
    hit = es.perform_request(
        "POST", path, params={"explain": "false", "version": "true"}, headers=headers, body=body
    ).body["hits"]["hits"][0]
    assert "_explanation" not in hit and "_version" in hit
