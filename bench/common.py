"""Shared pieces of the benchmarks: the generated documents, the raw tantivy baseline's schema and
document building, percentiles, a tiny HTTP helper, the node's lifetime and the machine's
description.

Rules the benchmarks keep (see shared/reference/performance.md): every figure is printed beside
a baseline measured in the same run, traffic goes to 127.0.0.1 only, each script starts and stops
its own node in a temporary directory, and a benchmark reports; it never asserts.

The raw baseline mirrors ``isthmus.index.schema.IndexSchema`` by hand (it must stay raw
tantivy-py, not node code): ``_id`` raw+stored+fast, ``_src`` stored bytes, three stored+fast
integer meta fields, then one field per mapped path named ``f0``, ``f1`` … in sorted path order,
dates as integer epoch-millisecond fields (as the node stores them since commit ``fa7bcac``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import tantivy

INDEX = "bench-logs"
MAPPING: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "bytes": {"type": "long"},
        "message": {"type": "text"},
        "service": {"type": "keyword"},
    }
}
# tantivy field per mapped path, as the node names them (sorted path order).
FIELDS = {"@timestamp": "f0", "bytes": "f1", "message": "f2", "service": "f3"}
KEYWORD_FIELD = "service"
SERVICES = [f"svc-{i:02d}" for i in range(50)]  # 2% of the docs per term
WRITER_HEAP_BYTES = 48_000_000  # the node's per-shard writer heap, one indexing thread

_WORDS = [
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "request",
    "response",
    "served",
    "failed",
    "retry",
    "timeout",
    "connection",
    "closed",
    "opened",
    "user",
    "session",
    "cache",
    "miss",
    "hit",
    "upstream",
    "downstream",
    "backend",
    "frontend",
    "queue",
    "worker",
    "started",
    "stopped",
    "latency",
    "slow",
    "fast",
    "error",
    "warning",
    "info",
    "debug",
    "index",
    "search",
    "shard",
    "replica",
    "primary",
    "node",
    "cluster",
    "bulk",
    "document",
    "mapping",
    "refresh",
    "flush",
    "merge",
    "segment",
    "disk",
    "memory",
    "cpu",
    "thread",
    "pool",
    "rejected",
    "accepted",
    "token",
    "expired",
    "valid",
    "invalid",
    "login",
    "logout",
    "payment",
    "order",
    "invoice",
    "customer",
    "product",
    "cart",
    "checkout",
    "shipping",
    "address",
    "region",
    "zone",
    "host",
    "container",
    "pod",
]
_T0 = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


# --- documents ------------------------------------------------------------------------------


def generate_docs(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` small log-like documents: a text, a keyword, a long and a date (~150 bytes each)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        ts = _T0 + timedelta(milliseconds=i * 37 + rng.randrange(37))
        docs.append(
            {
                "@timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "service": SERVICES[rng.randrange(len(SERVICES))],
                "bytes": rng.randrange(100, 1_000_000),
                "message": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(6, 14))),
            }
        )
    return docs


def generate_ids(n: int, seed: int = 7) -> list[str]:
    """20-character ids like the node's auto-generated ones (the baseline indexes an ``_id`` too)."""
    rng = random.Random(seed)
    return [f"{rng.getrandbits(80):020x}"[:20] for _ in range(n)]


def bulk_bodies(docs: Sequence[dict[str, Any]], per_bulk: int, index: str = INDEX) -> list[bytes]:
    """NDJSON ``_bulk`` bodies of ``per_bulk`` index actions each, ids left to the node."""
    action = orjson.dumps({"index": {"_index": index}}) + b"\n"
    bodies = []
    for start in range(0, len(docs), per_bulk):
        chunk = docs[start : start + per_bulk]
        bodies.append(b"".join(action + orjson.dumps(d) + b"\n" for d in chunk))
    return bodies


# --- the raw tantivy baseline ---------------------------------------------------------------


def raw_schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("_id", stored=True, tokenizer_name="raw", fast=True)
    b.add_bytes_field("_src", stored=True, indexed=False, fast=False)
    for meta in ("_seq_no", "_version", "_primary_term"):
        b.add_integer_field(meta, stored=True, indexed=True, fast=True)
    # Dates are epoch-millisecond integer fields in the node (``IndexSchema``), not tantivy dates.
    b.add_integer_field(FIELDS["@timestamp"], indexed=True, fast=True)
    b.add_integer_field(FIELDS["bytes"], indexed=True, fast=True)
    b.add_text_field(FIELDS["message"], stored=False, tokenizer_name="default")
    b.add_text_field(FIELDS["service"], stored=False, tokenizer_name="raw", fast=True)
    return b.build()


def raw_document(doc_id: str, doc: dict[str, Any], seq_no: int) -> tantivy.Document:
    """The tantivy document the node builds for ``doc``: the source bytes as a client sends them
    (``orjson.dumps``, byte-identical to the bulk line the node keeps as sent), the date parsed
    to integer epoch milliseconds."""
    d = tantivy.Document()
    d.add_text("_id", doc_id)
    d.add_bytes("_src", orjson.dumps(doc))
    d.add_integer("_seq_no", seq_no)
    d.add_integer("_version", 1)
    d.add_integer("_primary_term", 1)
    d.add_integer(FIELDS["@timestamp"], (datetime.fromisoformat(doc["@timestamp"]) - _EPOCH) // _MS)
    d.add_integer(FIELDS["bytes"], doc["bytes"])
    d.add_text(FIELDS["message"], doc["message"])
    d.add_text(FIELDS["service"], doc["service"])
    return d


def raw_index(path: Path, ids: Sequence[str], docs: Sequence[dict[str, Any]]) -> tuple[Any, float]:
    """Index ``docs`` with one writer like a node's shard, commit once; (index, seconds)."""
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(raw_schema(), path=str(path), reuse=False)
    started = time.perf_counter()
    writer = index.writer(WRITER_HEAP_BYTES, 1)
    for seq_no, (doc_id, doc) in enumerate(zip(ids, docs, strict=True)):
        writer.add_document(raw_document(doc_id, doc, seq_no))
    writer.commit()
    elapsed = time.perf_counter() - started
    writer.wait_merging_threads()
    index.reload()
    return index, elapsed


# --- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0-100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    """Milliseconds, with three decimals below 10 ms (where microseconds matter)."""
    value = seconds * 1000
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"


# --- HTTP to the node -----------------------------------------------------------------------


class Http:
    """One keep-alive ``http.client`` connection to a node (``127.0.0.1`` only)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"benchmarks only talk to loopback, not {host}")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def request(
        self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": ctype} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        """An admin call; reconnects once if the node closed the idle keep-alive connection."""
        payload = None if body is None else orjson.dumps(body)
        try:
            status, data = self.request(method, path, payload)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()
            status, data = self.request(method, path, payload)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:500]!r}")
        return orjson.loads(data)

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def running_node(settings: dict[str, Any] | None = None) -> Iterator[Any]:
    """A real ``isthmus node`` in a temporary home, stopped (SIGTERM) on exit."""
    from isthmus.testing.process import NodeProcess

    with tempfile.TemporaryDirectory(prefix="isthmus-bench-") as home:
        node = NodeProcess(Path(home), {"cluster.name": "bench", **(settings or {})})
        node.start()
        try:
            yield node
        finally:
            node.stop()


def create_index(http: Http, settings: dict[str, Any] | None = None) -> None:
    http.json(
        "PUT",
        f"/{INDEX}",
        {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0, **(settings or {})},
            "mappings": MAPPING,
        },
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- reporting ------------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    from importlib.metadata import version

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "tantivy": version("tantivy"),
        "kernel": platform.release(),
    }


def print_header(title: str) -> None:
    m = machine()
    print(f"== {title}")
    print(
        f"   {m['date']} | {m['cpus']} CPU {m['cpu']} | {m['ram']} RAM | Python {m['python']} | "
        f"tantivy {m['tantivy']}"
    )


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """A plain fixed-width table; the first row is the header."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def interpreter() -> str:
    """The venv's interpreter path to exec the node with, refusing a pyenv shim.

    ``os.path.realpath(sys.executable)`` would escape the venv (its ``pyvenv.cfg`` is found next
    to the *invoked* path), so we exec the venv's own ``bin/python`` and only check that the
    symlink chain ends at a real ELF binary rather than a shell shim (a shim adds ~0.25 s).
    """
    real = os.path.realpath(sys.executable)
    with open(real, "rb") as fh:
        if fh.read(4) != b"\x7fELF":
            raise SystemExit(f"{sys.executable} resolves to {real}, not an ELF binary (a shim?)")
    return sys.executable


def run_quiet(args: Sequence[str]) -> float:
    """Seconds for ``args`` to run to completion (a baseline for process start)."""
    started = time.perf_counter()
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started
