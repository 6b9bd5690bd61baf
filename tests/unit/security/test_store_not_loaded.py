"""A node of a multi-node cluster authenticates nobody from its own copy of the security
documents until it has read the cluster's (a key invalidated while it was down must not pass):
ES answers so while its security index is unavailable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from isthmus.errors import AuthenticationError
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.service import SecurityService
from isthmus.security.store import SecurityStore
from tests.unit.security.test_cross_cluster_access import ELASTIC


@pytest.fixture
def service(tmp_path: Path) -> SecurityService:
    return SecurityService(SecurityStore(tmp_path / "state"), clock=lambda: 1_000_000.0)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_users_and_keys_wait_for_the_clusters_documents(service: SecurityService) -> None:
    service.put_user("alice", {"password": "alice-secret-1", "roles": []})
    key = service.create_cross_cluster_api_key(
        ELASTIC, ccx.parse_create({"name": "cc", "access": {"search": [{"names": ["x"]}]}})
    )
    assert service.authenticate(_basic("alice", "alice-secret-1"), "REST request [/]").username
    service.store.loaded = False  # what a multi-node node's copy is until its first read
    with pytest.raises(AuthenticationError) as user_err:
        service.authenticate(_basic("alice", "alice-secret-1"), "REST request [/]")
    assert user_err.value.reason == "unable to authenticate user [alice] for REST request [/]"
    with pytest.raises(AuthenticationError) as key_err:
        service.authenticate_cross_cluster_api_key(f"ApiKey {key['encoded']}")
    assert "security index is unavailable" in str(key_err.value.extra)
    service.store.loaded = True
    assert service.authenticate(_basic("alice", "alice-secret-1"), "REST request [/]").username
