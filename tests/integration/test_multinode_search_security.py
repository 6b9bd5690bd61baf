"""Document- and field-level security of a search whose shards are on other nodes (issue 20):
the coordinating node authorizes the caller and sends the caller's restrictions with each shard,
so a node searching its copies for another node hides the same documents and fields.

Three nodes with security on (transport TLS under one test CA); one index of 3 shards, 1 replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from isthmus.lab.topology import _keystore
from isthmus.testing.cluster import NodeCluster

pytestmark = pytest.mark.integration

PASSWORD = "msearch-elastic-pw"
BOB = ("bob", "bob-password-1")


def _tls(folder: Path) -> dict[str, Any]:
    from isthmus.security.certs import (
        encode_pem_certificates,
        encode_pem_key,
        generate_ca,
        issue_certificate,
    )

    folder.mkdir(parents=True, exist_ok=True)
    ca = generate_ca("CN=Isthmus multinode search CA")
    cert = issue_certificate(
        "CN=node", issuer=ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    (folder / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    (folder / "node.crt").write_bytes(encode_pem_certificates(cert.certificate))
    (folder / "node.key").write_bytes(encode_pem_key(cert.key))
    return {
        "xpack.security.enabled": True,
        "xpack.security.transport.ssl.enabled": True,
        "xpack.security.transport.ssl.key": str(folder / "node.key"),
        "xpack.security.transport.ssl.certificate": str(folder / "node.crt"),
        "xpack.security.transport.ssl.certificate_authorities": [str(folder / "ca.crt")],
    }


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[NodeCluster]:
    root = tmp_path_factory.mktemp("msearch-sec")
    record_secret(PASSWORD)
    record_secret(BOB[1])
    three = NodeCluster(
        root / "three", 3, auth=("elastic", PASSWORD), settings=_tls(root / "certs")
    )
    for node in three.nodes.values():
        _keystore(node.config_dir, {"bootstrap.password": PASSWORD})
    three.start(timeout=30)
    try:
        es = _es(three, "node-1", ("elastic", PASSWORD))
        es.indices.create(
            index="team",
            settings={"number_of_shards": 3, "number_of_replicas": 1},
            mappings={
                "properties": {
                    "team": {"type": "keyword"},
                    "title": {"type": "text"},
                    "secret": {"type": "keyword"},
                }
            },
        )
        health = es.cluster.health(index="team", wait_for_status="green", timeout="30s")
        assert health["status"] == "green", health
        ops: list[dict[str, Any]] = []
        for n in range(30):
            team = "blue" if n % 3 == 0 else "red"
            ops += [
                {"index": {"_index": "team", "_id": str(n)}},
                {"team": team, "title": f"note {n}", "secret": f"s{n}"},
            ]
        assert not es.bulk(operations=ops, refresh=True)["errors"]
        es.security.put_role(
            name="blue_only",
            indices=[
                {
                    "names": ["team"],
                    "privileges": ["read"],
                    "query": '{"term": {"team": "blue"}}',
                    "field_security": {"grant": ["team", "title"]},
                }
            ],
        )
        es.security.put_user(username=BOB[0], password=BOB[1], roles=["blue_only"])
        yield three
    finally:
        three.stop()


def _es(cluster: NodeCluster, name: str, auth: tuple[str, str]) -> Elasticsearch:
    return Elasticsearch(cluster[name].url, basic_auth=auth, request_timeout=30)


def test_every_node_hides_the_same_documents_and_fields(cluster: NodeCluster) -> None:
    blue = sorted(str(n) for n in range(30) if n % 3 == 0)
    for name in cluster.names:
        bob = _es(cluster, name, BOB)
        body = bob.search(index="team", size=50, sort=["_doc"])
        assert body["_shards"]["failed"] == 0 and body["_shards"]["total"] == 3, body["_shards"]
        assert sorted(h["_id"] for h in body["hits"]["hits"]) == blue, name
        assert all("secret" not in h["_source"] for h in body["hits"]["hits"]), name
        assert bob.count(index="team")["count"] == len(blue), name
        none = bob.search(index="team", query={"term": {"secret": "s3"}})
        assert none["hits"]["total"]["value"] == 0, name  # a hidden field matches nothing
        agg = bob.search(index="team", size=0, aggs={"t": {"terms": {"field": "team"}}})
        assert agg["aggregations"]["t"]["buckets"] == [{"key": "blue", "doc_count": len(blue)}]
