"""Index APIs against a real node: create/get/exists/delete, mappings (explicit and dynamic),
settings, refresh, open/close, aliases, and multi-target index expressions.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index

TEXT_WITH_KEYWORD = {
    "type": "text",
    "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
}


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("ix-", request)


def seed(es: Elasticsearch, index: str, *docs: dict[str, Any]) -> None:
    ops: list[dict[str, Any]] = []
    for n, doc in enumerate(docs, 1):
        ops += [{"index": {"_index": index, "_id": str(n)}}, doc]
    assert es.bulk(operations=ops, refresh=True)["errors"] is False


def hit_ids(resp: Any) -> set[tuple[str, str]]:
    return {(h["_index"], h["_id"]) for h in resp["hits"]["hits"]}


# --- create / get / exists / delete -------------------------------------------------------------


def test_create_wait_for_more_copies_than_the_index_has_is_es_400(
    es: Elasticsearch, idx: str
) -> None:
    # ES validates the count against 1 + number_of_replicas before creating (it was created).
    status, body = api_error(
        lambda: es.indices.create(
            index=idx, wait_for_active_shards=5, settings={"number_of_replicas": 1}
        )
    )
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    assert body["error"]["reason"] == (
        "invalid wait_for_active_shards[5]: cannot be greater than number of shard copies [2]"
    )
    assert not es.indices.exists(index=idx)


def test_create_defaults(es: Elasticsearch, idx: str) -> None:
    resp = es.indices.create(index=idx)
    assert resp.body == {"acknowledged": True, "shards_acknowledged": True, "index": idx}
    assert list(resp.body) == ["acknowledged", "shards_acknowledged", "index"]
    got = es.indices.get(index=idx)[idx]
    assert list(got) == ["aliases", "mappings", "settings"]
    assert got["aliases"] == {}
    assert got["mappings"] == {}
    settings = got["settings"]["index"]
    assert settings["number_of_shards"] == "1"
    assert settings["number_of_replicas"] == "1"
    assert settings["provided_name"] == idx
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", settings["uuid"])
    assert settings["creation_date"].isdigit()


def test_create_with_settings_and_mappings(es: Elasticsearch, idx: str) -> None:
    es.indices.create(
        index=idx,
        settings={"number_of_shards": 2, "number_of_replicas": 0},
        mappings={"properties": {"name": {"type": "keyword"}, "age": {"type": "integer"}}},
    )
    got = es.indices.get(index=idx)[idx]
    assert got["settings"]["index"]["number_of_shards"] == "2"
    assert got["settings"]["index"]["number_of_replicas"] == "0"
    assert got["mappings"] == {
        "properties": {"age": {"type": "integer"}, "name": {"type": "keyword"}}
    }
    health = es.cluster.health(index=idx)
    assert health["status"] == "green"
    assert health["active_primary_shards"] == 2


def test_create_with_nested_index_settings_form(es: Elasticsearch, idx: str) -> None:
    es.indices.create(
        index=idx, settings={"index": {"number_of_replicas": 0, "refresh_interval": "30s"}}
    )
    settings = es.indices.get_settings(index=idx)[idx]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"
    assert settings["refresh_interval"] == "30s"


def test_recreate_is_resource_already_exists(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    uuid = es.indices.get_settings(index=idx)[idx]["settings"]["index"]["uuid"]
    status, body = api_error(lambda: es.indices.create(index=idx))
    assert status == 400
    err = body["error"]
    assert err["type"] == "resource_already_exists_exception"
    assert err["reason"] == f"index [{idx}/{uuid}] already exists"
    assert err["index"] == idx
    assert err["index_uuid"] == uuid


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ABC", "must be lowercase"),
        ("-abc", "must not start with '_', '-', or '+'"),
        ("+abc", "must not start with '_', '-', or '+'"),
        ("a#b", "must not contain '#'"),
        ("..", "must not be '.' or '..'"),
        ("a:b", "must not contain ':'"),
    ],
)
def test_invalid_index_names(es: Elasticsearch, name: str, why: str) -> None:
    status, body = api_error(lambda: es.indices.create(index=name))
    assert status == 400
    err = body["error"]
    assert err["type"] == "invalid_index_name_exception"
    assert err["reason"] == f"Invalid index name [{name}], {why}"
    assert err["index"] == name
    assert err["index_uuid"] == "_na_"


def test_invalid_index_name_special_characters(es: Elasticsearch) -> None:
    status, body = api_error(lambda: es.perform_request("PUT", "/a%3Fb"))
    assert status == 400
    assert body["error"]["type"] == "invalid_index_name_exception"
    assert body["error"]["reason"] == (
        "Invalid index name [a?b], must not contain the following characters "
        '[ , ", *, \\, <, |, ,, >, /, ?]'
    )


def test_index_name_too_long(es: Elasticsearch) -> None:
    name = "a" * 256
    status, body = api_error(lambda: es.indices.create(index=name))
    assert status == 400
    assert body["error"]["type"] == "invalid_index_name_exception"
    assert (
        body["error"]["reason"]
        == f"Invalid index name [{name}], index name is too long, (256 > 255)"
    )


def test_exists_and_delete(es: Elasticsearch, idx: str) -> None:
    assert not es.indices.exists(index=idx)
    es.indices.create(index=idx)
    assert es.indices.exists(index=idx)
    deleted = es.indices.delete(index=idx)
    assert deleted.body == {"acknowledged": True}
    assert not es.indices.exists(index=idx)


def test_delete_comma_list(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx + "-1")
    es.indices.create(index=idx + "-2")
    assert es.indices.delete(index=f"{idx}-1,{idx}-2").body == {"acknowledged": True}
    assert not es.indices.exists(index=idx + "-1")
    assert not es.indices.exists(index=idx + "-2")


def test_create_with_aliases(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, aliases={idx + "-al": {"is_write_index": True}})
    assert es.indices.get(index=idx)[idx]["aliases"] == {idx + "-al": {"is_write_index": True}}
    assert es.index(index=idx + "-al", id="1", document={"a": 1})["_index"] == idx


def test_missing_index_errors(es: Elasticsearch, idx: str) -> None:
    for call in (
        lambda: es.indices.get(index=idx),
        lambda: es.indices.delete(index=idx),
        lambda: es.search(index=idx),
        lambda: es.indices.get_mapping(index=idx),
    ):
        status, body = api_error(call)
        assert status == 404
        err = body["error"]
        assert err["type"] == "index_not_found_exception"
        assert err["reason"] == f"no such index [{idx}]"
        assert err["index"] == idx
        assert err["index_uuid"] == "_na_"
        assert err["resource.type"] == "index_or_alias"
        assert err["resource.id"] == idx
        assert body["status"] == 404


def test_delete_by_wildcard_requires_name(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(lambda: es.indices.delete(index=idx[:-2] + "*"))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "Wildcard expressions or all indices are not allowed"
    assert es.indices.exists(index=idx)


# --- mappings -----------------------------------------------------------------------------------


def test_get_mapping_shape(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, mappings={"properties": {"f": {"type": "long"}}})
    resp = es.indices.get_mapping(index=idx)
    assert resp.body == {idx: {"mappings": {"properties": {"f": {"type": "long"}}}}}


def test_put_mapping_is_additive(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, mappings={"properties": {"f": {"type": "long"}}})
    resp = es.indices.put_mapping(index=idx, properties={"g": {"type": "keyword"}})
    assert resp.body == {"acknowledged": True}
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props == {"f": {"type": "long"}, "g": {"type": "keyword"}}


def test_put_mapping_type_change_is_rejected(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, mappings={"properties": {"f": {"type": "long"}}})
    status, body = api_error(
        lambda: es.indices.put_mapping(index=idx, properties={"f": {"type": "text"}})
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "mapper [f] cannot be changed from type [long] to [text]"
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props == {"f": {"type": "long"}}


def test_put_mapping_unknown_type_is_rejected(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(
        lambda: es.indices.put_mapping(index=idx, properties={"f": {"type": "nope"}})
    )
    assert status == 400
    assert body["error"]["type"] == "mapper_parsing_exception"
    cause = (
        "The mapper type [nope] declared on field [f] does not exist. It might have been created "
        "within a future version or requires a plugin to be installed. Check the documentation."
    )
    assert body["error"]["reason"] == f"Failed to parse mapping: {cause}"
    assert body["error"]["caused_by"] == {"type": "mapper_parsing_exception", "reason": cause}


def test_dynamic_mapping_types(es: Elasticsearch, idx: str) -> None:
    es.index(
        index=idx,
        id="1",
        document={
            "s": "hello world",
            "n": 5,
            "f": 1.5,
            "d": "2015-01-01",
            "dt": "2015-01-01T12:10:30Z",
            "b": True,
            "o": {"x": "y", "k": 1},
            "numeric_string": "42",
            "nothing": None,
            "empty": [],
            "arr": [1, 2],
        },
    )
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert props["s"] == TEXT_WITH_KEYWORD
    assert props["n"] == {"type": "long"}
    assert props["f"] == {"type": "float"}
    assert props["d"] == {"type": "date"}
    assert props["dt"] == {"type": "date"}
    assert props["b"] == {"type": "boolean"}
    assert props["o"] == {"properties": {"k": {"type": "long"}, "x": TEXT_WITH_KEYWORD}}
    assert props["numeric_string"] == TEXT_WITH_KEYWORD  # numeric_detection is off by default
    assert props["arr"] == {"type": "long"}
    assert "nothing" not in props and "empty" not in props


def test_mapping_properties_render_sorted_by_name(es: Elasticsearch, idx: str) -> None:
    # ES's ObjectMapper serializes its sub-mappers sorted by name, whatever the order they arrived.
    es.index(index=idx, id="1", document={"zeta": 1, "alpha": 2, "mid": {"z": 1, "a": 2}})
    props = es.indices.get_mapping(index=idx)[idx]["mappings"]["properties"]
    assert list(props) == ["alpha", "mid", "zeta"]
    assert list(props["mid"]["properties"]) == ["a", "z"]


def test_dynamic_mapping_keyword_subfield_is_searchable(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"s": "Hello World"}, refresh=True)
    resp = es.search(index=idx, query={"term": {"s.keyword": "Hello World"}})
    assert resp["hits"]["total"]["value"] == 1
    resp = es.search(index=idx, query={"term": {"s": "hello"}})
    assert resp["hits"]["total"]["value"] == 1


def test_dynamic_strict_rejects_unknown_field(es: Elasticsearch, idx: str) -> None:
    es.indices.create(
        index=idx, mappings={"dynamic": "strict", "properties": {"a": {"type": "keyword"}}}
    )
    status, body = api_error(lambda: es.index(index=idx, id="1", document={"a": "x", "b": 1}))
    assert status == 400
    assert body["error"]["type"] == "strict_dynamic_mapping_exception"
    # The [line:col] prefix is the parser position; its exact column is not asserted.
    assert re.fullmatch(
        r"\[1:\d+\] mapping set to strict, dynamic introduction of \[b\] within "
        r"\[_doc\] is not allowed",
        body["error"]["reason"],
    )
    assert not es.exists(index=idx, id="1")


# --- settings -----------------------------------------------------------------------------------


def test_get_settings_shapes(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    nested = es.indices.get_settings(index=idx)
    assert list(nested.body) == [idx]
    assert nested[idx]["settings"]["index"]["number_of_shards"] == "1"
    flat = es.indices.get_settings(index=idx, flat_settings=True)[idx]["settings"]
    assert flat["index.number_of_shards"] == "1"
    assert flat["index.number_of_replicas"] == "1"
    named = es.indices.get_settings(index=idx, name="index.number_of_*", flat_settings=True)
    assert named.body == {
        idx: {"settings": {"index.number_of_replicas": "1", "index.number_of_shards": "1"}}
    }


def test_put_dynamic_settings(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    resp = es.indices.put_settings(index=idx, settings={"index": {"number_of_replicas": 0}})
    assert resp.body == {"acknowledged": True}
    resp = es.indices.put_settings(index=idx, settings={"refresh_interval": "5s"})
    assert resp.body == {"acknowledged": True}
    settings = es.indices.get_settings(index=idx)[idx]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"
    assert settings["refresh_interval"] == "5s"
    assert es.cluster.health(index=idx)["status"] == "green"


def test_put_static_setting_on_open_index_is_rejected(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    uuid = es.indices.get_settings(index=idx)[idx]["settings"]["index"]["uuid"]
    status, body = api_error(
        lambda: es.indices.put_settings(index=idx, settings={"index": {"number_of_shards": 2}})
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"Can't update non dynamic settings [[index.number_of_shards]] for open indices "
        f"[[{idx}/{uuid}]]"
    )
    assert es.indices.get_settings(index=idx)[idx]["settings"]["index"]["number_of_shards"] == "1"


def test_put_unknown_index_setting_is_rejected(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(
        lambda: es.indices.put_settings(index=idx, settings={"index": {"foo": 1}})
    )
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "unknown setting [index.foo] please check that any required plugins are installed, or "
        "check the breaking changes documentation for removed settings"
    )


def test_max_result_window_setting_is_applied(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"max_result_window": 5})
    status, body = api_error(lambda: es.search(index=idx, from_=3, size=3))
    assert status == 400
    assert body["error"]["root_cause"][0]["reason"].startswith(
        "Result window is too large, from + size must be less than or equal to: [5] but was [6]."
    )


# --- refresh, open, close -----------------------------------------------------------------------


def test_refresh_response(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_replicas": 0})
    resp = es.indices.refresh(index=idx)
    assert resp.body == {"_shards": {"total": 1, "successful": 1, "failed": 0}}


def test_close_and_open(es: Elasticsearch, idx: str) -> None:
    seed(es, idx, {"a": 1}, {"a": 2})
    closed = es.indices.close(index=idx)
    assert closed.body == {
        "acknowledged": True,
        "shards_acknowledged": True,
        "indices": {idx: {"closed": True}},
    }

    status, body = api_error(lambda: es.search(index=idx))
    assert status == 400
    err = body["error"]
    assert err["type"] == "index_closed_exception"
    assert err["reason"] == "closed"
    assert err["index"] == idx

    status, body = api_error(lambda: es.get(index=idx, id="1"))
    assert (status, body["error"]["type"]) == (400, "index_closed_exception")
    status, body = api_error(lambda: es.index(index=idx, id="3", document={"a": 3}))
    assert (status, body["error"]["type"]) == (400, "index_closed_exception")

    assert es.indices.exists(index=idx)
    opened = es.indices.open(index=idx)
    assert opened.body == {"acknowledged": True, "shards_acknowledged": True}
    assert es.count(index=idx)["count"] == 2
    assert es.get(index=idx, id="1")["_source"] == {"a": 1}


def test_static_setting_can_change_on_closed_index(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    es.indices.close(index=idx)
    es.indices.put_settings(index=idx, settings={"index": {"codec": "best_compression"}})
    es.indices.open(index=idx)
    assert es.indices.get_settings(index=idx)[idx]["settings"]["index"]["codec"] == (
        "best_compression"
    )


# --- aliases ------------------------------------------------------------------------------------


def test_alias_add_search_and_remove(es: Elasticsearch, idx: str) -> None:
    seed(es, idx, {"a": 1})
    alias = idx + "-alias"
    resp = es.indices.update_aliases(actions=[{"add": {"index": idx, "alias": alias}}])
    assert resp.body == {"acknowledged": True, "errors": False}
    assert es.indices.get_alias(name=alias).body == {idx: {"aliases": {alias: {}}}}
    assert es.indices.exists_alias(name=alias)
    assert es.search(index=alias)["hits"]["total"]["value"] == 1
    assert es.get(index=alias, id="1")["_index"] == idx

    es.indices.update_aliases(actions=[{"remove": {"index": idx, "alias": alias}}])
    assert not es.indices.exists_alias(name=alias)
    resp = es.options(ignore_status=404).indices.get_alias(name=alias)
    assert resp.meta.status == 404
    assert resp.body == {"error": f"alias [{alias}] missing", "status": 404}


def test_alias_with_filter(es: Elasticsearch, idx: str) -> None:
    seed(es, idx, {"color": "red"}, {"color": "blue"}, {"color": "red"})
    alias = idx + "-red"
    es.indices.put_mapping(index=idx, properties={"color": TEXT_WITH_KEYWORD})
    es.indices.update_aliases(
        actions=[
            {"add": {"index": idx, "alias": alias, "filter": {"term": {"color.keyword": "red"}}}}
        ]
    )
    assert es.search(index=alias)["hits"]["total"]["value"] == 2
    assert es.count(index=alias)["count"] == 2
    assert es.count(index=idx)["count"] == 3
    got = es.indices.get_alias(index=idx)
    assert got[idx]["aliases"][alias] == {"filter": {"term": {"color.keyword": "red"}}}


def test_alias_write_index(es: Elasticsearch, idx: str) -> None:
    old, new, alias = idx + "-1", idx + "-2", idx + "-w"
    es.indices.create(index=old)
    es.indices.create(index=new)
    es.indices.update_aliases(
        actions=[
            {"add": {"index": old, "alias": alias, "is_write_index": False}},
            {"add": {"index": new, "alias": alias, "is_write_index": True}},
        ]
    )
    written = es.index(index=alias, id="1", document={"x": 1}, refresh=True)
    assert written["_index"] == new
    assert es.search(index=alias)["hits"]["total"]["value"] == 1
    aliases = es.indices.get_alias(name=alias)
    assert aliases[new]["aliases"][alias] == {"is_write_index": True}
    assert aliases[old]["aliases"][alias] == {"is_write_index": False}


def test_alias_over_two_indices_without_write_index(es: Elasticsearch, idx: str) -> None:
    one, two, alias = idx + "-1", idx + "-2", idx + "-multi"
    seed(es, one, {"n": 1})
    seed(es, two, {"n": 2})
    es.indices.update_aliases(actions=[{"add": {"indices": [one, two], "alias": alias}}])
    assert hit_ids(es.search(index=alias)) == {(one, "1"), (two, "1")}
    status, body = api_error(lambda: es.index(index=alias, document={"x": 1}))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"no write index is defined for alias [{alias}]. The write index may be explicitly "
        "disabled using is_write_index=false or the alias points to multiple indices without "
        "one being designated as a write index"
    )


def test_put_alias_endpoint_and_delete(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    alias = idx + "-a"
    # Both endpoints run an IndicesAliasesRequest, so they answer like POST /_aliases.
    assert es.indices.put_alias(index=idx, name=alias).body == {
        "acknowledged": True,
        "errors": False,
    }
    assert es.indices.exists_alias(index=idx, name=alias)
    assert es.indices.delete_alias(index=idx, name=alias).body == {
        "acknowledged": True,
        "errors": False,
    }
    assert not es.indices.exists_alias(index=idx, name=alias)


def test_alias_on_missing_index(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(
        lambda: es.indices.update_aliases(actions=[{"add": {"index": idx, "alias": idx + "-a"}}])
    )
    assert status == 404
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["error"]["reason"] == f"no such index [{idx}]"


def test_alias_name_clashing_with_index(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    es.indices.create(index=idx + "-other")
    status, body = api_error(
        lambda: es.indices.update_aliases(
            actions=[{"add": {"index": idx, "alias": idx + "-other"}}]
        )
    )
    assert status == 400
    assert body["error"]["type"] == "invalid_alias_name_exception"
    assert body["error"]["reason"] == (
        f"Invalid alias name [{idx}-other]: an index or data stream exists with the same name as "
        "the alias"
    )


# --- multi-target expressions -------------------------------------------------------------------


def test_comma_list_wildcard_and_all(es: Elasticsearch, idx: str) -> None:
    a, b, c = idx + "-a", idx + "-b", idx + "-c"
    seed(es, a, {"v": "a"})
    seed(es, b, {"v": "b"})
    seed(es, c, {"v": "c"})
    assert hit_ids(es.search(index=f"{a},{b}")) == {(a, "1"), (b, "1")}
    assert hit_ids(es.search(index=f"{idx}-*")) == {(a, "1"), (b, "1"), (c, "1")}
    assert hit_ids(es.search(index=f"{idx}-*,-{b}")) == {(a, "1"), (c, "1")}
    everything = es.search(index="_all", size=10000, query={"prefix": {"v.keyword": ""}})
    assert {(a, "1"), (b, "1"), (c, "1")} <= hit_ids(everything)
    assert es.count(index=f"{idx}-*")["count"] == 3
    got = es.indices.get(index=f"{idx}-*")
    assert sorted(got.body) == [a, b, c]


def test_missing_index_in_list(es: Elasticsearch, idx: str) -> None:
    seed(es, idx, {"v": 1})
    missing = idx + "-missing"
    status, body = api_error(lambda: es.search(index=f"{idx},{missing}"))
    assert status == 404
    assert body["error"]["reason"] == f"no such index [{missing}]"
    resp = es.search(index=f"{idx},{missing}", ignore_unavailable=True)
    assert hit_ids(resp) == {(idx, "1")}


def test_wildcard_matching_nothing(es: Elasticsearch, idx: str) -> None:
    pattern = idx + "-nomatch-*"
    resp = es.search(index=pattern)
    assert resp["hits"]["total"] == {"value": 0, "relation": "eq"}
    assert resp["_shards"] == {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
    status, body = api_error(lambda: es.search(index=pattern, allow_no_indices=False))
    assert status == 404
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["error"]["reason"] == f"no such index [{pattern}]"


def test_expand_wildcards_open_closed(es: Elasticsearch, idx: str) -> None:
    opened, closed = idx + "-open", idx + "-closed"
    seed(es, opened, {"v": 1})
    seed(es, closed, {"v": 2})
    es.indices.close(index=closed)
    assert hit_ids(es.search(index=f"{idx}-*")) == {(opened, "1")}
    assert sorted(es.indices.get(index=f"{idx}-*").body) == [opened]
    everything = es.indices.get(index=f"{idx}-*", expand_wildcards="all")
    assert sorted(everything.body) == [closed, opened]
    only_closed = es.indices.get(index=f"{idx}-*", expand_wildcards="closed")
    assert sorted(only_closed.body) == [closed]


def test_stats_docs_count(es: Elasticsearch, idx: str) -> None:
    seed(es, idx, {"a": 1}, {"a": 2}, {"a": 3})
    stats = es.indices.stats(index=idx)
    assert stats["indices"][idx]["primaries"]["docs"]["count"] == 3
    assert stats["_all"]["primaries"]["docs"]["count"] == 3
