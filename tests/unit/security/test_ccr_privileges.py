"""The CCR privileges grant what ES's privilege resolver grants, no more: a leader role with
``read_ccr`` reads the cluster state (the follower's metadata request) and checks privileges,
while the CCR stats and info APIs need ``monitor``."""

from __future__ import annotations

import pytest

from isthmus.security.privileges import (
    cluster_grants,
    granting_cluster_privileges,
    granting_index_privileges,
    index_grants,
)


@pytest.mark.parametrize(
    ("privilege", "action", "granted"),
    [
        ("read_ccr", "cluster:monitor/state", True),
        ("read_ccr", "cluster:admin/xpack/security/user/has_privileges", True),
        ("read_ccr", "cluster:monitor/ccr/stats", False),
        ("read_ccr", "cluster:admin/xpack/ccr/auto_follow_pattern/put", False),
        ("manage_ccr", "cluster:admin/xpack/ccr/auto_follow_pattern/put", True),
        ("manage_ccr", "cluster:monitor/state", True),
        ("monitor", "cluster:monitor/ccr/stats", True),
    ],
)
def test_cluster_privileges(privilege: str, action: str, granted: bool) -> None:
    assert cluster_grants(privilege, action) is granted


@pytest.mark.parametrize(
    ("privilege", "action", "granted"),
    [
        ("cross_cluster_replication", "indices:data/read/xpack/ccr/shard_changes", True),
        ("cross_cluster_replication", "indices:admin/seq_no/add_retention_lease", True),
        ("cross_cluster_replication", "indices:internal/admin/ccr/restore/session/put", False),
        (
            "cross_cluster_replication_internal",
            "indices:internal/admin/ccr/restore/session/put",
            True,
        ),
        ("read", "indices:data/read/xpack/ccr/shard_changes", True),
        ("manage_follow_index", "indices:admin/xpack/ccr/put_follow", True),
        ("manage_follow_index", "indices:admin/close", True),
        ("manage_follow_index", "indices:admin/open", False),
        ("view_index_metadata", "indices:data/read/field_caps", True),
        ("manage", "indices:data/read/field_caps[n]", True),
    ],
)
def test_index_privileges(privilege: str, action: str, granted: bool) -> None:
    assert index_grants(privilege, action) is granted


@pytest.mark.parametrize(
    ("action", "listed"),
    [
        # The texts ES writes (the guide, and ES's integration tests quoted in the reference).
        ("indices:data/read/search", ["read", "all"]),
        ("indices:data/read/field_caps", ["view_index_metadata", "manage", "read", "all"]),
        (
            "indices:internal/admin/ccr/restore/session/put",
            ["cross_cluster_replication_internal", "all"],
        ),
        ("indices:admin/xpack/ccr/put_follow", ["manage_follow_index", "manage", "all"]),
    ],
)
def test_denials_list_index_privileges_in_es_order(action: str, listed: list[str]) -> None:
    assert granting_index_privileges(action) == listed


def test_denials_list_cluster_privileges_in_es_order() -> None:
    assert granting_cluster_privileges("cluster:internal/remote_cluster/handshake") == [
        "cross_cluster_search",
        "cross_cluster_replication",
        "manage",
        "all",
    ]
    assert granting_cluster_privileges("cluster:admin/xpack/ccr/resume_follow") == [
        "manage",
        "manage_ccr",
        "all",
    ]
