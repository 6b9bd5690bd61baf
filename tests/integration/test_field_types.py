"""Field types users put in real mappings, through the official client on one shared node:
each type's mapping echo, indexing (and ES's errors for bad values), queries, aggregations and
sorts; and the ``_index`` metadata field in queries, aggregations and sorts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error


def _load(es: Elasticsearch, index: str, mappings: dict[str, Any], docs: list[Any]) -> None:
    es.indices.create(index=index, mappings=mappings)
    ops: list[dict[str, Any]] = []
    for n, doc in enumerate(docs, 1):
        ops += [{"index": {"_index": index, "_id": str(n)}}, doc]
    if ops:
        resp = es.bulk(operations=ops, refresh=True)
        assert resp["errors"] is False, resp


def _ids(resp: Any) -> list[str]:
    return [h["_id"] for h in resp["hits"]["hits"]]


def _hits(es: Elasticsearch, index: str, query: dict[str, Any], **kw: Any) -> list[str]:
    return sorted(_ids(es.search(index=index, query=query, size=50, **kw)))


# --- _index ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_indices(es: Elasticsearch) -> Iterator[str]:
    _load(es, "ft-idx-alpha", {"properties": {"n": {"type": "long"}}}, [{"n": 1}, {"n": 2}])
    _load(es, "ft-idx-beta", {"properties": {"n": {"type": "long"}}}, [{"n": 3}])
    yield "ft-idx-*"
    es.indices.delete(index="ft-idx-alpha,ft-idx-beta")


def _indices_hit(es: Elasticsearch, pattern: str, query: dict[str, Any]) -> list[str]:
    resp = es.search(index=pattern, query=query, size=50)
    return sorted(h["_index"] for h in resp["hits"]["hits"])


def test_index_field_in_queries(es: Elasticsearch, two_indices: str) -> None:
    alpha2 = ["ft-idx-alpha", "ft-idx-alpha"]
    assert _indices_hit(es, two_indices, {"term": {"_index": "ft-idx-alpha"}}) == alpha2
    assert _indices_hit(es, two_indices, {"terms": {"_index": ["ft-idx-beta", "x"]}}) == [
        "ft-idx-beta"
    ]
    assert _indices_hit(es, two_indices, {"prefix": {"_index": "ft-idx-b"}}) == ["ft-idx-beta"]
    assert _indices_hit(es, two_indices, {"wildcard": {"_index": "*alp*"}}) == alpha2
    assert _indices_hit(es, two_indices, {"match": {"_index": "ft-idx-beta"}}) == ["ft-idx-beta"]
    assert _indices_hit(
        es,
        two_indices,
        {"bool": {"must_not": [{"term": {"_index": "ft-idx-alpha"}}]}},
    ) == ["ft-idx-beta"]
    assert _indices_hit(es, two_indices, {"term": {"_index": "nope"}}) == []
    count = es.count(index=two_indices, query={"term": {"_index": "ft-idx-beta"}})
    assert count["count"] == 1
    status, body = api_error(
        lambda: es.search(index=two_indices, query={"regexp": {"_index": "ft.*"}})
    )
    assert status == 400
    assert "Can only use regexp queries on keyword and text fields - not on [_index]" in str(body)


def test_index_field_in_aggs_and_sort(es: Elasticsearch, two_indices: str) -> None:
    resp = es.search(
        index=two_indices,
        size=10,
        sort=[{"_index": "desc"}, {"n": "asc"}],
        aggs={"per": {"terms": {"field": "_index"}}},
    )
    assert [(h["_index"], h["sort"]) for h in resp["hits"]["hits"]] == [
        ("ft-idx-beta", ["ft-idx-beta", 3]),
        ("ft-idx-alpha", ["ft-idx-alpha", 1]),
        ("ft-idx-alpha", ["ft-idx-alpha", 2]),
    ]
    buckets = resp["aggregations"]["per"]["buckets"]
    assert buckets == [
        {"key": "ft-idx-alpha", "doc_count": 2},
        {"key": "ft-idx-beta", "doc_count": 1},
    ]


# --- unknown types and parameter validation -------------------------------------------------


@pytest.mark.parametrize(
    ("props", "reason", "cause"),
    [
        (
            {"f": {"type": "nope"}},
            "Failed to parse mapping: The mapper type [nope] declared on field [f] does not "
            "exist. It might have been created within a future version or requires a plugin to "
            "be installed. Check the documentation.",
            "mapper_parsing_exception",
        ),
        (
            {"p": {"type": "scaled_float"}},
            "Failed to parse mapping: Field [scaling_factor] is required",
            "illegal_argument_exception",
        ),
        (
            {"p": {"type": "scaled_float", "scaling_factor": -1}},
            "Failed to parse mapping: [scaling_factor] must be a positive number, got [-1.0]",
            "illegal_argument_exception",
        ),
        (
            {"a": {"type": "alias"}},
            "Failed to parse mapping: The [path] property must be specified for field [a].",
            "mapper_parsing_exception",
        ),
        (
            {"a": {"type": "alias", "path": "missing"}},
            "Invalid [path] value [missing] for field alias [a]: an alias must refer to an "
            "existing field in the mappings.",
            None,
        ),
        (
            {
                "k": {"type": "keyword"},
                "a": {"type": "alias", "path": "k"},
                "b": {"type": "alias", "path": "a"},
            },
            "Invalid [path] value [a] for field alias [b]: an alias cannot refer to another alias.",
            None,
        ),
        (
            {"i": {"type": "ip", "analyzer": "x"}},
            "Failed to parse mapping: unknown parameter [analyzer] on mapper [i] of type [ip]",
            "mapper_parsing_exception",
        ),
    ],
)
def test_mapping_errors(
    es: Elasticsearch, props: dict[str, Any], reason: str, cause: str | None
) -> None:
    status, body = api_error(
        lambda: es.indices.create(index="ft-bad-mapping", mappings={"properties": props})
    )
    assert status == 400
    assert body["error"]["type"] == "mapper_parsing_exception"
    assert body["error"]["reason"] == reason
    if cause is None:
        assert "caused_by" not in body["error"]
    else:
        assert body["error"]["caused_by"]["type"] == cause
    assert not es.indices.exists(index="ft-bad-mapping")


# --- ip ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ips(es: Elasticsearch) -> Iterator[str]:
    docs = [
        {"addr": "192.168.1.10"},
        {"addr": "192.168.1.200"},
        {"addr": "10.0.0.2"},
        {"addr": "2001:db8::1"},
        {"addr": ["10.0.0.10", "::ffff:192.168.1.10"]},
    ]
    _load(es, "ft-ip", {"properties": {"addr": {"type": "ip"}}}, docs)
    yield "ft-ip"
    es.indices.delete(index="ft-ip")


def test_ip_queries(es: Elasticsearch, ips: str) -> None:
    assert es.indices.get_mapping(index=ips)[ips]["mappings"] == {
        "properties": {"addr": {"type": "ip"}}
    }
    assert _hits(es, ips, {"term": {"addr": "192.168.1.10"}}) == ["1", "5"]
    assert _hits(es, ips, {"term": {"addr": "192.168.0.0/16"}}) == ["1", "2", "5"]
    assert _hits(es, ips, {"term": {"addr": "2001:db8::/32"}}) == ["4"]
    assert _hits(es, ips, {"terms": {"addr": ["10.0.0.2", "2001:db8:0::1"]}}) == ["3", "4"]
    # Byte order, not text order: 10.0.0.10 sorts after 10.0.0.2.
    assert _hits(es, ips, {"range": {"addr": {"gt": "10.0.0.2", "lt": "10.0.0.255"}}}) == ["5"]
    assert _hits(es, ips, {"range": {"addr": {"gte": "192.168.1.100"}}}) == ["2", "4"]
    resp = es.search(index=ips, sort=[{"addr": "asc"}], size=10)
    assert [h["sort"] for h in resp["hits"]["hits"]] == [
        ["10.0.0.2"],
        ["10.0.0.10"],
        ["192.168.1.10"],
        ["192.168.1.200"],
        ["2001:db8::1"],
    ]
    assert resp["hits"]["hits"][1]["_source"] == {"addr": ["10.0.0.10", "::ffff:192.168.1.10"]}
    aggs = es.search(index=ips, size=0, aggs={"a": {"terms": {"field": "addr", "size": 3}}})
    assert aggs["aggregations"]["a"]["buckets"][0] == {"key": "192.168.1.10", "doc_count": 2}
    ranges = es.search(
        index=ips,
        size=0,
        aggs={
            "r": {
                "ip_range": {
                    "field": "addr",
                    "ranges": [
                        {"to": "10.0.0.5"},
                        {"from": "10.0.0.5"},
                        {"mask": "192.168.1.0/25"},
                    ],
                }
            }
        },
    )
    assert ranges["aggregations"]["r"]["buckets"] == [
        {"key": "*-10.0.0.5", "to": "10.0.0.5", "doc_count": 1},
        {"key": "10.0.0.5-*", "from": "10.0.0.5", "doc_count": 4},
        {"key": "192.168.1.0/25", "from": "192.168.1.0", "to": "192.168.1.128", "doc_count": 2},
    ]
    assert _hits(es, ips, {"match": {"addr": "192.168.0.0/16"}}) == ["1", "2", "5"]
    # Filter aggregations evaluate the same way (CIDR terms, byte-ordered ranges).
    filters = es.search(
        index=ips,
        size=0,
        aggs={
            "f": {
                "filters": {
                    "filters": {
                        "lan": {"term": {"addr": "192.168.0.0/16"}},
                        "low": {"range": {"addr": {"gt": "10.0.0.2", "lt": "10.0.0.255"}}},
                    }
                }
            }
        },
    )["aggregations"]["f"]["buckets"]
    assert (filters["lan"]["doc_count"], filters["low"]["doc_count"]) == (3, 1)
    status, body = api_error(lambda: es.search(index=ips, query={"term": {"addr": "nope"}}))
    assert status == 400
    assert "'nope' is not an IP string literal." in str(body)


def test_ip_bad_value(es: Elasticsearch, ips: str) -> None:
    status, body = api_error(lambda: es.index(index=ips, id="x", document={"addr": "1.2.3"}))
    assert status == 400
    assert body["error"]["type"] == "document_parsing_exception"
    assert body["error"]["reason"].endswith(
        "failed to parse field [addr] of type [ip] in document with id 'x'. "
        "Preview of field's value: '1.2.3'"
    )
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "'1.2.3' is not an IP string literal.",
    }


# --- constant_keyword ------------------------------------------------------------------------


def test_constant_keyword(es: Elasticsearch) -> None:
    idx = "ft-const"
    _load(
        es,
        idx,
        {"properties": {"env": {"type": "constant_keyword"}, "n": {"type": "long"}}},
        [{"n": 1}],
    )
    # No value yet: the field matches nothing; the first document that has one sets it.
    assert _hits(es, idx, {"term": {"env": "prod"}}) == []
    es.index(index=idx, id="2", document={"env": "prod", "n": 2}, refresh=True)
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props["env"] == {"type": "constant_keyword", "value": "prod"}
    # Every document has the value, the one indexed before it was set too.
    assert _hits(es, idx, {"term": {"env": "prod"}}) == ["1", "2"]
    assert _hits(es, idx, {"prefix": {"env": "pr"}}) == ["1", "2"]
    assert _hits(es, idx, {"term": {"env": "dev"}}) == []
    aggs = es.search(index=idx, size=0, aggs={"e": {"terms": {"field": "env"}}})
    assert aggs["aggregations"]["e"]["buckets"] == [{"key": "prod", "doc_count": 2}]
    status, body = api_error(lambda: es.index(index=idx, id="3", document={"env": "dev"}))
    assert status == 400
    assert body["error"]["type"] == "document_parsing_exception"
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "[constant_keyword] field [env] only accepts values that are equal to the "
        "value defined in the mappings [prod], but got [dev]",
    }
    assert es.get(index=idx, id="2")["_source"] == {"env": "prod", "n": 2}
    es.indices.delete(index=idx)


# --- scaled_float and unsigned_long ------------------------------------------------------------


def test_scaled_float_and_unsigned_long(es: Elasticsearch) -> None:
    idx = "ft-numbers"
    big = 2**64 - 1
    _load(
        es,
        idx,
        {
            "properties": {
                "price": {"type": "scaled_float", "scaling_factor": 100},
                "count": {"type": "unsigned_long"},
            }
        },
        [
            {"price": 1.234, "count": big},
            {"price": 1.226, "count": 2**63},
            {"price": 9.99, "count": 5},
        ],
    )
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props["price"] == {"type": "scaled_float", "scaling_factor": 100}
    # Values are kept as round(v * 100) / 100: 1.234 and 1.226 both become 1.23.
    assert _hits(es, idx, {"term": {"price": 1.23}}) == ["1", "2"]
    stats = es.search(index=idx, size=0, aggs={"m": {"max": {"field": "price"}}})
    assert stats["aggregations"]["m"]["value"] == 9.99
    terms = es.search(index=idx, size=0, aggs={"p": {"terms": {"field": "price"}}})
    assert terms["aggregations"]["p"]["buckets"][0] == {"key": 1.23, "doc_count": 2}
    assert es.get(index=idx, id="1")["_source"] == {"price": 1.234, "count": big}
    assert _hits(es, idx, {"term": {"count": big}}) == ["1"]
    assert _hits(es, idx, {"range": {"count": {"gte": 2**63}}}) == ["1", "2"]
    assert _hits(es, idx, {"range": {"count": {"lt": 2**63}}}) == ["3"]
    resp = es.search(index=idx, sort=[{"count": "desc"}])
    assert [h["sort"] for h in resp["hits"]["hits"]] == [[big], [2**63], [5]]
    status, body = api_error(lambda: es.index(index=idx, id="x", document={"count": -1}))
    assert status == 400
    assert body["error"]["caused_by"]["reason"] == "Value [-1] is out of range for an unsigned long"
    es.indices.delete(index=idx)


# --- date_nanos ------------------------------------------------------------------------------


def test_date_nanos(es: Elasticsearch) -> None:
    idx = "ft-nanos"
    _load(
        es,
        idx,
        {"properties": {"t": {"type": "date_nanos"}}},
        [
            {"t": "2024-01-01T00:00:00.123456789Z"},
            {"t": "2024-01-01T00:00:00.123456000Z"},
            {"t": "2024-01-02"},
        ],
    )
    resp = es.search(index=idx, sort=[{"t": "asc"}])
    assert [h["sort"] for h in resp["hits"]["hits"]] == [
        [1704067200123456000],
        [1704067200123456789],
        [1704153600000000000],
    ]
    assert _hits(es, idx, {"range": {"t": {"lt": "2024-01-02"}}}) == ["1", "2"]
    assert _hits(es, idx, {"range": {"t": {"gte": "2024-01-01T00:00:00.123Z"}}}) == [
        "1",
        "2",
        "3",
    ]
    assert _hits(es, idx, {"term": {"t": "2024-01-02"}}) == ["3"]
    # Aggregations see the dates in milliseconds, as ES's date_histogram keys them.
    hist = es.search(
        index=idx,
        size=0,
        aggs={
            "d": {"date_histogram": {"field": "t", "calendar_interval": "day"}},
            "m": {"max": {"field": "t"}},
        },
    )["aggregations"]
    assert [(b["key_as_string"], b["doc_count"]) for b in hist["d"]["buckets"]] == [
        ("2024-01-01T00:00:00.000Z", 2),
        ("2024-01-02T00:00:00.000Z", 1),
    ]
    assert hist["m"]["value_as_string"] == "2024-01-02T00:00:00.000Z"
    in_memory = es.search(
        index=idx,
        size=0,
        aggs={"day1": {"filter": {"range": {"t": {"lt": "2024-01-01T00:00:00.123456500Z"}}}}},
    )["aggregations"]["day1"]
    assert in_memory["doc_count"] == 1  # .123456000 only: bounds keep their millisecond
    status, body = api_error(
        lambda: es.index(index=idx, id="x", document={"t": "1969-12-31T23:59:59Z"})
    )
    assert status == 400
    assert body["error"]["caused_by"]["reason"] == (
        "date[1969-12-31T23:59:59Z] is before the epoch in 1970 and cannot be stored in "
        "nanosecond resolution"
    )
    es.indices.delete(index=idx)


# --- alias -------------------------------------------------------------------------------------


def test_alias_field(es: Elasticsearch) -> None:
    idx = "ft-alias"
    _load(
        es,
        idx,
        {
            "properties": {
                "distance": {"type": "long"},
                "route_length_miles": {"type": "alias", "path": "distance"},
            }
        },
        [{"distance": 10}, {"distance": 30}, {"distance": 20}],
    )
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props["route_length_miles"] == {"type": "alias", "path": "distance"}
    assert _hits(es, idx, {"range": {"route_length_miles": {"gte": 20}}}) == ["2", "3"]
    assert _hits(es, idx, {"term": {"route_length_miles": 10}}) == ["1"]
    resp = es.search(
        index=idx,
        sort=[{"route_length_miles": "desc"}],
        aggs={"s": {"sum": {"field": "route_length_miles"}}},
    )
    assert _ids(resp) == ["2", "3", "1"]
    assert resp["aggregations"]["s"]["value"] == 60
    caps = es.field_caps(index=idx, fields="route_length_miles")["fields"]
    assert list(caps["route_length_miles"]) == ["long"]
    # PUT _mapping can add an alias of a field the index already has.
    es.indices.put_mapping(index=idx, properties={"km": {"type": "alias", "path": "distance"}})
    assert _hits(es, idx, {"term": {"km": 30}}) == ["2"]
    status, body = api_error(
        lambda: es.index(index=idx, id="x", document={"route_length_miles": 5})
    )
    assert status == 400
    assert body["error"]["reason"].endswith("Cannot write to a field alias [route_length_miles].")
    status, body = api_error(
        lambda: es.indices.put_mapping(
            index=idx, properties={"route_length_miles": {"type": "long"}}
        )
    )
    assert status == 400
    es.indices.delete(index=idx)


# --- wildcard ------------------------------------------------------------------------------------


def test_wildcard_field(es: Elasticsearch) -> None:
    idx = "ft-wildcard"
    _load(
        es,
        idx,
        {"properties": {"line": {"type": "wildcard"}}},
        [
            {"line": "ERROR disk full on /dev/sda1"},
            {"line": "WARN disk almost full"},
            {"line": "INFO all good"},
        ],
    )
    assert es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"] == {
        "line": {"type": "wildcard"}
    }
    assert _hits(es, idx, {"wildcard": {"line": "*disk*full*"}}) == ["1", "2"]
    assert _hits(es, idx, {"regexp": {"line": ".*/dev/sd[a-z]1"}}) == ["1"]
    assert _hits(es, idx, {"term": {"line": "INFO all good"}}) == ["3"]
    assert _hits(es, idx, {"prefix": {"line": "WA"}}) == ["2"]
    assert _hits(es, idx, {"range": {"line": {"gte": "INFO", "lt": "WARN"}}}) == ["3"]
    caps = es.field_caps(index=idx, fields="line")["fields"]["line"]
    assert list(caps) == ["wildcard"]
    es.indices.delete(index=idx)


# --- flattened -----------------------------------------------------------------------------------


def test_flattened_field(es: Elasticsearch) -> None:
    idx = "ft-flattened"
    docs = [
        {"labels": {"priority": "urgent", "release": ["v1.2", "v1.3"]}},
        {"labels": {"priority": "low", "team": {"name": "urgent"}}},
    ]
    _load(es, idx, {"properties": {"labels": {"type": "flattened"}}}, docs)
    assert _hits(es, idx, {"term": {"labels": "urgent"}}) == ["1", "2"]
    assert _hits(es, idx, {"term": {"labels.priority": "urgent"}}) == ["1"]
    assert _hits(es, idx, {"term": {"labels.team.name": "urgent"}}) == ["2"]
    assert _hits(es, idx, {"terms": {"labels.release": ["v1.3", "x"]}}) == ["1"]
    assert _hits(es, idx, {"match": {"labels.priority": "low"}}) == ["2"]
    # Pattern and range queries on a key see that key's values only.
    assert _hits(es, idx, {"range": {"labels.priority": {"gte": "m"}}}) == ["1"]
    assert _hits(es, idx, {"range": {"labels.priority": {"lt": "m"}}}) == ["2"]
    assert _hits(es, idx, {"prefix": {"labels.release": "v1"}}) == ["1"]
    assert _hits(es, idx, {"wildcard": {"labels.team.name": "*gent"}}) == ["2"]
    assert _hits(es, idx, {"regexp": {"labels.priority": "u.*"}}) == ["1"]
    assert _hits(es, idx, {"prefix": {"labels.priority": "v1"}}) == []
    assert _hits(es, idx, {"exists": {"field": "labels.release"}}) == ["1"]
    # Ranges over keyword terms in byte order (the root's values here: low, urgent, v1.2, ...).
    assert _hits(es, idx, {"range": {"labels": {"lt": "v"}}}) == ["1", "2"]
    assert _hits(es, idx, {"range": {"labels": {"gt": "urgent", "lte": "v1.2"}}}) == ["1"]
    aggs = es.search(index=idx, size=0, aggs={"p": {"terms": {"field": "labels.priority"}}})
    assert [b["key"] for b in aggs["aggregations"]["p"]["buckets"]] == ["low", "urgent"]
    assert es.get(index=idx, id="1")["_source"] == docs[0]
    es.indices.delete(index=idx)


# --- geo_point -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def places(es: Elasticsearch) -> Iterator[str]:
    docs = [
        {"name": "paris", "loc": {"lat": 48.8566, "lon": 2.3522}},  # object
        {"name": "london", "loc": "51.5074,-0.1278"},  # "lat,lon"
        {"name": "new york", "loc": [-74.006, 40.7128]},  # [lon, lat]
        {"name": "tokyo", "loc": "xn76urx6"},  # geohash
        {"name": "versailles", "loc": "POINT (2.1301 48.8049)"},  # WKT
        {"name": "nowhere"},
    ]
    _load(
        es,
        "ft-geo",
        {"properties": {"loc": {"type": "geo_point"}, "name": {"type": "keyword"}}},
        docs,
    )
    yield "ft-geo"
    es.indices.delete(index="ft-geo")


def test_geo_point_queries(es: Elasticsearch, places: str) -> None:
    assert es.indices.get_mapping(index=places)[places]["mappings"]["properties"]["loc"] == {
        "type": "geo_point"
    }
    near_paris = {"geo_distance": {"distance": "30km", "loc": {"lat": 48.85, "lon": 2.35}}}
    assert _hits(es, places, near_paris) == ["1", "5"]
    assert _hits(
        es,
        places,
        {**near_paris, "geo_distance": {**near_paris["geo_distance"], "distance": "10km"}},
    ) == ["1"]
    # 350 km from Paris reaches London (~344 km), in a bool beside another clause.
    wide = {"geo_distance": {"distance": 350000, "loc": "48.85,2.35"}}
    assert _hits(
        es, places, {"bool": {"filter": [wide], "must_not": [{"term": {"name": "paris"}}]}}
    ) == ["2", "5"]
    europe = {
        "geo_bounding_box": {
            "loc": {"top_left": {"lat": 60, "lon": -10}, "bottom_right": {"lat": 40, "lon": 20}}
        }
    }
    assert _hits(es, places, europe) == ["1", "2", "5"]
    across_dateline = {
        "geo_bounding_box": {"loc": {"top": 50, "left": 100, "bottom": 30, "right": -60}}
    }
    assert _hits(es, places, across_dateline) == ["3", "4"]
    wkt = {"geo_bounding_box": {"loc": {"wkt": "BBOX (-80, -70, 45, 40)"}}}
    assert _hits(es, places, wkt) == ["3"]
    status, body = api_error(
        lambda: es.search(index=places, query={"geo_distance": {"distance": "1km", "name": "1,2"}})
    )
    assert status == 400
    assert "Field [name] is of unsupported type [keyword] for [geo_distance] query" in str(body)
    assert es.get(index=places, id="3")["_source"]["loc"] == [-74.006, 40.7128]


def test_geo_point_aggs_and_bad_values(es: Elasticsearch, places: str) -> None:
    resp = es.search(
        index=places,
        size=0,
        query={"terms": {"name": ["paris", "versailles"]}},
        aggs={"b": {"geo_bounds": {"field": "loc"}}, "c": {"geo_centroid": {"field": "loc"}}},
    )
    bounds = resp["aggregations"]["b"]["bounds"]
    assert bounds["top_left"]["lat"] == pytest.approx(48.8566, abs=1e-6)
    assert bounds["top_left"]["lon"] == pytest.approx(2.1301, abs=1e-6)
    assert bounds["bottom_right"]["lat"] == pytest.approx(48.8049, abs=1e-6)
    assert bounds["bottom_right"]["lon"] == pytest.approx(2.3522, abs=1e-6)
    centroid = resp["aggregations"]["c"]
    assert centroid["count"] == 2
    assert centroid["location"]["lat"] == pytest.approx((48.8566 + 48.8049) / 2, abs=1e-6)
    # Tokyo and New York: the narrower box crosses the date line.
    wrapped = es.search(
        index=places,
        size=0,
        query={"terms": {"name": ["tokyo", "new york"]}},
        aggs={"b": {"geo_bounds": {"field": "loc"}}},
    )["aggregations"]["b"]["bounds"]
    assert wrapped["top_left"]["lon"] > 100 and wrapped["bottom_right"]["lon"] < -70
    empty = es.search(
        index=places,
        size=0,
        query={"term": {"name": "nowhere"}},
        aggs={"b": {"geo_bounds": {"field": "loc"}}, "c": {"geo_centroid": {"field": "loc"}}},
    )["aggregations"]
    assert empty == {"b": {}, "c": {"count": 0}}
    status, body = api_error(
        lambda: es.index(index=places, id="x", document={"loc": {"lat": 95, "lon": 0}})
    )
    assert status == 400
    assert body["error"]["type"] == "document_parsing_exception"
    assert body["error"]["caused_by"]["reason"] == "illegal latitude value [95.0] for loc"


# --- nested --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def posts(es: Elasticsearch) -> Iterator[str]:
    mappings = {
        "properties": {
            "title": {"type": "text"},
            "comments": {
                "type": "nested",
                "properties": {"author": {"type": "keyword"}, "stars": {"type": "integer"}},
            },
        }
    }
    docs = [
        {
            "title": "one",
            "comments": [{"author": "kim", "stars": 1}, {"author": "lee", "stars": 5}],
        },
        {"title": "two", "comments": [{"author": "kim", "stars": 5}]},
        {"title": "three", "comments": {"author": "lee", "stars": 3}},
        {"title": "four"},
    ]
    _load(es, "ft-nested", mappings, docs)
    yield "ft-nested"
    es.indices.delete(index="ft-nested")


def _both(author: str, stars: int) -> dict[str, Any]:
    return {
        "bool": {
            "must": [{"term": {"comments.author": author}}, {"term": {"comments.stars": stars}}]
        }
    }


def test_nested_query(es: Elasticsearch, posts: str) -> None:
    assert (
        es.indices.get_mapping(index=posts)[posts]["mappings"]["properties"]["comments"]["type"]
        == "nested"
    )
    # Within one comment: kim gave 5 stars only in post 2 (post 1 has kim/1 and lee/5).
    assert _hits(es, posts, {"nested": {"path": "comments", "query": _both("kim", 5)}}) == ["2"]
    assert _hits(es, posts, {"nested": {"path": "comments", "query": _both("lee", 5)}}) == ["1"]
    assert _hits(
        es,
        posts,
        {"nested": {"path": "comments", "query": {"range": {"comments.stars": {"gte": 3}}}}},
    ) == ["1", "2", "3"]
    # A nested object's fields are not searchable from the root, as in ES.
    assert _hits(es, posts, {"term": {"comments.author": "kim"}}) == []
    combined = {
        "bool": {
            "must": [
                {"nested": {"path": "comments", "query": {"term": {"comments.author": "lee"}}}}
            ],
            "must_not": [{"match": {"title": "three"}}],
        }
    }
    assert _hits(es, posts, combined) == ["1"]
    summed = es.search(
        index=posts,
        query={
            "nested": {
                "path": "comments",
                "score_mode": "sum",
                "query": {"terms": {"comments.author": ["kim", "lee"]}},
            }
        },
    )
    top = summed["hits"]["hits"][0]
    assert (top["_id"], top["_score"]) == ("1", 2.0)
    status, body = api_error(
        lambda: es.search(
            index=posts, query={"nested": {"path": "title", "query": {"match_all": {}}}}
        )
    )
    assert status == 400
    assert "[nested] nested object under path [title] is not of nested type" in str(body)
    status, body = api_error(lambda: es.search(index=posts, query={"nested": {"path": "comments"}}))
    assert status == 400
    assert "[nested] requires 'query' field" in str(body)


def test_nested_aggregation(es: Elasticsearch, posts: str) -> None:
    resp = es.search(
        index=posts,
        size=0,
        aggs={
            "c": {
                "nested": {"path": "comments"},
                "aggs": {
                    "who": {"terms": {"field": "comments.author"}},
                    "avg_stars": {"avg": {"field": "comments.stars"}},
                },
            }
        },
    )
    c = resp["aggregations"]["c"]
    assert c["doc_count"] == 4
    assert c["who"]["buckets"] == [{"key": "kim", "doc_count": 2}, {"key": "lee", "doc_count": 2}]
    assert c["avg_stars"]["value"] == 3.5


# --- dense_vector and knn ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vectors(es: Elasticsearch) -> Iterator[str]:
    mappings = {
        "properties": {
            "v": {"type": "dense_vector", "dims": 3, "similarity": "l2_norm"},
            "c": {"type": "dense_vector", "similarity": "cosine"},
            "kind": {"type": "keyword"},
            "text": {"type": "text"},
        }
    }
    docs = [
        {"v": [0, 0, 0], "c": [1, 0], "kind": "a", "text": "red apple"},
        {"v": [1, 0, 0], "c": [0, 1], "kind": "b", "text": "green apple"},
        {"v": [2, 0, 0], "c": [1, 1], "kind": "a", "text": "red car"},
        {"v": [5, 5, 5], "c": [-1, 0], "kind": "b", "text": "blue sky"},
    ]
    _load(es, "ft-vectors", mappings, docs)
    yield "ft-vectors"
    es.indices.delete(index="ft-vectors")


def test_knn_search(es: Elasticsearch, vectors: str) -> None:
    props = es.indices.get_mapping(index=vectors)[vectors]["mappings"]["properties"]
    assert props["c"] == {"type": "dense_vector", "similarity": "cosine", "dims": 2}  # set by doc 1
    resp = es.search(index=vectors, knn={"field": "v", "query_vector": [0.9, 0, 0], "k": 2})
    hits = resp["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["2", "1"]
    # l2_norm: 1 / (1 + d^2)
    assert hits[0]["_score"] == pytest.approx(1 / (1 + 0.01), rel=1e-6)
    assert hits[1]["_score"] == pytest.approx(1 / (1 + 0.81), rel=1e-6)
    assert resp["hits"]["total"]["value"] == 2
    assert hits[0]["_source"] == {"v": [1, 0, 0], "c": [0, 1], "kind": "b", "text": "green apple"}
    cos = es.search(index=vectors, knn={"field": "c", "query_vector": [1, 0], "k": 4})
    assert [h["_id"] for h in cos["hits"]["hits"]] == ["1", "3", "2", "4"]
    assert cos["hits"]["hits"][0]["_score"] == pytest.approx(1.0)  # (1 + cos) / 2
    filtered = es.search(
        index=vectors,
        knn={"field": "v", "query_vector": [0.9, 0, 0], "k": 2, "filter": {"term": {"kind": "a"}}},
    )
    assert _ids(filtered) == ["1", "3"]
    near = es.search(
        index=vectors, knn={"field": "v", "query_vector": [0, 0, 0], "k": 4, "similarity": 1.5}
    )
    assert _ids(near) == ["1", "2"]  # distance at most 1.5
    # With a query: the union, scores summed.
    hybrid = es.search(
        index=vectors,
        query={"match": {"text": "car"}},
        knn={"field": "v", "query_vector": [0, 0, 0], "k": 1, "boost": 10},
    )
    assert sorted(_ids(hybrid)) == ["1", "3"]
    assert hybrid["hits"]["hits"][0]["_id"] == "1"
    assert hybrid["hits"]["hits"][0]["_score"] == pytest.approx(10.0)
    as_query = es.search(
        index=vectors, query={"knn": {"field": "v", "query_vector": [5, 5, 4], "k": 1}}
    )
    assert _ids(as_query) == ["4"]
    # A filtered alias is a pre-filter: the nearest among what it admits, not none.
    es.indices.put_alias(index=vectors, name="ft-vectors-a", filter={"term": {"kind": "a"}})
    via_alias = es.search(
        index="ft-vectors-a", knn={"field": "v", "query_vector": [0.9, 0, 0], "k": 1}
    )
    assert _ids(via_alias) == ["1"]
    es.index(index=vectors, id="5", document={"kind": "c"}, refresh=True)
    with_vector = _hits(es, vectors, {"exists": {"field": "v"}})
    assert with_vector == ["1", "2", "3", "4"]
    es.delete(index=vectors, id="5", refresh=True)


@pytest.mark.parametrize(
    ("knn", "reason"),
    [
        ({"field": "v", "query_vector": [1, 0, 0], "k": 0}, "[k] must be greater than 0"),
        (
            {"field": "v", "query_vector": [1, 0, 0], "k": 5, "num_candidates": 3},
            "[num_candidates] cannot be less than [k]",
        ),
        (
            {"field": "v", "query_vector": [1, 0, 0], "num_candidates": 10001},
            "[num_candidates] cannot exceed [10000]",
        ),
        (
            {"field": "v", "query_vector": [1, 0]},
            "The query vector has a different number of dimensions [2] than the document "
            "vectors [3].",
        ),
        (
            {"field": "kind", "query_vector": [1, 0]},
            "[knn] queries are only supported on [dense_vector] fields",
        ),
    ],
)
def test_knn_errors(es: Elasticsearch, vectors: str, knn: dict[str, Any], reason: str) -> None:
    status, body = api_error(lambda: es.search(index=vectors, knn=knn))
    assert status == 400
    assert reason in str(body)


def test_dense_vector_mapping_and_document_errors(es: Elasticsearch, vectors: str) -> None:
    status, body = api_error(
        lambda: es.indices.create(
            index="ft-bad-vector",
            mappings={"properties": {"v": {"type": "dense_vector", "dims": 5000}}},
        )
    )
    assert status == 400
    assert body["error"]["reason"] == (
        "Failed to parse mapping: The number of dimensions should be in the range [1, 4096] but "
        "was [5000]"
    )
    status, body = api_error(lambda: es.index(index=vectors, id="x", document={"v": [1, 2]}))
    assert status == 400
    assert body["error"]["type"] == "document_parsing_exception"
    assert body["error"]["caused_by"]["reason"] == (
        "The [dense_vector] field [v] in doc [document with id 'x'] has a different number of "
        "dimensions [2] than defined in the mapping [3]"
    )
    status, body = api_error(lambda: es.index(index=vectors, id="y", document={"c": [0, 0]}))
    assert status == 400
    assert "The [cosine] similarity does not support vectors with zero magnitude" in str(body)


# --- completion ----------------------------------------------------------------------------------


def test_completion_suggester(es: Elasticsearch) -> None:
    idx = "ft-completion"
    docs = [
        {"suggest": {"input": ["Nevermind", "Nirvana"], "weight": 34}, "year": 1991},
        {"suggest": "Nirvana Unplugged", "year": 1994},
        {
            "suggest": [
                {"input": "Nine Inch Nails", "weight": 10},
                {"input": "Nirvana", "weight": 2},
            ]
        },
        {"suggest": "Pearl Jam"},
    ]
    _load(es, idx, {"properties": {"suggest": {"type": "completion"}}}, docs)
    assert es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]["suggest"] == {
        "type": "completion",
        "analyzer": "simple",
        "preserve_separators": True,
        "preserve_position_increments": True,
        "max_input_length": 50,
    }
    resp = es.search(index=idx, suggest={"s": {"prefix": "ni", "completion": {"field": "suggest"}}})
    (entry,) = resp["suggest"]["s"]
    assert (entry["text"], entry["offset"], entry["length"]) == ("ni", 0, 2)
    assert [(o["text"], o["_id"], o["_score"]) for o in entry["options"]] == [
        ("Nirvana", "1", 34.0),
        ("Nine Inch Nails", "3", 10.0),
        ("Nirvana Unplugged", "2", 1.0),
    ]
    assert entry["options"][0]["_source"] == docs[0]
    dedup = es.search(
        index=idx,
        suggest={
            "text": "nir",
            "s": {"completion": {"field": "suggest", "size": 1, "skip_duplicates": True}},
        },
    )
    assert [o["text"] for o in dedup["suggest"]["s"][0]["options"]] == ["Nirvana"]
    fuzzy = es.search(
        index=idx,
        suggest={
            "s": {"prefix": "nirv", "completion": {"field": "suggest", "fuzzy": {"fuzziness": 1}}}
        },
    )
    assert "Nirvana" in [o["text"] for o in fuzzy["suggest"]["s"][0]["options"]]
    status, body = api_error(
        lambda: es.search(
            index=idx, suggest={"s": {"prefix": "x", "completion": {"field": "year"}}}
        )
    )
    assert status == 400
    status, body = api_error(
        lambda: es.index(index=idx, id="x", document={"suggest": {"input": "a", "weight": 1.5}})
    )
    assert status == 400
    assert body["error"]["caused_by"]["reason"] == "weight must be an integer, but was [1.5]"
    es.indices.delete(index=idx)


def test_geo_distance_sort(es: Elasticsearch, places: str) -> None:
    resp = es.search(
        index=places,
        query={"exists": {"field": "loc"}},
        sort=[
            {"_geo_distance": {"loc": {"lat": 48.85, "lon": 2.35}, "order": "asc", "unit": "km"}}
        ],
    )
    names = [h["_source"]["name"] for h in resp["hits"]["hits"]]
    assert names == ["paris", "versailles", "london", "new york", "tokyo"]
    first, second = (h["sort"][0] for h in resp["hits"]["hits"][:2])
    assert first == pytest.approx(0.73, abs=0.05)  # Paris centre, in km
    assert second == pytest.approx(16.86, abs=0.05)  # 5.0 km south, 16.1 km west
    far_first = es.search(
        index=places,
        query={"exists": {"field": "loc"}},
        sort=[{"_geo_distance": {"loc": [2.35, 48.85], "order": "desc"}}, {"name": "asc"}],
        size=1,
    )
    assert far_first["hits"]["hits"][0]["_source"]["name"] == "tokyo"
    status, body = api_error(lambda: es.search(index=places, sort=[{"loc": "asc"}]))
    assert status == 400
    assert "can't sort on geo_point field without using specific sorting feature" in str(body)


def test_nested_inner_hits(es: Elasticsearch, posts: str) -> None:
    resp = es.search(
        index=posts,
        query={
            "nested": {
                "path": "comments",
                "query": {"range": {"comments.stars": {"gte": 3}}},
                "inner_hits": {"name": "good", "size": 1},
            }
        },
    )
    by_id = {h["_id"]: h["inner_hits"]["good"]["hits"] for h in resp["hits"]["hits"]}
    assert sorted(by_id) == ["1", "2", "3"]
    assert by_id["1"]["total"] == {"value": 1, "relation": "eq"}
    (inner,) = by_id["1"]["hits"]
    assert inner["_nested"] == {"field": "comments", "offset": 1}
    assert inner["_source"] == {"author": "lee", "stars": 5}
    assert by_id["3"]["hits"][0]["_nested"] == {"field": "comments", "offset": 0}


def test_dynamic_dense_vector(es: Elasticsearch) -> None:
    idx = "ft-dyn-vector"
    near, far = [0.5] * 128, [0.5] * 64 + [-0.5] * 64
    es.index(index=idx, id="1", document={"emb": near, "small": [0.5, 1.5]})
    es.index(index=idx, id="2", document={"emb": far}, refresh=True)
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props["emb"] == {
        "type": "dense_vector",
        "dims": 128,
        "index": True,
        "similarity": "cosine",
    }
    assert props["small"] == {"type": "float"}  # fewer than 128 floats stay numbers
    resp = es.search(index=idx, knn={"field": "emb", "query_vector": near, "k": 1})
    assert _ids(resp) == ["1"]
    es.indices.delete(index=idx)
