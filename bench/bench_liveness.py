"""Metric #4 (a), dead-remote detection: seconds from black-holing (or freezing) a remote cluster to
the local node's ``_remote/info`` showing ``connected: false``.

Needs root: every node runs in a private network namespace made by this script (``ip netns``),
where a remote's transport port is black-holed with an ``htb`` root qdisc on the namespace's
loopback, ``u32`` filters sending that port (both directions) to class 1:2, and a ``blackhole``
qdisc added as that class's leaf at the instant measured ("t0"); deleting the leaf ends the
black-hole. HTTP is never black-holed. This process reaches the nodes' HTTP through sockets made
by a short-lived thread that joined the namespace (``setns``). The namespaces are deleted at the
end, whatever happens.

**Isthmus defaults** (pings every 1 s, a connection silent for 2 s is aborted; TCP keep-alive
1 s/1 s/3 and ``TCP_USER_TIMEOUT`` 3 s), one node pair, ``--runs`` runs of each scenario, the
connection rebuilt before each run (a ``node_connections`` change) and the remote going dark at a
random moment 1 to 2 s later (so at a random phase of the pings):

- **black-holed, idle**: nothing talks to the local node; the detection time is read from the
  local log (the ``closed by remote`` line's timestamp minus t0, millisecond resolution): the
  connection leaves ``_remote/info`` at that instant.
- **black-holed, busy**: the same while a client thread hits the local node's REST API
  (``GET _remote/info``) at 20 q/s; its first ``connected: false`` is reported beside the log
  figure. Until cross-cluster search exists no REST request sends transport traffic to a remote,
  so on the transport connection "busy" is the same as idle: only the 1 s pings are in flight.
- **frozen**: the remote process is stopped (SIGSTOP; SIGCONT after the detection). Its kernel
  keeps acknowledging, so only the pings can notice.

**Kernel only**, one run each, all black-holed together at the start and watched while the runs
above go on, up to ``--cap`` seconds (default 60; "> 60 s" when nothing happened by then):

- node pairs with ``transport.ping_schedule: -1`` and ``network.tcp.user_timeout``/``keep_idle``/
  ``keep_interval``/``keep_count`` at ``-1`` (the OS defaults: keep-alive after 7200 s), idle;
- the same in a second namespace with ``net.ipv4.tcp_retries2=5`` (a per-namespace sysctl);
- since no REST call makes a node send transport traffic yet, "busy" kernel-only figures come
  from a stand-in: a transport client (``isthmus.transport.client.connect``, OS socket options)
  inside the same namespace, connected to the black-holed remote node and sending
  ``cluster:monitor/state`` at 20 q/s, timed to the moment its connection breaks;
- for comparison, a pair and a client with Isthmus's TCP options but pings off.

Usage: .venv/bin/python bench/bench_liveness.py [--runs 5] [--cap 60]   (as root)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http.client
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parser, percentile, print_header, print_table, verdict

from isthmus.settings.remote import TcpOptions, transport_tuning
from isthmus.testing.process import NodeProcess
from isthmus.transport import ChannelState, LocalNode, TransportChannel, connect
from isthmus.wire import NodeIdentity

TARGET_S = 3.0
CLONE_NEWNET = 0x40000000
ALIAS = "far"
KERNEL_DEFAULTS: dict[str, Any] = {
    "transport.ping_schedule": -1,
    "network.tcp.user_timeout": -1,
    "network.tcp.keep_idle": -1,
    "network.tcp.keep_interval": -1,
    "network.tcp.keep_count": -1,
}
TCP_OPTIONS_ONLY: dict[str, Any] = {"transport.ping_schedule": -1}
CLOSED_BY_REMOTE = re.compile(
    r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d),(\d{3})\]\[INFO \]\[o\.e\.t\.ClusterConnectionManager\] "
    r"\[local-node\] transport connection to \[.*\] closed by remote$",
    re.M,
)


# --- network namespaces (as in tests/integration/test_remote_liveness.py) -------------------------


class Netns:
    """A private network namespace with its loopback up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._prepared = False

    @classmethod
    def create(cls) -> Netns:
        ns = cls(f"isthmus-bench-{secrets.token_hex(4)}")
        try:
            subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = (
                exc.stderr.decode().strip()
                if isinstance(exc, subprocess.CalledProcessError)
                else exc
            )
            raise SystemExit(f"cannot create a network namespace (root needed): {detail}") from exc
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    @property
    def wrap(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(self, *args: str) -> None:
        subprocess.run([*self.wrap, *args], check=True, capture_output=True)

    def tc(self, *args: str) -> None:
        subprocess.run(["tc", "-n", self.name, *args], check=True, capture_output=True)

    def prepare_blackhole(self, ports: list[int]) -> None:
        """Send TCP ``ports`` (both directions) to class 1:2, which still forwards everything."""
        self.tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1")
        for cls in ("1:1", "1:2"):
            self.tc(
                *("class", "add", "dev", "lo", "parent", "1:", "classid", cls),
                *("htb", "rate", "10gbit", "quantum", "60000"),
            )
        for port in ports:
            for direction in ("dport", "sport"):
                self.tc(
                    *("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1"),
                    *("u32", "match", "ip", direction, str(port), "0xffff", "flowid", "1:2"),
                )

    def blackhole_on(self) -> None:
        self.tc("qdisc", "add", "dev", "lo", "parent", "1:2", "handle", "20:", "blackhole")

    def blackhole_off(self) -> None:
        self.tc("qdisc", "del", "dev", "lo", "parent", "1:2", "handle", "20:")

    def enter(self) -> None:
        """Move the *calling thread* into the namespace (sockets it creates then live there)."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({self.name}): {os.strerror(err)}")
        finally:
            os.close(fd)

    def connect(self, address: tuple[str, int], timeout: float | None) -> socket.socket:
        """A TCP socket connected inside the namespace, made by a thread that joins it."""
        result: list[socket.socket | BaseException] = []

        def run() -> None:
            try:
                self.enter()
                result.append(socket.create_connection(address, timeout=timeout))
            except BaseException as exc:
                result.append(exc)

        thread = threading.Thread(target=run, name=f"connect in {self.name}")
        thread.start()
        thread.join()
        (outcome,) = result
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False, capture_output=True)


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, timeout: float, netns: Netns) -> None:
        super().__init__(host, port, timeout=timeout)
        self.netns = netns

    def connect(self) -> None:
        self.sock = self.netns.connect((self.host, self.port), self.timeout)


class NsHttp:
    """JSON over one keep-alive connection to a node inside a namespace."""

    def __init__(self, address: str, netns: Netns, timeout: float = 15.0) -> None:
        host, port = address.rsplit(":", 1)
        self.conn = _Connection(host, int(port), timeout, netns)

    def json(self, method: str, path: str, body: Any = None) -> Any:
        payload = None if body is None else orjson.dumps(body)
        headers = {} if payload is None else {"Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {data[:500]!r}")
        return orjson.loads(data)

    def connected(self) -> bool:
        return bool(self.json("GET", "/_remote/info")[ALIAS]["connected"])

    def close(self) -> None:
        self.conn.close()


# --- node pairs -------------------------------------------------------------------------------------


@dataclass
class Pair:
    local: NodeProcess
    remote: NodeProcess
    http: NsHttp
    connections: int = 3  # node_connections, toggled to force a rebuild

    def disconnects(self) -> list[float]:
        """Wall-clock times of the local log's ``closed by remote`` lines."""
        return [
            time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + int(m.group(2)) / 1000
            for m in CLOSED_BY_REMOTE.finditer(self.local.log_text())
        ]

    def rebuild(self) -> None:
        """Replace the connection by a fresh one (the PUT answers once it is connected)."""
        self.connections = 5 - self.connections  # 3 <-> 2
        self.http.json(
            "PUT",
            "/_cluster/settings",
            {"persistent": {f"cluster.remote.{ALIAS}.node_connections": self.connections}},
        )
        if not self.http.connected():
            raise RuntimeError("not connected after a rebuild")

    def stop(self) -> None:
        self.http.close()
        for node in (self.local, self.remote):
            if node.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.proc.pid, signal.SIGCONT)
            node.kill()


def start_pair(
    ns: Netns, home: Path, remote_port: int, local_port: int, settings: dict[str, Any]
) -> Pair:
    remote = NodeProcess(
        home / "remote",
        {
            "cluster.name": "remote",
            "node.name": "remote-node",
            "transport.port": remote_port,
            **settings,
        },
        wrap=ns.wrap,
    )
    local = NodeProcess(
        home / "local",
        {
            "cluster.name": "local",
            "node.name": "local-node",
            "transport.port": local_port,
            **settings,
        },
        wrap=ns.wrap,
    )
    remote.start()
    local.start()
    pair = Pair(local, remote, NsHttp(str(local.http_address), ns))
    pair.http.json(
        "PUT",
        "/_cluster/settings",
        {"persistent": {f"cluster.remote.{ALIAS}.seeds": [f"127.0.0.1:{remote_port}"]}},
    )
    if not pair.http.connected():
        raise RuntimeError(f"pair in {ns.name} on port {remote_port} did not connect")
    return pair


# --- the stand-in for busy cross-cluster traffic --------------------------------------------------


class BusyClient(threading.Thread):
    """A transport client inside a namespace sending ``cluster:monitor/state`` at 20 q/s to one
    node; records (monotonic) when its connection ended and why."""

    def __init__(self, ns: Netns, port: int, tcp: TcpOptions | None) -> None:
        super().__init__(name=f"busy client {ns.name}:{port}", daemon=True)
        self.ns, self.port, self.tcp = ns, port, tcp
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.ended_at: float | None = None
        self.reason: str | None = None
        self.error: BaseException | None = None
        self.options = ""  # the socket options the connection really has

    def run(self) -> None:
        try:
            self.ns.enter()
            uvloop.run(self._main())
        except BaseException as exc:
            self.error = exc
        finally:
            self.ready.set()

    async def _main(self) -> None:
        node = NodeIdentity(
            id="busy-id", name="busy", publish_address="127.0.0.1:0", version="9.0.0"
        )
        me = LocalNode(cluster_name="local", cluster_uuid="busy-uuid", node=node)
        channel = await connect("127.0.0.1", self.port, identity=me, tcp=self.tcp, timeout=10)
        self.options = _socket_options(channel)
        watcher = asyncio.create_task(self._watch(channel))
        self.ready.set()
        requests: set[asyncio.Task[Any]] = set()
        while self.ended_at is None and not self.stopping.is_set():
            task = asyncio.create_task(channel.request("cluster:monitor/state", {"nodes": True}))
            requests.add(task)
            task.add_done_callback(_forget_task(requests))
            await asyncio.sleep(0.05)
        channel.close()
        watcher.cancel()
        for task in list(requests):
            task.cancel()
        await asyncio.gather(watcher, *requests, return_exceptions=True)

    async def _watch(self, channel: TransportChannel) -> None:
        await channel.wait_closed()
        if channel.state is ChannelState.BROKEN:
            self.ended_at = time.monotonic()
            self.reason = channel.broken_reason


def _socket_options(channel: TransportChannel) -> str:
    """What ``getsockopt`` says about the channel's socket (read through the transport: the
    channel's own ``socket()`` accessor is not used, so that this reports what is really set)."""
    transport = channel._transport
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None:
        return "?"
    tcp = socket.IPPROTO_TCP
    return (
        f"SO_KEEPALIVE={sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)} "
        f"TCP_KEEPIDLE={sock.getsockopt(tcp, socket.TCP_KEEPIDLE)} "
        f"TCP_USER_TIMEOUT={sock.getsockopt(tcp, socket.TCP_USER_TIMEOUT)}"
    )


def _forget_task(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a request failing on a dead connection is expected

    return done


class RestLoop(threading.Thread):
    """``GET _remote/info`` at 20 q/s; the first ``connected: false`` after ``t0`` (monotonic)."""

    def __init__(self, address: str, ns: Netns) -> None:
        super().__init__(name="rest 20 q/s", daemon=True)
        self.http = NsHttp(address, ns)
        self.t0: float | None = None
        self.first_false: float | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                connected = self.http.connected()
                if not connected and self.t0 is not None and self.first_false is None:
                    self.first_false = time.monotonic() - self.t0
                self.stopping.wait(max(0.0, 0.05 - (time.monotonic() - started)))
        finally:
            self.http.close()


# --- the Isthmus runs ------------------------------------------------------------------------------


@dataclass
class Samples:
    log_s: list[float] = field(default_factory=list)
    poll_s: list[float] = field(default_factory=list)


def isthmus_runs(pair: Pair, ns: Netns, scenario: str, runs: int, rng: random.Random) -> Samples:
    out = Samples()
    for _ in range(runs):
        pair.rebuild()
        rest = RestLoop(str(pair.local.http_address), ns) if scenario == "busy" else None
        if rest is not None:
            rest.start()
        time.sleep(rng.uniform(1.0, 2.0))
        before = len(pair.disconnects())
        assert pair.remote.proc is not None
        t0_wall, t0 = time.time(), time.monotonic()
        if rest is not None:
            rest.t0 = t0
        if scenario == "frozen":
            os.kill(pair.remote.proc.pid, signal.SIGSTOP)
        else:
            ns.blackhole_on()
        try:
            while len(found := pair.disconnects()) <= before:
                if time.monotonic() - t0 > 20:
                    raise RuntimeError(f"{scenario}: no disconnect within 20 s")
                time.sleep(0.02)
            out.log_s.append(found[before] - t0_wall)
            if rest is not None:
                while rest.first_false is None and time.monotonic() - t0 < 20:
                    time.sleep(0.01)
                out.poll_s.append(
                    rest.first_false if rest.first_false is not None else float("nan")
                )
            if pair.http.connected():
                raise RuntimeError(f"{scenario}: logged a disconnect but still connected")
        finally:
            if scenario == "frozen":
                os.kill(pair.remote.proc.pid, signal.SIGCONT)
            else:
                ns.blackhole_off()
            if rest is not None:
                rest.stopping.set()
                rest.join()
    return out


# --- main -------------------------------------------------------------------------------------------


@dataclass
class KernelCase:
    label: str
    traffic: str
    t0: float  # monotonic
    t0_wall: float
    pair: Pair | None = None
    client: BusyClient | None = None

    def detected(self) -> float | None:
        if self.pair is not None:
            after = [t - self.t0_wall for t in self.pair.disconnects() if t >= self.t0_wall]
            return min(after) if after else None
        assert self.client is not None
        return None if self.client.ended_at is None else self.client.ended_at - self.t0


@contextlib.contextmanager
def namespaces(count: int) -> Iterator[list[Netns]]:
    made: list[Netns] = []
    try:
        for _ in range(count):
            made.append(Netns.create())
        yield made
    finally:
        for ns in made:
            ns.delete()


def seconds(value: float | None, cap: float) -> str:
    return f"> {cap:.0f} s" if value is None or value > cap else f"{value:.3f} s"


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per Isthmus scenario")
    p.add_argument(
        "--cap", type=float, default=60.0, help="seconds to wait in the kernel-only runs"
    )
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_liveness.py needs root (network namespaces, tc)")
    print_header(
        f"#4 dead-remote detection: {args.runs} runs per scenario, kernel-only cap {args.cap:g} s"
    )
    rng = random.Random(4)
    pairs: list[Pair] = []
    clients: list[BusyClient] = []
    isthmus_tcp = transport_tuning({}).tcp
    with tempfile.TemporaryDirectory(prefix="isthmus-bench-") as tmp, namespaces(3) as spaces:
        home = Path(tmp)
        ns_i, ns_k, ns_r = spaces  # Isthmus runs; kernel-only; kernel-only with tcp_retries2=5
        try:
            ns_r.run("sysctl", "-q", "-w", "net.ipv4.tcp_retries2=5")
            ns_i.prepare_blackhole([9300])
            ns_k.prepare_blackhole([9300, 9302])
            ns_r.prepare_blackhole([9300])
            isthmus = start_pair(ns_i, home / "isthmus", 9300, 9301, {})
            k_os = start_pair(ns_k, home / "k-os", 9300, 9301, KERNEL_DEFAULTS)
            k_tcp = start_pair(ns_k, home / "k-tcp", 9302, 9303, TCP_OPTIONS_ONLY)
            k_r5 = start_pair(ns_r, home / "k-r5", 9300, 9301, KERNEL_DEFAULTS)
            pairs += [isthmus, k_os, k_tcp, k_r5]
            c_os = BusyClient(ns_k, 9300, None)
            c_tcp = BusyClient(ns_k, 9302, isthmus_tcp)
            c_r5 = BusyClient(ns_r, 9300, None)
            clients += [c_os, c_tcp, c_r5]
            for client in clients:
                client.start()
                if not client.ready.wait(15):
                    raise RuntimeError(f"{client.name} did not connect within 15 s")
                if client.error is not None:
                    raise client.error
            time.sleep(1.0)

            # The kernel-only cases go dark together and are watched while the Isthmus runs go on.
            t0_wall_k, t0_k = time.time(), time.monotonic()
            ns_k.blackhole_on()
            t0_wall_r, t0_r = time.time(), time.monotonic()
            ns_r.blackhole_on()
            os_ = "OS defaults (keep-alive 7200 s, tcp_retries2=15)"
            r5 = "OS defaults + tcp_retries2=5"
            opts = "Isthmus TCP options, pings off"
            idle, busy = "idle pair", "busy client 20 q/s"
            kernel = [
                KernelCase(os_, idle, t0_k, t0_wall_k, pair=k_os),
                KernelCase(os_, busy, t0_k, t0_wall_k, client=c_os),
                KernelCase(r5, idle, t0_r, t0_wall_r, pair=k_r5),
                KernelCase(r5, busy, t0_r, t0_wall_r, client=c_r5),
                KernelCase(opts, idle, t0_k, t0_wall_k, pair=k_tcp),
                KernelCase(opts, busy, t0_k, t0_wall_k, client=c_tcp),
            ]

            results = {
                scenario: isthmus_runs(isthmus, ns_i, scenario, args.runs, rng)
                for scenario in ("idle", "busy", "frozen")
            }

            while time.monotonic() - t0_k < args.cap and any(c.detected() is None for c in kernel):
                time.sleep(0.2)
            still = {id(c.pair): c.pair.http.connected() for c in kernel if c.pair is not None}
        finally:
            for client in clients:
                client.stopping.set()
            for client in clients:
                client.join(10)
            for pair in pairs:
                pair.stop()

    print()
    print(
        "Isthmus defaults: pings every 1 s, dead after 2 s silent (keep-alive 1 s/1 s/3 and "
        "TCP_USER_TIMEOUT 3 s configured too)"
    )
    rows: list[tuple[str, ...]] = [("scenario", "runs", "p50", "max", "target (a)", "verdict")]
    for scenario, label in (
        ("idle", "black-holed, idle (from the log)"),
        ("busy", "black-holed, REST 20 q/s (from the log)"),
        ("frozen", "frozen, SIGSTOP (from the log)"),
    ):
        values = results[scenario].log_s
        rows.append(
            (
                label,
                str(len(values)),
                f"{percentile(values, 50):.3f} s",
                f"{max(values):.3f} s",
                f"<= {TARGET_S:g} s p99 (max of {len(values)})",
                verdict(max(values) <= TARGET_S),
            )
        )
    polled = results["busy"].poll_s
    rows.append(
        (
            "black-holed, REST 20 q/s (first false seen by the REST client)",
            str(len(polled)),
            f"{percentile(polled, 50):.3f} s",
            f"{max(polled):.3f} s",
            "",
            "",
        )
    )
    print_table(rows)
    for scenario in ("idle", "busy", "frozen"):
        listed = ", ".join(f"{v:.3f}" for v in results[scenario].log_s)
        print(f"   {scenario} samples (s): {listed}")
    print(
        "   transport traffic is the 1 s pings in every scenario: no REST request uses a remote "
        "until cross-cluster search exists, so 'busy' loads the local node, not the connection"
    )

    print()
    print(f"Kernel only: one run each, black-holed together, watched up to {args.cap:g} s")
    rows = [("configuration", "traffic", "detected after", "note")]
    for case in kernel:
        note = ""
        if case.pair is not None and case.detected() is None:
            note = f"_remote/info connected: {str(still[id(case.pair)]).lower()} at the end"
        if case.client is not None:
            note = f"socket: {case.client.options}"
            if case.client.reason:
                note += f"; broken: {case.client.reason}"
        rows.append((case.label, case.traffic, seconds(case.detected(), args.cap), note))
    print_table(rows)
    print(
        "   busy client: an isthmus.transport client in the namespace sending "
        "cluster:monitor/state at 20 q/s to the remote node (OS or Isthmus socket options), a "
        "stand-in for cross-cluster search traffic; 'detected' = its connection broke"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
