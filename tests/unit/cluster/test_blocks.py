"""Cluster and index blocks: which level each refuses, and ES's exact error."""

from __future__ import annotations

from isthmus.cluster.blocks import (
    Level,
    check,
    check_delete,
    check_settings_update,
    set_read_only_allow_delete,
)
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.index.mapping import Mapping

FLOOD = "[TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block]"


def meta(name: str, **settings: str) -> IndexMetadata:
    return IndexMetadata(name, f"{name}-uuid", dict(settings), Mapping({}))


def state(*indices: IndexMetadata, **persistent: str) -> ClusterMetadata:
    return ClusterMetadata("c", {m.name: m for m in indices}, persistent=dict(persistent))


RO_AD = {"index.blocks.read_only_allow_delete": "true"}


def test_flood_stage_block_refuses_writes_with_429() -> None:
    md = state(meta("logs", **RO_AD))
    err = check(md, Level.WRITE, md.indices.values())
    assert err is not None
    assert (err.es_type, err.http_status) == ("cluster_block_exception", 429)
    assert err.reason == f"index [logs] blocked by: {FLOOD};"
    assert err.to_body() == {
        "error": {
            "root_cause": [{"type": "cluster_block_exception", "reason": err.reason}],
            "type": "cluster_block_exception",
            "reason": err.reason,
        },
        "status": 429,
    }
    assert check(md, Level.METADATA_WRITE, md.indices.values()) is not None
    assert check(md, Level.READ, md.indices.values()) is None


def test_every_block_is_listed_and_the_highest_status_wins() -> None:
    md = state(
        meta("a", **{"index.blocks.read_only": "true", **RO_AD}),
        meta("b", **{"index.blocks.write": "true"}),
    )
    err = check(md, Level.WRITE, md.indices.values())
    assert err is not None
    assert err.reason == (
        f"index [a] blocked by: [FORBIDDEN/5/index read-only (api)];{FLOOD};"
        "index [b] blocked by: [FORBIDDEN/8/index write (api)];"
    )
    assert err.http_status == 429
    # index.blocks.write does not stop metadata changes; read_only does.
    only_b = check(md, Level.METADATA_WRITE, [md.indices["b"]])
    assert only_b is None


def test_cluster_blocks_are_reported_alone() -> None:
    md = state(meta("a", **RO_AD), **{"cluster.blocks.read_only": "true"})
    err = check(md, Level.WRITE, md.indices.values())
    assert err is not None
    assert (err.reason, err.http_status) == (
        "blocked by: [FORBIDDEN/6/cluster read-only (api)];",
        403,
    )


def test_deleting_an_index_is_refused_only_by_blocks_that_keep_resources() -> None:
    md = state(meta("full", **RO_AD), meta("ro", **{"index.blocks.read_only": "true"}))
    assert check_delete(md, [md.indices["full"]]) is None
    err = check_delete(md, md.indices.values())
    assert (
        err is not None
        and err.reason == "index [ro] blocked by: [FORBIDDEN/5/index read-only (api)];"
    )
    allow = state(meta("x"), **{"cluster.blocks.read_only_allow_delete": "true"})
    assert check_delete(allow, allow.indices.values()) is None
    assert check(allow, Level.WRITE, allow.indices.values()) is not None


def test_a_request_changing_only_a_block_setting_unblocks() -> None:
    md = state(meta("a", **RO_AD))
    indices = list(md.indices.values())
    assert check_settings_update(md, {"index.blocks.read_only_allow_delete": ""}, indices) is None
    assert check_settings_update(md, {"index.refresh_interval": "2s"}, indices) is not None
    both = {"index.blocks.read_only_allow_delete": "", "index.refresh_interval": "2s"}
    assert check_settings_update(md, both, indices) is not None


def test_setting_the_flood_block_is_a_no_op_when_nothing_changes() -> None:
    md = state(meta("a"), meta("b", **RO_AD))
    blocked = set_read_only_allow_delete(md, ["a", "b", "gone"], True)
    assert blocked.indices["a"].settings["index.blocks.read_only_allow_delete"] == "true"
    assert blocked.indices["a"].settings_version == md.indices["a"].settings_version + 1
    assert blocked.indices["b"] is md.indices["b"]
    assert set_read_only_allow_delete(blocked, ["a", "b"], True) is blocked
    released = set_read_only_allow_delete(blocked, ["a", "b"], False)
    assert all(
        "index.blocks.read_only_allow_delete" not in m.settings for m in released.indices.values()
    )
