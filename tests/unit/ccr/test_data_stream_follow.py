"""Data streams under cross-cluster replication, without sockets: how a followed backing index
joins the local stream (ES's ``updateLocalDataStream``), promotion, the rollover refusal, and
how auto-follow matches and names backing indices (ES's ``AutoFollowPattern.match`` and
``getFollowerIndexName``)."""

from __future__ import annotations

import pytest

from isthmus.ccr.auto_follow import AutoFollowPattern
from isthmus.ccr.wire import LeaderIndexSummary
from isthmus.cluster.data_streams import (
    DataStream,
    check_not_replicated,
    follow_backing_index,
    promoted,
    stream,
    with_streams,
)
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.errors import IllegalArgumentError, ResourceNotFoundError

GEN = ".ds-logs-web-2026.12.07-{:06d}"


def remote(generation: int, meta: dict[str, str] | None = None) -> DataStream:
    indices = tuple(GEN.format(n) for n in range(1, generation + 1))
    return DataStream("logs-web", indices, generation=generation, hidden=True, meta=meta)


def test_first_backing_index_makes_a_replicated_copy_of_the_remote_stream() -> None:
    state = follow_backing_index(
        ClusterMetadata("u"), "logs-web", GEN.format(2), remote(2, {"a": "b"}), now_ms=5
    )
    local = stream(state, "logs-web")
    assert local is not None
    assert (local.indices, local.generation, local.replicated) == ((GEN.format(2),), 2, True)
    assert (local.hidden, local.meta, local.created) == (True, {"a": "b"}, 5)


def test_later_indices_keep_generation_order_and_the_remote_generation() -> None:
    state = ClusterMetadata("u")
    for n, generation in ((3, 3), (1, 4), (2, 4)):
        state = follow_backing_index(state, "logs-web", GEN.format(n), remote(generation), now_ms=0)
    local = stream(state, "logs-web")
    assert local is not None
    assert local.indices == tuple(GEN.format(n) for n in (1, 2, 3))
    assert local.generation == 4
    # Following an index already in the stream (a closed follower reopened) adds nothing.
    again = follow_backing_index(state, "logs-web", GEN.format(2), remote(4), now_ms=0)
    assert stream(again, "logs-web") == local
    # Indices not named after this stream go first (they never become the write index); a
    # prefixed one (shrunk, restored) sorts by its name from ".ds-" on.
    for name, position in (("other-index", 0), ("shrink-" + GEN.format(2), 2)):
        joined = stream(
            follow_backing_index(state, "logs-web", name, remote(4), now_ms=0), "logs-web"
        )
        assert joined is not None and joined.indices.index(name) == position
        assert joined.write_index == GEN.format(3)


def test_a_promoted_stream_follows_nothing_more_and_rolls_over() -> None:
    state = follow_backing_index(
        ClusterMetadata("u"), "logs-web", GEN.format(1), remote(1), now_ms=0
    )
    replicated = stream(state, "logs-web")
    assert replicated is not None
    with pytest.raises(IllegalArgumentError, match="because it is a replicated data stream"):
        check_not_replicated(replicated)
    state = promoted(state, "logs-web")
    local = stream(state, "logs-web")
    assert local is not None and local.replicated is False
    check_not_replicated(local)
    with pytest.raises(IllegalArgumentError) as refused:
        follow_backing_index(state, "logs-web", GEN.format(2), remote(2), now_ms=0)
    assert refused.value.reason == (
        f"cannot follow backing index [{GEN.format(2)}], because local data stream [logs-web] "
        "is no longer marked as replicated"
    )
    with pytest.raises(ResourceNotFoundError, match=r"data stream \[nope\] does not exist"):
        promoted(state, "nope")
    # A local stream that was never replicated refuses the same way.
    plain = with_streams(ClusterMetadata("u"), {"logs-web": DataStream("logs-web", ("x",))})
    with pytest.raises(IllegalArgumentError, match="no longer marked as replicated"):
        follow_backing_index(plain, "logs-web", GEN.format(1), remote(1), now_ms=0)
    with pytest.raises(IllegalArgumentError, match="must be lowercase"):
        follow_backing_index(ClusterMetadata("u"), "Logs", GEN.format(1), remote(1), now_ms=0)


def test_auto_follow_matches_a_backing_index_by_its_stream_and_renames_both() -> None:
    pattern = AutoFollowPattern("r", ("logs-*",), ("logs-secret-*",))
    assert pattern.matches(GEN.format(1), "logs-web")
    assert not pattern.matches(GEN.format(1), None)
    assert not pattern.matches(".ds-logs-secret-x-2026.12.07-000001", "logs-secret-x")
    assert pattern.follower_name(GEN.format(1)) == GEN.format(1)
    assert pattern.data_stream_name("logs-web") is None
    copy = AutoFollowPattern("r", ("logs-*",), follow_index_pattern="{{leader_index}}_copy")
    assert copy.follower_name(GEN.format(7)) == ".ds-logs-web_copy-2026.12.07-000007"
    assert copy.follower_name("plain") == "plain_copy"
    assert copy.data_stream_name("logs-web") == "logs-web_copy"
    assert copy.data_stream_name(None) is None
    with pytest.raises(IllegalArgumentError, match="could not be parsed"):
        copy.follower_name(".ds-nodate")


def test_leader_index_summary_reads_both_wire_forms() -> None:
    seven = LeaderIndexSummary(GEN.format(1), "u", "open", 1, False, True, "logs-web")
    assert LeaderIndexSummary.from_payload(seven.to_payload()) == seven
    # A leader from before data streams sends six fields.
    six = LeaderIndexSummary.from_payload(["i", "u", "open", 1, False, False])
    assert six.data_stream is None
    with pytest.raises(IllegalArgumentError, match="malformed data stream name"):
        LeaderIndexSummary.from_payload(["i", "u", "open", 1, False, False, 3])
