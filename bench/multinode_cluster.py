"""Issue 20, clusters of real nodes: fixture start, per-node memory, node-level failover.

Each run starts ``isthmus.testing.cluster.NodeCluster`` (3 master-eligible ``isthmus node``
processes, their etcd members on unix sockets, lease TTL 2 s as in the tests) and measures:

- **start**: spawn of the three processes → every node lists three nodes and the same master
  (``_cat/nodes``); baseline in the same run: three single-node processes started side by side
  (spawn → ports file), the part of the start that is not cluster formation;
- **RSS** after ``--idle`` seconds: each node's ``VmRSS`` and its etcd member's;
- **graceful**: SIGTERM of the master → both other nodes name a new one (the stopping node
  revokes its leases first, before closing its other parts; polled every 5 ms);
- **kill**: SIGKILL of the new master → the last two... (a third member is gone, so the kill runs
  on a fresh cluster: the cluster is restarted for it) → a new master within TTL + 1 s.

Targets (issue 20): fixture start < 3 s; RSS ≤ 80 MB per node + etcd; graceful < 100 ms (here
through each node's ``_cat/nodes``); kill ≈ TTL + 1 s.

Usage: .venv/bin/python bench/multinode_cluster.py [--runs 3 --idle 5]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ms, parser, percentile, print_header, print_table, verdict

from isthmus.testing.cluster import NodeCluster
from isthmus.testing.process import NodeProcess, start_side_by_side


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def baseline_start(root: Path) -> float:
    nodes = [NodeProcess(root / f"alone-{i}", {"node.name": f"alone-{i}"}) for i in range(3)]
    started = time.monotonic()
    start_side_by_side(*nodes)
    took = time.monotonic() - started
    for node in nodes:
        node.stop()
    return took


def one_run(root: Path, idle: float) -> dict[str, float]:
    out: dict[str, float] = {}
    cluster = NodeCluster(root / "c", 3)
    started = time.monotonic()
    cluster.start(timeout=30)
    out["start"] = time.monotonic() - started
    time.sleep(idle)
    node_rss, etcd_rss = [], []
    for node in cluster.nodes.values():
        assert node.proc is not None
        node_rss.append(rss_mb(node.proc.pid))
        etcd_rss.extend(rss_mb(c) for c in children(node.proc.pid))
    out["node_rss"] = max(node_rss)
    out["etcd_rss"] = max(etcd_rss) if etcd_rss else 0.0
    master = cluster.master_seen_by(cluster[cluster.names[0]])
    assert master is not None
    began = time.monotonic()
    cluster[master].request_stop()  # SIGTERM; the node leaves first, then closes its parts
    others = [cluster[n] for n in cluster.names if n != master]
    while not all(cluster.master_seen_by(n) not in (None, master) for n in others):
        time.sleep(0.005)
    out["graceful"] = time.monotonic() - began
    cluster[master].stop()
    cluster.stop()
    fresh = NodeCluster(root / "k", 3)
    fresh.start(timeout=30)
    master = fresh.master_seen_by(fresh[fresh.names[0]])
    assert master is not None
    began = time.monotonic()
    fresh[master].kill()
    fresh.wait_formed(2, without=master, timeout=15)
    out["kill"] = time.monotonic() - began
    fresh.stop()
    return out


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--idle", type=float, default=5.0)
    args = p.parse_args()
    print_header("issue 20: a 3-node cluster of real nodes (etcd on unix sockets, TTL 2 s)")
    runs, baselines = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            baselines.append(baseline_start(Path(tmp)))
            runs.append(one_run(Path(tmp) / f"run{i}", args.idle))

    def p50(key: str) -> float:
        return percentile([r[key] for r in runs], 50)

    base = percentile(baselines, 50)
    rows = [
        ["metric", "p50", "max", "baseline / target", "verdict"],
        [
            "3-node start → formed",
            ms(p50("start")),
            ms(max(r["start"] for r in runs)),
            f"3 lone nodes {ms(base)} (x{p50('start') / base:.2f}); < 3 s",
            verdict(p50("start") < 3.0),
        ],
        [
            "RSS per node (MB)",
            f"{p50('node_rss'):.1f}",
            f"{max(r['node_rss'] for r in runs):.1f}",
            "≤ 80",
            verdict(max(r["node_rss"] for r in runs) <= 80),
        ],
        [
            "RSS per etcd member (MB)",
            f"{p50('etcd_rss'):.1f}",
            f"{max(r['etcd_rss'] for r in runs):.1f}",
            "≈ 30 (design study: 27)",
            "-",
        ],
        [
            "graceful master stop → new master",
            ms(p50("graceful")),
            ms(max(r["graceful"] for r in runs)),
            "< 100 ms",
            verdict(p50("graceful") < 0.1),
        ],
        [
            "SIGKILL of the master → new master",
            ms(p50("kill")),
            ms(max(r["kill"] for r in runs)),
            "≈ TTL (2 s) + 1 s",
            verdict(p50("kill") < 3.0),
        ],
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
