"""The authorization matrix: every registered REST route, three restricted subjects, two targets.

Subjects: a user with no privileges, a user who may read one index (``pub-1``), and an API key
of the superuser limited to reading ``pub-1``. Targets: ``pub-1`` and ``secret`` (which nobody
here may touch), named in the path and, for the APIs that take them there, in the body.

The expectation of each cell is derived from the route's ES action name and ES's privilege
definitions, never written per route: an index action is allowed only on ``pub-1`` and only when
the ``read`` privilege grants it (with no index named, the expression narrows to what is
authorized, which is allowed only for a subject that holds the action on some index, as in ES);
a cluster action only when it is one a user may run about
itself (and changing a password never through an API key). A denied cell must answer 403 (or a
403 per item for ``_bulk``/``_mget``/``_msearch``); an allowed one must not; none may answer 5xx;
and no 2xx answer of an index API may mention ``secret``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.http.guard import PER_ITEM_ACTIONS, UNCHECKED_ACTIONS
from isthmus.http.router import Route
from isthmus.security.privileges import INDEX_PRIVILEGES, SELF_ACTIONS, is_index_action
from isthmus.testing.process import NodeProcess
from isthmus.testing.routes import route_table
from tests.integration.support import elastic_password

PASSWORD = "matrix-pw-1"
# Routes the guard does not name an action for: authorized by their handler (resolve/index
# narrows a cross-cluster expression itself) or owned by whoever created the resource.
HANDLER_AUTHORIZED = {"/_resolve/index/{name}": "indices:admin/resolve/index"}
# Authorized by what the id names (async searches: their owner); /_pit: POST without an index is
# ES's 400 before any authorization, DELETE frees what the PIT id names.
OWNED = {"/_async_search/{id:_}", "/_async_search/status/{id:_}", "/_pit"}
CHANGE_PASSWORD = "cluster:admin/xpack/security/user/change_password"


def _read_grants(action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, p) for p in INDEX_PRIVILEGES["read"])


def _expected_allowed(action: str, target: str | None, subject: str) -> bool:
    if is_index_action(action):
        if subject == "none":
            return False
        return target in (None, "pub-1") and _read_grants(action)
    if action in SELF_ACTIONS:
        return not (action == CHANGE_PASSWORD and subject == "key")
    return False


def _body(route: Route, action: str, target: str, username: str) -> tuple[bytes | None, str]:
    """A body for the route that names ``target`` where the API takes indices in its body."""
    json = "application/json"
    ndjson = "application/x-ndjson"
    if action == "indices:admin/aliases" and route.pattern == "/_aliases":
        return orjson.dumps({"actions": [{"add": {"index": target, "alias": "pub-m"}}]}), json
    if action == "indices:data/write/bulk":
        lines = [{"index": {"_index": target, "_id": "9"}}, {"a": 1}]
        return b"".join(orjson.dumps(li) + b"\n" for li in lines), ndjson
    if action == "indices:data/read/mget":
        return orjson.dumps({"docs": [{"_index": target, "_id": "1"}]}), json
    if action == "indices:data/read/msearch":
        return orjson.dumps({"index": target}) + b"\n{}\n", ndjson
    if action == "indices:admin/create":
        return orjson.dumps({"aliases": {f"{target}-alias": {}}}), json
    if action == CHANGE_PASSWORD:
        return orjson.dumps({"password": PASSWORD}), json
    if action.endswith("/has_privileges"):
        return orjson.dumps({"cluster": ["monitor"]}), json
    if route.accepts_body and route.methods & {"POST", "PUT"}:
        return b"{}", json
    return None, json


def _path(route: Route, target: str, username: str) -> str:
    values = {
        "index": target,
        "id": "1",
        "name": target if route.pattern in HANDLER_AUTHORIZED else "pub-m",
        "username": username,
        "metric": "docs",
        "node_id": "_local",
        "scroll_id": "bm90LWEtc2Nyb2xs",
        "task_id": "node:1",
        "alias": "nowhere",  # /_isthmus/remote/health/{alias}
        "feature": "disk",  # /_health_report/{feature}
        "new_index": "pub-rolled",  # /{index}/_rollover/{new_index}
    }
    parts = []
    for seg in route.segments:
        if seg.startswith("{"):
            parts.append(values[seg[1:-1].partition(":")[0]])
        else:
            parts.append(seg)
    return "/" + "/".join(parts)


def _call(
    client: Elasticsearch, method: str, path: str, body: bytes | None, ctype: str
) -> tuple[int, Any]:
    headers = {"accept": "application/json"}
    if body is not None:
        headers["content-type"] = ctype
    try:
        resp = client.perform_request(method, path, headers=headers, body=body)
    except ApiError as exc:
        return exc.meta.status, exc.body
    return resp.meta.status, resp.body


def _item_statuses(action: str, body: Any) -> list[int]:
    if not isinstance(body, dict):
        return []
    if action == "indices:data/write/bulk":
        return [next(iter(i.values()))["status"] for i in body.get("items", [])]
    if action == "indices:data/read/mget":
        return [
            d.get("error", {}).get("status", 403) if "error" in d else 200 for d in body["docs"]
        ]
    if action == "indices:data/read/msearch":
        return [r.get("status", 200) for r in body.get("responses", [])]
    return []


@pytest.fixture(scope="module")
def subjects(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[dict[str, Elasticsearch]]:
    node = NodeProcess(
        tmp_path_factory.mktemp("matrix"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    node.start()
    password = elastic_password(node.home)
    record_secret(password)
    record_secret(PASSWORD)
    admin = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
    for index in ("pub-1", "secret"):
        admin.index(index=index, id="1", document={"msg": index}, refresh=True)
    admin.indices.put_alias(index="secret", name="secret-alias")
    admin.security.put_role(name="nothing", indices=[], cluster=[])
    admin.security.put_role(name="reader", indices=[{"names": ["pub-1"], "privileges": ["read"]}])
    admin.security.put_user(username="nobody", password=PASSWORD, roles=["nothing"])
    admin.security.put_user(username="reader", password=PASSWORD, roles=["reader"])
    key = admin.security.create_api_key(
        name="matrix",
        role_descriptors={"r": {"indices": [{"names": ["pub-1"], "privileges": ["read"]}]}},
    )
    record_secret(key["encoded"])
    clients = {
        "none": Elasticsearch(node.url, basic_auth=("nobody", PASSWORD), request_timeout=30),
        "reader": Elasticsearch(node.url, basic_auth=("reader", PASSWORD), request_timeout=30),
        "key": Elasticsearch(node.url, api_key=key["encoded"], request_timeout=30),
        "admin": admin,
    }
    yield clients
    for client in clients.values():
        client.close()
    node.stop()


USERNAMES = {"none": "nobody", "reader": "reader", "key": "elastic"}


def test_route_table_is_listed() -> None:
    table = route_table()
    assert len(table) > 100
    unnamed = {r.pattern for r in table if not r.action and r.pattern != "/"}
    assert unnamed == set(HANDLER_AUTHORIZED) | OWNED


@pytest.mark.parametrize("subject", ["none", "reader", "key"])
def test_every_route_for_a_restricted_subject(
    subjects: dict[str, Elasticsearch], subject: str
) -> None:
    client = subjects[subject]
    admin = subjects["admin"]
    failures: list[str] = []
    cells = 0
    for route in route_table():
        action = route.action or HANDLER_AUTHORIZED.get(route.pattern, "")
        if not action or action in UNCHECKED_ACTIONS:
            continue  # the root; scroll and async search (owned: test_security_hardening)
        named = "{index}" in route.segments or route.pattern in HANDLER_AUTHORIZED
        targets = ["pub-1", "secret"] if named or action in PER_ITEM_ACTIONS else [None]
        if route.pattern == "/_aliases" and "POST" in route.methods:
            targets = ["pub-1", "secret"]
        for method in sorted(route.methods):
            for target in targets:
                cells += 1
                body, ctype = _body(route, action, target or "secret", USERNAMES[subject])
                path = _path(route, target or "secret", USERNAMES[subject])
                status, answer = _call(client, method, path, body, ctype)
                where = f"{method} {path} [{action}] as {subject}"
                if status >= 500:
                    failures.append(f"{where}: {status} {answer}")
                    continue
                # Per-item APIs: the body's target decides the items' fate.
                if action in PER_ITEM_ACTIONS:
                    item_target = target or "secret"
                    allowed = _expected_allowed(action, item_target, subject)
                    items = _item_statuses(action, answer)
                    if status == 403:
                        if allowed:
                            failures.append(f"{where}: 403 for an allowed request")
                        continue
                    denied_items = [s for s in items if s == 403]
                    if not allowed and not denied_items:
                        failures.append(f"{where}: items not refused: {answer}")
                    if allowed and denied_items:
                        failures.append(f"{where}: allowed items refused: {answer}")
                    continue
                allowed = _expected_allowed(action, target, subject)
                if action == "indices:admin/create":
                    allowed = False  # nobody here may create an index (or its aliases)
                if allowed and status in (401, 403):
                    failures.append(f"{where}: {status} for an allowed request: {answer}")
                if route.pattern in HANDLER_AUTHORIZED:
                    pass  # narrowed by its handler: only leaks and 5xx are checked
                elif not allowed and status != 403:
                    failures.append(f"{where}: expected 403, got {status}: {answer}")
                if (
                    is_index_action(action)
                    and 200 <= status < 300
                    and b"secret" in orjson.dumps(answer)
                ):
                    failures.append(f"{where}: a 2xx answer mentions secret: {answer}")
    # Nothing a restricted subject did may have touched the protected index.
    assert admin.count(index="secret")["count"] == 1
    assert admin.indices.exists_alias(name="secret-alias")
    assert cells > 150
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} failures)"
