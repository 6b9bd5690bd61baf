"""Issue 20, cluster-state publication on etcd: commit latency and apply lag on 3 nodes.

A 3-member etcd on unix sockets (``isthmus.testing.etcd``: heartbeat 25 ms, election 250 ms),
three applier processes (this script with ``--applier``; each a ``StateApplier`` on its own
etcd member, printing the wall time at which each revision was handed to it), and the master in
this process: elected with ``Election``, publishing with ``Publisher`` at a steady rate. The
state has ``--indices`` indices of about 1 KB of JSON each (settings and a small mapping); each
publication changes one index and the meta object (the common case: one index's mapping or
settings updated), so a publication writes 2 keys.

Reported, per index count: the publication's own latency (the fenced transaction, from the
call to its answer) and the apply lag (from the call to the moment the last of the 3 nodes had
the whole state), p50 / p99 / max. Baseline in the same run: a plain ``put`` of the same bytes
(meta + one index) on the same etcd, no fence, and a plain watcher's lag for it (a raw watch
in each applier process), so the cost of the fence, the diff and the assembly shows apart.
Target (issue 20): p50 < 20 ms, p99 < 100 ms at 100 indices.

Usage: .venv/bin/python bench/coordination_publication.py [--indices 10,100,1000 --count 200 --rate 20]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Queue

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ms, parser, percentile, print_header, print_table, verdict

from isthmus.coordination.election import Election
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.publication import PublishedState, Publisher, StateApplier
from isthmus.testing.etcd import EtcdTestCluster

BASELINE = b"/bench-baseline/"


def _index(i: int, version: int) -> dict[str, object]:
    fields = {f"field_{n}": {"type": "keyword" if n % 2 else "long"} for n in range(20)}
    return {
        "name": f"index-{i:04d}",
        "uuid": f"uuid-{i:04d}",
        "settings": {"index.number_of_shards": "1", "index.number_of_replicas": "1"},
        "mappings": {"properties": fields},
        "mapping_version": version,
    }


# --- the applier process ---------------------------------------------------------------------


async def applier(endpoint: str, cluster: str) -> None:
    keys = ClusterKeys(cluster)

    def applied(state: PublishedState) -> None:
        print(json.dumps({"kind": "state", "rev": state.revision, "at": time.time()}), flush=True)

    async with EtcdClient([endpoint]) as client:
        state_applier = StateApplier(client, keys, applied)
        await state_applier.start()
        raw = client.watch(BASELINE, prefix=True)
        await anext(raw)  # created
        print(json.dumps({"kind": "ready"}), flush=True)
        async with contextlib.aclosing(raw):
            async for answer in raw:
                for revision, _ in answer.by_revision():
                    line = {"kind": "raw", "rev": revision, "at": time.time()}
                    print(json.dumps(line), flush=True)


# --- the controller --------------------------------------------------------------------------


class Appliers:
    def __init__(self, endpoints: list[str], cluster: str) -> None:
        self.seen: dict[tuple[str, int], list[float]] = {}
        self.lock = threading.Lock()
        self.ready: Queue[int] = Queue()
        self.processes = []
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        for endpoint in endpoints:
            process = subprocess.Popen(
                [sys.executable, __file__, "--applier", endpoint, "--cluster", cluster],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            self.processes.append(process)
            threading.Thread(target=self._read, args=(process,), daemon=True).start()
        for _ in endpoints:
            self.ready.get(timeout=30)

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            item = json.loads(line)
            if item["kind"] == "ready":
                self.ready.put(1)
                continue
            with self.lock:
                self.seen.setdefault((item["kind"], item["rev"]), []).append(item["at"])

    def last_applied(self, kind: str, revision: int, timeout: float = 10) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                times = self.seen.get((kind, revision), [])
                if len(times) == len(self.processes):
                    return max(times)
            time.sleep(0.001)
        raise TimeoutError(f"revision {revision} not applied by every node")

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGKILL)
            process.wait()


async def run(
    endpoints: list[str], indices: int, count: int, rate: float
) -> dict[str, list[float]]:
    keys = ClusterKeys(f"bench-{indices}")
    appliers = await asyncio.to_thread(Appliers, endpoints, keys.cluster_name)
    out: dict[str, list[float]] = {"publish": [], "lag": [], "raw_put": [], "raw_lag": []}
    try:
        async with EtcdClient(endpoints[:1]) as client:
            election = Election(client, keys, "master", ttl=5)
            term = await election.campaign(timeout=10)
            publisher = Publisher(client, keys)
            state = {f"uuid-{i:04d}": _index(i, 1) for i in range(indices)}
            await publisher.publish(term, {"version": 0}, state)  # the initial state, not timed
            interval = 1 / rate
            pending: list[tuple[str, int, float, float]] = []
            for version in range(1, count + 1):
                changed = f"uuid-{version % indices:04d}"
                state[changed] = _index(version % indices, version + 1)
                started_wall, started = time.time(), time.perf_counter()
                revision = await publisher.publish(term, {"version": version}, state)
                out["publish"].append(time.perf_counter() - started)
                pending.append(("state", revision, started_wall, 0.0))
                # The baseline: the same bytes as one plain put (no fence, no diff, no assembly).
                body = json.dumps({"meta": {"version": version}, "index": state[changed]}).encode()
                started_wall, started = time.time(), time.perf_counter()
                raw = await client.put(BASELINE + b"x", body)
                out["raw_put"].append(time.perf_counter() - started)
                pending.append(("raw", raw.revision, started_wall, 0.0))
                await asyncio.sleep(interval)
            for kind, revision, started_wall, _ in pending:
                done = await asyncio.to_thread(appliers.last_applied, kind, revision)
                out["lag" if kind == "state" else "raw_lag"].append(done - started_wall)
            await election.close()
    finally:
        appliers.stop()
    return out


def main() -> None:
    p = parser("cluster-state publication on etcd (issue 20)")
    p.add_argument("--indices", default="10,100,1000")
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--applier")
    p.add_argument("--cluster")
    args = p.parse_args()
    if args.applier:
        logging.getLogger("isthmus").setLevel(logging.ERROR)
        asyncio.run(applier(args.applier, args.cluster))
        return

    print_header(
        f"coordination publication: 3 appliers, {args.count} publications at {args.rate:g}/s, "
        "1 index + meta changed each"
    )
    rows = [["indices", "what", "p50", "p99", "max", "baseline (plain put, same run)", "target"]]
    with tempfile.TemporaryDirectory() as folder:
        etcd = EtcdTestCluster(Path(folder) / "etcd", 3)
        print(f"   3-member etcd (unix sockets) up in {etcd.start():.2f} s")
        try:
            for indices in (int(n) for n in args.indices.split(",")):
                out = asyncio.run(run(etcd.endpoints, indices, args.count, args.rate))
                for what, base in (("publish (txn)", "raw_put"), ("applied on all 3", "raw_lag")):
                    values = out["publish" if what.startswith("publish") else "lag"]
                    p50, p99 = percentile(values, 50), percentile(values, 99)
                    target = ""
                    if what.startswith("applied") and indices == 100:
                        target = f"p50 < 20 ms, p99 < 100 ms — {verdict(p50 < 0.02 and p99 < 0.1)}"
                    rows.append(
                        [
                            str(indices),
                            what,
                            ms(p50),
                            ms(p99),
                            ms(max(values)),
                            f"p50 {ms(percentile(out[base], 50))} / p99 {ms(percentile(out[base], 99))}",
                            target,
                        ]
                    )
        finally:
            etcd.stop()
    print_table(rows)


if __name__ == "__main__":
    main()
