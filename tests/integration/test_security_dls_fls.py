"""Document- and field-level security on a secured node, driven with the official client.

Roles with ``query`` (DLS) and ``field_security`` (FLS) narrow what searches, counts,
aggregations, GETs, ``_source`` and ``_mget`` show; an API key's own restrictions combine with
its owner's (both must allow a document or a field).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from isthmus.testing.process import NodeProcess

INDEX = "staff"
OPEN = "public-notes"
DOCS: dict[str, dict[str, Any]] = {
    "1": {
        "title": "alpha report",
        "dept": "eng",
        "salary": 100,
        "customer": {"handle": "ann", "email": "ann@example.com"},
    },
    "2": {"title": "beta report", "dept": "eng", "salary": 200},
    "3": {"title": "gamma report", "dept": "sales", "salary": 300},
    "4": {"title": "delta memo", "dept": "sales", "salary": 50},
    "5": {"title": "epsilon memo", "dept": "eng", "salary": 80},
}
ENG = {"1", "2", "5"}
LONG_MIN = -(2**63)


def _elastic_password(node: NodeProcess) -> str:
    text = (node.home / "stderr.log").read_text()
    line = next(li for li in text.splitlines() if "password for the [elastic] user" in li)
    return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, str]]:
    node = NodeProcess(
        tmp_path_factory.mktemp("dls-fls"),
        {"xpack.security.enabled": True, "xpack.security.authc.anonymous.roles": []},
    )
    node.start()
    yield node, _elastic_password(node)
    node.stop()


@pytest.fixture(scope="module")
def admin(secured: tuple[NodeProcess, str]) -> Iterator[Elasticsearch]:
    node, password = secured
    client = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
    client.indices.create(
        index=INDEX,
        mappings={
            "properties": {
                "title": {"type": "text"},
                "dept": {"type": "keyword"},
                "salary": {"type": "long"},
                "customer": {
                    "properties": {"handle": {"type": "keyword"}, "email": {"type": "keyword"}}
                },
            }
        },
    )
    for doc_id, doc in DOCS.items():
        client.index(index=INDEX, id=doc_id, document=doc)
    client.index(index=OPEN, id="n1", document={"title": "open note", "salary": 1})
    client.indices.refresh(index=[INDEX, OPEN])
    eng_only = {"term": {"dept": "eng"}}
    client.security.put_role(
        name="eng_only",
        indices=[
            {"names": [INDEX], "privileges": ["read"], "query": eng_only},
            {"names": [OPEN], "privileges": ["read"]},
        ],
    )
    client.security.put_role(
        name="no_salary",
        indices=[
            {
                "names": [INDEX],
                "privileges": ["read"],
                "field_security": {"grant": ["*"], "except": ["salary", "customer.email"]},
            }
        ],
    )
    client.security.put_role(
        name="sales_titles",
        indices=[
            {
                "names": [INDEX],
                "privileges": ["read"],
                # A role query given as a JSON string, on a field the same role hides.
                "query": '{"range": {"salary": {"gte": 100}}}',
                "field_security": {"grant": ["title", "dept"]},
            }
        ],
    )
    client.security.put_role(
        name="key_owner",
        cluster=["manage_own_api_key"],
        indices=[
            {
                "names": [INDEX],
                "privileges": ["read"],
                "query": eng_only,
                "field_security": {"grant": ["*"], "except": ["salary"]},
            }
        ],
    )
    for user, roles in {
        "dave": ["eng_only"],
        "fiona": ["no_salary"],
        "sam": ["sales_titles"],
        "una": ["eng_only", "no_salary"],
        "owen": ["key_owner"],
    }.items():
        client.security.put_user(username=user, password=f"{user}-secret", roles=roles)
    yield client
    client.close()


def _client(secured: tuple[NodeProcess, str], user: str) -> Elasticsearch:
    return Elasticsearch(secured[0].url, basic_auth=(user, f"{user}-secret"), request_timeout=30)


def _ids(result: Any) -> set[str]:
    return {h["_id"] for h in result["hits"]["hits"]}


# --- document-level security -------------------------------------------------------------------


def test_dls_limits_hits_totals_counts_and_aggregations(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    dave = _client(secured, "dave")
    result = dave.search(
        index=INDEX,
        size=10,
        aggs={"depts": {"terms": {"field": "dept"}}, "pay": {"sum": {"field": "salary"}}},
    )
    assert _ids(result) == ENG
    assert result["hits"]["total"] == {"value": 3, "relation": "eq"}
    assert result["aggregations"]["depts"]["buckets"] == [{"key": "eng", "doc_count": 3}]
    assert result["aggregations"]["pay"]["value"] == 380.0
    assert dave.count(index=INDEX)["count"] == 3
    assert dave.count(index=INDEX, query={"term": {"dept": "sales"}})["count"] == 0
    assert dave.search(index=INDEX, q="report")["hits"]["total"]["value"] == 2
    # The same query as the superuser sees every document.
    assert admin.count(index=INDEX)["count"] == 5


def test_dls_applies_per_index_and_leaves_other_indices_whole(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    dave = _client(secured, "dave")
    result = dave.search(index=f"{INDEX},{OPEN}", size=10)
    assert _ids(result) == ENG | {"n1"}
    assert dave.count(index=f"{INDEX},{OPEN}")["count"] == 4
    # Wildcards narrow to the indices dave may read, each with its own restriction.
    assert dave.count(index="*")["count"] == 4


def test_dls_hides_documents_from_get_source_and_mget(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    dave = _client(secured, "dave")
    assert dave.get(index=INDEX, id="1")["_source"] == DOCS["1"]
    with pytest.raises(NotFoundError) as hidden:
        dave.get(index=INDEX, id="3")
    assert hidden.value.body == {"_index": INDEX, "_id": "3", "found": False}
    assert dave.exists(index=INDEX, id="3").body is False
    with pytest.raises(NotFoundError):
        dave.get_source(index=INDEX, id="3")
    assert dave.get_source(index=INDEX, id="2").body == DOCS["2"]
    docs = dave.mget(index=INDEX, ids=["1", "3", "5"])["docs"]
    assert [d["found"] for d in docs] == [True, False, True]
    mixed = dave.mget(docs=[{"_index": OPEN, "_id": "n1"}, {"_index": INDEX, "_id": "4"}])
    assert [d["found"] for d in mixed["docs"]] == [True, False]


def test_dls_scroll_pages_only_visible_documents(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    dave = _client(secured, "dave")
    first = dave.search(index=INDEX, scroll="1m", size=2, sort=["_doc"])
    seen = _ids(first)
    page = dave.scroll(scroll_id=first["_scroll_id"], scroll="1m")
    seen |= _ids(page)
    assert seen == ENG
    assert first["hits"]["total"]["value"] == 3
    dave.clear_scroll(scroll_id=first["_scroll_id"])


# --- field-level security ----------------------------------------------------------------------


def test_fls_filters_source_of_hits_get_source_and_mget(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    fiona = _client(secured, "fiona")
    result = fiona.search(index=INDEX, query={"ids": {"values": ["1"]}})
    expected = {"title": "alpha report", "dept": "eng", "customer": {"handle": "ann"}}
    assert result["hits"]["hits"][0]["_source"] == expected
    assert fiona.get(index=INDEX, id="1")["_source"] == expected
    assert fiona.get_source(index=INDEX, id="1").body == expected
    # The request's own source filtering applies on top of FLS, never around it.
    narrowed = fiona.get(index=INDEX, id="1", source_includes=["salary", "title"])
    assert narrowed["_source"] == {"title": "alpha report"}
    docs = fiona.mget(index=INDEX, ids=["1", "2"])["docs"]
    assert docs[1]["_source"] == {"title": "beta report", "dept": "eng"}
    assert all("salary" not in d["_source"] for d in docs)
    # FLS alone hides no document.
    assert fiona.count(index=INDEX)["count"] == 5


@pytest.mark.parametrize(
    "query",
    [
        {"term": {"salary": 100}},
        {"range": {"salary": {"gte": 0}}},
        {"exists": {"field": "salary"}},
        {"term": {"customer.email": "ann@example.com"}},
        {"exists": {"field": "customer.email"}},
        {"query_string": {"query": "salary:100"}},
        {"multi_match": {"query": "ann@example.com", "fields": ["customer.*"]}},
        {"bool": {"filter": [{"range": {"salary": {"lt": 1000}}}]}},
    ],
)
def test_fls_hidden_fields_match_nothing(
    secured: tuple[NodeProcess, str], admin: Elasticsearch, query: dict[str, Any]
) -> None:
    assert admin.count(index=INDEX, query=query)["count"] >= 1
    fiona = _client(secured, "fiona")
    assert fiona.count(index=INDEX, query=query)["count"] == 0
    assert fiona.search(index=INDEX, query=query)["hits"]["total"]["value"] == 0


def test_fls_visible_fields_still_query(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    fiona = _client(secured, "fiona")
    assert fiona.count(index=INDEX, query={"term": {"customer.handle": "ann"}})["count"] == 1
    assert fiona.count(index=INDEX, query={"exists": {"field": "customer"}})["count"] == 1
    assert fiona.count(index=INDEX, q="memo")["count"] == 2
    negated = {"bool": {"must_not": [{"term": {"salary": 100}}]}}
    assert fiona.count(index=INDEX, query=negated)["count"] == 5


def test_fls_hides_fields_from_aggregations_sort_and_highlight(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    fiona = _client(secured, "fiona")
    result = fiona.search(
        index=INDEX,
        size=0,
        aggs={
            "pay": {"sum": {"field": "salary"}},
            "top": {"max": {"field": "salary"}},
            "emails": {"terms": {"field": "customer.email"}},
            "depts": {"terms": {"field": "dept"}},
            "paid": {"filter": {"range": {"salary": {"gte": 0}}}},
        },
    )
    aggs = result["aggregations"]
    assert aggs["pay"]["value"] == 0.0
    assert aggs["top"]["value"] is None
    assert aggs["emails"]["buckets"] == []
    assert {b["key"]: b["doc_count"] for b in aggs["depts"]["buckets"]} == {"eng": 3, "sales": 2}
    assert aggs["paid"]["doc_count"] == 0
    # Sorting on a hidden field reveals no order: every value is missing.
    by_salary = fiona.search(index=INDEX, sort=[{"salary": "desc"}], size=10)
    assert {tuple(h["sort"]) for h in by_salary["hits"]["hits"]} == {(LONG_MIN,)}
    marked = fiona.search(
        index=INDEX,
        query={"match": {"title": "alpha"}},
        highlight={"fields": {"title": {}, "customer.email": {}}},
    )
    assert marked["hits"]["hits"][0]["highlight"] == {"title": ["<em>alpha</em> report"]}


def test_fls_applies_to_scroll_pages(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    fiona = _client(secured, "fiona")
    first = fiona.search(index=INDEX, scroll="1m", size=2, sort=["_doc"])
    page = fiona.scroll(scroll_id=first["_scroll_id"], scroll="1m")
    for hit in first["hits"]["hits"] + page["hits"]["hits"]:
        assert "salary" not in hit["_source"]
    fiona.clear_scroll(scroll_id=first["_scroll_id"])


# --- both, and combinations ---------------------------------------------------------------------


def test_dls_on_a_field_fls_hides(secured: tuple[NodeProcess, str], admin: Elasticsearch) -> None:
    sam = _client(secured, "sam")
    result = sam.search(index=INDEX, size=10)
    assert _ids(result) == {"1", "2", "3"}  # the role query reads salary, FLS hides it
    assert all(set(h["_source"]) == {"title", "dept"} for h in result["hits"]["hits"])
    assert sam.count(index=INDEX, query={"range": {"salary": {"gte": 100}}})["count"] == 0
    with pytest.raises(NotFoundError):
        sam.get(index=INDEX, id="4")
    assert sam.get(index=INDEX, id="3")["_source"] == {"title": "gamma report", "dept": "sales"}


def test_roles_union_their_restrictions(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    # eng_only restricts documents but no fields; no_salary fields but no documents: together,
    # as in ES, nothing is restricted.
    una = _client(secured, "una")
    result = una.search(index=INDEX, size=10)
    assert _ids(result) == set(DOCS)
    assert una.get(index=INDEX, id="1")["_source"] == DOCS["1"]


def test_api_key_restrictions_intersect_with_its_owner(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    owen = _client(secured, "owen")
    key = owen.security.create_api_key(
        name="rich-titles",
        role_descriptors={
            "k": {
                "indices": [
                    {
                        "names": [INDEX],
                        "privileges": ["read"],
                        "query": {"range": {"salary": {"gte": 100}}},
                        "field_security": {"grant": ["title", "dept", "salary"]},
                    }
                ]
            }
        },
    )
    client = Elasticsearch(secured[0].url, api_key=key["encoded"], request_timeout=30)
    # Documents: the owner's eng AND the key's salary >= 100. Fields: the key's grant minus the
    # owner's except (salary).
    result = client.search(index=INDEX, size=10, aggs={"pay": {"sum": {"field": "salary"}}})
    assert _ids(result) == {"1", "2"}
    assert result["hits"]["total"]["value"] == 2
    assert result["hits"]["hits"][0]["_source"].keys() == {"title", "dept"}
    assert result["aggregations"]["pay"]["value"] == 0.0
    assert client.count(index=INDEX)["count"] == 2
    assert client.count(index=INDEX, query={"term": {"salary": 200}})["count"] == 0
    assert client.get(index=INDEX, id="2")["_source"] == {"title": "beta report", "dept": "eng"}
    for hidden in ("3", "5"):  # 3: the owner's DLS; 5: the key's
        with pytest.raises(NotFoundError):
            client.get(index=INDEX, id=hidden)
    docs = client.mget(index=INDEX, ids=["1", "3", "5"])["docs"]
    assert [d["found"] for d in docs] == [True, False, False]
    assert docs[0]["_source"] == {"title": "alpha report", "dept": "eng"}
    # The owner itself sees all its eng documents, salary hidden.
    owners = owen.search(index=INDEX, size=10)
    assert _ids(owners) == ENG
    assert all("salary" not in h["_source"] for h in owners["hits"]["hits"])


def test_update_is_refused_under_document_level_security(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    admin.security.put_role(
        name="eng_writer",
        indices=[
            {"names": [INDEX], "privileges": ["read", "write"], "query": {"term": {"dept": "eng"}}}
        ],
    )
    admin.security.put_user(username="walt", password="walt-secret", roles=["eng_writer"])
    walt = _client(secured, "walt")
    some_id = next(iter(DOCS))
    try:
        walt.update(index=INDEX, id=some_id, doc={"title": "changed"})
    except ApiError as exc:
        assert exc.meta.status == 400
        assert exc.body["error"]["type"] == "security_exception"
        assert exc.body["error"]["reason"] == (
            "Can't execute an update request if field or document level security is enabled"
        )
    else:
        raise AssertionError("update ran under DLS")
    assert admin.get(index=INDEX, id=some_id)["_source"]["title"] != "changed"


def test_fls_hides_fields_from_get_mapping(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    admin.security.put_role(
        name="no_salary_meta",
        indices=[
            {
                "names": [INDEX],
                "privileges": ["read", "view_index_metadata"],
                "field_security": {"grant": ["*"], "except": ["salary", "customer.email"]},
            }
        ],
    )
    admin.security.put_user(username="mia", password="mia-secret", roles=["no_salary_meta"])
    props = _client(secured, "mia").indices.get_mapping(index=INDEX)[INDEX]["mappings"][
        "properties"
    ]
    assert "salary" not in props
    assert set(props["customer"]["properties"]) == {"handle"}
    assert "title" in props
    full = admin.indices.get_mapping(index=INDEX)[INDEX]["mappings"]["properties"]
    assert "salary" in full


def test_terms_lookup_reads_as_the_caller(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    # The lookup document is read with the caller's privileges and DLS (ES: a get as the user).
    dave = _client(secured, "dave")
    own = {"terms": {"dept": {"index": INDEX, "id": "1", "path": "dept"}}}
    assert _ids(dave.search(index=INDEX, query=own)) == ENG
    hidden = {"terms": {"dept": {"index": INDEX, "id": "3", "path": "dept"}}}
    assert _ids(dave.search(index=INDEX, query=hidden)) == set()
    fiona = _client(secured, "fiona")
    lookup = {"terms": {"title": {"index": OPEN, "id": "n1", "path": "title"}}}
    with pytest.raises(ApiError) as info:
        fiona.search(index=INDEX, query=lookup)
    assert info.value.meta.status == 403
    error = info.value.body["error"]
    assert error["type"] == "security_exception"
    assert "action [indices:data/read/get] is unauthorized for user [fiona]" in error["reason"]
    assert f"on indices [{OPEN}]" in error["reason"]


def test_collapse_on_a_field_fls_hides(
    secured: tuple[NodeProcess, str], admin: Elasticsearch
) -> None:
    # fiona may not see salary: collapsing on it is collapsing on a field that is not there.
    fiona = _client(secured, "fiona")
    with pytest.raises(ApiError) as info:
        fiona.search(index=INDEX, collapse={"field": "salary"})
    cause = info.value.body["error"]["root_cause"][0]
    assert cause["reason"] == "no mapping found for `salary` in order to collapse on"
    assert len(fiona.search(index=INDEX, collapse={"field": "dept"})["hits"]["hits"]) == 2
