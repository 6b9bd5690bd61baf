"""Issue 14's authorization holes, each reproduced as the attacker would try it.

A restricted user (``mal``: read and manage on ``pub-*``, ``manage_own_api_key``), its API keys
and the superuser, against one secured node with the official client. Every test here failed on
the code before the fix: body-named indices (``_aliases``, index creation with aliases), an API
key taking over its owner's account or keys, and scroll contexts used or cleared by someone else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import elastic_password


def _error(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    try:
        call()
    except ApiError as exc:
        return exc.meta.status, exc.body
    raise AssertionError("expected an error")


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[tuple[NodeProcess, Elasticsearch]]:
    node = NodeProcess(
        tmp_path_factory.mktemp("hardening"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    node.start()
    password = elastic_password(node.home)
    record_secret(password)
    record_secret("mal-secret-1")
    admin = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
    for index in ("pub-1", "pub-2", "secret", "victim"):
        admin.indices.create(index=index)
        for n in range(4):
            admin.index(index=index, id=str(n), document={"msg": f"{index} {n}"})
    admin.indices.refresh(index="*")
    admin.security.put_role(
        name="pub",
        cluster=["manage_own_api_key"],
        indices=[{"names": ["pub-*"], "privileges": ["read", "manage"]}],
    )
    admin.security.put_role(
        name="pub_dls",
        indices=[
            {"names": ["pub-*"], "privileges": ["all"], "query": {"term": {"msg": "nothing"}}}
        ],
    )
    admin.security.put_user(username="mal", password="mal-secret-1", roles=["pub"])
    admin.security.put_user(username="dls", password="mal-secret-1", roles=["pub_dls"])
    yield node, admin
    admin.close()
    node.stop()


@pytest.fixture(scope="module")
def mal(cluster: tuple[NodeProcess, Elasticsearch]) -> Iterator[Elasticsearch]:
    client = Elasticsearch(cluster[0].url, basic_auth=("mal", "mal-secret-1"))
    yield client
    client.close()


# --- finding 1: indices named in a body --------------------------------------------------------


def test_aliases_body_cannot_remove_a_forbidden_index(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    status, body = _error(
        lambda: mal.indices.update_aliases(actions=[{"remove_index": {"index": "victim"}}])
    )
    assert status == 403
    assert body["error"]["reason"] == (
        "action [indices:admin/delete] is unauthorized for user [mal] with effective roles [pub] "
        "on indices [victim], this action is granted by the index privileges "
        "[delete_index,manage,all]"
    )
    assert admin.indices.exists(index="victim")
    # A wildcard expands to the caller's own indices only: victim survives that too.
    status, _ = _error(
        lambda: mal.indices.update_aliases(actions=[{"remove_index": {"index": "vic*"}}])
    )
    assert status == 403
    assert admin.indices.exists(index="victim")


def test_aliases_body_cannot_alias_a_forbidden_index_into_view(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    status, body = _error(
        lambda: mal.indices.update_aliases(
            actions=[{"add": {"index": "secret", "alias": "pub-window"}}]
        )
    )
    assert status == 403
    assert "on indices [secret]" in body["error"]["reason"]
    assert "[indices:admin/aliases]" in body["error"]["reason"]
    # The same through the path form and through index creation: the alias name is checked.
    status, _ = _error(lambda: mal.indices.put_alias(index="pub-1", name="elsewhere"))
    assert status == 403
    status, _ = _error(lambda: mal.indices.create(index="pub-new", aliases={"elsewhere": {}}))
    assert status == 403
    assert not admin.indices.exists(index="pub-new")
    assert not admin.indices.exists_alias(name="pub-window")
    # Within its own indices, mal may alias as it likes.
    assert mal.indices.update_aliases(actions=[{"add": {"index": "pub-1", "alias": "pub-a"}}])[
        "acknowledged"
    ]
    assert mal.search(index="pub-a")["hits"]["total"]["value"] == 4


def test_alias_removal_by_wildcard_touches_only_authorized_aliases(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    admin.indices.update_aliases(
        actions=[
            {"add": {"index": "pub-2", "alias": "pub-keep"}},
            {"add": {"index": "pub-2", "alias": "admin-only"}},
        ]
    )
    mal.indices.update_aliases(actions=[{"remove": {"index": "pub-2", "alias": "*"}}])
    remaining = admin.indices.get_alias(index="pub-2")["pub-2"]["aliases"]
    assert set(remaining) == {"admin-only"}
    status, _ = _error(
        lambda: mal.indices.update_aliases(
            actions=[{"remove": {"index": "pub-2", "alias": "admin-only"}}]
        )
    )
    assert status == 403


def test_added_alias_may_not_grant_more_than_its_index(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    node, admin = cluster
    admin.security.put_role(
        name="narrow",
        indices=[
            {"names": ["pub-1"], "privileges": ["read", "manage"]},
            {"names": ["wide-*"], "privileges": ["all"]},
        ],
    )
    admin.security.put_user(username="narrow", password="mal-secret-1", roles=["narrow"])
    narrow = Elasticsearch(node.url, basic_auth=("narrow", "mal-secret-1"))
    status, body = _error(
        lambda: narrow.indices.update_aliases(
            actions=[{"add": {"index": "pub-1", "alias": "wide-1"}}]
        )
    )
    assert status == 403
    assert body["error"]["reason"] == (
        "Adding an alias is not allowed when the alias has more permissions than any of the indices"
    )
    # Document-level security on the index: no alias may be added to it at all.
    dls = Elasticsearch(node.url, basic_auth=("dls", "mal-secret-1"))
    status, body = _error(
        lambda: dls.indices.update_aliases(actions=[{"add": {"index": "pub-1", "alias": "pub-d"}}])
    )
    assert status == 400
    assert body["error"]["type"] == "security_exception"
    assert body["error"]["reason"] == (
        "Alias requests are not allowed for users who have field or document level security "
        "enabled on one of the indices"
    )


def test_alias_actions_with_wrong_shapes_are_400(mal: Elasticsearch) -> None:
    for actions in ([{"add": "str"}], [{"add": {"index": 1, "alias": "a"}}], "x", [1]):
        status, body = _error(
            lambda actions=actions: mal.indices.update_aliases(body={"actions": actions})
        )
        assert status == 400, (actions, body)
        assert body["error"]["type"] in ("parsing_exception", "x_content_parse_exception")


# --- finding 2: what an API key may do to its owner ---------------------------------------------


def test_api_key_cannot_change_its_owners_password(
    cluster: tuple[NodeProcess, Elasticsearch],
    mal: Elasticsearch,
    record_secret: Callable[[str], None],
) -> None:
    node, _ = cluster
    key = mal.security.create_api_key(
        name="one-index",
        role_descriptors={"r": {"indices": [{"names": ["pub-1"], "privileges": ["read"]}]}},
    )
    record_secret(key["encoded"])
    with Elasticsearch(node.url, api_key=key["encoded"]) as client:
        for username in (None, "mal"):
            status, body = _error(
                lambda username=username: client.security.change_password(
                    username=username, password="taken-over-1"
                )
            )
            assert status == 403
            assert body["error"]["reason"].startswith(
                "action [cluster:admin/xpack/security/user/change_password] is unauthorized for "
                f"API key id [{key['id']}] of user [mal]"
            )
    # The password still works; and a user changes its own as before, not another's.
    mal.security.change_password(password="mal-secret-1")
    status, _ = _error(lambda: mal.security.change_password(username="elastic", password="x" * 8))
    assert status == 403


def test_api_key_reaches_only_itself_with_manage_own_api_key(
    cluster: tuple[NodeProcess, Elasticsearch],
    mal: Elasticsearch,
    record_secret: Callable[[str], None],
) -> None:
    node, admin = cluster
    sibling = mal.security.create_api_key(name="sibling")
    key = mal.security.create_api_key(
        name="self-managing",
        role_descriptors={"r": {"cluster": ["manage_own_api_key"]}},
    )
    record_secret(key["encoded"])
    record_secret(sibling["encoded"])
    with Elasticsearch(node.url, api_key=key["encoded"]) as client:
        status, body = _error(lambda: client.security.create_api_key(name="derived"))
        assert status == 400
        assert body["error"]["reason"] == (
            "creating derived api keys requires an explicit role descriptor that is empty "
            "(has no privileges)"
        )
        assert client.security.create_api_key(name="empty", role_descriptors={"none": {}})["id"]
        assert _error(lambda: client.security.get_api_key(owner=True))[0] == 403
        assert _error(lambda: client.security.invalidate_api_key(ids=[sibling["id"]]))[0] == 403
        mine = client.security.get_api_key(id=key["id"])["api_keys"]
        assert [k["id"] for k in mine] == [key["id"]]
        queried = client.security.query_api_keys()["api_keys"]
        assert [k["id"] for k in queried] == [key["id"]]
    assert admin.security.get_api_key(id=sibling["id"])["api_keys"][0]["invalidated"] is False
    # The user itself reaches its own keys with owner=true, and nobody else's by id.
    admin_key = admin.security.create_api_key(name="admins")
    record_secret(admin_key["encoded"])
    assert _error(lambda: mal.security.get_api_key(id=admin_key["id"]))[0] == 403
    owned = {k["id"] for k in mal.security.get_api_key(owner=True)["api_keys"]}
    assert sibling["id"] in owned and admin_key["id"] not in owned


# --- finding 4 and 6: scroll contexts ------------------------------------------------------------


def test_scroll_belongs_to_whoever_opened_it(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    page = admin.search(index="secret", scroll="1m", size=1, sort=["_doc"])
    scroll_id = page["_scroll_id"]
    status, body = _error(lambda: mal.scroll(scroll_id=scroll_id, scroll="1m"))
    assert status == 404
    assert body["error"]["type"] == "search_context_missing_exception"
    status, body = _error(lambda: mal.clear_scroll(scroll_id="_all"))
    assert status == 403
    assert "[cluster:admin/indices/scroll/clear_all]" in body["error"]["reason"]
    assert _error(lambda: mal.clear_scroll(scroll_id=scroll_id))[0] == 404
    # Still the owner's, and still the point in time it was opened at.
    admin.index(index="secret", id="3", document={"msg": "changed later"}, refresh=True)
    seen = []
    while True:
        page = admin.scroll(scroll_id=scroll_id, scroll="1m")
        if not page["hits"]["hits"]:
            break
        seen += [h["_source"]["msg"] for h in page["hits"]["hits"]]
    assert sorted(seen) == ["secret 1", "secret 2", "secret 3"]
    assert admin.clear_scroll(scroll_id=scroll_id)["num_freed"] == 1


def test_scroll_keep_alive_and_open_context_limits(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    status, body = _error(lambda: mal.search(index="pub-1", scroll="99999d"))
    assert status == 400
    assert body["error"]["reason"] == (
        "Keep alive for request (99999d) is too large. It must be less than (1d). This limit "
        "can be set by changing the [search.max_keep_alive] cluster level setting."
    )
    admin.cluster.put_settings(persistent={"search.max_open_scroll_context": 2})
    try:
        admin.options(ignore_status=404).clear_scroll(scroll_id="_all")
        ids = [mal.search(index="pub-1", scroll="1m")["_scroll_id"] for _ in range(2)]
        status, body = _error(lambda: mal.search(index="pub-1", scroll="1m"))
        assert status == 429
        assert body["error"]["type"] == "too_many_scroll_contexts_exception"
        assert body["error"]["reason"] == (
            "Trying to create too many scroll contexts. Must be less than or equal to: [2]. "
            "This limit can be set by changing the [search.max_open_scroll_context] setting."
        )
        mal.clear_scroll(scroll_id=ids)
        assert mal.search(index="pub-1", scroll="1m")["_scroll_id"]
    finally:
        admin.cluster.put_settings(persistent={"search.max_open_scroll_context": None})
        admin.options(ignore_status=404).clear_scroll(scroll_id="_all")


def test_async_search_belongs_to_the_subject_not_the_username(
    cluster: tuple[NodeProcess, Elasticsearch],
    mal: Elasticsearch,
    record_secret: Callable[[str], None],
) -> None:
    node, _ = cluster
    submitted = mal.async_search.submit(
        index="pub-1", keep_on_completion=True, wait_for_completion_timeout="0s"
    )
    search_id = submitted["id"]
    key = mal.security.create_api_key(
        name="same-owner",
        role_descriptors={"r": {"indices": [{"names": ["pub-*"], "privileges": ["read"]}]}},
    )
    record_secret(key["encoded"])
    # Same user name, another subject: the key does not see (or delete) the user's search.
    with Elasticsearch(node.url, api_key=key["encoded"]) as client:
        assert _error(lambda: client.async_search.get(id=search_id))[0] == 404
        assert _error(lambda: client.async_search.delete(id=search_id))[0] == 404
    assert mal.async_search.get(id=search_id)["id"] == search_id
    mal.async_search.delete(id=search_id)


def test_users_cannot_lock_themselves_out(cluster: tuple[NodeProcess, Elasticsearch]) -> None:
    node, admin = cluster
    admin.security.put_role(name="secadmin", cluster=["manage_security"])
    admin.security.put_user(username="secadm", password="mal-secret-1", roles=["secadmin"])
    secadm = Elasticsearch(node.url, basic_auth=("secadm", "mal-secret-1"))
    status, body = _error(lambda: secadm.security.disable_user(username="secadm"))
    assert (status, body["error"]["reason"]) == (
        400,
        "users may not update the enabled status of their own account",
    )
    status, body = _error(
        lambda: secadm.security.put_user(username="secadm", roles=["secadmin"], enabled=False)
    )
    assert status == 400
    assert "may not update the enabled status of their own account" in body["error"]["reason"]
    assert secadm.security.authenticate()["username"] == "secadm"
    secadm.security.disable_user(username="mal")
    secadm.security.enable_user(username="mal")


def test_alias_actions_take_concrete_indices_only(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    """An alias the caller may use, named (or matched) where alias actions want indices, must
    not reach the index behind it: ES refuses an alias there, and wildcards skip aliases."""
    _, admin = cluster
    admin.indices.create(index="vault")
    admin.index(index="vault", id="pub", document={"public": True, "msg": "ok"})
    admin.index(index="vault", id="priv", document={"public": False, "msg": "private"})
    admin.indices.refresh(index="vault")
    admin.indices.put_alias(index="vault", name="pub-vault", filter={"term": {"public": True}})
    assert mal.count(index="pub-vault")["count"] == 1
    status, body = _error(
        lambda: mal.indices.update_aliases(
            actions=[{"add": {"index": "pub-vault", "alias": "pub-raw"}}]
        )
    )
    assert (status, body["error"]["reason"]) == (
        400,
        "The provided expression [pub-vault] matches an alias, specify the corresponding "
        "concrete indices instead.",
    )
    status, _ = _error(
        lambda: mal.indices.update_aliases(actions=[{"remove_index": {"index": "pub-vault"}}])
    )
    assert status == 400
    assert admin.indices.exists(index="vault")
    # A wildcard matching the alias name adds nothing to the index behind it.
    mal.indices.update_aliases(actions=[{"add": {"index": "pub-*", "alias": "pub-every"}}])
    assert "pub-every" not in admin.indices.get_alias(index="vault")["vault"]["aliases"]
    assert set(admin.indices.get_alias(name="pub-every")) == {"pub-1", "pub-2"}
    mal.indices.update_aliases(actions=[{"remove": {"index": "pub-*", "alias": "pub-every"}}])


def test_expressions_keep_exclusions_and_skip_closed_indices_under_security(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    two = admin.count(index="pub-2")["count"]
    admin.indices.create(index="pub-closed")
    admin.indices.close(index="pub-closed")
    try:
        # A closed index is skipped by the wildcard, as without security; the exclusion holds.
        everything = admin.count(index="pub-*")["count"]
        assert mal.count(index="pub-*")["count"] == everything
        assert mal.count(index="pub-*,-pub-2")["count"] == everything - two
        mal.indices.update_aliases(
            actions=[{"add": {"index": "pub-*,-pub-2", "alias": "pub-only-one"}}]
        )
        assert "pub-2" not in set(admin.indices.get_alias(name="pub-only-one"))
        assert "pub-1" in set(admin.indices.get_alias(name="pub-only-one"))
        mal.indices.update_aliases(
            actions=[{"remove": {"index": "pub-*", "alias": "pub-only-one"}}]
        )
    finally:
        admin.indices.delete(index="pub-closed")


def test_async_search_responses_are_bounded_in_size(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    """Results are kept in memory until they expire: each is bounded as ES bounds what it
    stores (an over-large result is replaced by ES's error, answered as the submit's 400)."""
    _, admin = cluster
    admin.cluster.put_settings(persistent={"search.max_async_search_response_size": "200b"})
    try:
        status, body = _error(
            lambda: mal.async_search.submit(
                index="pub-*", keep_on_completion=True, wait_for_completion_timeout="5s"
            )
        )
        assert (status, body["error"]["reason"]) == (
            400,
            "Can't store an async search response larger than [200] bytes. This limit can be "
            "set by changing the [search.max_async_search_response_size] setting.",
        )
        admin.cluster.put_settings(persistent={"search.max_async_search_response_size": "10kb"})
        fits = mal.async_search.submit(
            index="pub-*", keep_on_completion=True, wait_for_completion_timeout="5s", size=0
        )
        assert fits["response"]["hits"]["total"]["value"] > 0
    finally:
        admin.cluster.put_settings(persistent={"search.max_async_search_response_size": None})


def test_key_selection_and_key_privileges_follow_es(
    cluster: tuple[NodeProcess, Elasticsearch],
    mal: Elasticsearch,
    record_secret: Callable[[str], None],
) -> None:
    node, _ = cluster
    status, body = _error(lambda: mal.security.get_api_key(owner=True, username="elastic"))
    assert (status, body["error"]["reason"]) == (
        400,
        "Validation Failed: 1: neither username nor realm-name may be specified when "
        "retrieving owned API keys;",
    )
    status, _ = _error(lambda: mal.security.invalidate_api_key(owner=True, username="elastic"))
    assert status == 400
    key = mal.security.create_api_key(
        name="privileges-view",
        role_descriptors={"r": {"indices": [{"names": ["pub-1"], "privileges": ["read"]}]}},
    )
    record_secret(key["encoded"])
    with Elasticsearch(node.url, api_key=key["encoded"]) as client:
        status, body = _error(lambda: client.security.get_user_privileges())
    assert status == 400
    assert body["error"]["reason"].startswith(
        "Cannot retrieve privileges for API keys with assigned role descriptors."
    )
    assert mal.security.get_user_privileges()["indices"]


def test_async_search_status_for_its_owner_and_for_monitor(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    node, admin = cluster
    submitted = mal.async_search.submit(
        index="pub-1", keep_on_completion=True, wait_for_completion_timeout="5s"
    )
    search_id = submitted["id"]
    assert mal.async_search.status(id=search_id)["id"] == search_id  # owner, no monitor
    admin.security.put_role(name="monitoring", cluster=["monitor"])
    admin.security.put_user(username="watcher", password="mal-secret-1", roles=["monitoring"])
    with Elasticsearch(node.url, basic_auth=("watcher", "mal-secret-1")) as watcher:
        assert watcher.async_search.status(id=search_id)["id"] == search_id
        assert _error(lambda: watcher.async_search.get(id=search_id))[0] == 404
    admin.security.put_user(username="nosy", password="mal-secret-1", roles=["pub"])
    with Elasticsearch(node.url, basic_auth=("nosy", "mal-secret-1")) as nosy:
        assert _error(lambda: nosy.async_search.status(id=search_id))[0] == 404
    mal.async_search.delete(id=search_id)


def test_unauthenticated_uploads_are_refused_before_their_body(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    """Credentials are checked from the head: a client without them gets its 401 at once and
    never gets to park a body in the node's in-flight breaker."""
    import socket

    node, _ = cluster
    host, port = node.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
            b"Content-Length: 50000000\r\n\r\n" + b"{}\n" * 10
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"www-authenticate" in head.lower()
    assert b"missing authentication credentials for REST request [/_bulk]" in body


# --- second review ---------------------------------------------------------------------------


def test_destructive_requires_name_holds_under_security(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    _, admin = cluster
    admin.indices.create(index="yy-1")
    for call in (
        lambda: admin.indices.delete(index="yy-*"),
        lambda: admin.indices.delete(index="_all"),
        lambda: admin.indices.close(index="yy-*"),
    ):
        status, body = _error(call)
        assert (status, body["error"]["reason"]) == (
            400,
            "Wildcard expressions or all indices are not allowed",
        )
    assert admin.indices.exists(index="yy-1")
    admin.indices.delete(index="yy-1")


def test_create_doc_creates_but_never_overwrites(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    node, admin = cluster
    admin.security.put_role(
        name="creator", indices=[{"names": ["pub-1"], "privileges": ["create_doc", "read"]}]
    )
    admin.security.put_user(username="creator", password="mal-secret-1", roles=["creator"])
    with Elasticsearch(node.url, basic_auth=("creator", "mal-secret-1")) as creator:
        assert creator.index(index="pub-1", document={"n": 1})["result"] == "created"
        assert creator.create(index="pub-1", id="made", document={"n": 2})["result"] == "created"
        status, body = _error(lambda: creator.index(index="pub-1", id="made", document={"n": 3}))
        assert status == 403
        assert "[indices:data/write/index:op_type/index]" in body["error"]["reason"]
        result = creator.bulk(
            operations=[
                {"index": {"_index": "pub-1", "_id": "made"}},
                {"n": 4},
                {"create": {"_index": "pub-1", "_id": "made-2"}},
                {"n": 5},
            ]
        )
        assert [next(iter(i.values()))["status"] for i in result["items"]] == [403, 201]
    assert admin.get(index="pub-1", id="made")["_source"] == {"n": 2}


def test_path_wildcards_of_alias_apis_skip_aliases(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    _, admin = cluster
    admin.indices.create(index="ww-1", aliases={"ww-al": {}})
    assert admin.indices.put_alias(index="ww*", name="ww-new")["acknowledged"]
    assert set(admin.indices.get_alias(name="ww-new")) == {"ww-1"}
    assert admin.indices.delete_alias(index="ww*", name="ww-new")["acknowledged"]
    admin.indices.delete(index="ww-1")


def test_msearch_keeps_expand_wildcards_under_security(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    _, admin = cluster
    admin.indices.create(index="zz-hidden", settings={"index.hidden": True})
    admin.index(index="zz-hidden", id="1", document={"n": 1}, refresh=True)
    answer = admin.msearch(
        searches=[{"index": "zz-*", "expand_wildcards": "open,hidden"}, {}, {"index": "zz-*"}, {}]
    )
    totals = [r["hits"]["total"]["value"] for r in answer["responses"]]
    assert totals == [1, 0]
    admin.indices.delete(index="zz-hidden")


def test_async_search_delete_by_a_task_canceller(
    cluster: tuple[NodeProcess, Elasticsearch], mal: Elasticsearch
) -> None:
    _, admin = cluster
    submitted = mal.async_search.submit(
        index="pub-1", keep_on_completion=True, wait_for_completion_timeout="5s"
    )
    assert admin.async_search.delete(id=submitted["id"])["acknowledged"]
    assert _error(lambda: mal.async_search.get(id=submitted["id"]))[0] == 404


def test_uppercase_chunked_uploads_are_authenticated_first(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    import socket

    node, _ = cluster
    host, port = node.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: Chunked\r\n\r\n10\r\n" + b"{}\n" * 5 + b"x\r\n"
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_stats_and_cat_indices_keep_their_wildcard_defaults_under_security(
    cluster: tuple[NodeProcess, Elasticsearch],
) -> None:
    _, admin = cluster
    admin.indices.create(index="st-open")
    admin.indices.create(index="st-closed")
    admin.indices.close(index="st-closed")
    try:
        assert set(admin.indices.stats(index="st-*")["indices"]) == {"st-open"}
        listed = {row["index"] for row in admin.cat.indices(index="st-*", format="json")}
        assert listed == {"st-open", "st-closed"}
    finally:
        admin.indices.delete(index="st-open,st-closed")
