"""``_cluster/reroute``'s allocation commands and ``retry_failed`` on the routing table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from isthmus.cluster.allocation import reroute, shard_failed
from isthmus.cluster.allocation_commands import (
    parse_commands,
    parse_request,
    retry_failed,
    run_commands,
)
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.shard_routing import INITIALIZING, UNASSIGNED
from isthmus.errors import IllegalArgumentError, IndexNotFoundError, XContentParseError
from tests.unit.cluster.test_allocation import THREE, ids, index, nodes, settle, state, table


def _run(s: ClusterMetadata, body: Mapping[str, Any], explain: bool = False) -> ClusterMetadata:
    members = nodes(*THREE)
    return run_commands(s, members, parse_commands(body), 0, explain=explain, new_id=ids()).state


def _lost_primary() -> tuple[ClusterMetadata, str, str]:
    """A shard whose only copy's node left: (state, that node's name, a live node's name)."""
    s = settle(state(index("i", replicas=0)), THREE)
    p = table(s).primary()
    assert p is not None and p.node_id is not None
    live = [n for n in THREE if n.id != p.node_id]
    gone = reroute(s, nodes(*live), 5, handle_departures=True)
    name = next(n.name for n in THREE if n.id == p.node_id)
    return gone, name, live[0].name


def test_allocate_empty_primary_needs_accept_data_loss() -> None:
    s, _, live = _lost_primary()
    cmd: dict[str, dict[str, Any]] = {
        "allocate_empty_primary": {"index": "i", "shard": 0, "node": live}
    }
    with pytest.raises(IllegalArgumentError) as err:
        _run(s, {"commands": [cmd]})
    assert err.value.reason == (
        "[allocate_empty_primary] allocating an empty primary for [i][0] can result in data "
        "loss. Please confirm by setting the accept_data_loss parameter to true"
    )
    cmd["allocate_empty_primary"]["accept_data_loss"] = True
    out = table(_run(s, {"commands": [cmd]}))
    p = out.primary()
    assert p is not None and p.state == INITIALIZING and p.unassigned is not None
    assert p.unassigned.reason == "FORCED_EMPTY_PRIMARY"
    assert out.in_sync == frozenset() and out.primary_term == table(s).primary_term + 1


def test_allocate_stale_primary_reuses_the_nodes_copy() -> None:
    s, gone, live = _lost_primary()
    lost = table(s).primary()
    assert lost is not None and lost.unassigned is not None
    # The node that held it must be back to take it; another node has no data.
    members = nodes(*THREE)
    with pytest.raises(IllegalArgumentError, match=r"No data for shard \[0\] of index \[i\]"):
        run_commands(
            s,
            members,
            parse_commands(
                {
                    "commands": [
                        {
                            "allocate_stale_primary": {
                                "index": "i",
                                "shard": 0,
                                "node": live,
                                "accept_data_loss": True,
                            }
                        }
                    ]
                }
            ),
            0,
            explain=False,
            new_id=ids(),
        )
    body = {
        "commands": [
            {
                "allocate_stale_primary": {
                    "index": "i",
                    "shard": 0,
                    "node": gone,
                    "accept_data_loss": True,
                }
            }
        ]
    }
    out = table(_run(s, body))
    p = out.primary()
    assert p is not None and p.state == INITIALIZING
    assert p.allocation_id == lost.unassigned.last_allocation_id
    assert out.in_sync == frozenset({p.allocation_id})


def test_allocate_replica_obeys_the_deciders_and_explain_reports() -> None:
    s = settle(state(index("i", replicas=3)), THREE)
    holder = next(c for c in table(s).copies if c.assigned)
    name = next(n.name for n in THREE if n.id == holder.node_id)
    body = {"commands": [{"allocate_replica": {"index": "i", "shard": 0, "node": name}}]}
    with pytest.raises(IllegalArgumentError, match=r"is not allowed, reason: \[same_shard\]"):
        _run(s, body)
    out = run_commands(s, nodes(*THREE), parse_commands(body), 0, explain=True, new_id=ids())
    (explained,) = out.explanations
    assert explained["command"] == "allocate_replica"
    assert explained["decisions"][0]["decision"] == "NO"
    with pytest.raises(IndexNotFoundError):
        _run(s, {"commands": [{"allocate_replica": {"index": "x", "shard": 0, "node": name}}]})


def test_move_unknown_and_malformed_commands() -> None:
    s = settle(state(index("i")), THREE)
    with pytest.raises(IllegalArgumentError, match=r"^\[cancel\] shards are never relocated"):
        _run(s, {"commands": [{"cancel": {"index": "i", "shard": 0, "node": "node-1"}}]})
    with pytest.raises(IllegalArgumentError, match=r"unknown allocation command \[jump\]"):
        parse_commands({"commands": [{"jump": {}}]})
    with pytest.raises(XContentParseError, match=r"failed to parse field \[commands\]"):
        parse_commands({"commands": [{"cancel": {"index": "i", "shard": 0}}]})
    with pytest.raises(IllegalArgumentError, match="already assigned"):
        _run(
            s,
            {
                "commands": [
                    {"allocate_empty_primary": {"index": "i", "shard": 0, "node": "node-1"}}
                ]
            },
        )


def test_retry_failed_lets_max_retry_allocate_again() -> None:
    s = reroute(
        state(index("i", replicas=0, settings={"index.allocation.max_retries": "1"})),
        THREE,
        0,
        handle_departures=True,
        new_id=ids(),
    )
    p = table(s).primary()
    assert p is not None and p.allocation_id is not None
    s = reroute(
        shard_failed(s, "i-uuid", 0, p.allocation_id, 0, "boom", 1),
        THREE,
        2,
        handle_departures=True,
    )
    stuck = table(s).primary()
    assert stuck is not None and stuck.state == UNASSIGNED
    retried = reroute(retry_failed(s), THREE, 3, handle_departures=True, new_id=ids())
    again = table(retried).primary()
    assert again is not None and again.state == INITIALIZING
    assert retry_failed(retried) is retried


def test_reroute_body_dry_run_unknown_fields_and_move_cancel_fields() -> None:
    # ES's "cluster_reroute" object parser: commands and dry_run (the body's dry_run was
    # ignored, so a dry run executed), any other key a 400 x_content_parse_exception.
    request = parse_request({"dry_run": True, "commands": []})
    assert (request.dry_run, request.commands) == (True, [])
    assert parse_request({}).dry_run is None
    with pytest.raises(XContentParseError) as err:
        parse_request({"commands": [], "foo": 1})
    assert err.value.reason == "[cluster_reroute] unknown field [foo]"
    with pytest.raises(XContentParseError, match=r"failed to parse field \[dry_run\]"):
        parse_request({"dry_run": "maybe"})
    # move reads ES's from_node/to_node (it asked for a "node"), then is refused as before.
    s = settle(state(index("i")), THREE)
    body = {
        "commands": [
            {"move": {"index": "i", "shard": 0, "from_node": "node-1", "to_node": "node-2"}}
        ]
    }
    (move,) = parse_commands(body)
    assert move.parameters() == {
        "index": "i",
        "shard": 0,
        "from_node": "node-1",
        "to_node": "node-2",
    }
    with pytest.raises(IllegalArgumentError, match=r"^\[move\] shards are never relocated"):
        _run(s, body)
    cancel = {"cancel": {"index": "i", "shard": 0, "node": "node-1", "allow_primary": True}}
    (parsed,) = parse_commands({"commands": [cancel]})
    assert parsed.parameters()["allow_primary"] is True
    with pytest.raises(XContentParseError) as err:
        parse_commands({"commands": [{"move": {"index": "i", "shard": 0, "from_node": "a"}}]})
    assert err.value.reason == "[cluster_reroute] failed to parse field [commands]"
    assert err.value.caused_by is not None
    assert err.value.caused_by.reason == "[move] command missing the to_node parameter"
    with pytest.raises(XContentParseError) as err:
        parse_commands({"commands": [{"cancel": {"index": "i", "shard": 0, "nodes": "a"}}]})
    assert err.value.caused_by is not None
    assert err.value.caused_by.reason == "[cancel] command does not support field [nodes]"
