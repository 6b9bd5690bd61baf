"""Data streams through the official client: created by the first write a template matches,
append-only, searched by name and wildcard, rolled over, listed, resolved, deleted, and kept
across a restart."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess


def error_of(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as err:
        call()
    body = err.value.body
    return err.value.status_code, body["error"]["type"], body["error"]["reason"]


def docs(stream: str, start: int, count: int) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for i in range(start, start + count):
        ops += [
            {"create": {"_index": stream}},
            {"@timestamp": f"2024-05-01T00:00:{i:02d}Z", "host": f"h{i % 2}", "n": i},
        ]
    return ops


def test_data_stream_lifecycle(es: Elasticsearch) -> None:
    es.indices.put_index_template(
        name="ds18-template",
        index_patterns=["ds18-*"],
        data_stream={},
        priority=100,
        meta={"purpose": "test"},
        template={"mappings": {"properties": {"host": {"type": "keyword"}}}},
    )
    # The first write creates the stream and its first backing index.
    bulk = es.bulk(operations=docs("ds18-app", 0, 3), refresh=True)
    assert not bulk["errors"]
    first = bulk["items"][0]["create"]["_index"]
    assert first.startswith(".ds-ds18-app-") and first.endswith("-000001")
    (stream,) = es.indices.get_data_stream(name="ds18-app")["data_streams"]
    assert {k: stream[k] for k in ("name", "generation", "status", "template", "hidden")} == {
        "name": "ds18-app", "generation": 1, "status": "YELLOW",  # one node, 1 replica
        "template": "ds18-template", "hidden": False,
    }  # fmt: skip
    assert stream["timestamp_field"] == {"name": "@timestamp"}
    assert stream["_meta"] == {"purpose": "test"}
    assert [i["index_name"] for i in stream["indices"]] == [first]
    backing = es.indices.get(index=first)[first]
    assert backing["settings"]["index"]["hidden"] == "true"
    assert backing["data_stream"] == "ds18-app"
    assert backing["mappings"]["properties"]["@timestamp"] == {"type": "date"}
    assert backing["mappings"]["properties"]["host"] == {"type": "keyword"}

    # Append-only: index, update and delete by id are refused with ES's text.
    only_create = "only write ops with an op_type of create are allowed in data streams"
    assert error_of(
        lambda: es.index(index="ds18-app", id="1", document={"@timestamp": "2024-05-01"})
    ) == (400, "illegal_argument_exception", only_create)
    assert error_of(lambda: es.delete(index="ds18-app", id="1")) == (
        400, "illegal_argument_exception", only_create
    )  # fmt: skip
    items = es.bulk(
        operations=[
            {"index": {"_index": "ds18-app"}}, {"@timestamp": "2024-05-01"},
            {"update": {"_index": "ds18-app", "_id": "x"}}, {"doc": {"n": 1}},
            {"delete": {"_index": "ds18-app", "_id": "x"}},
        ]
    )["items"]  # fmt: skip
    assert [next(iter(i.values()))["error"]["reason"] for i in items] == [only_create] * 3
    assert error_of(lambda: es.index(index="ds18-app", document={"n": 1}, op_type="create")) == (
        400,
        "document_parsing_exception",
        "[1:7] failed to parse: data stream timestamp field [@timestamp] is missing",
    )
    assert error_of(lambda: es.index(index=first, id="1", document={"@timestamp": "2024"}))[
        2
    ].endswith("target corresponding data stream [ds18-app] instead")
    assert error_of(lambda: es.indices.create(index="ds18-plain")) == (
        400,
        "illegal_argument_exception",
        "cannot create index with name [ds18-plain], because it matches with template "
        "[ds18-template] that creates data streams only, use create data stream api instead",
    )

    # Rollover: conditions not met, dry run, then met.
    not_yet = es.indices.rollover(alias="ds18-app", conditions={"max_docs": 100}).body
    assert not_yet["rolled_over"] is False and not_yet["conditions"] == {"[max_docs: 100]": False}
    assert not_yet["old_index"] == first and not_yet["new_index"].endswith("-000002")
    dry = es.indices.rollover(alias="ds18-app", conditions={"max_docs": 3}, dry_run=True).body
    assert (dry["dry_run"], dry["rolled_over"], dry["conditions"]) == (
        True, False, {"[max_docs: 3]": True}
    )  # fmt: skip
    rolled = es.indices.rollover(
        alias="ds18-app", conditions={"max_docs": 3, "max_age": "30d"}
    ).body
    assert {k: v for k, v in rolled.items() if k not in ("old_index", "new_index")} == {
        "acknowledged": True, "shards_acknowledged": True, "rolled_over": True,
        "dry_run": False, "lazy": False,
        "conditions": {"[max_docs: 3]": True, "[max_age: 30d]": False},
    }  # fmt: skip
    second = rolled["new_index"]
    assert (
        es.bulk(operations=docs("ds18-app", 3, 2), refresh=True)["items"][0]["create"]["_index"]
        == second
    )
    (stream,) = es.indices.get_data_stream(name="ds18-app")["data_streams"]
    assert stream["generation"] == 2
    assert [i["index_name"] for i in stream["indices"]] == [first, second]
    metadata = es.cluster.state(metric="metadata")["metadata"]
    in_state = metadata["data_stream"]["data_stream"]["ds18-app"]
    assert [i["index_name"] for i in in_state["indices"]] == [first, second]
    assert metadata["index_template"]["index_template"]["ds18-template"]["data_stream"]

    # Reads of the name and of a wildcard reach every backing index.
    hits = es.search(index="ds18-app", sort=[{"n": "asc"}], size=10)["hits"]
    assert [h["_source"]["n"] for h in hits["hits"]] == [0, 1, 2, 3, 4]
    assert [h["_index"] for h in hits["hits"]] == [first] * 3 + [second] * 2
    aggs = es.search(index="ds18-*", size=0, aggs={"hosts": {"terms": {"field": "host"}}})
    assert {b["key"]: b["doc_count"] for b in aggs["aggregations"]["hosts"]["buckets"]} == {
        "h0": 3, "h1": 2
    }  # fmt: skip
    assert es.count(index="ds18-app")["count"] == 5
    stats = es.indices.data_streams_stats(name="ds18-app").body
    assert (stats["data_stream_count"], stats["backing_indices"]) == (1, 2)
    (entry,) = stats["data_streams"]
    assert entry["maximum_timestamp"] == 1714521604000  # 2024-05-01T00:00:04Z
    resolved = es.indices.resolve_index(name="ds18-*").body
    assert resolved["data_streams"] == [
        {"name": "ds18-app", "backing_indices": [first, second], "timestamp_field": "@timestamp"}
    ]
    assert resolved["indices"] == []  # backing indices are hidden

    # Explicit creation, the errors of the create API, deletion.
    es.indices.create_data_stream(name="ds18-explicit")
    assert error_of(lambda: es.indices.create_data_stream(name="ds18-explicit")) == (
        400, "resource_already_exists_exception", "data_stream [ds18-explicit] already exists"
    )  # fmt: skip
    assert error_of(lambda: es.indices.create_data_stream(name="nods18-x")) == (
        400, "illegal_argument_exception", "no matching index template found for data stream [nods18-x]"
    )  # fmt: skip
    names = [s["name"] for s in es.indices.get_data_stream(name="ds18-*")["data_streams"]]
    assert names == ["ds18-app", "ds18-explicit"]
    assert error_of(lambda: es.indices.delete_index_template(name="ds18-template"))[2] == (
        "unable to remove composable templates [ds18-template] as they are in use by a data "
        "streams [ds18-app, ds18-explicit]"
    )
    es.indices.delete_data_stream(name="ds18-app,ds18-explicit")
    assert not es.indices.exists(index=f"{first},{second}", allow_no_indices=False)
    assert error_of(lambda: es.indices.get_data_stream(name="ds18-app"))[:2] == (
        404, "index_not_found_exception"
    )  # fmt: skip
    es.indices.delete_index_template(name="ds18-template")


def test_templates_and_streams_survive_a_restart(fresh_node: NodeProcess) -> None:
    fresh_node.start()
    es = Elasticsearch(fresh_node.url)
    es.cluster.put_component_template(
        name="keep-ct", template={"mappings": {"properties": {"k": {"type": "keyword"}}}}
    )
    es.indices.put_index_template(
        name="keep", index_patterns=["keep-*"], composed_of=["keep-ct"], data_stream={}
    )
    es.bulk(operations=[{"create": {"_index": "keep-a"}}, {"@timestamp": "2024-01-01", "k": "v"}])
    es.indices.rollover(alias="keep-a")
    fresh_node.stop()
    fresh_node.start()
    es = Elasticsearch(fresh_node.url)
    (stream,) = es.indices.get_data_stream(name="keep-a")["data_streams"]
    assert stream["generation"] == 2 and len(stream["indices"]) == 2
    assert es.indices.get_index_template(name="keep")["index_templates"][0]["name"] == "keep"
    assert es.cluster.get_component_template(name="keep-ct")["component_templates"]
    es.indices.refresh(index="keep-a")
    assert es.count(index="keep-a", q="k:v")["count"] == 1


def test_alias_rollover_and_backing_index_deletion(es: Elasticsearch) -> None:
    es.indices.create(index="ro18-000001", aliases={"ro18": {"is_write_index": True}})
    es.index(index="ro18", document={"n": 1}, refresh=True)
    rolled = es.indices.rollover(alias="ro18", conditions={"max_docs": 1}).body
    assert (rolled["old_index"], rolled["new_index"], rolled["rolled_over"]) == (
        "ro18-000001", "ro18-000002", True
    )  # fmt: skip
    aliases = es.indices.get_alias(name="ro18").body
    assert aliases == {
        "ro18-000001": {"aliases": {"ro18": {"is_write_index": False}}},
        "ro18-000002": {"aliases": {"ro18": {"is_write_index": True}}},
    }
    assert es.index(index="ro18", document={"n": 2})["_index"] == "ro18-000002"
    es.indices.create(index="ro18-plain", aliases={"ro18-p": {}})
    assert error_of(lambda: es.indices.rollover(alias="ro18-p")) == (
        400, "illegal_argument_exception", "index name [ro18-plain] does not match pattern '^.*-\\d+$'"
    )  # fmt: skip
    assert error_of(lambda: es.indices.rollover(alias="ro18-none"))[2] == (
        "rollover target [ro18-none] does not exist"
    )
    # A stream's write index may not be deleted; an older backing index may, and leaves it.
    es.indices.put_index_template(name="del18", index_patterns=["del18-*"], data_stream={})
    es.indices.create_data_stream(name="del18-s")
    old = es.indices.rollover(alias="del18-s")["old_index"]
    (stream,) = es.indices.get_data_stream(name="del18-s")["data_streams"]
    write = stream["indices"][-1]["index_name"]
    assert error_of(lambda: es.indices.delete(index=write)) == (
        400,
        "illegal_argument_exception",
        f"index [{write}] is the write index for data stream [del18-s] and cannot be deleted",
    )
    assert error_of(lambda: es.indices.close(index="del18-s")) == (
        400,
        "illegal_argument_exception",
        f"cannot close the following data stream write indices [{write}]",
    )
    es.indices.delete(index=old)
    (stream,) = es.indices.get_data_stream(name="del18-s")["data_streams"]
    assert [i["index_name"] for i in stream["indices"]] == [write]
    es.indices.delete_data_stream(name="del18-s")
    es.indices.delete_index_template(name="del18")
