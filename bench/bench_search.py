"""Metric #10, search latency: REST ``_search`` term top-10 over raw tantivy-py, same index and query.

Phase 1 builds a raw tantivy-py index of the generated documents (the node's layout, one commit)
and times, in-process, a term query on the keyword field top-10 plus fetching the ten stored
``_src`` values (what the node must do to answer); the search alone is shown beside it.

Phase 2 starts a node, loads the same documents with ``_bulk`` (refresh disabled during the
load, then one ``_refresh``, so both sides search one committed generation), and times
``_search`` with ``{"query": {"term": {"service": ...}}}`` (size 10 by default):

* over one keep-alive ``http.client`` connection (latency p50/p99, the metric);
* through the official ``elasticsearch`` client, one connection (what a user sees);
* from 16 threads each with its own ``http.client`` connection for a fixed time (throughput,
  and the latency under that load). The client threads share this process's GIL and the
  machine's cores with the node, so the throughput is a floor, not the node's ceiling.

Usage: .venv/bin/python bench/bench_search.py [--docs 100000] [--queries 2000] [--seconds 8]
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import tantivy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FIELDS,
    INDEX,
    KEYWORD_FIELD,
    SERVICES,
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
    raw_index,
    running_node,
    verdict,
)

TARGET_P50 = 0.0015
TARGET_P99 = 0.005
WARMUP = 200


def raw_latencies(index: tantivy.Index, terms: list[str]) -> tuple[list[float], list[float]]:
    """(search + fetch ``_src`` of top 10, search only) latencies in seconds."""
    searcher = index.searcher()
    schema = index.schema
    field = FIELDS[KEYWORD_FIELD]
    full: list[float] = []
    bare: list[float] = []
    for i, term in enumerate(terms):
        started = time.perf_counter()
        query = tantivy.Query.term_query(schema, field, term)
        result = searcher.search(query, 10)
        mid = time.perf_counter()
        sources = [searcher.doc(addr)["_src"] for _score, addr in result.hits]
        done = time.perf_counter()
        if i >= WARMUP:
            full.append(done - started)
            bare.append(mid - started)
        assert len(sources) == 10
    return full, bare


def search_body(term: str) -> bytes:
    return orjson.dumps({"query": {"term": {KEYWORD_FIELD: term}}})


def rest_latencies(url: str, terms: list[str]) -> list[float]:
    http = Http(url)
    path = f"/{INDEX}/_search"
    out: list[float] = []
    try:
        for i, term in enumerate(terms):
            body = search_body(term)
            started = time.perf_counter()
            status, data = http.request("POST", path, body)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"_search -> {status}: {data[:300]!r}")
            if i >= WARMUP:
                out.append(elapsed)
    finally:
        http.close()
    return out


def client_latencies(url: str, terms: list[str]) -> list[float]:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(url, request_timeout=30)
    out: list[float] = []
    try:
        for i, term in enumerate(terms):
            started = time.perf_counter()
            es.search(index=INDEX, query={"term": {KEYWORD_FIELD: term}})
            elapsed = time.perf_counter() - started
            if i >= WARMUP:
                out.append(elapsed)
    finally:
        es.close()
    return out


def throughput(url: str, conns: int, seconds: float, terms: list[str]) -> tuple[int, list[float]]:
    """(queries answered, their latencies) from ``conns`` threads for ``seconds``."""
    lat: list[float] = []
    counts = [0] * conns
    stop = threading.Event()
    bodies = [search_body(t) for t in terms]
    path = f"/{INDEX}/_search"

    def worker(n: int) -> None:
        http = Http(url)
        local: list[float] = []
        i = n
        try:
            while not stop.is_set():
                started = time.perf_counter()
                status, _ = http.request("POST", path, bodies[i % len(bodies)])
                local.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"_search -> {status}")
                i += conns
        finally:
            http.close()
        counts[n] = len(local)
        lat.extend(local)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(conns)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts), lat


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=2_000, help="timed queries per latency phase")
    p.add_argument("--client-queries", type=int, default=1_000, help="via the official client")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--seconds", type=float, default=8.0, help="throughput phase length")
    args = p.parse_args()

    print_header(f"#10 search latency: {args.docs} docs, term query on a keyword, top-10")
    docs = generate_docs(args.docs)
    rng = random.Random(3)
    terms = [rng.choice(SERVICES) for _ in range(args.queries + WARMUP)]

    # Phase 1: raw tantivy-py in-process.
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        index, _ = raw_index(Path(tmp) / "raw", generate_ids(args.docs), docs)
        raw_full, raw_bare = raw_latencies(index, terms)
        raw_segments = len(list(Path(tmp, "raw").glob("*.idx")))
        del index

    # Phase 2: the node over REST.
    with running_node() as node:
        http = Http(node.url)
        create_index(http, {"refresh_interval": "-1"})
        for body in bulk_bodies(docs, 5_000):
            status, data = http.request("POST", "/_bulk", body, "application/x-ndjson")
            if status != 200 or b'"errors":false' not in data[:200]:
                raise RuntimeError(f"bulk failed: {status} {data[:300]!r}")
        http.json("POST", f"/{INDEX}/_refresh")
        hits = http.json(
            "POST", f"/{INDEX}/_search", {"query": {"term": {KEYWORD_FIELD: terms[0]}}}
        )
        http.close()
        rest = rest_latencies(node.url, terms)
        client = client_latencies(node.url, terms[: args.client_queries + WARMUP])
        assert node.proc is not None
        cpu0, own0 = cpu_seconds(node.proc.pid), cpu_seconds(os.getpid())
        done, loaded = throughput(node.url, args.conns, args.seconds, terms)
        node_cpu = cpu_seconds(node.proc.pid) - cpu0
        own_cpu = cpu_seconds(os.getpid()) - own0
        segments = len(list(node.home.rglob("*.idx")))

    r50, r99 = percentile(raw_full, 50), percentile(raw_full, 99)
    h50, h99 = percentile(rest, 50), percentile(rest, 99)
    c50, c99 = percentile(client, 50), percentile(client, 99)
    print(
        f"   {len(hits['hits']['hits'])} hits of {hits['hits']['total']['value']} per query; "
        f"segments raw {raw_segments}, node {segments}; latencies after {WARMUP} warm-up queries"
    )
    print_table(
        [
            ("figure", "p50", "p99", "baseline / target", "ratio p50", "verdict"),
            ("raw tantivy search+fetch 10", ms(r50), ms(r99), "baseline", "1.0", ""),
            (
                "raw tantivy search only",
                ms(percentile(raw_bare, 50)),
                ms(percentile(raw_bare, 99)),
                "info",
                f"{percentile(raw_bare, 50) / r50:.2f}",
                "",
            ),
            (
                "REST _search, http.client, 1 conn",
                ms(h50),
                ms(h99),
                f"p50 <= {ms(TARGET_P50)}, p99 <= {ms(TARGET_P99)}",
                f"{h50 / r50:.1f}",
                f"p50 {verdict(h50 <= TARGET_P50)}, p99 {verdict(h99 <= TARGET_P99)}",
            ),
            (
                "REST _search, elasticsearch client",
                ms(c50),
                ms(c99),
                "info",
                f"{c50 / r50:.1f}",
                "",
            ),
            (
                f"REST under {args.conns} conns",
                ms(percentile(loaded, 50)),
                ms(percentile(loaded, 99)),
                f"{done / args.seconds:,.0f} q/s over {args.seconds:.0f} s",
                f"{percentile(loaded, 50) / r50:.1f}",
                "",
            ),
        ]
    )
    print(
        f"   during the {args.conns}-conn phase: node CPU {node_cpu / args.seconds * 100:.0f}% of "
        f"one core ({node_cpu / max(done, 1) * 1e6:.0f} us/query), this client process "
        f"{own_cpu / args.seconds * 100:.0f}%"
    )
    print(
        f"   single-connection rate {1 / h50:,.0f} q/s (1/p50); raw in-process {1 / r50:,.0f} q/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
