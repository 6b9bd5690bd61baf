"""A 1- or 3-member etcd cluster on unix sockets, for tests and benchmarks.

Members share one working directory (their socket files ``<name>.client:1`` and
``<name>.peer:1`` live there, design §3.2): no port is allocated, so parallel runs never race.
Timings are the tests' (heartbeat 25 ms, election 250 ms): three members serve in a fraction of
a second. The processes are plain ``subprocess.Popen`` children, started and stopped without an
event loop, so one cluster can serve every test of a module whatever loop each test runs on.
The flags come from :func:`isthmus.coordination.etcd_member.command_line`, the node's own.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_member import (
    EtcdMemberConfig,
    command_line,
    find_binary,
    remove_stale_sockets,
)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class EtcdTestCluster:
    """``size`` members named m1..mN under ``folder``; ``endpoints`` are absolute unix URLs."""

    def __init__(
        self,
        folder: Path,
        size: int = 3,
        *,
        heartbeat_ms: int = 25,
        election_ms: int = 250,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.folder = folder
        self.names = [f"m{i}" for i in range(1, size + 1)]
        self._binary = find_binary(None)
        self._heartbeat_ms = heartbeat_ms
        self._election_ms = election_ms
        self._extra_args = extra_args
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def config(self, name: str, *, state: str = "new") -> EtcdMemberConfig:
        return EtcdMemberConfig(
            name=name,
            data_dir=self.folder / f"{name}.data",
            log_file=self.folder / f"{name}.log",
            client_urls=(f"unix://{name}.client:1",),
            peer_urls=(f"unix://{name}.peer:1",),
            initial_cluster={n: f"unix://{n}.peer:1" for n in self.names},
            initial_cluster_state="existing" if state == "existing" else "new",
            heartbeat_ms=self._heartbeat_ms,
            election_ms=self._election_ms,
            working_dir=self.folder,
            extra_args=self._extra_args,
        )

    def socket_path(self, name: str) -> str:
        return str(self.folder / f"{name}.client:1")

    @property
    def endpoints(self) -> list[str]:
        return [f"unix://{self.socket_path(name)}" for name in self.names]

    def client(
        self, *, request_timeout: float = 1.0, members: list[str] | None = None
    ) -> EtcdClient:
        names = members if members is not None else self.names
        urls = [f"unix://{self.socket_path(name)}" for name in names]
        return EtcdClient(urls, request_timeout=request_timeout, connect_timeout=0.5)

    def start(self, timeout: float = 10.0) -> float:
        """Start every member; returns the seconds until all of them served a read."""
        self.folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for name in self.names:
            self.start_member(name, wait=False)
        for name in self.names:
            self.wait_member(name, deadline=started + timeout)
        return time.monotonic() - started

    def start_member(self, name: str, *, state: str = "new", wait: bool = True) -> None:
        config = self.config(name, state=state)
        remove_stale_sockets(config)
        with open(config.log_file, "ab") as output:
            self._processes[name] = subprocess.Popen(
                command_line(config, self._binary),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_member(name, deadline=time.monotonic() + 10.0)

    def restart_member(self, name: str) -> None:
        """Start a stopped member again on its data (``--initial-cluster-state existing``)."""
        self.start_member(name, state="existing")

    def wait_member(self, name: str, *, deadline: float) -> None:
        body = json.dumps({"key": "cHJvYmU="}).encode()  # a linearizable read of "probe"
        last = "no answer"
        while time.monotonic() < deadline:
            process = self._processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"etcd member {name} exited with {process.returncode}")
            connection = _UnixHTTPConnection(self.socket_path(name), timeout=0.5)
            try:
                connection.request("POST", "/v3/kv/range", body)
                answer = connection.getresponse()
                if answer.status == 200:
                    return
                last = answer.read().decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            finally:
                connection.close()
            time.sleep(0.02)
        raise RuntimeError(f"etcd member {name} not ready: {last}")

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    def signal_member(self, name: str, sig: int) -> None:
        self._processes[name].send_signal(sig)

    def kill_member(self, name: str) -> None:
        """SIGKILL the member and wait for it (its folder may then be reused)."""
        process = self._processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """SIGKILL every member (etcd is crash-safe; a SIGTERMed leader would spend seconds
        handing its leadership to members that are stopping too)."""
        for process in self._processes.values():
            if process.poll() is None:
                process.kill()
        for process in self._processes.values():
            process.wait()

    def __enter__(self) -> EtcdTestCluster:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
