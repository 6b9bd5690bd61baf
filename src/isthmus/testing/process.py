"""Start and stop real ``isthmus node`` processes (tests, benchmarks, demo).

Each node gets its own home directory (``config/isthmus.yml``, data, logs). The HTTP port
defaults to 0 — the kernel picks a free one, so parallel runs never race for ports — and the
node reports what it bound in a ports file this helper waits for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml


class NodeProcess:
    def __init__(
        self,
        home: Path,
        settings: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        wrap: Sequence[str] | None = None,
        detached: bool = False,
    ) -> None:
        """``wrap`` is a command prefix the node is started under, for instance
        ``["ip", "netns", "exec", "<ns>"]`` to run it in a network namespace (the prefix must
        exec the node in place, so that :attr:`proc`'s pid and signals are the node's).
        ``detached`` starts it in a session of its own: it outlives this process and a Ctrl-C in
        the terminal does not reach it (the demo and the lab stop their nodes themselves)."""
        self.home = home
        self.settings: dict[str, Any] = {
            "cluster.name": "test-cluster",
            "node.name": "node-0",
            "http.port": 0,
            "transport.port": 0,
            "path.data": "data",
            "path.logs": "logs",
            "xpack.security.enabled": False,
        }
        self.settings.update(settings or {})
        self.env = dict(env or {})
        self.wrap = list(wrap or [])
        self.detached = detached
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_address: str | None = None

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def ports_file(self) -> Path:
        return self.home / "ports.json"

    @property
    def url(self) -> str:
        assert self.http_address is not None, "node not started"
        tls = self.settings.get("xpack.security.http.ssl.enabled") in (True, "true")
        return f"{'https' if tls else 'http'}://{self.http_address}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.settings['cluster.name']}.log"

    def transport_address(self, timeout: float = 10.0) -> str:
        """The node's transport ``host:port``, from ``GET /_nodes/_local`` (plain HTTP without
        authentication, reached from this process's network namespace)."""
        assert self.http_address is not None, "node not started"
        with urllib.request.urlopen(
            f"http://{self.http_address}/_nodes/_local", timeout=timeout
        ) as resp:
            info = orjson.loads(resp.read())
        (node,) = info["nodes"].values()
        return str(node["transport_address"])

    def log_text(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "isthmus.yml").write_text(yaml.safe_dump(self.settings))

    def start(self, timeout: float = 20.0, extra_args: list[str] | None = None) -> NodeProcess:
        self.launch(extra_args)
        return self.wait_started(timeout)

    def launch(self, extra_args: list[str] | None = None, *, write_config: bool = True) -> None:
        """Start the process without waiting for it (pair with :meth:`wait_started`), so that
        several nodes boot side by side. ``write_config=False`` keeps the ``isthmus.yml`` on
        disk as it is (a restart after the user edited it)."""
        if write_config:
            self.write_config()
        if self.ports_file.exists():
            self.ports_file.unlink()
        stderr_path = self.home / "stderr.log"
        env = {**os.environ, **self.env}
        self._stderr = stderr_path.open("ab")
        self.proc = subprocess.Popen(
            [
                *self.wrap,
                sys.executable,
                "-m",
                "isthmus",
                "node",
                "--config-dir",
                str(self.config_dir),
                "--ports-file",
                str(self.ports_file),
                "-q",
                *(extra_args or []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=env,
            cwd=self.home,
            start_new_session=self.detached,
        )

    def wait_started(self, timeout: float = 20.0) -> NodeProcess:
        """Wait until the launched node reports its HTTP address."""
        assert self.proc is not None
        stderr_path = self.home / "stderr.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ports_file.exists():
                info = orjson.loads(self.ports_file.read_bytes())
                self.http_address = info["http"]
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"node exited with {self.proc.returncode}: {stderr_path.read_text()[-2000:]}"
                )
            time.sleep(0.01)
        self.kill()
        raise TimeoutError(f"node did not start within {timeout}s")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the clean shutdown path."""
        if self.proc is None:
            return 0
        self.request_stop()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._close()
        return code

    def request_stop(self) -> None:
        """SIGTERM without waiting (:meth:`stop` then waits), to stop several nodes at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the crash path."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
        self.proc = None

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.proc is not None and self.proc.poll() is None else "stopped"
        return f"<NodeProcess {self.home.name} {state} {self.http_address}>"


def start_side_by_side(*nodes: NodeProcess, timeout: float = 20.0) -> None:
    """Start ``nodes`` together: launch every one, then wait for each (they boot in parallel
    rather than one after the other). If one fails to start, the others are killed."""
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_started(timeout)
    except BaseException:
        for node in nodes:
            node.kill()
        raise
