"""ES's groupClusterIndices rules and messages."""

from __future__ import annotations

import pytest

from isthmus.cluster.remote_expressions import ClusterIndices, group_indices
from isthmus.errors import IllegalArgumentError, NoSuchRemoteClusterError

ALIASES = ("cluster_1", "cluster_2")


def test_grouping_follows_es() -> None:
    grouped = group_indices(
        ["cluster_1:bar", "cluster_2:foo:bar", "cluster_1:test", "cluster_2:foo*", "foo",
         "cluster*:baz", "*:boo"],
        ALIASES,
    )  # fmt: skip
    assert grouped.local == ("foo",)
    assert grouped.remote == {
        "cluster_1": ("bar", "test", "baz", "boo"),
        "cluster_2": ("foo:bar", "foo*", "baz", "boo"),
    }
    assert grouped.clusters() == ["", "cluster_1", "cluster_2"]


def test_only_remote_and_empty() -> None:
    assert group_indices(["cluster_1:bar", "cluster_2:foo*"], ALIASES) == ClusterIndices(
        local=None, remote={"cluster_1": ("bar",), "cluster_2": ("foo*",)}
    )
    assert group_indices([], ALIASES) == ClusterIndices(local=())
    assert not group_indices(["logs"], ALIASES).is_cross_cluster


def test_date_math_is_never_remote() -> None:
    assert group_indices(["<logs-{now/d}>", "-<x:y>"], ALIASES).local == (
        "<logs-{now/d}>",
        "-<x:y>",
    )


def test_unknown_alias_and_empty_remote_part() -> None:
    with pytest.raises(NoSuchRemoteClusterError, match=r"^no such remote cluster: \[foo\]$"):
        group_indices(["foo:bar", "cluster_1:bar"], ALIASES)
    with pytest.raises(IllegalArgumentError) as err:
        group_indices([":foo"], ALIASES)
    assert err.value.reason == "index name [:foo] is invalid because the remote part is empty"
    assert group_indices(["nomatch*:x", "logs"], ALIASES).remote == {}


def test_exclusions() -> None:
    assert group_indices(["*:logs", "-cluster_1:*"], ALIASES).remote == {"cluster_2": ("logs",)}
    with pytest.raises(IllegalArgumentError) as err:
        group_indices(["cluster_1:foo", "-cluster_1:foo*"], ALIASES)
    assert err.value.reason == (
        "To exclude a cluster you must specify the '*' wildcard for the index expression, "
        "but found: [foo*]"
    )
    with pytest.raises(IllegalArgumentError) as err:
        group_indices(["-cluster_1:*", "cluster_2:foo*", "foo"], ALIASES)
    assert err.value.reason == (
        "Attempt to exclude cluster [cluster_1] failed as it is not included in the list of "
        "clusters to be included: [(local), cluster_2]. Input: [-cluster_1:*,cluster_2:foo*,foo]"
    )
    with pytest.raises(IllegalArgumentError) as err:
        group_indices(["-*:*"], ALIASES)
    assert err.value.reason == (
        "Attempt to exclude clusters [cluster_1, cluster_2] failed as they are not included in "
        "the list of clusters to be included: []. Input: [-*:*]"
    )
    with pytest.raises(IllegalArgumentError, match=r"excludes all indexes\. Nothing to search\."):
        group_indices(["cluster*:*", "*:foo", "-*:*"], ALIASES)


def test_node_without_the_remote_cluster_client_role() -> None:
    from isthmus.actions.cross_cluster import CrossClusterActions
    from isthmus.remote.security_model import SingleModel
    from isthmus.remote.service import RemoteClusterService
    from isthmus.settings.remote import remote_globals

    service = RemoteClusterService(SingleModel(lambda c: None), remote_globals({}), enabled=False)  # type: ignore[arg-type,return-value]
    actions = CrossClusterActions(None, service, "node-1")  # type: ignore[arg-type]
    with pytest.raises(IllegalArgumentError) as err:
        actions.group("logs,my:logs")
    assert err.value.reason == "node [node-1] does not have the remote cluster client role enabled"
    assert actions.group("logs").local == ("logs",)
