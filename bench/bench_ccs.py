"""Metrics #1, #2, #3, cross-cluster search: CCS overhead, MRT=false penalty, fan-out.

Four real nodes on loopback (``NodeProcess``: security off, ephemeral ports): the local cluster
``local`` and the remote clusters ``r1``, ``r2``, ``r3`` (one node each). The local node is
started with ``cluster.remote.r1|r2|r3.seeds`` (sniff mode, the remotes' transport addresses) and
the script waits for ``GET /_remote/info`` to show all three connected. Indices are loaded with
``_bulk`` as ``bench_search.py`` loads its index (the generated documents of ``common.py``,
5,000-doc NDJSON bodies, ``refresh_interval: -1`` during the load, then one ``_refresh``; the
nodes load in parallel, one client thread per node), and checked with ``_count``:

- ``bench-logs``, 1 shard, ``--docs`` (100k) documents, on ``local`` and on ``r1`` (identical);
- ``bench-logs-5sh``, the same documents in 5 shards, on ``r1``;
- ``fan-all``, the first ``--fan-docs`` (30k) documents, on ``r1``, and ``fan-third``, a third of
  them each (contiguous ranges), on ``r1``, ``r2`` and ``r3``.

Every query is ``POST <expression>/_search {"query": {"match": {"message": <word>}}}`` (top 10,
the default size), a word of the generated messages drawn per round; within a round every series
gets the same word. One client, one keep-alive ``http.client`` connection to the local node;
series are alternated request by request (the order reversed every round so no series always
goes first), ``--warmup`` (200) rounds uncounted, then ``--queries`` (2,000) timed rounds:

- #1 **CCS overhead**: ``bench-logs`` (local) against ``r1:bench-logs`` (``ccs_minimize_roundtrips``
  default, true). Also, as information, the same query sent straight to ``r1``'s own HTTP on a
  second connection: the remote's local search cost, what the CCS request wraps.
- #2 **MRT=false penalty**: ``r1:bench-logs`` with ``ccs_minimize_roundtrips=true`` against
  ``=false`` (1 search-shards round trip + one query round trip per remote shard), then the same
  for ``r1:bench-logs-5sh``.
- #3 **fan-out**: ``r1:fan-third,r2:fan-third,r3:fan-third`` against ``r1:fan-all`` (MRT=true).
  The three remotes plus the coordinator are four processes on the machine's cores, so #3 uses
  a modest index (30k documents) and says so.

After each alternation the script prints each node's CPU per round (``/proc/<pid>/stat``) and the
CPU the rest of the machine used meanwhile (``/proc/stat`` minus the nodes and this client):
another session's tests running on the shared machine show up there. It reports and never
asserts; targets are ratios of p50s measured in the same alternation. ``--phases 3`` runs (and
loads) only what one metric needs.

Usage: .venv/bin/python bench/bench_ccs.py [--docs 100000] [--fan-docs 30000] [--queries 2000]
       [--warmup 200] [--phases 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    INDEX,
    MAPPING,
    Http,
    bulk_bodies,
    cpu_seconds,
    generate_docs,
    ms,
    parser,
    percentile,
    print_header,
    print_table,
    verdict,
)

from isthmus.testing.process import NodeProcess

INDEX_5 = f"{INDEX}-5sh"
FAN_ALL = "fan-all"
FAN_THIRD = "fan-third"
REMOTES = ("r1", "r2", "r3")
PER_BULK = 5_000

# performance.md targets
T1_RATIO, T1_ADDED, T1_P99_RATIO = 1.5, 0.001, 2.0
T2_ONE, T2_FIVE = 1.3, 2.0
T3_RATIO = 1.4

Doc = dict[str, Any]


# --- setup ------------------------------------------------------------------------------------


def load(url: str, jobs: Sequence[tuple[str, int, Sequence[Doc]]]) -> float:
    """Create and fill ``(index, shards, docs)`` on one node, as ``bench_search.py`` does
    (refresh off, 5,000-doc ``_bulk`` bodies, one ``_refresh``); the seconds it took."""
    started = time.perf_counter()
    http = Http(url)
    try:
        for name, shards, docs in jobs:
            settings = {"number_of_shards": shards, "number_of_replicas": 0, "refresh_interval": -1}
            http.json("PUT", f"/{name}", {"settings": settings, "mappings": MAPPING})
            for body in bulk_bodies(docs, PER_BULK, name):
                status, data = http.request("POST", "/_bulk", body, "application/x-ndjson")
                if status != 200 or b'"errors":false' not in data[:200]:
                    raise RuntimeError(f"bulk into {name} failed: {status} {data[:300]!r}")
            http.json("POST", f"/{name}/_refresh")
            count = http.json("GET", f"/{name}/_count")["count"]
            if count != len(docs):
                raise RuntimeError(f"{url}/{name}: {count} docs searchable, {len(docs)} sent")
    finally:
        http.close()
    return time.perf_counter() - started


def wait_connected(http: Http, aliases: Sequence[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        info = http.json("GET", "/_remote/info")
        if all(info.get(a, {}).get("connected") for a in aliases):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"remotes not connected after {timeout:.0f} s: {info}")
        time.sleep(0.05)


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    http: Http
    path: str
    samples: list[float] = field(default_factory=list)
    first: Any = None  # the first answer, for sanity checks

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


def match_body(word: str) -> bytes:
    return orjson.dumps({"query": {"match": {"message": word}}})


def alternate(series: Sequence[Series], words: Sequence[str], warmup: int) -> float:
    """One request per series per round, order reversed every round; wall seconds."""
    started = time.perf_counter()
    for i, word in enumerate(words):
        body = match_body(word)
        for s in series if i % 2 == 0 else reversed(series):
            t0 = time.perf_counter()
            status, data = s.http.request("POST", s.path, body)
            elapsed = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"{s.path} -> {status}: {data[:300]!r}")
            if s.first is None:
                s.first = orjson.loads(data)
            if i >= warmup:
                s.samples.append(elapsed)
    return time.perf_counter() - started


def check_same(series: Sequence[Series], want_clusters: int | None = None) -> str:
    """Same total and 10 hits in every series' first answer; what the CCS ones reported."""
    totals = {s.label: s.first["hits"]["total"] for s in series}
    if len({orjson.dumps(t) for t in totals.values()}) != 1:
        raise RuntimeError(f"series disagree on the total: {totals}")
    for s in series:
        if len(s.first["hits"]["hits"]) != 10:
            raise RuntimeError(f"{s.label}: {len(s.first['hits']['hits'])} hits, not 10")
        clusters = s.first.get("_clusters")
        if clusters is not None and clusters["successful"] != clusters["total"]:
            raise RuntimeError(f"{s.label}: clusters {clusters}")
        if (
            want_clusters is not None
            and clusters is not None
            and clusters["total"] != want_clusters
        ):
            raise RuntimeError(f"{s.label}: {clusters['total']} clusters, not {want_clusters}")
    total = next(iter(totals.values()))
    return f"{total['value']} ({total['relation']})"


def shards_of(s: Series) -> int:
    return int(s.first["_shards"]["total"])


def row(s: Series, base: Series | None, target: str = "", ok: str = "") -> tuple[str, ...]:
    ratio = "1.00" if base is None else f"{s.p50 / base.p50:.2f}"
    p99r = "1.00" if base is None else f"{s.p99 / base.p99:.2f}"
    return (s.label, ms(s.p50), ms(s.p99), ratio, p99r, target, ok)


HEAD = ("series", "p50", "p99", "p50 ratio", "p99 ratio", "target", "verdict")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (``/proc/stat`` user + nice + system;
    interrupt and steal time are not charged to processes, so they are left out)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]]
    return sum(fields) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU seconds of the node processes around a phase (``/proc/<pid>/stat``), and what the
    rest of the machine used meanwhile (other sessions' work makes these figures noisy)."""

    def __init__(self, nodes: dict[str, NodeProcess]) -> None:
        self.pids = {name: node.proc.pid for name, node in nodes.items() if node.proc is not None}
        self.pids["client"] = os.getpid()
        self.start = self.sample()

    def sample(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        out["machine"] = machine_busy_seconds()
        out["wall"] = time.perf_counter()
        return out

    def per_round(self, rounds: int) -> str:
        end = self.sample()
        used = {k: end[k] - self.start[k] for k in end}
        others = used["machine"] - sum(v for k, v in used.items() if k in self.pids)
        nodes = ", ".join(
            f"{k} {v / rounds * 1e6:.0f} us"
            for k, v in used.items()
            if k in self.pids and k != "client" and v / rounds >= 50e-6
        )
        return (
            f"{nodes}; rest of the machine (other processes, kernel threads) "
            f"{max(others, 0.0) / used['wall'] * 100:.0f}% of one CPU"
        )


def phase1(
    args: argparse.Namespace,
    http: Http,
    r1_http: Http,
    nodes: dict[str, NodeProcess],
    words: list[str],
) -> None:
    loc = Series(f"local  {INDEX}", http, f"/{INDEX}/_search")
    ccs = Series(f"CCS    r1:{INDEX} (MRT=true)", http, f"/r1:{INDEX}/_search")
    direct = Series(f"info: straight to r1's HTTP, {INDEX}", r1_http, f"/{INDEX}/_search")
    cpu = Cpu(nodes)
    took = alternate([loc, ccs, direct], words, args.warmup)
    cpu_text = cpu.per_round(len(words))
    total = check_same([loc, ccs, direct], want_clusters=1)
    print()
    print(
        f"#1 CCS overhead: {args.docs} docs, 1 shard, on local and r1; total hits per query "
        f"{total}; {args.queries} rounds of 3 in {took:.1f} s"
    )
    added = ccs.p50 - loc.p50
    print_table(
        [
            HEAD,
            row(loc, None, "baseline"),
            row(
                ccs,
                loc,
                f"p50 <= {T1_RATIO}x, p99 <= {T1_P99_RATIO}x",
                f"p50 {verdict(ccs.p50 / loc.p50 <= T1_RATIO)}, "
                f"p99 {verdict(ccs.p99 / loc.p99 <= T1_P99_RATIO)}",
            ),
            row(direct, loc, "info"),
        ]
    )
    print(
        f"   added p50 (CCS - local): {added * 1000:.3f} ms (target <= {T1_ADDED * 1000:.0f} ms): "
        f"{verdict(added <= T1_ADDED)}; "
        f"CCS - straight-to-r1: {(ccs.p50 - direct.p50) * 1000:.3f} ms"
    )
    print(f"   node CPU per round (1 local + 1 CCS + 1 straight-to-r1 query): {cpu_text}")


def phase2(
    args: argparse.Namespace,
    http: Http,
    nodes: dict[str, NodeProcess],
    draw: Callable[[], list[str]],
) -> None:
    pairs: list[tuple[Series, Series, float, str]] = []
    for name in (INDEX, INDEX_5):
        base = f"/r1:{name}/_search?ccs_minimize_roundtrips="
        t = Series(f"r1:{name} MRT=true", http, base + "true")
        f = Series(f"r1:{name} MRT=false", http, base + "false")
        cpu = Cpu(nodes)
        words = draw()
        took = alternate([t, f], words, args.warmup)
        pairs.append((t, f, took, cpu.per_round(len(words))))
        check_same([t, f], want_clusters=1)
    print()
    print(f"#2 MRT=false penalty: {args.docs} docs on r1, {args.queries} rounds of 2 per index")
    rows: list[tuple[str, ...]] = [HEAD]
    for (t, f, _, _), target in zip(pairs, (T2_ONE, T2_FIVE), strict=True):
        shards = shards_of(t)
        rows.append(row(t, None, f"baseline ({shards} shard{'s' * (shards > 1)})"))
        rows.append(row(f, t, f"p50 <= {target}x", verdict(f.p50 / t.p50 <= target)))
    print_table(rows)
    for t, f, took, cpu_text in pairs:
        shards = shards_of(t)
        print(
            f"   {shards} shard{'s' * (shards > 1)}: MRT=false adds "
            f"{(f.p50 - t.p50) * 1000:.3f} ms p50 (1 + {shards} transport round trips "
            f"instead of 1); {took:.1f} s; "
            f"node CPU per round (1 true + 1 false): {cpu_text}"
        )


def phase3(
    args: argparse.Namespace, http: Http, nodes: dict[str, NodeProcess], words: list[str]
) -> None:
    one = Series(f"r1:{FAN_ALL} (1 remote)", http, f"/r1:{FAN_ALL}/_search")
    fan_expr = ",".join(f"{a}:{FAN_THIRD}" for a in REMOTES)
    three = Series(f"{fan_expr} (3 remotes)", http, f"/{fan_expr}/_search")
    cpu = Cpu(nodes)
    took = alternate([one, three], words, args.warmup)
    cpu_text = cpu.per_round(len(words))
    total = check_same([one, three])
    if three.first["_clusters"]["total"] != 3:
        raise RuntimeError(f"fan-out reached {three.first['_clusters']}")
    print()
    print(
        f"#3 fan-out: {args.fan_docs} docs (kept modest: 4 node processes on "
        f"{os.cpu_count()} CPUs), split in 3 contiguous thirds; total hits {total}; "
        f"{args.queries} rounds of 2 in {took:.1f} s"
    )
    print_table(
        [
            HEAD,
            row(one, None, "baseline"),
            row(three, one, f"p50 <= {T3_RATIO}x", verdict(three.p50 / one.p50 <= T3_RATIO)),
        ]
    )
    print(f"   node CPU per round (1 one-remote + 1 three-remote query): {cpu_text}")


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=100_000, help="docs of the #1/#2 indices")
    p.add_argument("--fan-docs", type=int, default=30_000, help="docs of the #3 indices")
    p.add_argument("--queries", type=int, default=2_000, help="timed rounds per alternation")
    p.add_argument("--warmup", type=int, default=200, help="uncounted rounds first")
    p.add_argument("--phases", default="1,2,3", help="which of #1,#2,#3 to run (loads only those)")
    args = p.parse_args()
    phases = {int(x) for x in args.phases.split(",")}
    wall0 = time.perf_counter()
    load0 = os.getloadavg()
    print_header(
        f"#1-#3 cross-cluster search: {args.docs} docs (#1, #2), {args.fan_docs} docs (#3), "
        f"match top-10, {args.queries} timed rounds (+{args.warmup} warm-up) per alternation"
    )
    docs = generate_docs(max(args.docs, args.fan_docs))
    main_docs, fan_docs = docs[: args.docs], docs[: args.fan_docs]
    third = -(-len(fan_docs) // 3)
    thirds = [fan_docs[i * third : (i + 1) * third] for i in range(3)]
    words = sorted({w for d in docs[:2000] for w in d["message"].split()})
    rng = random.Random(5)

    def draw() -> list[str]:
        return [rng.choice(words) for _ in range(args.warmup + args.queries)]

    plan: dict[str, list[tuple[str, int, Sequence[Doc]]]] = {a: [] for a in ("local", *REMOTES)}
    if 1 in phases:
        plan["local"].append((INDEX, 1, main_docs))
    if phases & {1, 2}:
        plan["r1"].append((INDEX, 1, main_docs))
    if 2 in phases:
        plan["r1"].append((INDEX_5, 5, main_docs))
    if 3 in phases:
        plan["r1"].append((FAN_ALL, 1, fan_docs))
        for alias, part in zip(REMOTES, thirds, strict=True):
            plan[alias].append((FAN_THIRD, 1, part))

    with tempfile.TemporaryDirectory(prefix="isthmus-bench-") as tmp:
        nodes = {
            alias: NodeProcess(
                Path(tmp) / alias, {"cluster.name": alias, "node.name": f"{alias}-node"}
            )
            for alias in REMOTES
        }
        try:
            for node in nodes.values():
                node.start()
            seeds = {
                f"cluster.remote.{alias}.seeds": [node.transport_address()]
                for alias, node in nodes.items()
            }
            nodes["local"] = NodeProcess(
                Path(tmp) / "local", {"cluster.name": "local", "node.name": "local-node", **seeds}
            )
            nodes["local"].start()
            admin = Http(nodes["local"].url)
            wait_connected(admin, REMOTES)
            admin.close()

            # Load everything, one client thread per node.
            with ThreadPoolExecutor(len(plan)) as pool:
                futures = {
                    name: pool.submit(load, nodes[name].url, jobs)
                    for name, jobs in plan.items()
                    if jobs
                }
                load_s = {name: f.result() for name, f in futures.items()}
            print(
                "   load (parallel, one client thread per node): "
                + ", ".join(f"{n} {s:.1f} s" for n, s in load_s.items())
            )

            # Fresh keep-alive connections: the node closes idle ones during a long load.
            http = Http(nodes["local"].url)
            r1_http = Http(nodes["r1"].url)
            if 1 in phases:
                phase1(args, http, r1_http, nodes, draw())
            if 2 in phases:
                phase2(args, http, nodes, draw)
            if 3 in phases:
                phase3(args, http, nodes, draw())
            r1_http.close()
            http.close()
        finally:
            for node in nodes.values():
                node.stop()

    load1 = os.getloadavg()
    print()
    print(
        f"   load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; "
        f"total {time.perf_counter() - wall0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
