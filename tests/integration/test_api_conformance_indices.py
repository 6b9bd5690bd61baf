"""Index and cluster APIs held to Elasticsearch's documented behaviour (issue 18, item 5).

Each expectation is ES 8/9's observable answer through the official client: the sections and
fields a response carries, HTTP status, error ``type`` and the exact ``reason`` text.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from elasticsearch import Elasticsearch

from tests.integration.support import api_error, unique_index


@pytest.fixture
def idx(request: pytest.FixtureRequest) -> str:
    return unique_index("conf-idx-", request)


# --- _stats ---------------------------------------------------------------------------------------


def test_stats_counts_noop_updates(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1})
    for _ in range(2):
        assert es.update(index=idx, id="1", doc={"v": 1})["result"] == "noop"
    es.update(index=idx, id="1", doc={"v": 2})  # a real update is no noop
    indexing = es.indices.stats(index=idx)["indices"][idx]["primaries"]["indexing"]
    assert indexing["noop_update_total"] == 2
    assert indexing["index_total"] == 2
    assert es.indices.stats(index=idx)["_all"]["total"]["indexing"]["noop_update_total"] == 2


def test_stats_metric_shows_only_that_section(es: Elasticsearch, idx: str) -> None:
    es.index(index=idx, id="1", document={"v": 1}, refresh=True)
    docs_only = es.indices.stats(index=idx, metric="docs")
    assert list(docs_only["indices"][idx]["primaries"]) == ["docs"]
    assert docs_only["indices"][idx]["primaries"]["docs"]["count"] == 1
    assert list(docs_only["_all"]["primaries"]) == ["docs"]
    two = es.indices.stats(index=idx, metric="store,indexing")
    assert sorted(two["indices"][idx]["total"]) == ["indexing", "store"]
    everything = es.indices.stats(index=idx, metric="_all")["indices"][idx]["primaries"]
    assert {"docs", "store", "indexing", "shard_stats"} <= set(everything)
    assert everything["shard_stats"] == {"total_count": 1}
    # Without an index too.
    assert list(es.indices.stats(metric="docs")["_all"]["total"]) == ["docs"]


def test_stats_unknown_metric_is_es_400_with_a_suggestion(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(lambda: es.indices.stats(index=idx, metric="doc"))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        f"request [/{idx}/_stats/doc] contains unrecognized metric: [doc] -> did you mean [docs]?"
    )
    status, body = api_error(lambda: es.indices.stats(metric="_all,docs"))
    assert status == 400
    assert body["error"]["reason"] == (
        "request [/_stats/_all,docs] contains _all and individual metrics [_all,docs]"
    )


# --- _aliases -------------------------------------------------------------------------------------


def test_aliases_reports_each_action_when_one_fails(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    resp = es.indices.update_aliases(
        actions=[
            {"add": {"index": idx, "alias": f"{idx}-new"}},
            {"remove": {"index": idx, "alias": f"{idx}-absent"}},
        ]
    )
    assert resp.body == {
        "acknowledged": True,
        "errors": True,
        "action_results": [
            {"action": {"type": "add", "indices": [idx], "aliases": [f"{idx}-new"]}, "status": 200},
            {
                "action": {"type": "remove", "indices": [idx], "aliases": [f"{idx}-absent"]},
                "status": 404,
                "error": {
                    "type": "aliases_not_found_exception",
                    "reason": f"aliases [{idx}-absent] missing",
                    "resource.type": "aliases",
                    "resource.id": f"{idx}-absent",
                },
            },
        ],
    }
    assert f"{idx}-new" in es.indices.get_alias(index=idx)[idx]["aliases"]
    ok = es.indices.update_aliases(actions=[{"add": {"index": idx, "alias": f"{idx}-2"}}])
    assert ok.body == {"acknowledged": True, "errors": False}


def test_aliases_nothing_to_do_and_must_exist_fail_the_request(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    status, body = api_error(
        lambda: es.indices.update_aliases(
            actions=[{"remove": {"index": idx, "aliases": [f"{idx}-x", f"{idx}-y"]}}]
        )
    )
    assert status == 404
    assert body["error"]["type"] == "aliases_not_found_exception"
    assert body["error"]["reason"] == f"aliases [{idx}-x, {idx}-y] missing"
    assert body["error"]["resource.id"] == [f"{idx}-x", f"{idx}-y"]
    # must_exist: true fails everything, the add included.
    status, body = api_error(
        lambda: es.indices.update_aliases(
            actions=[
                {"add": {"index": idx, "alias": f"{idx}-added"}},
                {"remove": {"index": idx, "alias": f"{idx}-x", "must_exist": True}},
            ]
        )
    )
    assert (status, body["error"]["reason"]) == (404, f"aliases [{idx}-x] missing")
    assert es.indices.get_alias(index=idx)[idx]["aliases"] == {}
    # must_exist: false is the per-action result.
    resp = es.indices.update_aliases(
        actions=[
            {"add": {"index": idx, "alias": f"{idx}-added"}},
            {"remove": {"index": idx, "alias": f"{idx}-x", "must_exist": False}},
        ]
    )
    assert resp["errors"] is True
    assert [r["status"] for r in resp["action_results"]] == [200, 404]


def test_alias_patterns_take_exclusions_after_a_wildcard(es: Elasticsearch, idx: str) -> None:
    names = [f"{idx}-a", f"{idx}-ab", f"{idx}-keep"]
    es.indices.create(index=idx, aliases={n: {} for n in names})
    got = es.indices.get_alias(index=idx, name=f"{idx}-*,-{idx}-ab")
    assert sorted(got[idx]["aliases"]) == [f"{idx}-a", f"{idx}-keep"]
    # A name excluded later is not reported missing; one that is not there is.
    got = es.options(ignore_status=404).indices.get_alias(
        index=idx, name=f"{idx}-zz,{idx}-*,-{idx}-zz"
    )
    assert got.meta.status == 200
    got = es.options(ignore_status=404).indices.get_alias(index=idx, name=f"{idx}-zz,{idx}-a")
    assert (got.meta.status, got["error"]) == (404, f"alias [{idx}-zz] missing")
    es.indices.update_aliases(
        actions=[{"remove": {"index": idx, "aliases": ["*", f"-{idx}-keep"]}}]
    )
    assert list(es.indices.get_alias(index=idx)[idx]["aliases"]) == [f"{idx}-keep"]


def test_aliases_of_closed_indices_are_listed_and_managed(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, aliases={f"{idx}-before": {}})
    es.indices.close(index=idx)
    es.indices.update_aliases(actions=[{"add": {"index": idx, "alias": f"{idx}-after"}}])
    assert sorted(es.indices.get_alias(name=f"{idx}-*")[idx]["aliases"]) == [
        f"{idx}-after",
        f"{idx}-before",
    ]
    assert sorted(es.indices.get_alias(index=idx)[idx]["aliases"]) == [
        f"{idx}-after",
        f"{idx}-before",
    ]
    assert idx in es.indices.get_alias()
    es.indices.delete_alias(index=idx, name=f"{idx}-before")
    assert list(es.indices.get_alias(index=idx)[idx]["aliases"]) == [f"{idx}-after"]


# --- _cluster/health --------------------------------------------------------------------------------


def test_health_level_shards_has_es_shard_entries(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_shards": 2, "number_of_replicas": 1})
    health = es.cluster.health(index=idx, level="shards")
    index = health["indices"][idx]
    assert list(index) == [
        "status",
        "number_of_shards",
        "number_of_replicas",
        "active_primary_shards",
        "active_shards",
        "relocating_shards",
        "initializing_shards",
        "unassigned_shards",
        "unassigned_primary_shards",
        "shards",
    ]
    assert index["shards"] == {
        str(n): {
            "status": "yellow",
            "primary_active": True,
            "active_shards": 1,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 1,
            "unassigned_primary_shards": 0,
        }
        for n in (0, 1)
    }
    assert "shards" not in es.cluster.health(index=idx, level="indices")["indices"][idx]
    status, body = api_error(lambda: es.cluster.health(index=idx, level="nodes"))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "level parameter must be one of [cluster] or [indices] or [shards] but was [nodes]"
    )


def test_health_counts_a_closed_index_like_an_open_one(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_shards": 2, "number_of_replicas": 1})
    es.indices.close(index=idx)
    # Closed indices keep their shards allocated (ES 7.2+): yellow with one replica per shard.
    health = es.cluster.health(index=idx, level="shards", timeout="1s")
    assert health["status"] == "yellow"
    assert (health["active_primary_shards"], health["unassigned_shards"]) == (2, 2)
    index = health["indices"][idx]
    assert (index["status"], index["active_primary_shards"]) == ("yellow", 2)
    assert index["shards"]["1"]["primary_active"] is True
    es.indices.put_settings(index=idx, settings={"number_of_replicas": 0})
    assert es.cluster.health(index=idx)["status"] == "green"


# --- date math index names --------------------------------------------------------------------------


def test_date_math_names_create_write_and_search(es: Elasticsearch, idx: str) -> None:
    today = datetime.now(UTC).strftime("%Y.%m.%d")
    month = datetime.now(UTC).strftime("%Y.%m")
    expression = f"<{idx}-{{now/d}}>"
    created = es.indices.create(index=expression)
    assert created["index"] == f"{idx}-{today}"
    es.index(index=expression, id="1", document={"v": 1}, refresh=True)
    assert es.count(index=expression)["count"] == 1
    # URL-encoded by hand, with a format and an exclusion of today's index.
    encoded = "%3C" + idx + "-%7Bnow%2Fd%7D%3E"
    hits = es.perform_request("GET", f"/{encoded}/_search")
    assert hits["hits"]["hits"][0]["_index"] == f"{idx}-{today}"
    es.indices.create(index=f"<{idx}-{{now/M{{yyyy.MM}}}}>")
    assert es.indices.exists(index=f"{idx}-{month}")
    both = es.search(index=f"{idx}-*,-<{idx}-{{now/d}}>")
    assert both["hits"]["total"]["value"] == 0  # only the (empty) monthly index is left


def test_date_math_name_errors_are_es_parse_exceptions(es: Elasticsearch, idx: str) -> None:
    status, body = api_error(lambda: es.indices.create(index=f"<{idx}-{{now/d>"))
    assert status == 400
    assert body["error"]["type"] == "parse_exception"
    assert body["error"]["reason"] == (
        f"invalid dynamic name expression [{idx}-{{now/d>]. date math placeholder is open ended"
    )
    status, body = api_error(lambda: es.search(index=f"<{idx}-}}>"))
    assert (status, body["error"]["type"]) == (400, "parse_exception")
    assert body["error"]["reason"].startswith(
        f"invalid dynamic name expression [{idx}-}}>]. invalid character at position ["
    )


# --- _cat -----------------------------------------------------------------------------------------


def test_cat_columns_by_alias_and_wildcard(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_replicas": 0})
    es.index(index=idx, id="1", document={"v": 1}, refresh=True)
    rows = es.cat.indices(index=idx, h="i,dc,h,p", format="json").body
    assert rows == [{"i": idx, "dc": "1", "h": "green", "p": "1"}]
    text = es.cat.indices(index=idx, h="idx,docsCount", v=True).body
    assert text.splitlines()[0].split() == ["idx", "docsCount"]
    assert text.splitlines()[1].split() == [idx, "1"]
    # A wildcard matches names (and aliases) and shows the column names.
    assert list(es.cat.indices(index=idx, h="docs.*", format="json").body[0]) == [
        "docs.count",
        "docs.deleted",
    ]
    # s sorts by alias too.
    es.indices.create(index=f"{idx}-b", settings={"number_of_replicas": 0})
    sorted_rows = es.cat.indices(index=f"{idx}*", h="i", s="i:desc", format="json").body
    assert [r["i"] for r in sorted_rows] == [f"{idx}-b", idx]
    health = es.cat.health(h="st,asp", format="json").body[0]
    assert list(health) == ["st", "asp"]
    shards = es.cat.shards(index=idx, h="i,s,p,st", format="json").body
    assert {"i": idx, "s": "0", "p": "p", "st": "STARTED"} in shards
    aliases = es.cat.aliases(h="a,i,w", format="json").body
    assert isinstance(aliases, list)


def test_cat_indices_health_filter(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=f"{idx}-g", settings={"number_of_replicas": 0})
    es.indices.create(index=f"{idx}-y", settings={"number_of_replicas": 1})
    es.indices.create(index=f"{idx}-c", settings={"number_of_replicas": 0})
    es.indices.close(index=f"{idx}-c")

    def names(health: str) -> list[str]:
        rows = es.cat.indices(index=f"{idx}-*", health=health, h="index", format="json").body
        return sorted(r["index"] for r in rows)

    assert names("green") == [f"{idx}-c", f"{idx}-g"]  # a closed index has a health too
    assert names("yellow") == [f"{idx}-y"]
    assert names("red") == []
    status, body = api_error(lambda: es.cat.indices(index=f"{idx}-*", health="blue"))
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "unknown cluster health status [blue]"


# --- flat_settings ----------------------------------------------------------------------------------


def test_flat_settings_on_every_api_that_takes_it(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx, settings={"number_of_shards": 2})
    assert (
        es.indices.get_settings(index=idx, flat_settings=True)[idx]["settings"][
            "index.number_of_shards"
        ]
        == "2"
    )
    assert (
        es.indices.get(index=idx, flat_settings=True)[idx]["settings"]["index.number_of_shards"]
        == "2"
    )
    state = es.cluster.state(metric="metadata")
    assert state["metadata"]["indices"][idx]["settings"]["index"]["number_of_shards"] == "2"
    flat_state = es.cluster.state(metric="metadata", flat_settings=True)
    assert flat_state["metadata"]["indices"][idx]["settings"]["index.number_of_shards"] == "2"
    nodes = es.nodes.info(flat_settings=True)["nodes"]
    assert all("node.name" in n["settings"] for n in nodes.values())
    assert all("node" in n["settings"] for n in es.nodes.info()["nodes"].values())
    try:
        put = es.cluster.put_settings(persistent={"search.max_buckets": 12345}, flat_settings=True)
        assert put["persistent"] == {"search.max_buckets": "12345"}
        nested = es.cluster.put_settings(persistent={"search.max_buckets": 12346})
        assert nested["persistent"] == {"search": {"max_buckets": "12346"}}
        got = es.cluster.get_settings(flat_settings=True)
        assert got["persistent"]["search.max_buckets"] == "12346"
    finally:
        es.cluster.put_settings(persistent={"search.max_buckets": None})
    for call in (
        lambda: es.cluster.get_settings(flat_settings="yes"),
        lambda: es.indices.get_settings(index=idx, flat_settings="yes"),
        lambda: es.nodes.info(flat_settings="yes"),
        lambda: es.cluster.state(metric="metadata", flat_settings="yes"),
    ):
        status, body = api_error(call)
        assert status == 400
        assert body["error"]["type"] == "illegal_argument_exception"
        assert body["error"]["reason"] == (
            "Failed to parse value [yes] as only [true] or [false] are allowed."
        )


# --- _capabilities ----------------------------------------------------------------------------------


def test_capabilities_answers_from_the_served_routes(es: Elasticsearch, idx: str) -> None:
    def ask(**params: str) -> dict[str, object]:
        return es.perform_request("GET", "/_capabilities", params=params).body

    yes = ask(method="GET", path=f"/{idx}/_search", parameters="size,from")
    assert list(yes) == ["_nodes", "cluster_name", "supported"]
    assert yes["supported"] is True
    assert yes["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    assert ask(path="/_cluster/health")["supported"] is True  # method defaults to GET
    assert ask(method="PUT", path="/_cluster/health")["supported"] is False
    assert ask(path="/_nope/_nope/_nope")["supported"] is False
    assert ask(path=f"/{idx}/_search", parameters="no_such_param")["supported"] is False
    assert ask(path=f"/{idx}/_search", capabilities="some_capability")["supported"] is False
    assert ask(path="%2F_cluster%2Fhealth")["supported"] is True  # ES URL-decodes path
    status, body = api_error(lambda: ask(method="FETCH", path="/"))
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    assert body["error"]["reason"] == (
        "No enum constant org.elasticsearch.rest.RestRequest.Method.FETCH"
    )


def test_search_exclusion_of_an_alias_a_wildcard_named(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=f"{idx}-1", aliases={f"{idx}-al-one": {}})
    es.indices.create(index=f"{idx}-2", aliases={f"{idx}-al-two": {}})
    es.index(index=f"{idx}-1", id="1", document={"n": 1}, refresh=True)
    es.index(index=f"{idx}-2", id="2", document={"n": 2}, refresh=True)
    hits = es.search(index=f"{idx}-al-*,-{idx}-al-one")["hits"]["hits"]
    assert [h["_index"] for h in hits] == [f"{idx}-2"]
    both = es.search(index=f"{idx}-al-*,-{idx}-al-z*")["hits"]["total"]["value"]
    assert both == 2


def test_stats_level_follows_es_cluster_stats_level(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=idx)
    cluster_level = es.indices.stats(index=idx, level="cluster")
    assert list(cluster_level) == ["_shards", "_all"]
    assert "shards" not in es.indices.stats(index=idx)["indices"][idx]
    status, body = api_error(lambda: es.indices.stats(index=idx, level="node"))
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    assert body["error"]["reason"] == (
        "level parameter must be one of [cluster] or [indices] or [shards] but was [node]"
    )


def test_search_through_an_alias_of_a_closed_index(es: Elasticsearch, idx: str) -> None:
    es.indices.create(index=f"{idx}-open", aliases={f"{idx}-al": {}})
    es.indices.create(index=f"{idx}-closed", aliases={f"{idx}-al": {}})
    es.index(index=f"{idx}-open", id="1", document={"n": 1}, refresh=True)
    es.indices.close(index=f"{idx}-closed")
    status, body = api_error(lambda: es.search(index=f"{idx}-al"))
    assert status == 400
    err = body["error"]
    assert (err["type"], err["reason"], err["index"]) == (
        "index_closed_exception",
        "closed",
        f"{idx}-closed",
    )
    hits = es.search(index=f"{idx}-al", ignore_unavailable=True)["hits"]["hits"]
    assert [h["_index"] for h in hits] == [f"{idx}-open"]
