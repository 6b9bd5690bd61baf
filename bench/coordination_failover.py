"""Issue 20, master failover on etcd: SIGKILL, graceful stop and SIGSTOP of the master.

A 3-member etcd on unix sockets (``isthmus.testing.etcd``: heartbeat 25 ms, election 250 ms)
and three candidate processes (this script with ``--candidate``), each running
``isthmus.coordination.election.Election`` with the lease TTL given (default 2 s, the tests';
the node's default is 5 s) and publishing a small state every 50 ms while master. Each run
finds the master, then:

- **kill**: SIGKILL; failover = the next ``elected`` line's wall time minus the kill's;
- **graceful**: SIGTERM, on which the candidate revokes its election lease (``resign``);
- **frozen**: SIGSTOP; failover as above; then SIGCONT, and the old master's next publication
  must be refused (``fenced``) — any ``published`` after resuming would be a split brain.

The stopped candidate is started again after each run. Baselines in the same run: the lease TTL
itself (failover cannot be shorter for a dead or frozen master), and a fenced transaction's
round trip on the same etcd (what one election attempt costs). Targets (issue 20): ≈ TTL + 1 s,
graceful < 100 ms, a frozen master never publishes after resuming.

Usage: .venv/bin/python bench/coordination_failover.py [--runs 5 --ttl 2]
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
from queue import Empty, Queue

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ms, parser, percentile, print_header, print_table, verdict

from isthmus.coordination.election import Election
from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_records import Compare, Put
from isthmus.coordination.keys import ClusterKeys
from isthmus.coordination.publication import Publisher
from isthmus.errors import CoordinationError, NotMasterError
from isthmus.testing.etcd import EtcdTestCluster

CLUSTER = "bench-failover"


# --- the candidate process -------------------------------------------------------------------


def emit(**fields: object) -> None:
    print(json.dumps({**fields, "at": time.time()}), flush=True)


async def candidate(endpoints: list[str], node_id: str, ttl: int) -> None:
    keys = ClusterKeys(CLUSTER)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with EtcdClient(endpoints, request_timeout=0.5) as client:
        election = Election(client, keys, node_id, ttl=ttl)
        campaign = asyncio.create_task(election.campaign())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({campaign, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            campaign.cancel()
            await election.close()
            return
        term = campaign.result()
        emit(event="elected", node=node_id, term=term)
        publisher = Publisher(client, keys)
        version = 0
        while not stop.is_set():
            version += 1
            try:
                await publisher.publish(term, {"version": version, "by": node_id}, {})
                emit(event="published", node=node_id)
            except NotMasterError as exc:
                emit(event="fenced", node=node_id, type=exc.es_type)
                break
            except CoordinationError as exc:  # ambiguous: the next attempt decides
                emit(event="ambiguous", node=node_id, type=exc.es_type)
            try:
                await asyncio.wait_for(stop.wait(), 0.05)
            except TimeoutError:
                pass
        await election.close()  # graceful: revoke the lease, the key goes at once


# --- the controller --------------------------------------------------------------------------


class Candidates:
    def __init__(self, endpoints: list[str], ttl: int) -> None:
        self.endpoints = endpoints
        self.ttl = ttl
        self.events: Queue[dict[str, object]] = Queue()
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, node_id: str) -> None:
        args = [sys.executable, __file__, "--candidate", node_id, "--ttl", str(self.ttl)]
        process = subprocess.Popen(
            [*args, "--endpoints", ",".join(self.endpoints)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
        )
        self.processes[node_id] = process
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.events.put(json.loads(line))

    def next(self, event: str, timeout: float, node: str | None = None) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if item["event"] == event and (node is None or item["node"] == node):
                return item

    def next_of(self, node: str, timeout: float) -> dict[str, object]:
        """The next event of ``node`` (others' events are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if item["node"] == node:
                return item

    def drain(self) -> list[dict[str, object]]:
        items = []
        while True:
            try:
                items.append(self.events.get_nowait())
            except Empty:
                return items

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait()


async def old_master_states(endpoints: list[str], term: int, old: str) -> int:
    """States written by ``old`` at or after revision ``term`` (the new master's term)."""
    keys = ClusterKeys(CLUSTER)
    count = 0
    async with EtcdClient(endpoints) as client:
        now = (await client.get(keys.state_meta)).revision
        stream = client.watch(keys.state_meta, start_revision=term)
        # The history from the term to now, replayed; quiet for 1 s: nothing more to see.
        with contextlib.suppress(TimeoutError):
            async with contextlib.aclosing(stream), asyncio.timeout(1.0):
                async for answer in stream:
                    for event in answer.events:
                        if event.type == "PUT" and json.loads(event.kv.value).get("by") == old:
                            count += 1
                    if answer.events and answer.events[-1].kv.mod_revision >= now:
                        break
    return count


async def txn_round_trips(endpoints: list[str], count: int) -> list[float]:
    keys = ClusterKeys("bench-baseline")
    times = []
    async with EtcdClient(endpoints) as client:
        for i in range(count):
            started = time.perf_counter()
            await client.txn(
                [Compare.create_revision(keys.master, 0)], [Put(keys.root + b"x", b"1")]
            )
            times.append(time.perf_counter() - started)
            del i
    return times


def main() -> None:
    p = parser("master failover on etcd (issue 20)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--ttl", type=int, default=2)
    p.add_argument("--candidate")
    p.add_argument("--endpoints")
    args = p.parse_args()
    if args.candidate:
        logging.getLogger("isthmus").setLevel(logging.ERROR)  # its lines would mix with ours
        asyncio.run(candidate(args.endpoints.split(","), args.candidate, args.ttl))
        return

    print_header(f"coordination failover: 3 candidates, lease TTL {args.ttl} s, {args.runs} runs")
    with tempfile.TemporaryDirectory() as folder:
        etcd = EtcdTestCluster(Path(folder) / "etcd", 3)
        started = etcd.start()
        print(
            f"   3-member etcd (unix sockets, heartbeat 25 ms, election 250 ms) up in {started:.2f} s"
        )
        candidates = Candidates(etcd.endpoints, args.ttl)
        results: dict[str, list[float]] = {"kill": [], "graceful": [], "frozen": []}
        published_after_resume = 0
        fenced = 0
        try:
            for name in ("n1", "n2", "n3"):
                candidates.start(name)
            master = str(candidates.next("elected", 10)["node"])
            for mode in ("kill", "graceful", "frozen"):
                for _ in range(args.runs):
                    time.sleep(0.3)  # let the others settle into waiting
                    candidates.drain()
                    process = candidates.processes[master]
                    signal_at = time.time()
                    if mode == "kill":
                        process.send_signal(signal.SIGKILL)
                    elif mode == "graceful":
                        process.send_signal(signal.SIGTERM)
                    else:
                        process.send_signal(signal.SIGSTOP)
                    elected = candidates.next("elected", args.ttl + 10)
                    results[mode].append(float(elected["at"]) - signal_at)  # type: ignore[arg-type]
                    if mode == "frozen":
                        resumed_at = time.time()
                        process.send_signal(signal.SIGCONT)
                        seen: list[dict[str, object]] = []
                        while not seen or seen[-1]["event"] != "fenced":
                            seen.append(candidates.next_of(master, 5))
                        fenced += seen[-1]["type"] == "not_master_exception"
                        # The real split-brain check: did etcd take a state of the old master
                        # after the new master's term began?
                        published_after_resume += asyncio.run(
                            old_master_states(etcd.endpoints, int(elected["term"]), master)  # type: ignore[call-overload]
                        )
                        del resumed_at
                        process.send_signal(signal.SIGKILL)
                    process.wait()
                    candidates.start(master)
                    master = str(elected["node"])
        finally:
            candidates.stop_all()
            baseline = asyncio.run(txn_round_trips(etcd.endpoints, 200))
            etcd.stop()

    rows = [["case", "runs", "min", "p50", "max", "baseline (same run)", "target"]]
    target = {
        "kill": f"≈ TTL + 1 s = {args.ttl + 1} s",
        "graceful": "< 100 ms",
        "frozen": "≈ TTL + 1 s",
    }
    for mode, values in results.items():
        met = max(values) < (0.1 if mode == "graceful" else args.ttl + 1)
        rows.append(
            [
                mode,
                str(len(values)),
                ms(min(values)),
                ms(percentile(values, 50)),
                ms(max(values)),
                f"lease TTL {args.ttl} s"
                if mode != "graceful"
                else f"fenced txn p50 {ms(percentile(baseline, 50))}",
                f"{target[mode]} — {verdict(met)}",
            ]
        )
    print_table(rows)
    print(
        f"   frozen master after SIGCONT: {fenced}/{args.runs} refused with not_master_exception; "
        f"{published_after_resume} of its states stored after the new master's term began "
        f"(target 0 — "
        f"{verdict(published_after_resume == 0)})"
    )
    print(
        f"   fenced txn round trip: p50 {ms(percentile(baseline, 50))}, p99 {ms(percentile(baseline, 99))}"
    )


if __name__ == "__main__":
    main()
