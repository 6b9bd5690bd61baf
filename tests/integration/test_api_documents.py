"""Single-document APIs against a real node: index/create, get/exists, delete, update.

Every expectation is Elasticsearch 8/9's observable behaviour through the official client:
status codes, ``result`` values, version/seq_no bookkeeping, error ``type``/``reason`` text and
the field order ES's ``DocWriteResponse``/``GetResult`` write.
"""

from __future__ import annotations

import re

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index

SHARDS_1_REPLICA = {"total": 2, "successful": 1, "failed": 0}  # 1 primary + 1 unassigned replica


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("doc-", request)


def no_refresh_index(es: Elasticsearch, name: str) -> None:
    """An index that never refreshes on its own, so visibility is under the test's control."""
    es.indices.create(index=name, settings={"refresh_interval": "-1"})


# --- index / create -----------------------------------------------------------------------------


def test_index_with_id_creates_then_updates(es: Elasticsearch, idx: str) -> None:
    first = es.index(index=idx, id="1", document={"title": "one"})
    assert first.meta.status == 201
    assert first.body == {
        "_index": idx,
        "_id": "1",
        "_version": 1,
        "result": "created",
        "_shards": SHARDS_1_REPLICA,
        "_seq_no": 0,
        "_primary_term": 1,
    }
    assert list(first.body) == [
        "_index",
        "_id",
        "_version",
        "result",
        "_shards",
        "_seq_no",
        "_primary_term",
    ]

    second = es.index(index=idx, id="1", document={"title": "uno"})
    assert second.meta.status == 200
    assert second["result"] == "updated"
    assert (second["_version"], second["_seq_no"], second["_primary_term"]) == (2, 1, 1)
    assert es.get(index=idx, id="1")["_source"] == {"title": "uno"}


def test_wait_for_active_shards_on_one_node(es: Elasticsearch, idx: str) -> None:
    # One node holds one active copy of each shard (its primary): asking for two waits for the
    # timeout, then ES's 503 (it was ignored); one copy, and _shards, are as before.
    es.indices.create(index=idx, settings={"number_of_replicas": 1})
    status, body = api_error(
        lambda: es.index(
            index=idx, id="1", document={"a": 1}, wait_for_active_shards="2", timeout="200ms"
        )
    )
    assert (status, body["error"]["type"]) == (503, "unavailable_shards_exception")
    assert body["error"]["reason"].startswith(
        f"[{idx}][0] Not enough active copies to meet shard count of [2] (have 1, needed 2). "
        "Timeout: [200ms], request: [BulkShardRequest"
    )
    put = es.index(index=idx, id="1", document={"a": 1}, wait_for_active_shards="1")
    assert put["_shards"] == {"total": 2, "successful": 1, "failed": 0}
    status, body = api_error(
        lambda: es.indices.put_settings(
            index=idx, settings={"index.write.wait_for_active_shards": "x"}
        )
    )
    assert (status, body["error"]["reason"]) == (400, "cannot parse ActiveShardCount[x]")


def test_put_and_post_with_id_are_equivalent(es: Elasticsearch, idx: str) -> None:
    put = es.perform_request(
        "PUT", f"/{idx}/_doc/a", body={"n": 1}, headers={"content-type": "application/json"}
    )
    post = es.perform_request(
        "POST", f"/{idx}/_doc/b", body={"n": 2}, headers={"content-type": "application/json"}
    )
    assert (put.meta.status, put["result"], put["_id"]) == (201, "created", "a")
    assert (post.meta.status, post["result"], post["_id"]) == (201, "created", "b")
    assert post["_seq_no"] == put["_seq_no"] + 1


def test_post_without_id_generates_an_es_style_id(es: Elasticsearch, idx: str) -> None:
    resp = es.index(index=idx, document={"auto": True})
    assert resp.meta.status == 201
    assert resp["result"] == "created"
    # ES auto ids are 20-character URL-safe base64 time-based UUIDs.
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", resp["_id"]), resp["_id"]
    other = es.index(index=idx, document={"auto": True})
    assert other["_id"] != resp["_id"]
    assert es.get(index=idx, id=resp["_id"])["_source"] == {"auto": True}


def test_create_endpoint_conflicts_on_existing_id(es: Elasticsearch, idx: str) -> None:
    created = es.create(index=idx, id="1", document={"v": 1})
    assert created.meta.status == 201
    assert created["result"] == "created"

    status, body = api_error(lambda: es.create(index=idx, id="1", document={"v": 2}))
    assert status == 409
    err = body["error"]
    assert err["type"] == "version_conflict_engine_exception"
    assert err["reason"] == "[1]: version conflict, document already exists (current version [1])"
    assert err["index"] == idx
    assert err["shard"] == "0"
    assert err["root_cause"][0]["type"] == "version_conflict_engine_exception"
    assert body["status"] == 409
    assert es.get(index=idx, id="1")["_source"] == {"v": 1}


def test_op_type_create_conflicts_on_existing_id(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="7", document={"v": 1})
    es.index(index=idx, id="7", document={"v": 2})
    status, body = api_error(
        lambda: es.index(index=idx, id="7", document={"v": 3}, op_type="create")
    )
    assert status == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
    assert body["error"]["reason"] == (
        "[7]: version conflict, document already exists (current version [2])"
    )


def test_refresh_true_reports_forced_refresh_before_shards(es: Elasticsearch, idx: str) -> None:
    no_refresh_index(es, idx)
    resp = es.index(index=idx, id="1", document={"t": "x"}, refresh=True)
    assert resp["forced_refresh"] is True
    # DocWriteResponse writes forced_refresh right after result, before _shards.
    assert list(resp.body) == [
        "_index",
        "_id",
        "_version",
        "result",
        "forced_refresh",
        "_shards",
        "_seq_no",
        "_primary_term",
    ]
    assert es.count(index=idx)["count"] == 1


def test_refresh_wait_for_makes_doc_searchable(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    resp = es.index(index=idx, id="1", document={"t": "x"}, refresh="wait_for")
    assert "forced_refresh" not in resp.body
    assert es.search(index=idx)["hits"]["total"] == {"value": 1, "relation": "eq"}


def test_refresh_false_leaves_doc_unsearchable_until_refresh(es: Elasticsearch, idx: str) -> None:
    no_refresh_index(es, idx)
    resp = es.index(index=idx, id="1", document={"t": "x"}, refresh=False)
    assert "forced_refresh" not in resp.body
    assert es.search(index=idx)["hits"]["total"]["value"] == 0
    refreshed = es.indices.refresh(index=idx)
    assert refreshed["_shards"] == {"total": 2, "successful": 1, "failed": 0}
    assert es.search(index=idx)["hits"]["total"]["value"] == 1


def test_invalid_refresh_value_is_rejected(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(
        lambda: es.perform_request(
            "PUT",
            f"/{idx}/_doc/1",
            params={"refresh": "sometimes"},
            body={"a": 1},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "Unknown value for refresh: [sometimes]."


def test_external_versioning(es: Elasticsearch, idx: str) -> None:
    first = es.index(index=idx, id="1", document={"v": 1}, version=10, version_type="external")
    assert first["_version"] == 10
    status, body = api_error(
        lambda: es.index(index=idx, id="1", document={"v": 2}, version=5, version_type="external")
    )
    assert status == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
    assert body["error"]["reason"] == (
        "[1]: version conflict, current version [10] is higher or equal to the one provided [5]"
    )
    assert (
        es.index(index=idx, id="1", document={"v": 3}, version=11, version_type="external")[
            "_version"
        ]
        == 11
    )


def test_ids_with_reserved_url_characters_round_trip(es: Elasticsearch, idx: str) -> None:
    weird = "a b?c#d%e+f&g=h"
    es.index(index=idx, id=weird, document={"ok": True})
    got = es.get(index=idx, id=weird)
    assert got["_id"] == weird
    assert es.delete(index=idx, id=weird)["result"] == "deleted"


def test_id_with_encoded_slash_round_trips(es: Elasticsearch, idx: str) -> None:
    # The client sends "a%2Fb"; ES routes on the raw path and decodes each segment afterwards.
    es.index(index=idx, id="a/b", document={"ok": True})
    assert es.get(index=idx, id="a/b")["_id"] == "a/b"


def test_id_longer_than_512_bytes_is_rejected(es: Elasticsearch, idx: str) -> None:
    long_id = "x" * 513
    status, body = api_error(lambda: es.index(index=idx, id=long_id, document={"a": 1}))
    assert status == 400
    assert body["error"]["type"] == "action_request_validation_exception"
    assert body["error"]["reason"] == (
        f"Validation Failed: 1: id [{long_id}] is too long, must be no longer than 512 bytes "
        "but was: 513;"
    )


def test_index_auto_creates_index_with_dynamic_mapping(es: Elasticsearch, idx: str) -> None:
    assert not es.indices.exists(index=idx)
    es.index(index=idx, id="1", document={"n": 3})
    assert es.indices.exists(index=idx)
    mapping = es.indices.get_mapping(index=idx)[idx]["mappings"]
    assert mapping["properties"]["n"] == {"type": "long"}


# --- get / exists -------------------------------------------------------------------------------


def test_get_found_has_es_fields_in_order(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1, "b": {"c": 2}})
    resp = es.get(index=idx, id="1")
    assert resp.body == {
        "_index": idx,
        "_id": "1",
        "_version": 1,
        "_seq_no": 0,
        "_primary_term": 1,
        "found": True,
        "_source": {"a": 1, "b": {"c": 2}},
    }
    assert list(resp.body) == [
        "_index",
        "_id",
        "_version",
        "_seq_no",
        "_primary_term",
        "found",
        "_source",
    ]


def test_get_missing_doc_is_404_with_found_false(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(lambda: es.get(index=idx, id="nope"))
    assert status == 404
    assert body == {"_index": idx, "_id": "nope", "found": False}
    assert list(body) == ["_index", "_id", "found"]


def test_get_on_missing_index_is_index_not_found(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(lambda: es.get(index=idx, id="1"))
    assert status == 404
    err = body["error"]
    assert err["type"] == "index_not_found_exception"
    assert err["reason"] == f"no such index [{idx}]"
    assert err["index"] == idx
    assert err["resource.id"] == idx


def test_get_source_filtering_params(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1, "b": 2, "obj": {"x": 1, "y": 2}})
    no_source = es.get(index=idx, id="1", source=False)
    assert "_source" not in no_source.body
    assert no_source["found"] is True
    assert es.get(index=idx, id="1", source_includes=["a", "obj.x"])["_source"] == {
        "a": 1,
        "obj": {"x": 1},
    }
    assert es.get(index=idx, id="1", source_excludes=["b", "obj.y"])["_source"] == {
        "a": 1,
        "obj": {"x": 1},
    }
    assert es.get(index=idx, id="1", source="b")["_source"] == {"b": 2}
    assert es.get(index=idx, id="1", source_includes=["obj.*"])["_source"] == {
        "obj": {"x": 1, "y": 2}
    }


def test_get_source_endpoint(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1, "b": 2})
    assert es.get_source(index=idx, id="1").body == {"a": 1, "b": 2}
    assert es.get_source(index=idx, id="1", source_excludes=["a"]).body == {"b": 2}
    status, body = api_error(lambda: es.get_source(index=idx, id="2"))
    assert status == 404
    assert body["error"]["type"] == "resource_not_found_exception"
    assert body["error"]["reason"] == f"Document not found [{idx}]/[2]"


def test_realtime_get_sees_unrefreshed_doc(es: Elasticsearch, idx: str) -> None:
    no_refresh_index(es, idx)
    es.index(index=idx, id="1", document={"fresh": True})
    assert es.search(index=idx)["hits"]["total"]["value"] == 0
    assert es.get(index=idx, id="1")["_source"] == {"fresh": True}
    assert es.exists(index=idx, id="1")


def test_non_realtime_get_does_not_see_unrefreshed_doc(es: Elasticsearch, idx: str) -> None:
    no_refresh_index(es, idx)
    es.index(index=idx, id="1", document={"fresh": True})
    status, body = api_error(lambda: es.get(index=idx, id="1", realtime=False))
    assert status == 404
    assert body == {"_index": idx, "_id": "1", "found": False}
    es.indices.refresh(index=idx)
    assert es.get(index=idx, id="1", realtime=False)["found"] is True


def test_exists_head(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    yes = es.exists(index=idx, id="1")
    no = es.exists(index=idx, id="2")
    assert bool(yes) is True and yes.meta.status == 200
    assert bool(no) is False and no.meta.status == 404
    assert es.exists_source(index=idx, id="1")
    assert not es.exists(index=idx + "-missing", id="1")


# --- delete -------------------------------------------------------------------------------------


def test_delete_found(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    resp = es.delete(index=idx, id="1")
    assert resp.meta.status == 200
    assert resp.body == {
        "_index": idx,
        "_id": "1",
        "_version": 2,
        "result": "deleted",
        "_shards": SHARDS_1_REPLICA,
        "_seq_no": 1,
        "_primary_term": 1,
    }
    assert not es.exists(index=idx, id="1")


def test_delete_missing_doc_is_404_not_found_result(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    resp = es.options(ignore_status=404).delete(index=idx, id="zzz")
    assert resp.meta.status == 404
    assert resp["result"] == "not_found"
    assert resp["_index"] == idx and resp["_id"] == "zzz"
    assert resp["_version"] == 1  # internal versioning: a delete of nothing is version 1
    assert resp["_shards"] == SHARDS_1_REPLICA
    assert "error" not in resp.body


def test_delete_on_missing_index_does_not_create_it(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(lambda: es.delete(index=idx, id="1"))
    assert status == 404
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["error"]["reason"] == f"no such index [{idx}]"
    assert not es.indices.exists(index=idx)


def test_reindex_after_delete_continues_versions(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    es.delete(index=idx, id="1")
    again = es.index(index=idx, id="1", document={"a": 2})
    assert again.meta.status == 201
    assert again["result"] == "created"
    assert again["_version"] == 3
    assert again["_seq_no"] == 2


# --- optimistic concurrency ---------------------------------------------------------------------


def test_if_seq_no_and_primary_term_match_succeeds(es: Elasticsearch, idx: str) -> None:
    first = es.index(index=idx, id="1", document={"v": 1})
    second = es.index(
        index=idx,
        id="1",
        document={"v": 2},
        if_seq_no=first["_seq_no"],
        if_primary_term=first["_primary_term"],
    )
    assert second["result"] == "updated"
    assert second["_seq_no"] == first["_seq_no"] + 1


def test_if_seq_no_mismatch_is_409_with_es_reason(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    es.index(index=idx, id="1", document={"v": 2})
    status, body = api_error(
        lambda: es.index(index=idx, id="1", document={"v": 3}, if_seq_no=0, if_primary_term=1)
    )
    assert status == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
    assert body["error"]["reason"] == (
        "[1]: version conflict, required seqNo [0], primary term [1]. current document has "
        "seqNo [1] and primary term [1]"
    )
    assert es.get(index=idx, id="1")["_source"] == {"v": 2}


def test_if_primary_term_mismatch_is_409(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    status, body = api_error(
        lambda: es.index(index=idx, id="1", document={"v": 3}, if_seq_no=0, if_primary_term=7)
    )
    assert status == 409
    assert body["error"]["reason"] == (
        "[1]: version conflict, required seqNo [0], primary term [7]. current document has "
        "seqNo [0] and primary term [1]"
    )


def test_if_seq_no_on_missing_doc_is_409_document_does_not_exist(
    es: Elasticsearch, idx: str
) -> None:
    es.indices.create(index=idx)
    status, body = api_error(
        lambda: es.index(index=idx, id="9", document={"v": 3}, if_seq_no=0, if_primary_term=1)
    )
    assert status == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
    assert body["error"]["reason"] == (
        "[9]: version conflict, required seqNo [0], primary term [1]. but no document was found"
    )


def test_conditional_delete_mismatch_is_409(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    status, body = api_error(lambda: es.delete(index=idx, id="1", if_seq_no=5, if_primary_term=1))
    assert status == 409
    assert body["error"]["reason"] == (
        "[1]: version conflict, required seqNo [5], primary term [1]. current document has "
        "seqNo [0] and primary term [1]"
    )
    assert es.exists(index=idx, id="1")


def test_if_seq_no_without_primary_term_is_validation_error(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(
        lambda: es.perform_request(
            "PUT",
            f"/{idx}/_doc/1",
            params={"if_seq_no": "0"},
            body={"a": 1},
            headers={"content-type": "application/json"},
        )
    )
    assert status == 400
    assert body["error"]["type"] == "action_request_validation_exception"
    assert body["error"]["reason"] == (
        "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"
    )


# --- update -------------------------------------------------------------------------------------


def test_update_partial_doc_merges(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1, "obj": {"x": 1}})
    resp = es.update(index=idx, id="1", doc={"b": 2, "obj": {"y": 2}})
    assert resp.meta.status == 200
    assert resp.body == {
        "_index": idx,
        "_id": "1",
        "_version": 2,
        "result": "updated",
        "_shards": SHARDS_1_REPLICA,
        "_seq_no": 1,
        "_primary_term": 1,
    }
    assert es.get(index=idx, id="1")["_source"] == {"a": 1, "obj": {"x": 1, "y": 2}, "b": 2}


def test_update_with_same_content_is_noop(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    resp = es.update(index=idx, id="1", doc={"a": 1})
    assert resp.meta.status == 200
    assert resp.body == {
        "_index": idx,
        "_id": "1",
        "_version": 1,
        "result": "noop",
        "_shards": {"total": 0, "successful": 0, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
    }


def test_update_detect_noop_false_writes(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    resp = es.update(index=idx, id="1", doc={"a": 1}, detect_noop=False)
    assert resp["result"] == "updated"
    assert resp["_version"] == 2


def test_update_doc_as_upsert_creates_missing(es: Elasticsearch, idx: str) -> None:
    resp = es.update(index=idx, id="1", doc={"a": 1}, doc_as_upsert=True)
    assert resp.meta.status == 201
    assert resp["result"] == "created"
    assert resp["_version"] == 1
    assert es.get(index=idx, id="1")["_source"] == {"a": 1}


def test_update_upsert_used_only_when_missing(es: Elasticsearch, idx: str) -> None:
    created = es.update(index=idx, id="1", doc={"a": 2}, upsert={"a": 0, "init": True})
    assert (created.meta.status, created["result"]) == (201, "created")
    assert es.get(index=idx, id="1")["_source"] == {"a": 0, "init": True}
    updated = es.update(index=idx, id="1", doc={"a": 2}, upsert={"a": 0, "init": True})
    assert (updated.meta.status, updated["result"]) == (200, "updated")
    assert es.get(index=idx, id="1")["_source"] == {"a": 2, "init": True}


def test_update_missing_doc_is_document_missing(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(lambda: es.update(index=idx, id="9", doc={"a": 1}))
    assert status == 404
    err = body["error"]
    assert err["type"] == "document_missing_exception"
    assert err["reason"] == "[9]: document missing"
    assert err["index"] == idx
    assert err["shard"] == "0"
    assert err["root_cause"] == [
        {
            "type": "document_missing_exception",
            "reason": "[9]: document missing",
            "index_uuid": err["index_uuid"],
            "shard": "0",
            "index": idx,
        }
    ]


def test_update_returns_source_when_asked(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    resp = es.update(index=idx, id="1", doc={"b": 2}, source=True)
    assert resp["get"]["found"] is True
    assert resp["get"]["_source"] == {"a": 1, "b": 2}
    assert resp["get"]["_seq_no"] == 1


def test_update_with_stale_if_seq_no_conflicts(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    es.index(index=idx, id="1", document={"a": 2})
    status, body = api_error(
        lambda: es.update(index=idx, id="1", doc={"a": 3}, if_seq_no=0, if_primary_term=1)
    )
    assert status == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
