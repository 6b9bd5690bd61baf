"""CCR's transport payloads: round trips, and a malformed payload refused with ES's
``illegal_argument_exception`` (never a crash)."""

from __future__ import annotations

from typing import Any

import ormsgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.ccr.wire import (
    LeaderIndexMetadataRequest,
    LeaderIndexMetadataResponse,
    ReplicatedOp,
    RetentionLeaseRequest,
    ShardChangesRequest,
    ShardChangesResponse,
    retention_lease_id,
)
from isthmus.errors import IllegalArgumentError

ops = st.one_of(
    st.builds(
        ReplicatedOp,
        op=st.just("index"),
        id=st.text(min_size=1, max_size=8),
        seq_no=st.integers(0, 2**40),
        primary_term=st.integers(1, 9),
        version=st.integers(1, 2**40),
        source=st.binary(max_size=20),
        routing=st.none() | st.text(max_size=4),
    ),
    st.builds(
        ReplicatedOp,
        op=st.sampled_from(["delete", "noop"]),
        id=st.text(min_size=1, max_size=8),
        seq_no=st.integers(0, 2**40),
        primary_term=st.integers(1, 9),
        version=st.integers(1, 9),
        # Named: hypothesis fills a named tuple's defaulted fields too.
        source=st.none(),
        routing=st.none(),
    ),
)


def over_the_wire(payload: Any) -> Any:
    return ormsgpack.unpackb(ormsgpack.packb(payload))


@given(st.lists(ops, max_size=5), st.integers(-1, 2**40))
def test_shard_changes_response_round_trips(operations: list[ReplicatedOp], gcp: int) -> None:
    response = ShardChangesResponse(tuple(operations), gcp, gcp, -1, 1, 2, 3, 4)
    assert ShardChangesResponse.from_payload(over_the_wire(response.to_payload())) == response


def test_requests_round_trip() -> None:
    changes = ShardChangesRequest("leader", 0, 5, 100, "h-uuid", 1024, 1000, "L-uuid")
    assert ShardChangesRequest.from_payload(over_the_wire(changes.to_payload())) == changes
    lease = RetentionLeaseRequest("leader", 2, "lease/id", 7, "ccr", None)
    assert RetentionLeaseRequest.from_payload(over_the_wire(lease.to_payload())) == lease
    meta = LeaderIndexMetadataResponse(
        "leader", "u", "open", 2, {"properties": {}}, {"index.number_of_shards": "2"}, {},
        1, 2, 3, ("h0", "h1"),
    )  # fmt: skip
    assert LeaderIndexMetadataResponse.from_payload(over_the_wire(meta.to_payload())) == meta
    asked = LeaderIndexMetadataRequest("leader")
    assert LeaderIndexMetadataRequest.is_one(asked.to_payload())
    assert not LeaderIndexMetadataRequest.is_one({})  # a sniffing remote's nodes request
    assert LeaderIndexMetadataRequest.from_payload(asked.to_payload()) == asked


def test_shard_changes_validation_uses_es_messages() -> None:
    good = ShardChangesRequest("leader", 0, 0, 1, "h").to_payload()
    with pytest.raises(IllegalArgumentError) as err:
        ShardChangesRequest.from_payload({**good, "from_seq_no": -1, "max_operation_count": -2})
    assert err.value.reason == (
        "Validation Failed: 1: fromSeqNo [-1] cannot be lower than 0;"
        "2: maxOperationCount [-2] cannot be lower than 0;"
    )
    with pytest.raises(IllegalArgumentError, match=r"maxBatchSize \[0b\] must be larger than 0"):
        ShardChangesRequest.from_payload({**good, "max_batch_size": 0})


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"index": "l"},
        {"index": 1, "shard": 0},
        {
            "index": "l", "shard": "0", "from_seq_no": 0, "max_operation_count": 1,
            "max_batch_size": 1, "poll_timeout": 0, "expected_history_uuid": "h",
        },
        {
            "index": "l", "shard": 0, "from_seq_no": True, "max_operation_count": 1,
            "max_batch_size": 1, "poll_timeout": 0, "expected_history_uuid": "h",
        },
        {
            "index": "l", "shard": 0, "from_seq_no": 0, "max_operation_count": 1,
            "max_batch_size": 1, "poll_timeout": -5, "expected_history_uuid": "h",
        },
    ],
)  # fmt: skip
def test_malformed_shard_changes_requests_are_refused(payload: Any) -> None:
    with pytest.raises(IllegalArgumentError):
        ShardChangesRequest.from_payload(payload)


@pytest.mark.parametrize(
    "op",
    [
        ["index", "a", 0, 1, 1, None, None],  # an index without a source
        ["delete", "a", 0, 1, 1, b"{}", None],  # a delete with one
        ["upsert", "a", 0, 1, 1, None, None],
        ["index", "", 0, 1, 1, b"{}", None],
        ["index", "a", -1, 1, 1, b"{}", None],
        ["index", "a", 0, 0, 1, b"{}", None],
        ["index", "a", 0, 1, 1, b"{}"],
        "index",
    ],
)
def test_malformed_operations_are_refused(op: Any) -> None:
    with pytest.raises(IllegalArgumentError):
        ReplicatedOp.from_payload(op)


def test_malformed_answers_and_lease_requests_are_refused() -> None:
    with pytest.raises(IllegalArgumentError):
        ShardChangesResponse.from_payload({"operations": "x"})
    with pytest.raises(IllegalArgumentError, match="id must not be empty"):
        RetentionLeaseRequest.from_payload(
            {"index": "l", "shard": 0, "id": "", "retaining_sequence_number": 0, "source": "ccr"}
        )
    with pytest.raises(IllegalArgumentError):
        LeaderIndexMetadataResponse.from_payload({"mapping": {}, "aliases": {}, "settings": []})


def test_retention_lease_id_is_es_format() -> None:
    assert (
        retention_lease_id("local", "follower", "fU", "remote", "leader", "lU")
        == "local/follower/fU-following-remote/leader/lU"
    )


def test_leader_indices_listing_round_trips() -> None:
    from isthmus.ccr.wire import LeaderIndexSummary, LeaderIndicesRequest, LeaderIndicesResponse

    asked = LeaderIndicesRequest(("logs-*", "metrics"))
    payload = over_the_wire(asked.to_payload())
    # both kinds of metadata request reach the leader's metadata handler; the listing says so
    assert LeaderIndicesRequest.is_one(payload) and LeaderIndexMetadataRequest.is_one(payload)
    assert not LeaderIndicesRequest.is_one(LeaderIndexMetadataRequest("x").to_payload())
    assert LeaderIndicesRequest.from_payload(payload) == asked
    answer = LeaderIndicesResponse((LeaderIndexSummary("logs-1", "u", "open", 7, False, True),))
    assert LeaderIndicesResponse.from_payload(over_the_wire(answer.to_payload())) == answer
    with pytest.raises(IllegalArgumentError):
        LeaderIndicesResponse.from_payload({"indices": [["logs-1", "u", "opened", 7, False, True]]})
    with pytest.raises(IllegalArgumentError):
        LeaderIndicesRequest.from_payload({"metadata": True, "list": True, "indices": [1]})
