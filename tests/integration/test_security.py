"""Authentication and authorization with security on, driven with the official client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, Elasticsearch

from isthmus.testing.process import NodeProcess


def _elastic_password(node: NodeProcess) -> str:
    text = (node.home / "stderr.log").read_text()
    line = next(li for li in text.splitlines() if "password for the [elastic] user" in li)
    return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def secure(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[tuple[NodeProcess, str]]:
    node = NodeProcess(
        tmp_path_factory.mktemp("secure"),
        {
            "xpack.security.enabled": True,
            "xpack.security.authc.anonymous.roles": [],
        },
    )
    node.start()
    password = _elastic_password(node)
    for secret in (password, "bob-secret", "carol-pw"):
        record_secret(secret)
    yield node, password
    node.stop()


@pytest.fixture(scope="module")
def admin(secure: tuple[NodeProcess, str]) -> Iterator[Elasticsearch]:
    node, password = secure
    client = Elasticsearch(node.url, basic_auth=("elastic", password))
    client.indices.create(index="logs-1")
    client.indices.create(index="logs-2")
    client.indices.create(index="secret")
    for index in ("logs-1", "logs-2", "secret"):
        client.index(index=index, id="1", document={"msg": f"in {index}"}, refresh=True)
    client.security.put_role(
        name="logs_reader", indices=[{"names": ["logs-*"], "privileges": ["read"]}]
    )
    client.security.put_user(username="bob", password="bob-secret", roles=["logs_reader"])
    yield client
    client.close()


def _error(call: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        call()
    except ApiError as exc:
        return exc.meta.status, exc.body, dict(exc.meta.headers)
    raise AssertionError("expected an error")


def test_missing_credentials_is_401_with_challenge(secure: tuple[NodeProcess, str]) -> None:
    node, _ = secure
    status, body, headers = _error(lambda: Elasticsearch(node.url).info())
    assert status == 401
    assert body["error"]["type"] == "security_exception"
    assert body["error"]["reason"] == "missing authentication credentials for REST request [/]"
    assert 'Basic realm="security"' in headers["www-authenticate"]
    assert "ApiKey" in headers["www-authenticate"]


def test_wrong_password_is_401(secure: tuple[NodeProcess, str]) -> None:
    node, _ = secure
    client = Elasticsearch(node.url, basic_auth=("elastic", "not-it"))
    with pytest.raises(AuthenticationException) as info:
        client.info()
    assert info.value.body["error"]["reason"] == (
        "unable to authenticate user [elastic] for REST request [/]"
    )


def test_authenticate_reports_the_user(admin: Elasticsearch) -> None:
    me = admin.security.authenticate()
    assert me["username"] == "elastic"
    assert me["roles"] == ["superuser"]
    assert me["authentication_type"] == "realm"


def test_role_limits_indices_and_wildcards_narrow(
    secure: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    node, _ = secure
    bob = Elasticsearch(node.url, basic_auth=("bob", "bob-secret"))
    # A wildcard expands only to what bob may read: the secret index is silently left out.
    assert bob.count(index="*")["count"] == 2
    assert bob.search()["hits"]["total"]["value"] == 2
    with pytest.raises(AuthorizationException) as info:
        bob.search(index="secret")
    assert info.value.body["error"]["reason"] == (
        "action [indices:data/read/search] is unauthorized for user [bob] with effective roles "
        "[logs_reader] on indices [secret], this action is granted by the index privileges "
        "[read,all]"
    )
    with pytest.raises(AuthorizationException) as cluster_denied:
        bob.cluster.put_settings(persistent={"search.max_buckets": 100})
    assert cluster_denied.value.body["error"]["reason"] == (
        "action [cluster:admin/settings/update] is unauthorized for user [bob] with effective "
        "roles [logs_reader], this action is granted by the cluster privileges [manage,all]"
    )
    # Read-only: writing is refused per bulk item, the others still run.
    result = bob.bulk(operations=[{"index": {"_index": "logs-1", "_id": "2"}}, {"m": 1}])
    assert result["errors"] is True
    assert result["items"][0]["index"]["status"] == 403


def test_api_key_lifecycle_and_limits(
    secure: tuple[NodeProcess, str], admin: Elasticsearch, record_secret: Callable[[str], None]
) -> None:
    node, _ = secure
    key = admin.security.create_api_key(
        name="only-logs-1",
        role_descriptors={"r": {"indices": [{"names": ["logs-1"], "privileges": ["read"]}]}},
    )
    record_secret(key["api_key"])
    record_secret(key["encoded"])
    assert set(key) >= {"id", "name", "api_key", "encoded"}
    assert len(key["api_key"]) == 22
    client = Elasticsearch(node.url, api_key=key["encoded"])
    assert client.count(index="logs-*")["count"] == 1  # the key narrows the owner's superuser
    with pytest.raises(AuthorizationException) as info:
        client.count(index="secret")
    assert f"API key id [{key['id']}] of user [elastic]" in info.value.body["error"]["reason"]
    listed = admin.security.get_api_key(name="only-logs-1")["api_keys"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert listed[0]["type"] == "rest" and listed[0]["invalidated"] is False
    assert "api_key" not in listed[0] and "hash" not in listed[0]
    invalidated = admin.security.invalidate_api_key(ids=[key["id"]])
    assert invalidated["invalidated_api_keys"] == [key["id"]]
    with pytest.raises(AuthenticationException) as gone:
        client.count(index="logs-*")
    assert gone.value.body["error"]["additional_unsuccessful_credentials"] == (
        "API key: api key has been invalidated"
    )


def test_expired_and_bogus_keys_are_401(
    secure: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    node, _ = secure
    key = admin.security.create_api_key(name="short", expiration="1s")
    assert "expiration" in key
    time.sleep(1.2)
    with pytest.raises(AuthenticationException) as expired:
        Elasticsearch(node.url, api_key=key["encoded"]).info()
    assert expired.value.body["error"]["additional_unsuccessful_credentials"] == (
        "API key: api key is expired"
    )
    with pytest.raises(AuthenticationException) as bogus:
        Elasticsearch(node.url, api_key=("nosuchid", "whatever")).info()
    assert (
        "unable to find apikey with id nosuchid"
        in (bogus.value.body["error"]["additional_unsuccessful_credentials"])
    )


def test_has_privileges_and_own_privileges(
    secure: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    node, _ = secure
    bob = Elasticsearch(node.url, basic_auth=("bob", "bob-secret"))
    answer = bob.security.has_privileges(
        cluster=["monitor"], index=[{"names": ["logs-1", "secret"], "privileges": ["read"]}]
    )
    assert answer["has_all_requested"] is False
    assert answer["cluster"] == {"monitor": False}
    assert answer["index"] == {"logs-1": {"read": True}, "secret": {"read": False}}
    own = bob.security.get_user_privileges()
    assert own["indices"][0]["names"] == ["logs-*"]


def test_users_and_roles_crud(admin: Elasticsearch) -> None:
    assert admin.security.put_user(username="carol", password="carol-pw", roles=["viewer"])[
        "created"
    ]
    assert admin.security.get_user(username="carol")["carol"]["roles"] == ["viewer"]
    status, body, _ = _error(lambda: admin.security.put_user(username="dan", password="123"))
    assert status == 400
    assert "passwords must be at least [6] characters long" in body["error"]["reason"]
    assert admin.security.delete_user(username="carol")["found"] is True
    assert "superuser" in admin.security.get_role()
    status, body, _ = _error(lambda: admin.security.delete_role(name="superuser"))
    assert status == 400


def test_no_secret_reaches_the_logs(secure: tuple[NodeProcess, str], admin: Elasticsearch) -> None:
    node, password = secure
    key = admin.security.create_api_key(name="log-scan")
    logs = node.log_text() + (node.home / "logs" / "test-cluster_server.json").read_text()
    for secret in (password, "bob-secret", key["api_key"]):
        assert secret not in logs


def test_security_off_runs_without_authentication(tmp_path: Path) -> None:
    with NodeProcess(tmp_path / "open") as node:
        assert Elasticsearch(node.url).info()["tagline"] == "You Know, for Search"
        assert "security is disabled" in node.log_text()


def test_anonymous_access_uses_its_roles(tmp_path: Path) -> None:
    node = NodeProcess(
        tmp_path / "anon",
        {
            "xpack.security.enabled": True,
            "xpack.security.authc.anonymous.username": "anonymous_foo",
            "xpack.security.authc.anonymous.roles": ["viewer"],
        },
    )
    with node:
        anonymous = Elasticsearch(node.url)
        assert anonymous.security.authenticate()["username"] == "anonymous_foo"
        assert anonymous.search(index="*")["hits"]["total"]["value"] == 0
        with pytest.raises(AuthorizationException) as info:
            anonymous.indices.create(index="nope")
        assert info.value.body["error"]["reason"].startswith(
            "action [indices:admin/create] is unauthorized for user [anonymous_foo]"
        )


def test_run_as_takes_the_target_users_permissions(
    secure: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    node, _ = secure
    as_bob = admin.options(headers={"es-security-runas-user": "bob"})
    me = as_bob.security.authenticate()
    assert me["username"] == "bob"
    assert me["authentication_realm"]["name"] == "reserved"  # elastic authenticated
    assert me["lookup_realm"]["name"] == "default_native"
    assert as_bob.count(index="*")["count"] == 2  # bob's view, not the superuser's
    bob = Elasticsearch(node.url, basic_auth=("bob", "bob-secret"))
    with pytest.raises(AuthorizationException) as info:
        bob.options(headers={"es-security-runas-user": "elastic"}).info()
    assert info.value.body["error"]["reason"] == (
        "action [cluster:monitor/main] is unauthorized for user [bob] with effective roles "
        "[logs_reader], because user [bob] is unauthorized to run as [elastic]"
    )


def test_colon_expressions_cannot_smuggle_local_indices(
    secure: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    """``secre*[t:]`` looked remote to authorization and like a pattern to resolution."""
    node, _ = secure
    bob = Elasticsearch(node.url, basic_auth=("bob", "bob-secret"))
    status, body, _ = _error(lambda: bob.indices.get_mapping(index="secre*[t:]"))
    assert status == 400
    assert body["error"]["reason"] == (
        "Cross-cluster calls are not supported in this context but remote indices were "
        "requested: [secre*[t:]]"
    )
    status, _, _ = _error(lambda: bob.indices.close(index="secre*[t:]"))
    assert status == 400
    assert (
        admin.indices.get(index="secret")["secret"]["settings"]["index"].get(
            "verified_before_close"
        )
        is None
    )
    # In a search the part names a remote cluster pattern, which matches no alias.
    found = bob.search(index="logs-1,secre*[t:]").body
    assert {h["_index"] for h in found["hits"]["hits"]} == {"logs-1"}
    # and brackets are literal in local patterns
    assert (
        admin.count(index="secre[t]*", ignore_unavailable=True, allow_no_indices=True)["count"] == 0
    )
