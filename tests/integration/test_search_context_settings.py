"""Search context keep-alive settings as ES's SearchService declares and checks them.

``search.keep_alive_interval`` is a static node setting (``-E``/``isthmus.yml`` only; a dynamic
update is refused as for any static setting); ``search.default_keep_alive`` may not exceed
``search.max_keep_alive``, refused at startup (exit 78) and on a dynamic update (400) with ES's
message "Default keep alive setting for request [...] should be smaller than max keep alive
[...], was (x > y)".

The reaper (ES's SearchService.Reaper) frees expired point-in-time and scroll contexts in the
background: ``_nodes/stats`` ``indices.search.open_contexts`` (read without touching a
context) falls to 0 once their keep-alive ran out, with no request using them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from isthmus.testing.process import NodeProcess

from .test_startup_errors import assert_one_line, start

REASON = (
    "Default keep alive setting for request [search.default_keep_alive] should be smaller than "
    "max keep alive [search.max_keep_alive], was ({} > {})"
)


def test_dynamic_update_past_the_maximum_is_refused(es: Elasticsearch) -> None:
    with pytest.raises(BadRequestError) as info:
        es.cluster.put_settings(persistent={"search.default_keep_alive": "2d"})
    assert info.value.body["error"]["type"] == "illegal_argument_exception"
    assert info.value.body["error"]["reason"] == REASON.format("2d", "1d")
    with pytest.raises(BadRequestError) as info:
        es.cluster.put_settings(transient={"search.max_keep_alive": "1m"})
    assert info.value.body["error"]["reason"] == REASON.format("5m", "1m")
    # Within the rule both are accepted (and reset).
    es.cluster.put_settings(persistent={"search.max_keep_alive": "1h"})
    es.cluster.put_settings(persistent={"search.max_keep_alive": None})
    with pytest.raises(BadRequestError) as info:
        es.cluster.put_settings(persistent={"search.keep_alive_interval": "5s"})
    assert "search.keep_alive_interval" in info.value.body["error"]["reason"]


def test_node_refuses_to_start_with_default_past_maximum(tmp_path: Path) -> None:
    rc, err, log = start(
        tmp_path, {"search.default_keep_alive": "2h", "search.max_keep_alive": "90m"}
    )
    assert_one_line(rc, err, log, 78, REASON.format("2h", "1.5h"))


def test_a_bad_keep_alive_interval_is_refused_at_startup(tmp_path: Path) -> None:
    rc, err, log = start(tmp_path, {"search.keep_alive_interval": "nope"})
    assert_one_line(
        rc,
        err,
        log,
        78,
        "failed to parse setting [search.keep_alive_interval] with value [nope] as a time "
        "value: unit is missing or unrecognized",
    )


def _search_stats(es: Elasticsearch) -> dict[str, Any]:
    (node,) = es.nodes.stats()["nodes"].values()
    return dict(node["indices"]["search"])


def test_the_reaper_frees_expired_contexts_in_the_background(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node", {"search.keep_alive_interval": "200ms"})
    node.start()
    try:
        es = Elasticsearch(node.url, request_timeout=30)
        es.indices.create(index="reaped", settings={"number_of_shards": 2})
        es.bulk(operations=[{"index": {"_index": "reaped"}}, {"n": 1}] * 3, refresh=True)
        assert _search_stats(es) == {"open_contexts": 0, "scroll_current": 0}
        es.open_point_in_time(index="reaped", keep_alive="1s")
        es.search(index="reaped", scroll="1s", size=1)
        # A context on each shard: two for the PIT, two for the scroll.
        assert _search_stats(es) == {"open_contexts": 4, "scroll_current": 2}
        deadline = time.monotonic() + 10
        while _search_stats(es)["open_contexts"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _search_stats(es) == {"open_contexts": 0, "scroll_current": 0}
        es.close()
    finally:
        node.stop()
