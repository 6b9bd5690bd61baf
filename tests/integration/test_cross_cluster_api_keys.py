"""Cross-cluster API keys over REST, driven with the official client: create, get and query,
update, ES's validation errors, the wrong-type 401, and who may manage them."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess

USERS = {
    "sec_admin": ("sec-admin-pw", "manage_security_role", ["manage_security"]),
    "key_admin": ("key-admin-pw", "manage_api_key_role", ["manage_api_key"]),
    "own_keys": ("own-keys-pw", "manage_own_api_key_role", ["manage_own_api_key"]),
}
SEARCH = ["read", "read_cross_cluster", "view_index_metadata"]
REPLICATION = ["cross_cluster_replication", "cross_cluster_replication_internal"]


def _elastic_password(node: NodeProcess) -> str:
    text = (node.home / "stderr.log").read_text()
    line = next(li for li in text.splitlines() if "password for the [elastic] user" in li)
    return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def secure(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[tuple[NodeProcess, str]]:
    node = NodeProcess(
        tmp_path_factory.mktemp("cross-cluster-keys"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    node.start()
    password = _elastic_password(node)
    record_secret(password)
    for user_password, _, _ in USERS.values():
        record_secret(user_password)
    yield node, password
    node.stop()


@pytest.fixture(scope="module")
def admin(secure: tuple[NodeProcess, str]) -> Iterator[Elasticsearch]:
    node, password = secure
    client = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
    for username, (user_password, role, cluster) in USERS.items():
        client.security.put_role(name=role, cluster=cluster)
        client.security.put_user(username=username, password=user_password, roles=[role])
    yield client
    client.close()


@pytest.fixture
def keys(
    secure: tuple[NodeProcess, str], admin: Elasticsearch, record_secret: Callable[[str], None]
) -> Callable[..., dict[str, Any]]:
    """Create a cross-cluster key as ``sec_admin`` (or ``user``) and register its secrets."""

    def create(user: str = "sec_admin", **body: Any) -> dict[str, Any]:
        key: dict[str, Any] = dict(_as(secure, user).security.create_cross_cluster_api_key(**body))
        record_secret(key["api_key"])
        record_secret(key["encoded"])
        return key

    return create


def _as(secure: tuple[NodeProcess, str], user: str) -> Elasticsearch:
    node, password = secure
    secret = password if user == "elastic" else USERS[user][0]
    return Elasticsearch(node.url, basic_auth=(user, secret), request_timeout=30)


def _error(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    try:
        call()
    except ApiError as exc:
        return exc.meta.status, exc.body["error"]
    raise AssertionError("expected an error")


def _get(admin: Elasticsearch, key_id: str) -> dict[str, Any]:
    found = admin.security.get_api_key(id=key_id, with_limited_by=True)["api_keys"]
    assert len(found) == 1
    return dict(found[0])


def _descriptor(cluster: list[str], indices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cross_cluster": {
            "cluster": cluster,
            "indices": indices,
            "applications": [],
            "run_as": [],
            "metadata": {},
            "transient_metadata": {"enabled": True},
        }
    }


def test_create_search_only_key(admin: Elasticsearch, keys: Callable[..., dict[str, Any]]) -> None:
    key = keys(
        name="cc-search",
        access={"search": [{"names": ["logs-*"]}]},
        expiration="7d",
        metadata={"tag": "shared", "points": 0},
    )
    assert list(key) == ["id", "name", "expiration", "api_key", "encoded"]
    assert key["name"] == "cc-search" and len(key["api_key"]) == 22
    assert base64.b64decode(key["encoded"]).decode() == f"{key['id']}:{key['api_key']}"
    shown = _get(admin, key["id"])
    assert shown["type"] == "cross_cluster"
    assert shown["username"] == "sec_admin" and shown["realm"] == "default_native"
    assert shown["metadata"] == {"tag": "shared", "points": 0}
    assert shown["expiration"] == key["expiration"]
    assert shown["access"] == {"search": [{"names": ["logs-*"], "allow_restricted_indices": False}]}
    assert shown["role_descriptors"] == _descriptor(
        ["cross_cluster_search", "monitor_enrich"],
        [{"names": ["logs-*"], "privileges": SEARCH, "allow_restricted_indices": False}],
    )
    assert "limited_by" not in shown  # even with with_limited_by
    assert "api_key" not in shown and "hash" not in shown


def test_create_replication_only_and_both(
    admin: Elasticsearch, keys: Callable[..., dict[str, Any]]
) -> None:
    replication = keys(
        name="cc-replication",
        access={"replication": [{"names": ["leader-*"], "allow_restricted_indices": True}]},
    )
    assert "expiration" not in replication
    shown = _get(admin, replication["id"])
    assert shown["role_descriptors"] == _descriptor(
        ["cross_cluster_replication"],
        [{"names": ["leader-*"], "privileges": REPLICATION, "allow_restricted_indices": True}],
    )
    assert shown["access"] == {
        "replication": [{"names": ["leader-*"], "allow_restricted_indices": True}]
    }
    both = keys(
        name="cc-both",
        access={"search": [{"names": ["metrics"]}], "replication": [{"names": ["archive"]}]},
    )
    shown = _get(admin, both["id"])
    descriptor = shown["role_descriptors"]["cross_cluster"]
    assert descriptor["cluster"] == [
        "cross_cluster_search",
        "monitor_enrich",
        "cross_cluster_replication",
    ]
    assert [i["privileges"] for i in descriptor["indices"]] == [SEARCH, REPLICATION]
    assert set(shown["access"]) == {"search", "replication"}


def test_search_access_with_dls_and_fls(
    admin: Elasticsearch, keys: Callable[..., dict[str, Any]]
) -> None:
    key = keys(
        name="cc-dls-fls",
        access={
            "search": [
                {"names": ["metrics"], "query": {"term": {"tag": 42}}},
                {"names": ["logs"], "field_security": {"grant": ["*"], "except": ["private"]}},
            ]
        },
    )
    shown = _get(admin, key["id"])
    indices = shown["role_descriptors"]["cross_cluster"]["indices"]
    assert indices[0]["query"] == '{"term":{"tag":42}}'  # stored as a string, as in ES
    assert indices[1]["field_security"] == {"grant": ["*"], "except": ["private"]}
    assert shown["access"] == {
        "search": [
            {
                "names": ["metrics"],
                "query": '{"term":{"tag":42}}',
                "allow_restricted_indices": False,
            },
            {
                "names": ["logs"],
                "field_security": {"grant": ["*"], "except": ["private"]},
                "allow_restricted_indices": False,
            },
        ]
    }


def test_query_api_keys_by_type(
    secure: tuple[NodeProcess, str],
    admin: Elasticsearch,
    keys: Callable[..., dict[str, Any]],
    record_secret: Callable[[str], None],
) -> None:
    cross = keys(name="cc-queried", access={"search": [{"names": ["q"]}]})
    rest = admin.security.create_api_key(name="rest-queried")
    record_secret(rest["api_key"])
    record_secret(rest["encoded"])
    key_admin = _as(secure, "key_admin")  # manage_api_key sees every key
    found = key_admin.security.query_api_keys(query={"term": {"type": "cross_cluster"}}, size=100)
    ids = {k["id"] for k in found["api_keys"]}
    assert cross["id"] in ids and rest["id"] not in ids
    assert all(k["type"] == "cross_cluster" and "access" in k for k in found["api_keys"])
    found = key_admin.security.query_api_keys(query={"term": {"type": "rest"}}, size=100)
    ids = {k["id"] for k in found["api_keys"]}
    assert rest["id"] in ids and cross["id"] not in ids
    assert all("access" not in k for k in found["api_keys"])


def test_update_access_metadata_and_noop(
    secure: tuple[NodeProcess, str], admin: Elasticsearch, keys: Callable[..., dict[str, Any]]
) -> None:
    key = keys(name="cc-updated", access={"search": [{"names": ["metrics"]}]})
    owner = _as(secure, "sec_admin").security
    updated = owner.update_cross_cluster_api_key(
        id=key["id"],
        access={"search": [{"names": ["data"]}], "replication": [{"names": ["logs"]}]},
        metadata={"tag": "shared", "points": 0},
        expiration="30d",
    )
    assert updated.body == {"updated": True}
    shown = _get(admin, key["id"])
    assert shown["access"] == {
        "search": [{"names": ["data"], "allow_restricted_indices": False}],
        "replication": [{"names": ["logs"], "allow_restricted_indices": False}],
    }
    assert shown["metadata"] == {"tag": "shared", "points": 0}
    assert "expiration" in shown
    assert owner.update_cross_cluster_api_key(id=key["id"], body={"metadata": {"env": "prod"}})[
        "updated"
    ]
    assert _get(admin, key["id"])["access"] == shown["access"]  # access untouched
    assert owner.update_cross_cluster_api_key(
        id=key["id"], access={"search": [{"names": ["blogs"]}]}
    )["updated"]
    shown = _get(admin, key["id"])
    assert shown["role_descriptors"]["cross_cluster"]["cluster"] == [
        "cross_cluster_search",
        "monitor_enrich",
    ]
    assert shown["metadata"] == {"env": "prod"}
    # The access GET shows is valid input, and giving it back changes nothing.
    again = owner.update_cross_cluster_api_key(
        id=key["id"], access=shown["access"], metadata={"env": "prod"}
    )
    assert again.body == {"updated": False}


def _create_error(
    secure: tuple[NodeProcess, str], body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    client = _as(secure, "sec_admin")
    return _error(lambda: client.security.create_cross_cluster_api_key(body=body))


@pytest.mark.parametrize(
    ("body", "kind", "reason", "cause"),
    [
        ({"name": "k"}, "illegal_argument_exception", "Required [access]", None),
        (
            {"access": {"search": [{"names": ["logs"]}]}},
            "illegal_argument_exception",
            "Required [name]",
            None,
        ),
        (
            {"name": "k", "access": None},
            "x_content_parse_exception",
            "[cross_cluster_api_key_request] access doesn't support values of type: VALUE_NULL",
            None,
        ),
        (
            {"name": "k", "access": {"search": []}},
            "x_content_parse_exception",
            "Failed to build [cross_cluster_api_key_request] after last required field arrived",
            "must specify non-empty access for either [search] or [replication]",
        ),
        (
            {
                "name": "k",
                "access": {"replication": [{"names": ["l"], "query": {"term": {"a": 1}}}]},
            },
            "x_content_parse_exception",
            "Failed to build [cross_cluster_api_key_request] after last required field arrived",
            "replication does not support document or field level security",
        ),
        (
            {
                "name": "k",
                "access": {
                    "search": [{"names": ["l"], "field_security": {"grant": ["a"]}}],
                    "replication": [{"names": ["l"]}],
                },
            },
            "x_content_parse_exception",
            "Failed to build [cross_cluster_api_key_request] after last required field arrived",
            "search does not support document or field level security if replication is assigned",
        ),
        (
            {"name": "k", "access": {"search": [{"names": ["l"], "privileges": ["read"]}]}},
            "x_content_parse_exception",
            "[cross_cluster_api_key_request] failed to parse field [access]",
            "[cross_cluster_api_key_request_access] failed to parse field [search]",
        ),
        (
            {"name": "k", "access": {"search": [{"names": ["l"]}]}, "role_descriptors": {}},
            "x_content_parse_exception",
            "[cross_cluster_api_key_request] unknown field [role_descriptors]",
            None,
        ),
        (
            {"name": "_k", "access": {"search": [{"names": ["l"]}]}},
            "action_request_validation_exception",
            "Validation Failed: 1: api key name may not begin with an underscore;",
            None,
        ),
    ],
)
def test_invalid_create_bodies(
    secure: tuple[NodeProcess, str],
    admin: Elasticsearch,
    body: dict[str, Any],
    kind: str,
    reason: str,
    cause: str | None,
) -> None:
    status, error = _create_error(secure, body)
    assert status == 400
    assert (error["type"], error["reason"]) == (kind, reason)
    assert (error.get("caused_by") or {}).get("reason") == cause


def test_explicit_privileges_are_refused_with_es_text(
    secure: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    body = {"name": "k", "access": {"replication": [{"names": ["l"], "privileges": ["read"]}]}}
    status, error = _create_error(secure, body)
    assert status == 400
    assert error["root_cause"] == [
        {
            "type": "parse_exception",
            "reason": "failed to parse indices privileges for role [cross_cluster]. field "
            "[privileges] must not present",
        }
    ]


def test_invalid_updates(
    secure: tuple[NodeProcess, str],
    admin: Elasticsearch,
    keys: Callable[..., dict[str, Any]],
    record_secret: Callable[[str], None],
) -> None:
    key = keys(name="cc-update-errors", access={"search": [{"names": ["metrics"]}]})
    client = _as(secure, "sec_admin")
    status, error = _error(
        lambda: client.perform_request(
            "PUT",
            f"/_security/cross_cluster/api_key/{key['id']}",
            headers={"accept": "application/json"},
        )
    )
    assert (status, error["reason"]) == (400, "request body is required")
    status, error = _error(
        lambda: client.security.update_cross_cluster_api_key(id=key["id"], body={})
    )
    assert (status, error["type"], error["reason"]) == (
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: must update either [access] or [metadata] for cross-cluster API "
        "keys;",
    )
    status, error = _error(
        lambda: client.security.update_cross_cluster_api_key(id=key["id"], access={})
    )
    assert (status, error["type"], error["reason"]) == (
        400,
        "illegal_argument_exception",
        "must specify non-empty access for either [search] or [replication]",
    )
    # Each API updates its own type of key only.
    status, error = _error(lambda: client.security.update_api_key(id=key["id"], metadata={}))
    assert (status, error["reason"]) == (
        400,
        "cannot update API key of type [cross_cluster] while expected type is [rest]",
    )
    rest = client.security.create_api_key(name="rest-key")
    record_secret(rest["api_key"])
    record_secret(rest["encoded"])
    status, error = _error(
        lambda: client.security.update_cross_cluster_api_key(id=rest["id"], body={"metadata": {}})
    )
    assert (status, error["reason"]) == (
        400,
        "cannot update API key of type [rest] while expected type is [cross_cluster]",
    )
    # Only the owner updates, and not through an API key.
    status, error = _error(
        lambda: admin.security.update_cross_cluster_api_key(id=key["id"], body={"metadata": {}})
    )
    assert (status, error["reason"]) == (
        404,
        f"no API key owned by requesting user found for ID [{key['id']}]",
    )
    node, _ = secure
    by_key = Elasticsearch(node.url, api_key=rest["encoded"], request_timeout=30)
    status, error = _error(
        lambda: by_key.security.update_cross_cluster_api_key(id=key["id"], body={"metadata": {}})
    )
    assert (status, error["reason"]) == (
        400,
        "authentication via API key not supported: only the owner user can update an API key",
    )


def test_cross_cluster_key_is_refused_on_rest(
    secure: tuple[NodeProcess, str], keys: Callable[..., dict[str, Any]]
) -> None:
    key = keys(name="cc-rest-use", access={"search": [{"names": ["logs"]}]})
    node, _ = secure
    client = Elasticsearch(node.url, api_key=key["encoded"], request_timeout=30)
    status, error = _error(lambda: client.security.authenticate())
    assert status == 401
    assert error["type"] == "security_exception"
    assert error["reason"] == (
        f"authentication expected API key type of [rest], but API key [{key['id']}] has type "
        "[cross_cluster]"
    )


def test_only_manage_security_manages_cross_cluster_keys(
    secure: tuple[NodeProcess, str],
    admin: Elasticsearch,
    keys: Callable[..., dict[str, Any]],
    record_secret: Callable[[str], None],
) -> None:
    access = {"search": [{"names": ["logs"]}]}
    for user, role in (
        ("key_admin", "manage_api_key_role"),
        ("own_keys", "manage_own_api_key_role"),
    ):
        status, error = _error(
            partial(
                _as(secure, user).security.create_cross_cluster_api_key, name="nope", access=access
            )
        )
        assert status == 403
        assert error["reason"] == (
            "action [cluster:admin/xpack/security/cross_cluster/api_key/create] is unauthorized "
            f"for user [{user}] with effective roles [{role}], this action is granted by the "
            "cluster privileges [manage_security,all]"
        )
    key = keys(name="cc-managed", access=access)
    key_admin = _as(secure, "key_admin")
    status, error = _error(
        lambda: key_admin.security.update_cross_cluster_api_key(id=key["id"], body={"metadata": {}})
    )
    assert status == 403
    assert error["reason"].startswith(
        "action [cluster:admin/xpack/security/cross_cluster/api_key/update] is unauthorized"
    )
    # manage_api_key may invalidate REST keys but not cross-cluster ones.
    rest = key_admin.security.create_api_key(name="rest-of-key-admin")
    record_secret(rest["api_key"])
    record_secret(rest["encoded"])
    result = key_admin.security.invalidate_api_key(ids=[key["id"], rest["id"]]).body
    assert result["invalidated_api_keys"] == [rest["id"]]
    assert result["error_count"] == 1
    assert result["error_details"] == [
        {
            "type": "security_exception",
            "reason": f"Cannot invalidate cross-cluster API key [{key['id']}]. This requires "
            "[manage_security] cluster privilege or higher",
        }
    ]
    result = _as(secure, "sec_admin").security.invalidate_api_key(ids=[key["id"]]).body
    assert result["invalidated_api_keys"] == [key["id"]] and result["error_count"] == 0


def test_an_api_key_cannot_create_a_cross_cluster_key(
    secure: tuple[NodeProcess, str], admin: Elasticsearch, record_secret: Callable[[str], None]
) -> None:
    rest = admin.security.create_api_key(name="deriving")
    record_secret(rest["api_key"])
    record_secret(rest["encoded"])
    node, _ = secure
    client = Elasticsearch(node.url, api_key=rest["encoded"], request_timeout=30)
    status, error = _error(
        lambda: client.security.create_cross_cluster_api_key(
            name="derived", access={"replication": [{"names": ["logs"]}]}
        )
    )
    assert (status, error["reason"]) == (
        400,
        "authentication via API key not supported: An API key cannot be used to create a "
        "cross-cluster API key",
    )


def test_no_key_secret_reaches_the_logs(
    secure: tuple[NodeProcess, str], keys: Callable[..., dict[str, Any]]
) -> None:
    key = keys(name="cc-log-scan", access={"search": [{"names": ["logs"]}]})
    node, _ = secure
    logs = node.log_text() + (node.home / "logs" / "test-cluster_server.json").read_text()
    assert key["api_key"] not in logs and key["encoded"] not in logs
