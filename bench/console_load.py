"""The web console's load time with 20 aliases, and the node's idle CPU with no page open.

Two real nodes on loopback (``NodeProcess``, security off): ``remote``, and ``local`` with 20
remote aliases (``r00`` .. ``r19``, sniff mode, persistent settings) all pointing at the remote's
transport port, connected before measuring. Then:

- **page + first data load**, in headless Chromium (Debian's ``chromium``, as the browser tests):
  the time from the navigation's start to the remote clusters table rendered with its 20 rows
  (the page's ``remotes-rendered`` performance mark, set when the first ``/api/remotes`` answer
  is on screen), over ``--loads`` fresh loads (cache disabled): min / median / max. Target
  < 300 ms.
- ``GET /_isthmus/console/api/remotes`` alone, ``--calls`` times on one keep-alive connection:
  median / p99 of the round trip (what each poll costs).
- **idle CPU**: the local node's CPU seconds (``/proc/<pid>/stat``, user + system) over
  ``--idle`` seconds with no page open, before any page was opened and again after the browser
  closed: nothing of the console runs without a page, so both should be the node's usual idle.
  And over the same time with one page open polling every second, for comparison.

Run: ``.venv/bin/python bench/console_load.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isthmus.testing.process import NodeProcess

ALIASES = 20


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def put_settings(address: str, body: dict[str, object]) -> None:
    conn = http.client.HTTPConnection(address, timeout=30)
    conn.request(
        "PUT", "/_cluster/settings", orjson.dumps(body), {"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    assert response.status == 200, response.read()
    response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    from tests.integration.console_browser import Browser

    with tempfile.TemporaryDirectory() as tmp:
        remote = NodeProcess(Path(tmp) / "remote", {"cluster.name": "remote", "node.name": "r"})
        local = NodeProcess(Path(tmp) / "local", {"cluster.name": "local", "node.name": "l"})
        for node in (remote, local):
            node.launch()
        for node in (remote, local):
            node.wait_started()
        try:
            seed = remote.transport_address()
            settings = {f"cluster.remote.r{i:02}.seeds": [seed] for i in range(ALIASES)}
            assert local.http_address is not None and local.proc is not None
            put_settings(local.http_address, {"persistent": settings})
            address = local.http_address
            api = http.client.HTTPConnection(address, timeout=30)

            def remotes() -> dict[str, object]:
                api.request("GET", "/_isthmus/console/api/remotes")
                response = api.getresponse()
                body: dict[str, object] = orjson.loads(response.read())
                return body

            deadline = time.monotonic() + 30
            while not all(r["connected"] for r in remotes()["remotes"]):  # type: ignore[index, union-attr]
                assert time.monotonic() < deadline, "aliases did not connect"
                time.sleep(0.2)
            pid = local.proc.pid
            cpu_before = idle_cpu(pid, args.idle)

            api.close()  # a connection left idle that long may be closed by the server
            api = http.client.HTTPConnection(address, timeout=30)
            rtts = []
            for _ in range(args.calls):
                started = time.perf_counter()
                body = remotes()
                rtts.append((time.perf_counter() - started) * 1000)
            assert len(body["remotes"]) == ALIASES  # type: ignore[arg-type]

            browser = Browser()
            try:
                browser.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
                loads = []
                url = f"{local.url}/_isthmus/console/?poll=1"
                for _ in range(args.loads):
                    browser.driver.get("about:blank")
                    browser.driver.get(url)
                    mark = browser.wait(
                        lambda: browser.js(
                            "const m = performance.getEntriesByName('remotes-rendered')[0];"
                            "return m && document.querySelectorAll('#remotes tbody tr').length"
                            " === arguments[0] ? m.startTime : null",
                            ALIASES,
                        ),
                        why="20 rows",
                    )
                    loads.append(float(mark))
                cpu_polling = idle_cpu(pid, args.idle)  # the page stays open, polling every 1 s
            finally:
                browser.close()
            cpu_after = idle_cpu(pid, args.idle)
        finally:
            for node in (local, remote):
                node.stop()

    rtts.sort()
    print(f"console page + first data load, {ALIASES} aliases, {args.loads} fresh loads:")
    print(
        f"  min {min(loads):.0f} ms   median {statistics.median(loads):.0f} ms   "
        f"max {max(loads):.0f} ms   (target < 300 ms: "
        f"{'MET' if statistics.median(loads) < 300 else 'MISSED'})"
    )
    print(
        f"GET /_isthmus/console/api/remotes ({ALIASES} aliases), {args.calls} calls: "
        f"median {statistics.median(rtts):.2f} ms   p99 {rtts[int(len(rtts) * 0.99) - 1]:.2f} ms"
    )
    print(f"local node CPU over {args.idle:g} s (with {ALIASES} connected aliases):")
    print(f"  no page open, before any:   {cpu_before * 1000:.0f} ms")
    print(f"  one page polling every 1 s: {cpu_polling * 1000:.0f} ms")
    print(f"  no page open, after:        {cpu_after * 1000:.0f} ms")


if __name__ == "__main__":
    main()
