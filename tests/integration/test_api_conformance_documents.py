"""Document APIs held to Elasticsearch's documented behaviour (issue 18, items 5 and 8).

Each expectation is ES 8/9's observable answer through the official client: HTTP status,
error ``type`` and the exact ``reason`` text ES's own classes build.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("conf-doc-", request)


# --- _update with if_seq_no / if_primary_term ---------------------------------------------------


def test_update_with_stale_seq_no_conflicts_even_when_the_update_is_a_noop(
    es: Elasticsearch, idx: str
) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    es.index(index=idx, id="1", document={"v": 2})  # now seqNo 1
    # The update would change nothing, but ES checks the pair when it reads the document.
    status, body = api_error(
        lambda: es.update(index=idx, id="1", doc={"v": 2}, if_seq_no=0, if_primary_term=1)
    )
    assert status == 409
    err = body["error"]
    assert err["type"] == "version_conflict_engine_exception"
    assert err["reason"] == (
        "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [1] and primary term [1]"
    )
    assert (err["index"], err["shard"]) == (idx, "0")
    status, body = api_error(
        lambda: es.update(index=idx, id="1", doc={"v": 2}, if_seq_no=1, if_primary_term=7)
    )
    assert status == 409
    assert body["error"]["reason"].endswith(
        "required seqNo [1], primary term [7]. current document has seqNo [1] and primary term [1]"
    )
    # The matching pair on an unchanged document is still a noop.
    ok = es.update(index=idx, id="1", doc={"v": 2}, if_seq_no=1, if_primary_term=1)
    assert (ok["result"], ok["_seq_no"]) == ("noop", 1)


# --- GET with version / version_type ------------------------------------------------------------


def test_get_with_version_requires_the_exact_version_for_every_version_type(
    es: Elasticsearch, idx: str
) -> None:
    es.index(index=idx, id="1", document={"v": 1}, version=5, version_type="external")
    assert es.get(index=idx, id="1", version=5)["_version"] == 5
    for vtype in ("internal", "external", "external_gte"):
        got = es.get(index=idx, id="1", version=5, version_type=vtype)
        assert (got["found"], got["_source"]) == (True, {"v": 1})
        for wrong in (4, 6):
            status, body = api_error(
                lambda vt=vtype, w=wrong: es.get(index=idx, id="1", version=w, version_type=vt)
            )
            assert status == 409, vtype
            err = body["error"]
            assert err["type"] == "version_conflict_engine_exception"
            assert err["reason"] == (
                f"[1]: version conflict, current version [5] is different than the one "
                f"provided [{wrong}]"
            )
            assert (err["index"], err["shard"]) == (idx, "0")
    # A missing document is not found, whatever the version asked for.
    missing = es.options(ignore_status=404).get(
        index=idx, id="nope", version=3, version_type="external"
    )
    assert missing.meta.status == 404
    assert missing["found"] is False


def test_get_version_validation_follows_the_version_type(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    status, body = api_error(lambda: es.get(index=idx, id="1", version=0))
    assert status == 400
    assert body["error"]["type"] == "action_request_validation_exception"
    assert body["error"]["reason"] == (
        "Validation Failed: 1: illegal version value [0] for version type [INTERNAL];"
    )
    status, body = api_error(lambda: es.get(index=idx, id="1", version=-1, version_type="external"))
    assert status == 400
    assert body["error"]["reason"] == (
        "Validation Failed: 1: illegal version value [-1] for version type [EXTERNAL];"
    )
    status, body = api_error(
        lambda: es.perform_request("GET", f"/{idx}/_doc/1", params={"version_type": "bogus"})
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "No version type match [bogus]"
    status, body = api_error(
        lambda: es.perform_request("GET", f"/{idx}/_doc/1", params={"version_type": "force"})
    )
    assert (status, body["error"]["reason"]) == (
        400,
        "Validation Failed: 1: version type [force] may no longer be used;",
    )
    # External version 0 is a valid read version that simply does not match version 1.
    status, body = api_error(lambda: es.get(index=idx, id="1", version=0, version_type="external"))
    assert status == 409


# --- require_alias --------------------------------------------------------------------------------


def _require_alias_reason(name: str) -> str:
    return (
        f"no such index [{name}] and [require_alias] request flag is [true] and [{name}] is "
        "not an alias"
    )


def test_require_alias_refuses_a_concrete_index_and_a_missing_name(
    es: Elasticsearch, idx: str
) -> None:
    es.indices.create(index=idx, aliases={f"{idx}-alias": {}})
    for target in (idx, f"{idx}-absent"):
        status, body = api_error(
            lambda t=target: es.index(index=t, id="1", document={"v": 1}, require_alias=True)
        )
        assert status == 404
        err = body["error"]
        assert err["type"] == "index_not_found_exception"
        assert err["reason"] == _require_alias_reason(target)
        assert (err["resource.type"], err["resource.id"], err["index"]) == (
            "index_or_alias",
            target,
            target,
        )
    status, body = api_error(
        lambda: es.update(index=idx, id="1", doc={"v": 1}, doc_as_upsert=True, require_alias=True)
    )
    assert (status, body["error"]["reason"]) == (404, _require_alias_reason(idx))
    assert not es.indices.exists(index=f"{idx}-absent")  # never auto-created
    ok = es.index(index=f"{idx}-alias", id="1", document={"v": 1}, require_alias=True)
    assert (ok["result"], ok["_index"]) == ("created", idx)


def test_bulk_require_alias_per_item_and_as_the_request_default(
    es: Elasticsearch, idx: str
) -> None:
    es.indices.create(index=idx, aliases={f"{idx}-alias": {}})
    resp = es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": "1", "require_alias": True}},
            {"v": 1},
            {"index": {"_index": f"{idx}-alias", "_id": "2", "require_alias": True}},
            {"v": 2},
            {"index": {"_index": idx, "_id": "3"}},
            {"v": 3},
        ]
    )
    first, second, third = (item["index"] for item in resp["items"])
    assert resp["errors"] is True
    assert (first["status"], first["error"]["type"]) == (404, "index_not_found_exception")
    assert first["error"]["reason"] == _require_alias_reason(idx)
    assert (second["status"], third["status"]) == (201, 201)
    # The request-level flag applies to the items that do not say otherwise.
    resp = es.bulk(
        require_alias=True,
        operations=[
            {"index": {"_index": idx, "_id": "4"}},
            {"v": 4},
            {"index": {"_index": idx, "_id": "5", "require_alias": False}},
            {"v": 5},
        ],
    )
    fourth, fifth = (item["index"] for item in resp["items"])
    assert fourth["error"]["reason"] == _require_alias_reason(idx)
    assert fifth["status"] == 201


# --- bulk ids ---------------------------------------------------------------------------------------


def test_bulk_empty_id_fails_the_index_item_and_the_whole_delete_request(
    es: Elasticsearch, idx: str
) -> None:
    resp = es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": ""}},
            {"v": 1},
            {"index": {"_index": idx, "_id": "ok"}},
            {"v": 2},
        ]
    )
    bad, good = (item["index"] for item in resp["items"])
    assert resp["errors"] is True
    assert bad["status"] == 400
    assert bad["error"]["type"] == "illegal_argument_exception"
    assert bad["error"]["reason"] == "if _id is specified it must not be empty"
    assert good["status"] == 201
    for action in ("delete", "update"):
        ops: list[dict[str, object]] = [{action: {"_index": idx, "_id": ""}}]
        if action == "update":
            ops.append({"doc": {"v": 1}})
        status, body = api_error(lambda o=ops: es.bulk(operations=o))
        assert status == 400
        assert body["error"]["type"] == "action_request_validation_exception"
        assert body["error"]["reason"] == "Validation Failed: 1: id is missing;"


# --- routing ------------------------------------------------------------------------------------------

# ES's OperationRoutingTests.testBWC: the shard of each value among 8 shards (8 routing shards),
# whether the value is the document's id or its routing.
ES_SHARDS_OF_8 = {
    "sEERfFzPSI": 1,
    "cNRiIrjzYd": 7,
    "BgfLBXUyWT": 5,
    "cnepjZhQnb": 3,
    "OKCmuYkeCK": 6,
    "OutXGRQUja": 5,
    "yCdyocKWou": 1,
    "KXuNWWNgVj": 2,
    "DGJOYrpESx": 4,
    "hswhrppvDH": 0,
    "nbZWPWJsIM": 0,
    "AITyyoyLLs": 4,
}


def _docs_per_shard(es: Elasticsearch, index: str) -> dict[int, int]:
    shards = es.indices.stats(index=index, level="shards")["indices"][index]["shards"]
    return {int(n): copies[0]["docs"]["count"] for n, copies in shards.items()}


def test_documents_land_on_the_shard_es_routing_picks(es: Elasticsearch, idx: str) -> None:
    settings = {"number_of_shards": 8, "number_of_routing_shards": 8, "number_of_replicas": 0}
    es.indices.create(index=idx, settings=settings)
    es.indices.create(index=f"{idx}-r", settings=settings)
    ops: list[dict[str, object]] = []
    routed: list[dict[str, object]] = []
    for n, key in enumerate(ES_SHARDS_OF_8):
        ops += [{"index": {"_index": idx, "_id": key}}, {"n": n}]
        routed += [{"index": {"_index": f"{idx}-r", "_id": f"doc-{n}", "routing": key}}, {"n": n}]
    assert es.bulk(operations=ops + routed)["errors"] is False
    expected: dict[int, int] = {}
    for shard in ES_SHARDS_OF_8.values():
        expected[shard] = expected.get(shard, 0) + 1
    want = {n: expected.get(n, 0) for n in range(8)}
    assert _docs_per_shard(es, idx) == want
    assert _docs_per_shard(es, f"{idx}-r") == want
    # Reads route the same way: the right routing finds the document, another does not.
    assert es.get(index=f"{idx}-r", id="doc-0", routing="sEERfFzPSI")["found"] is True
    missing = es.options(ignore_status=404).get(index=f"{idx}-r", id="doc-0", routing="x")
    assert missing["found"] is False


def test_number_of_routing_shards_is_validated(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(
        lambda: es.indices.create(
            index=idx, settings={"number_of_shards": 3, "number_of_routing_shards": 10}
        )
    )
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    assert body["error"]["reason"] == "the number of source shards [3] must be a factor of [10]"
    status, body = api_error(
        lambda: es.indices.create(
            index=idx, settings={"number_of_shards": 3, "number_of_routing_shards": 2}
        )
    )
    assert body["error"]["reason"] == (
        "index.number_of_routing_shards [2] must be >= index.number_of_shards [3]"
    )
    es.indices.create(index=idx, settings={"number_of_shards": 3, "number_of_routing_shards": 12})
    got = es.indices.get_settings(index=idx, flat_settings=True)[idx]["settings"]
    assert got["index.number_of_routing_shards"] == "12"


def test_auto_expand_replicas_is_validated_and_applied(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"auto_expand_replicas": "0-all"})
    settings = es.indices.get_settings(index=idx, flat_settings=True)[idx]["settings"]
    assert settings["index.auto_expand_replicas"] == "0-all"
    assert settings["index.number_of_replicas"] == "0"  # one data node: no replica to expand to
    assert es.cluster.health(index=idx)["status"] == "green"
    for value, reason in (
        ("1-boom", "failed to parse [index.auto_expand_replicas] from value: [1-boom] at index 1"),
        ("true", "failed to parse [index.auto_expand_replicas] from value: [true] at index -1"),
        ("2-1", "[index.auto_expand_replicas] minReplicas must be =< maxReplicas but wasn't 2 > 1"),
    ):
        status, body = api_error(
            lambda v=value: es.indices.create(
                index=f"{idx}-bad", settings={"auto_expand_replicas": v}
            )
        )
        assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
        assert body["error"]["reason"] == reason
    es.indices.put_settings(index=idx, settings={"auto_expand_replicas": "false"})
    es.indices.put_settings(index=idx, settings={"number_of_replicas": 1})
    es.indices.put_settings(index=idx, settings={"auto_expand_replicas": "0-1"})
    after = es.indices.get_settings(index=idx, flat_settings=True)[idx]["settings"]
    assert after["index.number_of_replicas"] == "0"


# --- request bodies (issue 18 item 8) -----------------------------------------------------------


def test_update_body_fields_follow_es_update_request_parser(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    status, body = api_error(
        lambda: es.perform_request(
            "POST",
            f"/{idx}/_update/1",
            body={"docc": {"v": 2}},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["type"] == "x_content_parse_exception"
    assert body["error"]["reason"] == "[UpdateRequest] unknown field [docc] did you mean [doc]?"
    status, body = api_error(
        lambda: es.perform_request(
            "POST",
            f"/{idx}/_update/1",
            body={"doc": {"v": 2}, "if_seq_no": "x", "if_primary_term": 1},
            headers={"content-type": "application/json"},
        )
    )
    assert (status, body["error"]["type"]) == (400, "x_content_parse_exception")
    # if_seq_no / if_primary_term are update body fields in ES.
    status, body = api_error(
        lambda: es.perform_request(
            "POST",
            f"/{idx}/_update/1",
            body={"doc": {"v": 2}, "if_seq_no": 5, "if_primary_term": 1},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 409
    assert body["error"]["reason"].endswith(
        "required seqNo [5], primary term [1]. current document has seqNo [0] and primary term [1]"
    )
    ok = es.perform_request(
        "POST",
        f"/{idx}/_update/1",
        body={"doc": {"v": 2}, "if_seq_no": 0, "if_primary_term": 1},
        headers={"content-type": "application/json"},
    )
    assert ok["result"] == "updated"


def test_aliases_body_unknown_fields_are_es_parse_errors(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(
        lambda: es.perform_request(
            "POST",
            "/_aliases",
            body={"action": [{"add": {"index": idx, "alias": f"{idx}-a"}}]},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["type"] == "x_content_parse_exception"
    assert body["error"]["reason"] == "[aliases] unknown field [action] did you mean [actions]?"
    status, body = api_error(
        lambda: es.indices.update_aliases(
            actions=[{"add": {"indx": idx, "alias": f"{idx}-a"}}]  # type: ignore[list-item]
        )
    )
    assert status == 400
    err = body["error"]
    assert (err["type"], err["reason"]) == (
        "x_content_parse_exception",
        "[aliases] failed to parse field [actions]",
    )
    assert err["caused_by"]["reason"] == "[alias_action] failed to parse field [add]"
    assert err["root_cause"][0] == {
        "type": "x_content_parse_exception",
        "reason": "[add] unknown field [indx] did you mean [index]?",
    }
    # must_exist belongs to remove only.
    status, body = api_error(
        lambda: es.indices.update_aliases(
            actions=[{"add": {"index": idx, "alias": f"{idx}-a", "must_exist": True}}]
        )
    )
    assert body["error"]["root_cause"][0]["reason"] == "[add] unknown field [must_exist]"


def test_create_index_unknown_key_is_es_parse_exception(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(
        lambda: es.perform_request(
            "PUT",
            f"/{idx}",
            body={"setting": {}},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["type"] == "parse_exception"
    assert body["error"]["reason"] == "unknown key [setting] for create index"


def test_bulk_metadata_values_must_be_simple(es: Elasticsearch, idx: str) -> None:
    for meta, found in (({"_id": ["x"]}, "START_ARRAY"), ({"_id": {"x": 1}}, "START_OBJECT")):
        status, body = api_error(
            lambda m=meta: es.bulk(operations=[{"index": {"_index": idx, **m}}, {"v": 1}])
        )
        assert status == 400
        assert body["error"]["type"] == "illegal_argument_exception"
        assert body["error"]["reason"] == (
            "Malformed action/metadata line [1], expected a simple value for field [_id] but "
            f"found [{found}]"
        )
    # Every id-less delete and update is listed, as ES validates the whole request.
    status, body = api_error(
        lambda: es.bulk(
            operations=[
                {"delete": {"_index": idx, "_id": ""}},
                {"update": {"_index": idx}},
                {"doc": {"v": 1}},
            ]
        )
    )
    assert status == 400
    assert body["error"]["reason"] == "Validation Failed: 1: id is missing;2: id is missing;"


def test_mget_items_take_version_and_refuse_unknown_fields(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    docs = es.mget(index=idx, docs=[{"_id": "1", "version": 2}, {"_id": "1", "version": 1}])["docs"]
    assert docs[0]["error"]["type"] == "version_conflict_engine_exception"
    assert docs[0]["error"]["reason"] == (
        "[1]: version conflict, current version [1] is different than the one provided [2]"
    )
    assert docs[1]["found"] is True
    status, body = api_error(lambda: es.mget(index=idx, docs=[{"_id": "1", "_type": "_doc"}]))
    assert status == 400
    assert body["error"]["type"] == "parse_exception"
    assert body["error"]["reason"] == "failed to parse multi get request. unknown field [_type]"
    status, body = api_error(lambda: es.mget(index=idx, docs=[{"_id": "1", "fields": ["v"]}]))
    assert (status, body["error"]["type"]) == (400, "parsing_exception")
    assert body["error"]["reason"] == (
        "Unsupported field [fields] used, expected [stored_fields] instead"
    )
