"""Metrics #1 and #13 for both security models of remote clusters, side by side in one run.

Two pairs of secured clusters from ``isthmus.lab.topology`` (security on, transport TLS on both
sides, separate CAs), started together and measured interleaved so that the machine's noise
falls evenly on both:

- **certificate**: ``LabSpec(credential=None, target="transport",
  transport_trusts_remote_transport_ca=True)``: local reaches remote's *transport* port over
  mutual TLS, no credentials; the user's identity (name, role names) travels with each request
  and remote authorizes it against **its own** role ``foo-role`` (created here: ``read`` and
  ``read_cross_cluster`` on ``*``).
- **api_key**: ``LabSpec()``, the guide's setup: remote's remote cluster server (its own CA), a
  cross-cluster API key in local's keystore, the local user's ``remote_indices``.

On each remote, ``--docs`` (10k) documents of ``common.py`` are loaded into ``logs-bench``
(covered by the key's ``logs-*`` access), and a user ``foo`` with the same password and role
``foo-role`` is created, so the baseline searches run as the same kind of user.

- #13 **remote connect time**: per round, for each model and mode (proxy: ``proxy_address``, the
  default 18 sockets; sniff: ``seeds``), a persistent ``PUT _cluster/settings`` registers the
  alias ``my`` (as the lab does, ``skip_unavailable: false``), ``GET _remote/info`` is polled every
  1 ms on the same keep-alive connection (as ``elastic``) until ``connected: true``, then every key
  of the alias is set to null. The order of the four is rotated every round; ``--runs`` (50)
  timed rounds after 3 warm-up. Baselines, same rounds: ``GET _cluster/settings`` and a ``PUT``
  of ``search.max_buckets`` on each local node.
- #1 **CCS overhead**: per mode, the alias registered on both locals, then rounds of four
  requests in a random order (seeded, new every round): ``GET my:logs-bench/_search`` as
  ``foo`` on each local (CCS, ``ccs_minimize_roundtrips`` default true) and
  ``GET logs-bench/_search`` as ``foo`` straight on each remote (the baseline), each with a
  ``match`` on one generated word (the same word for all four in a round), top 10, one
  keep-alive connection per series;
  ``--queries`` (2,000) timed rounds after ``--warmup`` (200). Note: performance.md's baseline is
  an identical index searched on the *local* cluster; here it is the remote's own search, which
  ``bench_ccs.py`` found equal to it (ratio 1.00-1.05).

Node CPU per round (``/proc/<pid>/stat``) is printed for #1: each local runs only its model's
CCS, each remote one direct search and one CCS part. It reports and never asserts.

Usage: .venv/bin/python bench/bench_remote_models.py [--docs 10000] [--runs 50] [--queries 2000]
       [--warmup 200]
"""

from __future__ import annotations

import argparse
import base64
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

from isthmus.lab.topology import ALIAS, USER, USER_PASSWORD, USER_ROLE, Lab, LabSpec

INDEX = "logs-bench"  # inside the key's ``logs-*`` access
MODES = ("proxy", "sniff")
SPECS = {
    "certificate": LabSpec(
        credential=None, target="transport", transport_trusts_remote_transport_ca=True
    ),
    "api_key": LabSpec(),
}
WARMUP_RUNS = 3
POLL_S = 0.001
PER_BULK = 5_000
# performance.md targets
T13 = 0.050
T1_RATIO, T1_ADDED, T1_P99_RATIO = 1.5, 0.001, 2.0


class AuthHttp(Http):
    """:class:`Http` sending basic auth from a ``http://user:pw@host:port`` URL."""

    def __init__(self, url: str) -> None:
        scheme, rest = url.split("://", 1)
        creds, host = rest.split("@", 1)
        super().__init__(f"{scheme}://{host}")
        self.auth = "Basic " + base64.b64encode(creds.encode()).decode()

    def request(
        self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Authorization": self.auth}
        if body is not None:
            headers["Content-Type"] = ctype
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def as_user(url: str) -> str:
    """``url`` (with ``elastic``'s credentials) as the user ``foo``."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{USER_PASSWORD}@{rest.split('@', 1)[1]}"


# --- setup ------------------------------------------------------------------------------------


def prepare_remote(lab: Lab, docs: Sequence[dict[str, Any]]) -> None:
    """``logs-bench`` and the user ``foo`` (role ``foo-role``, read on ``*``) on remote."""
    http = AuthHttp(lab.remote_url)
    try:
        role = {
            "cluster": ["monitor"],
            "indices": [{"names": ["*"], "privileges": ["read", "read_cross_cluster"]}],
        }
        http.json("PUT", f"/_security/role/{USER_ROLE}", role)
        http.json(
            "PUT", f"/_security/user/{USER}", {"password": USER_PASSWORD, "roles": [USER_ROLE]}
        )
        settings = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": -1}
        http.json("PUT", f"/{INDEX}", {"settings": settings, "mappings": MAPPING})
        for body in bulk_bodies(docs, PER_BULK, INDEX):
            status, data = http.request("POST", "/_bulk", body, "application/x-ndjson")
            if status != 200 or b'"errors":false' not in data[:200]:
                raise RuntimeError(f"bulk failed: {status} {data[:300]!r}")
        http.json("POST", f"/{INDEX}/_refresh")
        count = http.json("GET", f"/{INDEX}/_count")["count"]
        if count != len(docs):
            raise RuntimeError(f"{count} docs searchable of {len(docs)}")
    finally:
        http.close()


def alias_settings(mode: str, address: str | None) -> dict[str, Any]:
    """The alias's persistent settings (as ``Lab.register``); all null for ``address=None``."""
    p = f"cluster.remote.{ALIAS}"
    if mode == "proxy":
        on: dict[str, Any] = {f"{p}.mode": "proxy", f"{p}.proxy_address": address}
    else:
        on = {f"{p}.mode": "sniff", f"{p}.seeds": [address]}
    on[f"{p}.skip_unavailable"] = False
    return on if address is not None else dict.fromkeys(on)


@dataclass
class Pair:
    """One model's running lab and the connections the script uses on it."""

    model: str
    lab: Lab
    address: str = ""  # where local points (remote's transport or remote cluster server)
    admin: AuthHttp = field(init=False)

    def __post_init__(self) -> None:
        self.address = self.lab.target_address()
        self.admin = AuthHttp(self.lab.local_url)

    def register(self, mode: str) -> None:
        self.admin.json(
            "PUT", "/_cluster/settings", {"persistent": alias_settings(mode, self.address)}
        )

    def unregister(self, mode: str) -> None:
        self.admin.json("PUT", "/_cluster/settings", {"persistent": alias_settings(mode, None)})
        if self.admin.json("GET", "/_remote/info") != {}:
            raise RuntimeError(f"{self.model}: [{ALIAS}] still listed after its removal")

    def wait_connected(self, started: float, timeout: float = 15.0) -> tuple[float, dict[str, Any]]:
        """Seconds from ``started`` to the first ``connected: true``, and that alias info."""
        while True:
            info = self.admin.json("GET", "/_remote/info").get(ALIAS)
            if info is not None and info["connected"]:
                return time.perf_counter() - started, info
            if time.perf_counter() > started + timeout:
                raise RuntimeError(f"{self.model}: [{ALIAS}] not connected after {timeout} s")
            time.sleep(POLL_S)


# --- #13 ----------------------------------------------------------------------------------------


@dataclass
class Connect:
    put: list[float] = field(default_factory=list)
    connected: list[float] = field(default_factory=list)
    removal: list[float] = field(default_factory=list)
    conns: list[int] = field(default_factory=list)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure_connect(
    pairs: Sequence[Pair], runs: int
) -> tuple[dict[str, Connect], dict[str, list[float]], dict[str, list[float]]]:
    combos = [(p, mode) for mode in MODES for p in pairs]
    out = {f"{p.model}/{mode}": Connect() for p, mode in combos}
    get_s: dict[str, list[float]] = {p.model: [] for p in pairs}
    put_s: dict[str, list[float]] = {p.model: [] for p in pairs}
    for run in range(WARMUP_RUNS + runs):
        counted = run >= WARMUP_RUNS
        for p in pairs:
            g = timed(lambda: p.admin.json("GET", "/_cluster/settings"))  # noqa: B023
            change = {"persistent": {"search.max_buckets": 60_000 + run % 2}}
            u = timed(lambda: p.admin.json("PUT", "/_cluster/settings", change))  # noqa: B023
            if counted:
                get_s[p.model].append(g)
                put_s[p.model].append(u)
        shift = run % len(combos)
        for p, mode in combos[shift:] + combos[:shift]:
            started = time.perf_counter()
            p.register(mode)
            put = time.perf_counter() - started
            connected, info = p.wait_connected(started)
            removal = timed(lambda: p.unregister(mode))  # noqa: B023
            if counted:
                c = out[f"{p.model}/{mode}"]
                c.put.append(put)
                c.connected.append(connected)
                c.removal.append(removal)
                key = "num_proxy_sockets_connected" if mode == "proxy" else "num_nodes_connected"
                c.conns.append(int(info[key]))
    for p in pairs:
        p.admin.json("PUT", "/_cluster/settings", {"persistent": {"search.max_buckets": None}})
    return out, get_s, put_s


def report_connect(
    out: dict[str, Connect], get_s: dict[str, list[float]], put_s: dict[str, list[float]]
) -> None:
    get_p50 = percentile([v for vs in get_s.values() for v in vs], 50)

    def row(label: str, values: list[float], target: bool = False) -> tuple[str, ...]:
        p50 = percentile(values, 50)
        return (
            label,
            ms(p50),
            ms(percentile(values, 95)),
            ms(max(values)),
            f"{p50 / get_p50:.1f}x",
            f"p50 <= {ms(T13)}: {verdict(p50 <= T13)}" if target else "",
        )

    rows: list[tuple[str, ...]] = [("figure", "p50", "p95", "max", "vs GET p50", "target")]
    for model in get_s:
        rows.append(row(f"{model}: GET _cluster/settings (baseline)", get_s[model]))
        rows.append(row(f"{model}: PUT search.max_buckets (baseline)", put_s[model]))
    for name, c in out.items():
        rows.append(row(f"{name}: the PUT", c.put))
        rows.append(row(f"{name}: PUT -> connected:true", c.connected, target=True))
        rows.append(row(f"{name}: removal (all null)", c.removal))
    print_table(rows)
    print(
        "   connections when first connected: "
        + ", ".join(f"{n} {min(c.conns)}-{max(c.conns)}" for n, c in out.items())
        + " (proxy: of 18 sockets; sniff: nodes)"
    )
    for mode in MODES:
        cert, key = out[f"certificate/{mode}"], out[f"api_key/{mode}"]
        a, b = percentile(cert.connected, 50), percentile(key.connected, 50)
        print(f"   {mode}: api_key / certificate p50 {b / a:.2f}x ({(b - a) * 1000:+.3f} ms)")


# --- #1 -----------------------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    http: AuthHttp
    path: str
    samples: list[float] = field(default_factory=list)
    first: Any = None

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


def alternate(
    series: Sequence[Series], words: Sequence[str], warmup: int, rng: random.Random
) -> float:
    """One request per series per round, in a fresh random order each round (with four series
    a fixed or reversed order would always put some series right after the same neighbour)."""
    started = time.perf_counter()
    order = list(series)
    for i, word in enumerate(words):
        body = orjson.dumps({"query": {"match": {"message": word}}})
        rng.shuffle(order)
        for s in order:
            t0 = time.perf_counter()
            status, data = s.http.request("GET", s.path, body)
            elapsed = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"{s.label}: {s.path} -> {status}: {data[:300]!r}")
            if s.first is None:
                s.first = orjson.loads(data)
            if i >= warmup:
                s.samples.append(elapsed)
    return time.perf_counter() - started


def check_pair(direct: Series, ccs: Series) -> str:
    a, b = direct.first["hits"], ccs.first["hits"]
    if a["total"] != b["total"] or len(b["hits"]) != 10:
        raise RuntimeError(f"{ccs.label}: {b['total']} / {len(b['hits'])} hits vs {a['total']}")
    clusters = ccs.first.get("_clusters") or {}
    if clusters.get("successful") != 1:
        raise RuntimeError(f"{ccs.label}: clusters {clusters}")
    return f"{a['total']['value']} ({a['total']['relation']})"


def measure_search(
    pairs: Sequence[Pair], mode: str, words: Sequence[str], warmup: int
) -> tuple[list[tuple[Series, Series]], float, dict[str, float], str]:
    for p in pairs:
        p.register(mode)
        p.wait_connected(time.perf_counter())
    duos = [
        (
            Series(
                f"{p.model}: direct on remote",
                AuthHttp(as_user(p.lab.remote_url)),
                f"/{INDEX}/_search",
            ),
            Series(
                f"{p.model}: CCS {ALIAS}:{INDEX}",
                AuthHttp(p.lab.user_url),
                f"/{ALIAS}:{INDEX}/_search",
            ),
        )
        for p in pairs
    ]
    pids: dict[str, int] = {}
    for p in pairs:
        assert p.lab.local is not None and p.lab.remote is not None
        assert p.lab.local.proc is not None and p.lab.remote.proc is not None
        pids[f"{p.model} local"] = p.lab.local.proc.pid
        pids[f"{p.model} remote"] = p.lab.remote.proc.pid
    cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
    took = alternate([s for duo in duos for s in duo], words, warmup, random.Random(len(words)))
    cpu = {k: (cpu_seconds(v) - cpu0[k]) / len(words) for k, v in pids.items()}
    total = ""
    for direct, ccs in duos:
        total = check_pair(direct, ccs)
        direct.http.close()
        ccs.http.close()
    for p in pairs:
        p.unregister(mode)
    return duos, took, cpu, total


def report_search(
    mode: str,
    duos: list[tuple[Series, Series]],
    took: float,
    cpu: dict[str, float],
    total: str,
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"#1 CCS overhead, {mode} mode: {args.docs} docs, 1 shard, on each remote; match top-10, "
        f"total hits of the first query {total}; {args.queries} rounds of 4 in {took:.1f} s"
    )
    rows: list[tuple[str, ...]] = [
        ("series", "p50", "p99", "p50 ratio", "p99 ratio", "added p50", "verdict")
    ]
    for direct, ccs in duos:
        r50, r99, added = ccs.p50 / direct.p50, ccs.p99 / direct.p99, ccs.p50 - direct.p50
        rows.append(
            (direct.label + " (baseline)", ms(direct.p50), ms(direct.p99), "1.00", "1.00", "", "")
        )
        rows.append(
            (
                ccs.label,
                ms(ccs.p50),
                ms(ccs.p99),
                f"{r50:.2f}",
                f"{r99:.2f}",
                f"{added * 1000:.3f} ms",
                f"p50 {verdict(r50 <= T1_RATIO)}, added {verdict(added <= T1_ADDED)}, "
                f"p99 {verdict(r99 <= T1_P99_RATIO)}",
            )
        )
    print_table(rows)
    (_, cert), (_, key) = duos
    print(
        f"   api_key CCS - certificate CCS: p50 {(key.p50 - cert.p50) * 1000:+.3f} ms, "
        f"p99 {(key.p99 - cert.p99) * 1000:+.3f} ms"
    )
    print(
        "   node CPU per round (each local: 1 CCS; each remote: 1 direct + 1 CCS part): "
        + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in cpu.items())
    )


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=10_000, help="docs in logs-bench on each remote")
    p.add_argument("--runs", type=int, default=50, help="#13 timed rounds (each model and mode)")
    p.add_argument("--queries", type=int, default=2_000, help="#1 timed rounds per mode")
    p.add_argument("--warmup", type=int, default=200, help="#1 uncounted rounds first")
    args = p.parse_args()
    wall0, load0 = time.perf_counter(), os.getloadavg()
    print_header(
        f"#1, #13 by security model (certificate, api_key; proxy, sniff): {args.docs} docs, "
        f"{args.runs} connect rounds (+{WARMUP_RUNS}), {args.queries} search rounds "
        f"(+{args.warmup}) per mode"
    )
    docs = generate_docs(args.docs)
    words = sorted({w for d in docs[:2000] for w in d["message"].split()})
    rng = random.Random(5)

    with tempfile.TemporaryDirectory(prefix="isthmus-bench-") as tmp:
        labs = {m: Lab(Path(tmp) / m, spec) for m, spec in SPECS.items()}
        try:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(len(labs)) as pool:
                list(pool.map(lambda lab: lab.start(register=False), labs.values()))
                list(pool.map(lambda lab: prepare_remote(lab, docs), labs.values()))
            print(f"   2 labs built, started and loaded in {time.perf_counter() - t0:.1f} s")
            pairs = [Pair(m, lab) for m, lab in labs.items()]
            for pair in pairs:
                print(f"   {pair.model}: local -> {pair.address}")

            print()
            print(f"#13 remote connect time: {args.runs} rounds, 4 connects each, order rotated")
            report_connect(*measure_connect(pairs, args.runs))

            for mode in MODES:
                draw = [rng.choice(words) for _ in range(args.warmup + args.queries)]
                report_search(mode, *measure_search(pairs, mode, draw, args.warmup), args)
            for pair in pairs:
                pair.admin.close()
        finally:
            for lab in labs.values():
                lab.stop()

    load1 = os.getloadavg()
    print()
    print(
        f"   load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; "
        f"total {time.perf_counter() - wall0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
