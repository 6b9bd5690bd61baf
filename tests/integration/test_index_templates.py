"""Index templates through the official client: composable, component and legacy templates,
their merge into new indices (explicit and auto-created), simulate, and ES's errors."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch, ElasticsearchWarning


def error_of(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as err:
        call()
    body = err.value.body
    return err.value.status_code, body["error"]["type"], body["error"]["reason"]


def test_composable_template_crud_and_errors(es: Elasticsearch) -> None:
    es.indices.put_index_template(
        name="t18-crud",
        index_patterns=["t18crud-*"],
        priority=5,
        version=3,
        meta={"owner": "team"},
        allow_auto_create=True,
        template={"settings": {"number_of_shards": 2}, "aliases": {"t18crud-all": {}}},
    )
    got = es.indices.get_index_template(name="t18-crud").body
    assert got == {
        "index_templates": [
            {
                "name": "t18-crud",
                "index_template": {
                    "index_patterns": ["t18crud-*"],
                    "template": {
                        "settings": {"index": {"number_of_shards": "2"}},
                        "aliases": {"t18crud-all": {}},
                    },
                    "composed_of": [],
                    "priority": 5,
                    "version": 3,
                    "_meta": {"owner": "team"},
                    "allow_auto_create": True,
                },
            }
        ]
    }
    flat = es.indices.get_index_template(name="t18-crud", flat_settings=True)["index_templates"]
    assert flat[0]["index_template"]["template"]["settings"] == {"index.number_of_shards": "2"}
    assert es.indices.exists_index_template(name="t18-crud")
    assert not es.indices.exists_index_template(name="t18-nothing")
    names = [t["name"] for t in es.indices.get_index_template(name="t18-*")["index_templates"]]
    assert "t18-crud" in names
    assert error_of(lambda: es.indices.get_index_template(name="t18-nothing")) == (
        404, "resource_not_found_exception", "index template matching [t18-nothing] not found"
    )  # fmt: skip
    assert error_of(
        lambda: es.indices.put_index_template(
            name="t18-crud", index_patterns=["t18crud-*"], create=True
        )
    ) == (400, "illegal_argument_exception", "index template [t18-crud] already exists")
    # Same priority, overlapping patterns: ES's text names both sides.
    assert error_of(
        lambda: es.indices.put_index_template(
            name="t18-clash", index_patterns=["t18crud-a*", "t18z"], priority=5
        )
    ) == (
        400,
        "illegal_argument_exception",
        "index template [t18-clash] has index patterns [t18crud-a*, t18z] matching patterns "
        "from existing templates [t18-crud] with patterns (t18-crud => [t18crud-*]) that have "
        "the same priority [5], multiple index templates may not match during index creation, "
        "please use a different priority",
    )
    assert error_of(
        lambda: es.indices.put_index_template(
            name="t18-bad", index_patterns=["t18bad-*"], composed_of=["t18-no-such"]
        )
    ) == (
        400,
        "invalid_index_template_exception",
        "index_template [t18-bad] invalid, cause [index template [t18-bad] specifies component "
        "templates [t18-no-such] that do not exist]",
    )
    assert error_of(
        lambda: es.indices.put_index_template(
            name="t18-bad", index_patterns=["t18bad-*"], template={"settings": {"no_such_key": 1}}
        )
    )[1:] == (
        "illegal_argument_exception",
        "unknown setting [index.no_such_key] please check that any required plugins are installed, "
        "or check the breaking changes documentation for removed settings",
    )
    assert es.indices.delete_index_template(name="t18-crud")["acknowledged"] is True
    assert error_of(lambda: es.indices.delete_index_template(name="t18-crud")) == (
        404, "index_template_missing_exception", "index_template [t18-crud] missing"
    )  # fmt: skip


def test_new_indices_merge_components_template_and_request(es: Elasticsearch) -> None:
    es.cluster.put_component_template(
        name="t18-ct-settings",
        template={"settings": {"number_of_shards": 3, "refresh_interval": "5s"}},
        version=1,
    )
    es.cluster.put_component_template(
        name="t18-ct-mappings",
        template={
            "mappings": {"properties": {"host": {"type": "keyword"}, "n": {"type": "long"}}},
            "aliases": {"t18merge-alias": {}},
        },
    )
    got = es.cluster.get_component_template(name="t18-ct-settings").body
    assert got == {
        "component_templates": [
            {
                "name": "t18-ct-settings",
                "component_template": {
                    "template": {
                        "settings": {"index": {"number_of_shards": "3", "refresh_interval": "5s"}}
                    },
                    "version": 1,
                },
            }
        ]
    }
    es.indices.put_index_template(
        name="t18-merge",
        index_patterns=["t18merge-*"],
        composed_of=["t18-ct-settings", "t18-ct-mappings"],
        template={"settings": {"refresh_interval": "2s"}, "mappings": {"properties": {"n": {"type": "integer"}}}},
    )  # fmt: skip
    # Explicit creation: the request's settings and mappings win last.
    es.indices.create(
        index="t18merge-explicit",
        settings={"number_of_replicas": 0},
        mappings={"properties": {"extra": {"type": "keyword"}}},
    )
    index = es.indices.get(index="t18merge-explicit")["t18merge-explicit"]
    settings = index["settings"]["index"]
    assert (settings["number_of_shards"], settings["refresh_interval"]) == ("3", "2s")
    assert settings["number_of_replicas"] == "0"
    assert index["mappings"]["properties"] == {
        "extra": {"type": "keyword"},
        "host": {"type": "keyword"},
        "n": {"type": "integer"},
    }
    assert index["aliases"] == {"t18merge-alias": {}}
    # Auto-creation by a write takes the same templates.
    es.index(index="t18merge-auto", document={"host": "h1", "n": 1}, refresh=True)
    auto = es.indices.get(index="t18merge-auto")["t18merge-auto"]
    assert auto["settings"]["index"]["number_of_shards"] == "3"
    assert auto["mappings"]["properties"]["host"] == {"type": "keyword"}
    assert es.count(index="t18merge-alias")["count"] == 1
    # A component in use may not go; one no template uses may.
    assert error_of(lambda: es.cluster.delete_component_template(name="t18-ct-settings")) == (
        400,
        "illegal_argument_exception",
        "component templates [t18-ct-settings] cannot be removed as they are still in use by "
        "index templates [t18-merge]",
    )
    simulated = es.indices.simulate_index_template(name="t18merge-next").body
    assert simulated["template"]["settings"]["index"]["number_of_shards"] == "3"
    assert simulated["template"]["mappings"]["properties"]["n"] == {"type": "integer"}
    assert simulated["template"]["aliases"] == {"t18merge-alias": {}}
    assert simulated["overlapping"] == []
    by_name = es.indices.simulate_template(name="t18-merge").body
    assert by_name["template"]["settings"]["index"]["refresh_interval"] == "2s"
    # A template simulated from a body is checked as putting it would be.
    assert error_of(
        lambda: es.indices.simulate_template(index_patterns=["t18sim-*"], composed_of=["nope"])
    ) == (
        400,
        "invalid_index_template_exception",
        "index_template [simulate_template] invalid, cause [index template [simulate_template] "
        "specifies component templates [nope] that do not exist]",
    )
    es.indices.delete_index_template(name="t18-merge")
    es.cluster.delete_component_template(name="t18-ct-settings,t18-ct-mappings")
    assert error_of(lambda: es.cluster.get_component_template(name="t18-ct-settings"))[:2] == (
        404, "resource_not_found_exception"
    )  # fmt: skip


def test_legacy_templates_order_precedence_and_warnings(es: Elasticsearch) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ElasticsearchWarning)
        es.indices.put_template(
            name="t18-legacy-low", index_patterns=["t18legacy-*"], order=0,
            settings={"number_of_shards": 4}, mappings={"properties": {"a": {"type": "keyword"}}},
        )  # fmt: skip
        es.indices.put_template(
            name="t18-legacy-high", index_patterns=["t18legacy-a*"], order=2,
            settings={"number_of_shards": 2},
        )  # fmt: skip
    texts = [str(w.message) for w in seen]
    assert "Legacy index templates are deprecated in favor of composable templates." in texts
    got = es.indices.get_template(name="t18-legacy-high").body
    assert got == {
        "t18-legacy-high": {
            "order": 2,
            "index_patterns": ["t18legacy-a*"],
            "settings": {"index": {"number_of_shards": "2"}},
            "mappings": {},
            "aliases": {},
        }
    }
    es.indices.create(index="t18legacy-abc")
    made = es.indices.get(index="t18legacy-abc")["t18legacy-abc"]
    assert made["settings"]["index"]["number_of_shards"] == "2"  # the higher order wins
    assert made["mappings"]["properties"] == {"a": {"type": "keyword"}}
    # A composable template takes precedence (ES warns when it is put), legacy ones are ignored.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ElasticsearchWarning)
        es.indices.put_index_template(
            name="t18-v2", index_patterns=["t18legacy-v2*"], template={"settings": {"number_of_shards": 1}}
        )  # fmt: skip
    assert [str(w.message) for w in seen] == [
        "index template [t18-v2] has index patterns [t18legacy-v2*] matching patterns from "
        "existing older templates [t18-legacy-low] with patterns (t18-legacy-low => "
        "[t18legacy-*]); this template [t18-v2] will take precedence during new index creation"
    ]
    rows = es.cat.templates(name="t18-*", format="json", s="name").body
    assert rows == [
        {"name": "t18-legacy-high", "index_patterns": "[t18legacy-a*]", "order": "2",
         "version": "", "composed_of": "[]"},
        {"name": "t18-legacy-low", "index_patterns": "[t18legacy-*]", "order": "0",
         "version": "", "composed_of": "[]"},
        {"name": "t18-v2", "index_patterns": "[t18legacy-v2*]", "order": "0",
         "version": "", "composed_of": "[]"},
    ]  # fmt: skip
    es.indices.create(index="t18legacy-v2x")
    v2x = es.indices.get(index="t18legacy-v2x")["t18legacy-v2x"]
    assert v2x["settings"]["index"]["number_of_shards"] == "1"
    assert "properties" not in v2x["mappings"]
    assert es.options(ignore_status=404).indices.get_template(name="t18-nothing").meta.status == 404
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ElasticsearchWarning)
        for name in ("t18-legacy-low", "t18-legacy-high"):
            es.indices.delete_template(name=name)
    es.indices.delete_index_template(name="t18-v2")
    assert error_of(lambda: es.indices.delete_template(name="t18-legacy-low")) == (
        404, "index_template_missing_exception", "index_template [t18-legacy-low] missing"
    )  # fmt: skip


def test_allow_auto_create_overrides_the_cluster_setting(es: Elasticsearch) -> None:
    es.indices.put_index_template(
        name="t18-noauto", index_patterns=["t18noauto-*"], allow_auto_create=False
    )
    es.indices.put_index_template(
        name="t18-auto", index_patterns=["t18auto-*"], allow_auto_create=True
    )
    assert error_of(lambda: es.index(index="t18noauto-a", document={"n": 1})) == (
        404,
        "index_not_found_exception",
        "no such index [t18noauto-a] and composable template [t18noauto-*] forbids index auto "
        "creation",
    )
    es.indices.create(index="t18noauto-explicit")  # only auto-creation is refused
    es.cluster.put_settings(persistent={"action.auto_create_index": "false"})
    try:
        assert error_of(lambda: es.index(index="t18other-a", document={"n": 1}))[2] == (
            "no such index [t18other-a] and [action.auto_create_index] is [false]"
        )
        assert es.index(index="t18auto-a", document={"n": 1})["result"] == "created"
    finally:
        es.cluster.put_settings(persistent={"action.auto_create_index": None})
    es.indices.delete_index_template(name="t18-noauto,t18-auto")
