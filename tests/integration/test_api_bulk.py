"""Multi-document APIs against a real node: ``_mget`` and ``_bulk``.

Per-item results, the ``errors`` flag, which failures are per item and which reject the whole
request, and the error ``type``/``reason`` text Elasticsearch 8/9 gives for each.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import orjson
import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import api_error, unique_index

SHARDS_1_REPLICA = {"total": 2, "successful": 1, "failed": 0}  # 1 primary + 1 unassigned replica


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("bulk-", request)


# --- mget ---------------------------------------------------------------------------------------


def test_mget_by_ids(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    es.index(index=idx, id="2", document={"a": 2})
    resp = es.mget(index=idx, ids=["2", "missing", "1"])
    docs = resp["docs"]
    assert [d["_id"] for d in docs] == ["2", "missing", "1"]
    assert docs[0]["_source"] == {"a": 2} and docs[0]["found"] is True
    assert docs[1] == {"_index": idx, "_id": "missing", "found": False}
    assert docs[2]["_version"] == 1


def test_mget_docs_across_indices_with_missing_index(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1, "b": 2})
    resp = es.mget(
        docs=[{"_index": idx, "_id": "1", "_source": ["b"]}, {"_index": idx + "-nope", "_id": "1"}]
    )
    first, second = resp["docs"]
    assert first["_source"] == {"b": 2}
    assert second["_index"] == idx + "-nope"
    assert second["_id"] == "1"
    assert second["error"]["type"] == "index_not_found_exception"
    assert second["error"]["reason"] == f"no such index [{idx}-nope]"
    assert "found" not in second


def test_mget_without_docs_is_validation_error(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(lambda: es.mget(index=idx, docs=[]))
    assert status == 400
    assert body["error"]["type"] == "action_request_validation_exception"
    assert body["error"]["reason"] == "Validation Failed: 1: no documents to get;"


# --- bulk ---------------------------------------------------------------------------------------


def test_bulk_mixed_actions_per_item_results(es: Elasticsearch, idx: str) -> None:
    resp = es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": "1"}},
            {"a": 1},
            {"create": {"_index": idx, "_id": "2"}},
            {"a": 2},
            {"update": {"_index": idx, "_id": "1"}},
            {"doc": {"b": 1}},
            {"delete": {"_index": idx, "_id": "2"}},
            {"create": {"_index": idx, "_id": "1"}},
            {"a": 9},
            {"delete": {"_index": idx, "_id": "3"}},
            {"update": {"_index": idx, "_id": "4"}},
            {"doc": {"x": 1}},
        ]
    )
    assert resp["errors"] is True
    assert list(resp.body)[:2] == ["errors", "took"]
    assert isinstance(resp["took"], int)
    items = resp["items"]
    assert [next(iter(i)) for i in items] == [
        "index",
        "create",
        "update",
        "delete",
        "create",
        "delete",
        "update",
    ]
    index_item = items[0]["index"]
    assert index_item == {
        "_index": idx,
        "_id": "1",
        "_version": 1,
        "result": "created",
        "_shards": SHARDS_1_REPLICA,
        "_seq_no": 0,
        "_primary_term": 1,
        "status": 201,
    }
    assert list(index_item) == [
        "_index",
        "_id",
        "_version",
        "result",
        "_shards",
        "_seq_no",
        "_primary_term",
        "status",
    ]
    assert (items[1]["create"]["status"], items[1]["create"]["result"]) == (201, "created")
    assert (items[2]["update"]["status"], items[2]["update"]["result"]) == (200, "updated")
    assert items[2]["update"]["_version"] == 2
    assert (items[3]["delete"]["status"], items[3]["delete"]["result"]) == (200, "deleted")

    conflict = items[4]["create"]
    assert conflict["status"] == 409
    assert list(conflict)[:3] == ["_index", "_id", "status"]
    assert conflict["error"]["type"] == "version_conflict_engine_exception"
    assert conflict["error"]["reason"] == (
        "[1]: version conflict, document already exists (current version [2])"
    )
    assert conflict["error"]["index"] == idx

    not_found = items[5]["delete"]  # a 404 delete is a result, not an error
    assert (not_found["status"], not_found["result"]) == (404, "not_found")
    assert "error" not in not_found

    missing = items[6]["update"]
    assert missing["status"] == 404
    assert missing["error"]["type"] == "document_missing_exception"
    assert missing["error"]["reason"] == "[4]: document missing"

    assert es.get(index=idx, id="1")["_source"] == {"a": 1, "b": 1}
    assert not es.exists(index=idx, id="2")


def test_bulk_refresh_true_marks_items_forced_refresh(es: Elasticsearch, idx: str) -> None:
    # BulkShardResponse.setForcedRefresh copies the flag onto every item's DocWriteResponse.
    resp = es.bulk(operations=[{"index": {"_index": idx, "_id": "1"}}, {"a": 1}], refresh=True)
    item = resp["items"][0]["index"]
    assert item["forced_refresh"] is True
    assert list(item) == [
        "_index",
        "_id",
        "_version",
        "result",
        "forced_refresh",
        "_shards",
        "_seq_no",
        "_primary_term",
        "status",
    ]
    assert es.count(index=idx)["count"] == 1


def test_bulk_without_failures_has_errors_false(es: Elasticsearch, idx: str) -> None:
    resp = es.bulk(
        index=idx, operations=[{"index": {"_id": "1"}}, {"a": 1}, {"index": {}}, {"a": 2}]
    )
    assert resp["errors"] is False
    assert [i["index"]["status"] for i in resp["items"]] == [201, 201]
    assert resp["items"][0]["index"]["_index"] == idx
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", resp["items"][1]["index"]["_id"])


def test_bulk_malformed_action_line_is_400(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(lambda: es.bulk(operations=[{"explode": {"_index": idx}}, {"a": 1}]))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "Malformed action/metadata line [1], expected field [create], [delete], [index] or "
        "[update] but found [explode]"
    )
    assert not es.indices.exists(index=idx)


def test_bulk_unknown_metadata_parameter_is_400(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(
        lambda: es.bulk(operations=[{"index": {"_index": idx, "_id": "1", "bogus": 1}}, {"a": 1}])
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "Action/metadata line [1] contains an unknown parameter [bogus]"
    )


def test_bulk_invalid_source_json_fails_only_that_item(es: Elasticsearch, idx: str) -> None:
    payload = (
        f'{{"index":{{"_index":"{idx}","_id":"1"}}}}\n'
        '{"a": 1,,}\n'
        f'{{"index":{{"_index":"{idx}","_id":"2"}}}}\n'
        '{"a": 2}\n'
    )
    resp = es.bulk(operations=payload)
    assert resp["errors"] is True
    bad, good = resp["items"]
    assert bad["index"]["_id"] == "1"
    assert bad["index"]["status"] == 400
    assert bad["index"]["error"]["type"] in {
        "document_parsing_exception",
        "mapper_parsing_exception",
    }
    assert good["index"]["status"] == 201
    assert es.exists(index=idx, id="2")
    assert not es.exists(index=idx, id="1")


def test_bulk_body_must_end_with_newline(node: NodeProcess, idx: str) -> None:
    # Raw request: the official client appends the final newline itself.
    req = urllib.request.Request(
        f"{node.url}/_bulk",
        method="POST",
        data=f'{{"delete":{{"_index":"{idx}","_id":"1"}}}}'.encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    with info.value as err:
        assert err.code == 400
        body = orjson.loads(err.read())
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "The bulk request must be terminated by a newline [\\n]"


def test_bulk_conditional_write_conflict_is_per_item(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"a": 1})
    resp = es.bulk(
        operations=[
            {"index": {"_index": idx, "_id": "1", "if_seq_no": 9, "if_primary_term": 1}},
            {"a": 2},
            {"index": {"_index": idx, "_id": "2"}},
            {"a": 3},
        ]
    )
    assert resp["errors"] is True
    first, second = resp["items"]
    assert first["index"]["status"] == 409
    assert first["index"]["error"]["reason"] == (
        "[1]: version conflict, required seqNo [9], primary term [1]. current document has "
        "seqNo [0] and primary term [1]"
    )
    assert second["index"]["status"] == 201
