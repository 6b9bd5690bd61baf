"""Issue 20, the data path of a cluster of real nodes: bulk throughput with one replica vs none.

Starts ``isthmus.testing.cluster.NodeCluster`` (3 ``isthmus node`` processes, etcd on unix
sockets) with security off and measures, per run, the time to index ``--docs`` small documents
with ``_bulk`` requests of ``--batch`` documents sent by ``--clients`` concurrent clients
(round-robin over the three nodes, so most items reach their shard's primary over the transport):

- **replicas 0** (the baseline, measured in the same run): an index of 3 shards, no replica: each
  item is written once, on its primary's node;
- **replicas 1**: the same documents into an index of 3 shards with one replica: each primary
  also sends its operations to its replica and answers only once the replica applied them.

Both indices are created side by side and written alternately (in batches), so the two figures
share the machine's load. Reported: documents per second and the ratio replicas 1 / replicas 0
(ES's rule of thumb: a replica costs a little under half of the indexing throughput; the issue
asks for the figure, not a target). A check at the end counts the documents of both indices
through every node (every acknowledged document is there, once).

Usage: .venv/bin/python bench/multinode_bulk.py [--runs 3 --docs 20000 --batch 500 --clients 4]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parser, percentile, print_header, print_table, verdict
from elasticsearch import Elasticsearch

from isthmus.testing.cluster import NodeCluster


def _bulk_body(index: str, start: int, count: int) -> list[dict[str, object]]:
    body: list[dict[str, object]] = []
    for i in range(start, start + count):
        body.append({"index": {"_index": index, "_id": str(i)}})
        body.append({"n": i, "tag": f"t{i % 50}", "text": f"document number {i} of the bench"})
    return body


def _index_all(
    clients: list[Elasticsearch], index: str, first: int, docs: int, batch: int, threads: int
) -> float:
    """Seconds to index documents ``first`` .. ``first + docs`` with ``threads`` senders."""
    end = first + docs
    starts = list(range(first, end, batch))
    lock = threading.Lock()
    failures: list[str] = []

    def worker(k: int) -> None:
        es = clients[k % len(clients)]
        while True:
            with lock:
                if not starts:
                    return
                start = starts.pop()
            answer = es.bulk(operations=_bulk_body(index, start, min(batch, end - start)))
            if answer["errors"]:
                with lock:
                    failures.append(str(answer["items"][0]))

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.monotonic() - began
    if failures:
        raise SystemExit(f"bulk items failed in [{index}]: {failures[:3]}")
    return took


def one_run(root: Path, docs: int, batch: int, threads: int) -> dict[str, float]:
    with NodeCluster(root, 3, settings={"xpack.security.enabled": False}) as cluster:
        cluster.wait_formed(3)
        clients = [Elasticsearch(cluster[n].url, request_timeout=120) for n in cluster.names]
        es = clients[0]
        for index, replicas in (("r0", 0), ("r1", 1)):
            es.indices.create(
                index=index,
                settings={
                    "number_of_shards": 3,
                    "number_of_replicas": replicas,
                    "refresh_interval": "-1",
                },
                wait_for_active_shards="all",
            )
        es.cluster.health(index="r0,r1", wait_for_status="green", timeout="60s")
        # Alternate halves so that both indices see the same machine load.
        half = docs // 2
        took = {"r0": 0.0, "r1": 0.0}
        for part in range(2):
            for index in ("r0", "r1") if part == 0 else ("r1", "r0"):
                took[index] += _index_all(clients, index, part * half, half, batch, threads)
        for c in clients:
            c.indices.refresh(index="r0,r1")
            for index in ("r0", "r1"):
                count = c.count(index=index)["count"]
                if count != 2 * half:
                    raise SystemExit(f"[{index}] through a node counts {count}, wanted {2 * half}")
        return {"r0": docs / took["r0"], "r1": docs / took["r1"]}


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--docs", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--clients", type=int, default=4)
    args = p.parse_args()
    print_header("issue 20: bulk on a 3-node cluster, one replica vs none (3 shards)")
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_run(Path(tmp) / f"run{i}", args.docs, args.batch, args.clients))
    r0 = percentile([r["r0"] for r in runs], 50)
    r1 = percentile([r["r1"] for r in runs], 50)
    print_table(
        [
            ["metric", "p50", "min", "baseline", "ratio", "verdict"],
            [
                "docs/s, 0 replicas (baseline)",
                f"{r0:,.0f}",
                f"{min(r['r0'] for r in runs):,.0f}",
                "-",
                "1.00",
                "-",
            ],
            [
                "docs/s, 1 replica",
                f"{r1:,.0f}",
                f"{min(r['r1'] for r in runs):,.0f}",
                f"{r0:,.0f}",
                f"{r1 / r0:.2f}",
                verdict(r1 > 0),
            ],
        ]
    )


if __name__ == "__main__":
    main()
