"""Templates and data streams with security on: ``manage_index_templates`` for templates (as
cluster actions), ES's index privileges on a data stream's name for creating, deleting and
searching it (its backing indices follow the name's privileges)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import elastic_password

PASSWORD = "ds-sec-pw-1"


@pytest.fixture(scope="module")
def clients(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[dict[str, Elasticsearch]]:
    node = NodeProcess(tmp_path_factory.mktemp("ds-sec"), {"xpack.security.enabled": True})
    node.start()
    password = elastic_password(node.home)
    record_secret(password)
    record_secret(PASSWORD)
    admin = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
    admin.security.put_role(name="templates", cluster=["manage_index_templates"])
    admin.security.put_role(
        name="logs_writer",
        indices=[{"names": ["slogs-*"], "privileges": ["create_doc", "read", "create_index"]}],
    )
    admin.security.put_role(
        name="other_reader", indices=[{"names": ["other-*"], "privileges": ["read"]}]
    )
    users = {"templater": "templates", "writer": "logs_writer", "other": "other_reader"}
    for user, role in users.items():
        admin.security.put_user(username=user, password=PASSWORD, roles=[role])
    out = {u: Elasticsearch(node.url, basic_auth=(u, PASSWORD), request_timeout=30) for u in users}
    out["admin"] = admin
    yield out
    for client in out.values():
        client.close()
    node.stop()


def denied(call: Callable[[], object]) -> str:
    with pytest.raises(ApiError) as err:
        call()
    assert err.value.status_code == 403, err.value.body
    return str(err.value.body["error"]["reason"])


def test_templates_need_manage_index_templates(clients: dict[str, Elasticsearch]) -> None:
    writer, templater = clients["writer"], clients["templater"]
    reason = denied(
        lambda: writer.indices.put_index_template(name="slogs", index_patterns=["slogs-*"])
    )
    assert reason == (
        "action [indices:admin/index_template/put] is unauthorized for user [writer] with "
        "effective roles [logs_writer], this action is granted by the cluster privileges "
        "[manage_index_templates,manage,all]"
    )
    denied(lambda: writer.cluster.put_component_template(name="c", template={}))
    templater.cluster.put_component_template(
        name="slogs-ct", template={"mappings": {"properties": {"svc": {"type": "keyword"}}}}
    )
    templater.indices.put_index_template(
        name="slogs", index_patterns=["slogs-*"], data_stream={}, composed_of=["slogs-ct"]
    )
    assert templater.indices.get_index_template(name="slogs")["index_templates"]


def test_stream_privileges_cover_backing_indices(clients: dict[str, Elasticsearch]) -> None:
    writer, other, admin = clients["writer"], clients["other"], clients["admin"]
    if not admin.indices.exists_index_template(name="slogs"):
        admin.indices.put_index_template(name="slogs", index_patterns=["slogs-*"], data_stream={})
    writer.indices.create_data_stream(name="slogs-app")
    ops = [{"create": {"_index": "slogs-app"}}, {"@timestamp": "2024-01-01", "svc": "a"}]
    assert not writer.bulk(operations=ops, refresh=True)["errors"]
    # Privileges on the stream's name reach its backing indices: by name and by wildcard.
    for expression in ("slogs-app", "slogs-*"):
        hits = writer.search(index=expression)["hits"]["hits"]
        assert [h["_source"]["svc"] for h in hits] == ["a"]
        assert hits[0]["_index"].startswith(".ds-slogs-app-")
    assert other.search(index="other-*,slogs-*", ignore_unavailable=True)["hits"]["hits"] == []
    reason = denied(lambda: other.search(index="slogs-app"))
    assert reason.startswith(
        "action [indices:data/read/search] is unauthorized for user [other]"
    ) and reason.endswith("on indices [slogs-app], this action is granted by the index "
                          "privileges [read,all]")  # fmt: skip
    denied(lambda: other.indices.create_data_stream(name="slogs-other"))
    # Deleting needs delete_index (or manage) on the name: the writer has neither.
    denied(lambda: writer.indices.delete_data_stream(name="slogs-app"))
    admin.indices.delete_data_stream(name="slogs-app")
