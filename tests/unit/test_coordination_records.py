"""etcd's JSON gateway bodies as records (no etcd needed): the proto3 JSON rules (base64,
64-bit integers as strings, default values left out), prefix ranges, transaction bodies, and
watch responses grouped by revision."""

from __future__ import annotations

import pytest

from isthmus.coordination.etcd_records import (
    Compare,
    Delete,
    DeleteResult,
    Get,
    Put,
    PutResult,
    RangeResult,
    TxnResult,
    b64,
    prefix_end,
    txn_body,
    watch_response_from_json,
)
from isthmus.coordination.keys import ClusterKeys
from isthmus.errors import CoordinationError


def test_prefix_end_increments_the_last_byte_below_0xff() -> None:
    assert prefix_end(b"/isthmus/a/") == b"/isthmus/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\x00"  # every key


def test_a_transaction_body_is_etcds_json() -> None:
    body = txn_body(
        [Compare.create_revision(b"m", 0), Compare.value(b"v", b"x"), Compare.version(b"v", 3)],
        [Put(b"k", b"1", lease=7), Delete(b"p/", prefix=True)],
        [Get(b"m")],
    )
    assert body == {
        "compare": [
            {"key": b64(b"m"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
            {"key": b64(b"v"), "target": "VALUE", "result": "EQUAL", "value": b64(b"x")},
            {"key": b64(b"v"), "target": "VERSION", "result": "EQUAL", "version": "3"},
        ],
        "success": [
            {"request_put": {"key": b64(b"k"), "value": b64(b"1"), "lease": "7"}},
            {"request_delete_range": {"key": b64(b"p/"), "range_end": b64(b"p0")}},
        ],
        "failure": [{"request_range": {"key": b64(b"m")}}],
    }


def test_a_transaction_answer_with_defaults_left_out() -> None:
    answer = {
        "header": {"revision": "12"},
        "responses": [
            {"response_put": {"header": {"revision": "12"}}},
            {"response_range": {"header": {}, "kvs": [{"key": b64(b"m"), "create_revision": "5"}]}},
            {"response_delete_range": {"header": {}}},
        ],
    }
    result = TxnResult.from_json(answer)
    assert not result.succeeded and result.revision == 12
    put, found, deleted = result.responses
    assert isinstance(put, PutResult) and put.revision == 12
    assert isinstance(found, RangeResult) and isinstance(deleted, DeleteResult)
    assert (found.kvs[0].key, found.kvs[0].value, found.kvs[0].version) == (b"m", b"", 0)
    assert found.kvs[0].create_revision == 5 and deleted.deleted == 0
    with pytest.raises(CoordinationError, match="unexpected transaction response"):
        TxnResult.from_json({"responses": [{"response_other": {}}]})


def test_watch_responses_group_events_by_revision() -> None:
    def kv(key: bytes, revision: int) -> dict[str, str]:
        return {"key": b64(key), "mod_revision": str(revision)}

    line = {
        "result": {
            "header": {"revision": "9"},
            "events": [
                {"kv": kv(b"a", 7)},
                {"kv": kv(b"a", 8)},
                {"type": "DELETE", "kv": kv(b"b", 8)},
                {"kv": kv(b"c", 9)},
            ],
        }
    }
    response = watch_response_from_json(line)
    groups = [(rev, [(e.type, e.kv.key) for e in events]) for rev, events in response.by_revision()]
    assert groups == [
        (7, [("PUT", b"a")]),
        (8, [("PUT", b"a"), ("DELETE", b"b")]),
        (9, [("PUT", b"c")]),
    ]
    progress = watch_response_from_json({"result": {"header": {"revision": "10"}}})
    assert progress.is_progress and progress.revision == 10
    cancelled = watch_response_from_json(
        {"result": {"header": {}, "canceled": True, "compact_revision": "5"}}
    )
    assert cancelled.canceled and cancelled.compact_revision == 5
    with pytest.raises(CoordinationError, match="etcd ended the watch: boom"):
        watch_response_from_json({"error": {"grpc_code": 14, "message": "boom"}})


def test_cluster_keys_are_under_the_cluster_name_and_refuse_a_slash() -> None:
    keys = ClusterKeys("prod")
    assert keys.master == b"/isthmus/prod/master"
    assert keys.node("n1") == b"/isthmus/prod/nodes/n1"
    assert keys.state_index("u1") == b"/isthmus/prod/state/index/u1"
    assert keys.index_uuid(keys.state_index("u1")) == "u1"
    assert keys.index_uuid(keys.state_meta) is None
    with pytest.raises(CoordinationError, match=r"invalid cluster name \[a/b\]"):
        ClusterKeys("a/b")
