"""Metric #11, node startup (exec → ``GET /_cluster/health`` 200) and idle RSS.

Each run execs ``python -m isthmus node`` with the venv's interpreter (checked to be a real ELF
binary, not a pyenv shim), ``http.port: 0`` and ``--ports-file`` in a fresh home, polls every
10 ms for the ports file and then for ``/_cluster/health`` answering 200, and stops the node.
Baselines measured in the same run: a bare interpreter (``python -c pass``) and an interpreter
that imports the node's modules and exits (``python -c "import isthmus.node"``).

Then one node is started, one empty index created, and after 10 s idle ``VmRSS`` (and
``VmHWM``) are read from ``/proc/<pid>/status``, beside the RSS of an interpreter that only
imported the node's modules.

As the metric asks, every measured node has one remote cluster configured in its
``isthmus.yml`` (``cluster.remote.bench_remote.seeds``, sniff mode) pointing at a second node
started once for the run; the transport port is bound before HTTP answers, so health 200 implies
it accepts. Remote connections are made in the background: startup does not wait for them, but
the idle RSS includes the live connection (checked connected before reading it).

Usage: .venv/bin/python bench/bench_startup.py [--runs 10] [--idle 10]
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Http,
    interpreter,
    ms,
    parser,
    percentile,
    print_header,
    print_table,
    run_quiet,
    verdict,
)

TARGET_START_S = 1.0
TARGET_RSS_MB = 80.0
POLL_S = 0.01
NOTE = (
    "each node has one remote cluster configured (sniff, to a second node); the transport port "
    "is bound before HTTP answers"
)


def write_home(home: Path, seed: str | None = None) -> Path:
    config = home / "config"
    config.mkdir(parents=True)
    settings: dict[str, object] = {
        "cluster.name": "bench",
        "node.name": "node-0",
        "http.port": 0,
        "path.data": "data",
        "path.logs": "logs",
        "xpack.security.enabled": False,
    }
    if seed is not None:
        settings["cluster.remote.bench_remote.seeds"] = [seed]
    (config / "isthmus.yml").write_text(yaml.safe_dump(settings))
    return config


def spawn(python: str, home: Path) -> subprocess.Popen[bytes]:
    config = home / "config"
    return subprocess.Popen(
        [
            python,
            "-m",
            "isthmus",
            "node",
            "--config-dir",
            str(config),
            "--ports-file",
            str(home / "ports.json"),
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=home,
    )


def wait_healthy(proc: subprocess.Popen[bytes], home: Path, timeout: float = 30.0) -> str:
    """Poll every 10 ms: first the ports file, then ``/_cluster/health`` until 200; the URL."""
    ports = home / "ports.json"
    deadline = time.monotonic() + timeout
    address = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}")
        if address is None and ports.exists():
            address = orjson.loads(ports.read_bytes())["http"]
        if address is not None:
            host, port = address.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
            try:
                conn.request("GET", "/_cluster/health")
                if conn.getresponse().status == 200:
                    return f"http://{address}"
            except OSError:
                pass
            finally:
                conn.close()
        time.sleep(POLL_S)
    raise TimeoutError("node did not become healthy")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def time_startup(python: str, seed: str) -> float:
    """Seconds from exec to ``/_cluster/health`` 200 for a node in a fresh home."""
    home = Path(tempfile.mkdtemp(prefix="isthmus-start-"))
    try:
        write_home(home, seed)
        started = time.perf_counter()
        proc = spawn(python, home)
        try:
            wait_healthy(proc, home)
            return time.perf_counter() - started
        finally:
            stop(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def imports_rss_kb(python: str) -> int:
    """RSS of an interpreter that imported the node's modules (and nothing else)."""
    code = (
        "import isthmus.node, isthmus.cli.main, uvloop, pathlib\n"
        "for l in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
        "    if l.startswith('VmRSS:'): print(l.split()[1])\n"
    )
    return int(subprocess.run([python, "-c", code], check=True, capture_output=True).stdout)


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--idle", type=float, default=10.0, help="seconds idle before reading RSS")
    args = p.parse_args()

    python = interpreter()
    print_header(f"#11 node startup and idle RSS: {args.runs} runs, {args.idle:.0f} s idle")
    print(f"   interpreter {python} -> {Path(python).resolve()}")

    remote_home = Path(tempfile.mkdtemp(prefix="isthmus-remote-"))
    write_home(remote_home)
    remote = spawn(python, remote_home)
    try:
        remote_client = Http(wait_healthy(remote, remote_home))
        (only,) = remote_client.json("GET", "/_nodes/_local")["nodes"].values()
        seed = str(only["transport_address"])
        remote_client.close()
        return measure(args, python, seed)
    finally:
        stop(remote)
        shutil.rmtree(remote_home, ignore_errors=True)


def measure(args: Any, python: str, seed: str) -> int:
    # Interleaved, so that the machine's noise spreads over the baselines and the node alike.
    bare: list[float] = []
    imports: list[float] = []
    starts: list[float] = []
    for _ in range(args.runs):
        bare.append(run_quiet([python, "-c", "pass"]))
        imports.append(run_quiet([python, "-c", "import isthmus.node, isthmus.cli.main"]))
        starts.append(time_startup(python, seed))

    home = Path(tempfile.mkdtemp(prefix="isthmus-rss-"))
    try:
        write_home(home, seed)
        proc = spawn(python, home)
        try:
            url = wait_healthy(proc, home)
            client = Http(url)
            client.json("PUT", "/bench-empty", {"settings": {"number_of_replicas": 0}})
            deadline = time.monotonic() + 10
            while not client.json("GET", "/_remote/info")["bench_remote"]["connected"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the configured remote did not connect")
                time.sleep(0.05)
            client.close()
            time.sleep(args.idle)
            rss_kb = status_kb(proc.pid, "VmRSS")
            hwm_kb = status_kb(proc.pid, "VmHWM")
            threads = status_kb(proc.pid, "Threads")
        finally:
            stop(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base_rss_kb = imports_rss_kb(python)

    s50, smax = percentile(starts, 50), max(starts)
    rss_mb = rss_kb / 1024
    print_table(
        [
            ("figure", "p50", "max", "baseline / target", "verdict"),
            ("python -c pass", ms(percentile(bare, 50)), ms(max(bare)), "baseline", ""),
            (
                "python -c 'import isthmus.node'",
                ms(percentile(imports, 50)),
                ms(max(imports)),
                "baseline",
                "",
            ),
            (
                "exec -> _cluster/health 200",
                ms(s50),
                ms(smax),
                f"<= {ms(TARGET_START_S)}; {s50 / percentile(imports, 50):.1f}x the imports",
                verdict(smax <= TARGET_START_S),
            ),
            (
                f"idle RSS ({args.idle:.0f} s, 1 empty index)",
                f"{rss_mb:.1f} MiB",
                f"HWM {hwm_kb / 1024:.1f} MiB",
                f"<= {TARGET_RSS_MB:.0f} MB; imports alone {base_rss_kb / 1024:.1f} MiB",
                verdict(rss_kb * 1024 <= TARGET_RSS_MB * 1_000_000),
            ),
        ]
    )
    print(f"   node threads when idle: {threads}")
    print(f"   NOTE: {NOTE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
