"""The actions nodes of one cluster send each other run only as the system identity: a user's
identity on the transport (a certificate-model peer, say), or no identity at all, is refused
before their handlers, which trust the request (the coordinating node authorized the user)."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.errors import SecurityError
from isthmus.security.authz import Authorizer
from isthmus.security.service import SecurityService
from isthmus.security.store import SecurityStore
from isthmus.security.transport_filter import (
    AUTHENTICATION_HEADER,
    SYSTEM,
    TransportFilter,
    TransportIdentity,
)
from isthmus.wire.names import (
    BULK_REPLICA_ACTION,
    CCR_INTRA_CLUSTER_ACTIONS,
    NODE_READ_ACTIONS,
    PUBLISH_CHANGE_ACTION,
    SHARD_COPY_ACTIONS,
)

EVERY = sorted(
    {PUBLISH_CHANGE_ACTION, *CCR_INTRA_CLUSTER_ACTIONS, *NODE_READ_ACTIONS, *SHARD_COPY_ACTIONS}
)


@pytest.fixture
def gate(tmp_path: Path) -> TransportFilter:
    service = SecurityService(SecurityStore(tmp_path / "state"), clock=lambda: 1_000_000.0)
    return TransportFilter(service, Authorizer())


@pytest.mark.parametrize("action", EVERY)
def test_only_the_system_runs_node_to_node_actions(gate: TransportFilter, action: str) -> None:
    assert gate.subject(action, SYSTEM.header()) is None  # the system: allowed
    superuser = TransportIdentity("elastic", ("superuser",))
    with pytest.raises(SecurityError) as user:
        gate.subject(action, {AUTHENTICATION_HEADER: superuser.encode()})
    assert user.value.reason == f"action [{action}] is unauthorized for user [elastic]"
    with pytest.raises(SecurityError):
        gate.subject(action, {})


def test_the_replica_write_is_among_them() -> None:
    assert BULK_REPLICA_ACTION in EVERY
