"""A node's own settings (isthmus.yml and ``-E``) are the layer under the dynamic cluster settings,
as in ES: they take effect, ``include_defaults`` shows them, and persistent or transient
settings override them (issue 18, item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.support import api_error

WILDCARDS_REFUSED = "Wildcard expressions or all indices are not allowed"


@pytest.fixture(scope="module")
def es(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Elasticsearch]:
    home: Path = tmp_path_factory.mktemp("node-settings")
    node = NodeProcess(
        home,
        {
            "node.name": "layered",
            "cluster.remote.yml_remote.seeds": ["127.0.0.1:9"],
            "node.attr.zone": "zone-a",
        },
    )
    node.start(extra_args=["-E", "action.destructive_requires_name=false"])
    try:
        yield Elasticsearch(node.url)
    finally:
        node.stop()


def test_include_defaults_shows_the_nodes_own_settings(es: Elasticsearch) -> None:
    body = es.cluster.get_settings(include_defaults=True, flat_settings=True).body
    defaults = body["defaults"]
    assert defaults["cluster.remote.yml_remote.seeds"] == ["127.0.0.1:9"]
    assert defaults["node.attr.zone"] == "zone-a"
    assert defaults["action.destructive_requires_name"] == "false"
    assert body["persistent"] == {} and body["transient"] == {}
    nested = es.cluster.get_settings(include_defaults=True).body["defaults"]
    assert nested["cluster"]["remote"]["yml_remote"]["seeds"] == ["127.0.0.1:9"]


def test_a_setting_given_with_dash_e_takes_effect_until_the_cluster_overrides_it(
    es: Elasticsearch,
) -> None:
    for name in ("layer-a1", "layer-a2"):
        es.indices.create(index=name)
    # -E action.destructive_requires_name=false: wildcards may delete, as in ES.
    assert es.indices.delete(index="layer-a*").body == {"acknowledged": True}
    assert not es.indices.exists(index="layer-a1")

    es.indices.create(index="layer-b1")
    es.cluster.put_settings(persistent={"action.destructive_requires_name": True})
    try:
        status, error = api_error(lambda: es.indices.delete(index="layer-b*"))
        assert (status, error["error"]["reason"]) == (400, WILDCARDS_REFUSED)
    finally:
        es.cluster.put_settings(persistent={"action.destructive_requires_name": None})
    # Reset, the node's own value applies again.
    assert es.indices.delete(index="layer-b*").body == {"acknowledged": True}
