"""Metric #13, remote connect time: ``PUT _cluster/settings`` adding a remote →
``_remote/info`` ``connected: true``.

Two real nodes on loopback (``NodeProcess``: security off, ephemeral ports), a "local" and a
"remote" cluster. Each run adds the alias ``bench`` with a persistent settings update, then polls
``GET /_remote/info`` every 1 ms on the same keep-alive connection until the alias reports
``connected: true``, then removes the alias (and checks that ``_remote/info`` is empty again):

- **sniff**: ``cluster.remote.bench.seeds: [<remote transport address>]`` (default 3
  ``node_connections``; the remote has one node, so one connection: the seed's, adopted);
- **proxy**: ``mode: proxy`` + ``proxy_address`` with the default 18 proxy sockets (all opened
  in parallel).

The node answers the ``PUT`` only after its connect attempt finished (or 10 s passed, ES's
behaviour), so the first poll usually already sees ``connected: true``; both the ``PUT``'s own
latency and the time to the first ``connected: true`` are reported. Baselines in the same run,
interleaved with the connect runs: ``GET _cluster/settings`` (a trivial round trip) and a
``PUT _cluster/settings`` of an unrelated dynamic setting (``search.max_buckets``, the cost of a
persistent settings update without any remote work). The first 3 runs of each are a warm-up.

Usage: .venv/bin/python bench/bench_remote_connect.py [--runs 100]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Http, ms, parser, percentile, print_header, print_table, verdict

from isthmus.testing.process import NodeProcess

TARGET_S = 0.050
POLL_S = 0.001
WARMUP = 3
ALIAS = "bench"


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def connect_once(
    http: Http, add: dict[str, Any], remove: dict[str, Any], count_field: str
) -> tuple[float, float, int, float]:
    """(PUT latency, PUT → first ``connected: true``, connections then, removal latency)."""
    started = time.perf_counter()
    http.json("PUT", "/_cluster/settings", {"persistent": add})
    put = time.perf_counter() - started
    deadline = started + 15.0
    while True:
        info = http.json("GET", "/_remote/info").get(ALIAS)
        if info is not None and info["connected"]:
            connected = time.perf_counter() - started
            count = int(info[count_field])
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"[{ALIAS}] not connected 15 s after the PUT: {info}")
        time.sleep(POLL_S)
    removal = timed(lambda: http.json("PUT", "/_cluster/settings", {"persistent": remove}))
    if http.json("GET", "/_remote/info") != {}:
        raise RuntimeError("the alias is still listed after its removal")
    return put, connected, count, removal


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100)
    args = p.parse_args()
    print_header(f"#13 remote connect time: {args.runs} runs per mode (+{WARMUP} warm-up)")

    with tempfile.TemporaryDirectory(prefix="isthmus-bench-") as tmp:
        remote = NodeProcess(
            Path(tmp) / "remote", {"cluster.name": "remote", "node.name": "remote-node"}
        )
        local = NodeProcess(Path(tmp) / "local", {"cluster.name": "local", "node.name": "local-0"})
        try:
            remote.start()
            local.start()
            seed = remote.transport_address()
            http = Http(local.url)
            sniff_add = {f"cluster.remote.{ALIAS}.seeds": [seed]}
            sniff_remove = {f"cluster.remote.{ALIAS}.seeds": None}
            proxy_add = {
                f"cluster.remote.{ALIAS}.mode": "proxy",
                f"cluster.remote.{ALIAS}.proxy_address": seed,
            }
            proxy_remove = dict.fromkeys(proxy_add)
            get_s: list[float] = []
            put_s: list[float] = []
            sniff: list[tuple[float, float, int, float]] = []
            proxy: list[tuple[float, float, int, float]] = []
            for run in range(WARMUP + args.runs):
                g = timed(lambda: http.json("GET", "/_cluster/settings"))
                change = {"persistent": {"search.max_buckets": 60_000 + run % 2}}  # a real change
                u = timed(lambda: http.json("PUT", "/_cluster/settings", change))  # noqa: B023
                s = connect_once(http, sniff_add, sniff_remove, "num_nodes_connected")
                x = connect_once(http, proxy_add, proxy_remove, "num_proxy_sockets_connected")
                if run >= WARMUP:
                    get_s.append(g)
                    put_s.append(u)
                    sniff.append(s)
                    proxy.append(x)
            http.json("PUT", "/_cluster/settings", {"persistent": {"search.max_buckets": None}})
            http.close()
        finally:
            local.stop()
            remote.stop()

    def row(label: str, values: list[float], target: bool = False) -> tuple[str, ...]:
        p50 = percentile(values, 50)
        return (
            label,
            ms(p50),
            ms(percentile(values, 90)),
            ms(max(values)),
            f"{p50 / percentile(get_s, 50):.1f}x" if values is not get_s else "1.0x",
            f"{verdict(p50 <= TARGET_S)} (p50 <= {ms(TARGET_S)})" if target else "",
        )

    print_table(
        [
            ("figure", "p50", "p90", "max", "vs GET p50", "target"),
            row("GET _cluster/settings (baseline)", get_s),
            row("PUT search.max_buckets (baseline)", put_s),
            row("sniff: PUT seeds (the request)", [r[0] for r in sniff]),
            row("sniff: PUT -> connected:true", [r[1] for r in sniff], target=True),
            row("sniff: PUT seeds null (removal)", [r[3] for r in sniff]),
            row("proxy: PUT mode+address (the request)", [r[0] for r in proxy]),
            row("proxy: PUT -> connected:true", [r[1] for r in proxy], target=True),
            row("proxy: PUT null (removal)", [r[3] for r in proxy]),
        ]
    )
    print(
        f"   connections when first connected: sniff nodes {min(r[2] for r in sniff)}-"
        f"{max(r[2] for r in sniff)}, proxy sockets {min(r[2] for r in proxy)}-"
        f"{max(r[2] for r in proxy)} (of 18)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
