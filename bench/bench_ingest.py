"""Metric #9, ingest efficiency: REST ``_bulk`` docs/s over raw tantivy-py docs/s, same docs.

Phase 1 indexes the generated documents in-process with raw tantivy-py, building each tantivy
document the way the node does (see ``common.raw_document``) on one writer with the node's heap,
one commit at the end. A second raw line adds a ``delete_documents_by_term("_id")`` before each
add, as the node's engine does for each op whose id the client chose (generated ids skip it); it
is shown for diagnosis, the ratio uses the plain loop.

Phase 2 starts a node, pre-creates the index with an explicit mapping (so dynamic mapping is not
measured), sends one bulk alone (the first-bulk latency: writer creation, first SQLite pages),
then the remaining bulks from 2 concurrent clients. Clients are threads each holding one
keep-alive ``http.client`` connection and sending NDJSON bodies serialised before the clock
starts, so client overhead stays small. Acks are durable (the node's default: each bulk is one
SQLite ``synchronous=FULL`` commit before it answers). The node's CPU time over the phase is read
from ``/proc/<pid>/stat``.

Usage: .venv/bin/python bench/bench_ingest.py [--docs 100000] [--bulk 1000] [--clients 2]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import tantivy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    INDEX,
    WRITER_HEAP_BYTES,
    Http,
    bulk_bodies,
    cpu_seconds,
    create_index,
    generate_docs,
    generate_ids,
    ms,
    parser,
    percentile,
    print_header,
    print_table,
    raw_document,
    raw_index,
    raw_schema,
    running_node,
    verdict,
)

TARGET_RATIO = 0.5
TARGET_ABS = 10_000


def raw_with_deletes(path: Path, ids: list[str], docs: list[dict]) -> float:
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(raw_schema(), path=str(path), reuse=False)
    started = time.perf_counter()
    writer = index.writer(WRITER_HEAP_BYTES, 1)
    for seq_no, (doc_id, doc) in enumerate(zip(ids, docs, strict=True)):
        writer.delete_documents_by_term("_id", doc_id)
        writer.add_document(raw_document(doc_id, doc, seq_no))
    writer.commit()
    elapsed = time.perf_counter() - started
    writer.wait_merging_threads()
    return elapsed


def send_bulks(url: str, bodies: list[bytes], latencies: list[float], errors: list[str]) -> None:
    http = Http(url)
    try:
        for body in bodies:
            started = time.perf_counter()
            status, data = http.request("POST", "/_bulk", body, "application/x-ndjson")
            latencies.append(time.perf_counter() - started)
            if status != 200 or b'"errors":false' not in data[:200]:
                errors.append(f"{status}: {data[:300]!r}")
    finally:
        http.close()


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--bulk", type=int, default=1_000, help="documents per _bulk request")
    p.add_argument("--clients", type=int, default=2)
    args = p.parse_args()

    print_header(
        f"#9 ingest efficiency: {args.docs} docs, {args.bulk}/bulk, {args.clients} clients"
    )
    docs = generate_docs(args.docs)
    ids = generate_ids(args.docs)
    avg_size = sum(len(orjson.dumps(d)) for d in docs[:1000]) / min(1000, len(docs))

    # Phase 1: raw tantivy-py in-process.
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        _, raw_s = raw_index(Path(tmp) / "a", ids, docs)
        raw_del_s = raw_with_deletes(Path(tmp) / "b", ids, docs)
    raw_rate = args.docs / raw_s
    raw_del_rate = args.docs / raw_del_s

    # Phase 2: the node over REST.
    bodies = bulk_bodies(docs, args.bulk)
    with running_node() as node:
        assert node.proc is not None
        pid = node.proc.pid
        http = Http(node.url)
        create_index(http)
        cpu0 = cpu_seconds(pid)
        wall0 = time.perf_counter()
        first_lat: list[float] = []
        errors: list[str] = []
        send_bulks(node.url, bodies[:1], first_lat, errors)
        rest = bodies[1:]
        lat: list[float] = []
        threads = [
            threading.Thread(
                target=send_bulks, args=(node.url, rest[i :: args.clients], lat, errors)
            )
            for i in range(args.clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        node_cpu = cpu_seconds(pid) - cpu0
        total_wall = time.perf_counter() - wall0
        http.json("POST", f"/{INDEX}/_refresh")
        count = http.json("GET", f"/{INDEX}/_count")["count"]
        http.close()

    rest_docs = args.docs - min(args.bulk, args.docs)
    node_rate = rest_docs / elapsed if elapsed > 0 else float("nan")
    ratio = node_rate / raw_rate
    print(f"   avg doc {avg_size:.0f} B JSON; client: http.client threads, pre-serialised NDJSON")
    print_table(
        [
            ("figure", "value", "baseline / target", "ratio", "verdict"),
            ("raw tantivy-py (phase 1)", f"{raw_rate:,.0f} docs/s", "baseline", "1.00", ""),
            (
                "raw + delete-by-_id per doc",
                f"{raw_del_rate:,.0f} docs/s",
                "info (client-chosen ids)",
                f"{raw_del_rate / raw_rate:.2f}",
                "",
            ),
            (
                "REST _bulk (phase 2)",
                f"{node_rate:,.0f} docs/s",
                f"ratio >= {TARGET_RATIO}",
                f"{ratio:.2f}",
                verdict(ratio >= TARGET_RATIO),
            ),
            (
                "REST _bulk absolute",
                f"{node_rate:,.0f} docs/s",
                f">= {TARGET_ABS:,} docs/s",
                f"{node_rate / TARGET_ABS:.2f}",
                verdict(node_rate >= TARGET_ABS),
            ),
            ("first bulk latency", ms(first_lat[0]), "info", "", ""),
            (
                "bulk latency p50 / p99",
                f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))}",
                "info",
                "",
                "",
            ),
            (
                "node CPU during phase 2",
                f"{node_cpu:.1f} s over {total_wall:.1f} s wall",
                f"{node_cpu / total_wall * 100:.0f}% of one core",
                "",
                "",
            ),
        ]
    )
    if count != args.docs or errors:
        print(f"   WARNING: {count} docs searchable of {args.docs}; {len(errors)} bulk errors")
        for e in errors[:3]:
            print(f"   {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
