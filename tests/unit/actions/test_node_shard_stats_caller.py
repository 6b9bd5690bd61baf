"""``indices:monitor/stats[n]`` answers the nodes of its own cluster only: they send it as the
system (no caller). The action name is on the remote cluster server's allowlist, so a
cross-cluster API key (any subject) must be refused, not answered with any index's copies."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from isthmus.actions.node_shard_stats import CopyStatsGather
from isthmus.errors import SecurityError
from isthmus.index.service import IndicesService
from isthmus.security.authz import Subject
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import NODE_STATS_ACTION


def _handler(tmp_path: Path) -> Any:
    channels = SimpleNamespace(cluster_name="victim")
    gather = CopyStatsGather(channels, IndicesService(tmp_path), lambda: "n1")  # type: ignore[arg-type]
    registry: ActionRegistry[Subject] = ActionRegistry()
    gather.register(registry)
    return registry.handler(NODE_STATS_ACTION)


def _ctx(caller: Subject | None) -> TransportRequestContext[Subject]:
    return TransportRequestContext(NODE_STATS_ACTION, {}, SimpleNamespace(), caller)  # type: ignore[arg-type]


PAYLOAD = {"cluster_name": "victim", "index_uuids": ["u"], "history": True}


async def test_a_subject_other_than_the_system_is_refused(tmp_path: Path) -> None:
    key = Subject("cross-cluster-key", (), ())
    with pytest.raises(SecurityError, match=r"is unauthorized for user \[cross-cluster-key\]"):
        await _handler(tmp_path)(PAYLOAD, _ctx(key))


async def test_the_system_of_the_same_cluster_is_answered(tmp_path: Path) -> None:
    assert await _handler(tmp_path)(PAYLOAD, _ctx(None)) == {"copies": []}
