"""The cluster's nodes: ES's node filters, role letters, the stored form and the live view."""

from __future__ import annotations

from dataclasses import replace

import pytest

from isthmus.cluster.nodes import (
    DiscoveryNode,
    DiscoveryNodes,
    NodesView,
    local_discovery_node,
)
from isthmus.errors import IllegalArgumentError


def node(name: str, roles: tuple[str, ...], ip: str, **attrs: str) -> DiscoveryNode:
    return local_discovery_node(
        f"id-{name}",
        name,
        roles,
        attrs,
        transport_address=f"{ip}:9300",
        http_address=f"{ip}:9200",
        ephemeral_id=f"eph-{name}",
    )


MASTER = node("m1", ("master",), "10.0.0.1")
HOT = node("hot1", ("data_hot", "ingest", "remote_cluster_client"), "10.0.0.2", zone="a")
DATA = node("data1", ("data", "master"), "10.0.0.3", zone="b", gateway="true")
COORD = node("coord1", (), "10.0.0.4")
NODES = DiscoveryNodes((MASTER, HOT, DATA, COORD), local_node_id="id-hot1", master_node_id="id-m1")


def names(spec: str | list[str] | None) -> list[str]:
    return [n.name for n in NODES.resolve(spec)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ["m1", "hot1", "data1", "coord1"]),
        ("_all", ["m1", "hot1", "data1", "coord1"]),
        ("_local", ["hot1"]),
        ("_master", ["m1"]),
        ("id-data1", ["data1"]),  # an exact id
        ("data*", ["data1"]),  # a name pattern
        ("10.0.0.4", ["coord1"]),  # an address
        ("10.0.0.*", ["m1", "hot1", "data1", "coord1"]),
        ("master:true", ["m1", "data1"]),
        ("_all,master:false", ["hot1", "coord1"]),  # false removes from what is chosen so far
        ("master:false", []),
        ("data:true", ["hot1", "data1"]),  # any data tier counts as data
        ("data_hot:true", ["hot1", "data1"]),  # a tier matches its role or the generic data
        ("ingest:true", ["hot1"]),
        ("remote_cluster_client:true", ["hot1"]),
        ("coordinating_only:true", ["coord1"]),
        ("zone:a", ["hot1"]),
        ("zo*:*", ["hot1", "data1"]),  # attribute name and value patterns
        ("gateway:true", ["data1"]),
        ("_local,_master", ["m1", "hot1"]),
        ("nothing", []),
    ],
)
def test_node_filters_resolve_as_es_does(spec: str | None, expected: list[str]) -> None:
    assert names(spec) == expected


def test_a_role_filter_value_must_be_a_boolean() -> None:
    with pytest.raises(IllegalArgumentError) as err:
        NODES.resolve("master:yes")
    assert err.value.reason == "Failed to parse value [yes] as only [true] or [false] are allowed."


def test_role_letters_are_es_abbreviations_sorted() -> None:
    every = node(
        "all",
        ("data", "data_cold", "data_content", "data_frozen", "data_hot", "data_warm", "ingest",
         "master", "ml", "remote_cluster_client", "transform", "voting_only"),
        "10.0.0.9",
    )  # fmt: skip
    assert every.role_letters() == "cdfhilmrstvw"
    assert COORD.role_letters() == "-"
    assert DATA.roles == ("data", "master")  # sorted by name, as ES lists them


def test_role_predicates() -> None:
    assert [n.name for n in NODES.master_eligible()] == ["m1", "data1"]
    assert [n.name for n in NODES.data_nodes()] == ["hot1", "data1"]
    assert [n.name for n in NODES.with_role("ingest")] == ["hot1"]
    assert NODES.master_node == MASTER
    assert NODES.local_node == HOT
    assert not NODES.is_local_master()
    assert NODES.by_name("coord1") == COORD


def test_the_stored_form_round_trips_and_bad_entries_name_the_field() -> None:
    for n in NODES:
        assert DiscoveryNode.from_json(n.to_json()) == n
    bad = {**HOT.to_json(), "roles": "master"}
    with pytest.raises(ValueError, match=r"\[roles\]"):
        DiscoveryNode.from_json(bad)
    with pytest.raises(ValueError, match=r"\[transport_address\]"):
        DiscoveryNode.from_json({**HOT.to_json(), "transport_address": None})


def test_handshake_forms() -> None:
    ident = DATA.identity()
    assert (ident.id, ident.publish_address, ident.roles) == (
        "id-data1",
        "10.0.0.3:9300",
        DATA.roles,
    )
    assert DATA.remote_cluster_identity() is None
    rcs = local_discovery_node(
        "x", "x", ("data",), {}, transport_address="h:9300", remote_cluster_address="h:9443"
    )
    rcs_identity = rcs.remote_cluster_identity()
    assert rcs_identity is not None and rcs_identity.publish_address == "h:9443"


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        DiscoveryNodes((MASTER, MASTER), MASTER.id)


def test_the_view_tells_subscribers_of_changes_only() -> None:
    view = NodesView.single(HOT)
    assert view.nodes.master_node_id == HOT.id and len(view.nodes) == 1
    seen: list[tuple[int, int]] = []
    unsubscribe = view.subscribe(lambda old, new: seen.append((len(old), len(new))))
    view.update(NODES)
    view.update(NODES)  # the same set: nobody is told
    view.update_local(http_address="10.0.0.2:9201")
    assert seen == [(1, 4), (4, 4)]
    assert view.local.http_address == "10.0.0.2:9201"
    assert view.nodes.master_node_id == "id-m1"
    unsubscribe()
    view.update(DiscoveryNodes.single(HOT))
    assert len(seen) == 2
    with pytest.raises(ValueError, match="local node"):
        view.update(DiscoveryNodes.single(MASTER))


def test_a_new_run_gets_a_new_ephemeral_id() -> None:
    a = local_discovery_node("id", "n", (), {}, transport_address="h:1")
    b = local_discovery_node("id", "n", (), {}, transport_address="h:1")
    assert a.ephemeral_id != b.ephemeral_id and len(a.ephemeral_id) == 22


def test_members_from_a_store_keep_the_local_entry() -> None:
    view = NodesView.single(HOT)
    stale = replace(HOT, http_address="10.9.9.9:1")  # what an old key in the store says
    view.set_members([MASTER, stale, DATA], master_node_id="id-m1")
    assert [n.name for n in view.nodes] == ["m1", "hot1", "data1"]
    assert view.local == HOT and view.nodes.master_node == MASTER
    view.set_members([MASTER, DATA], master_node_id=None)  # our key not (yet) in the store
    assert [n.name for n in view.nodes] == ["hot1", "m1", "data1"]
    assert view.nodes.master_node is None
    assert names_of(view.nodes.resolve("_master")) == []


def names_of(nodes: list[DiscoveryNode]) -> list[str]:
    return [n.name for n in nodes]
