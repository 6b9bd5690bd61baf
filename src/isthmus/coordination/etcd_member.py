"""One etcd member run as a supervised child process of a master-eligible node.

Owns: the member's command line (from a typed :class:`EtcdMemberConfig`, one place for every
flag), its process (started with ``asyncio.create_subprocess_exec``, output appended to
``<logs>/etcd.log``), the wait until it serves requests, its clean stop (SIGTERM, then SIGKILL)
and reporting an exit nobody asked for (``on_exit``). It knows nothing of elections or state.

Rules:

- The binary comes from the configuration, else ``etcd`` on ``PATH``; a missing binary is a
  one-line startup error that names the way to install it.
- Unix-socket URLs in etcd's form ``unix://<file>:<port>`` are socket files relative to the
  member's working directory: members of one test cluster share ``working_dir`` (design §3.2),
  so their peer URLs are the same strings for all of them and no port is ever allocated.
- The member dies with its node: on Linux the child asks the kernel for SIGTERM when its parent
  thread ends (``PR_SET_PDEATHSIG``), so a SIGKILLed node leaves no orphaned member behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
import ssl
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from isthmus.coordination.etcd_client import EtcdClient, EtcdEndpoint
from isthmus.errors import CoordinationError, NodeStartupError
from isthmus.supervision import TaskSet

log = logging.getLogger("isthmus.coordination.etcd_member")

INSTALL_HINT = "install it with scripts/install-etcd (Debian: apt-get install etcd-server)"


@dataclass(frozen=True, slots=True)
class EtcdTlsFiles:
    """PEM files for the member's client and peer listeners (both require client certs)."""

    cert_file: Path
    key_file: Path
    trusted_ca_file: Path


@dataclass(frozen=True, slots=True)
class EtcdMemberConfig:
    name: str
    data_dir: Path
    log_file: Path
    client_urls: tuple[str, ...]
    peer_urls: tuple[str, ...]
    initial_cluster: Mapping[str, str]  # member name → its advertised peer URL
    initial_cluster_state: Literal["new", "existing"] = "new"
    cluster_token: str = "isthmus"
    heartbeat_ms: int = 100  # etcd's defaults; tests use 25 / 250
    election_ms: int = 1000
    # Revision-mode auto-compaction keeps the last N revisions: enough for a watcher that was
    # briefly away to resume, while the history (and the database) stays bounded.
    auto_compaction_retention: int = 10_000
    # How often a quiet watch gets a progress message, so that a watcher can tell a quiet
    # member from a frozen one (the flag of 3.4 and 3.5; 3.6 still accepts it).
    watch_progress_seconds: int = 5
    working_dir: Path | None = None
    binary: str | None = None
    tls: EtcdTlsFiles | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)


def find_binary(configured: str | None) -> str:
    """The etcd executable: the configured path, else ``etcd`` on PATH."""
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise NodeStartupError.configuration(
            f"etcd binary [{configured}] does not exist or is not executable; {INSTALL_HINT}"
        )
    found = shutil.which("etcd")
    if found is None:
        raise NodeStartupError(f"etcd was not found on PATH; {INSTALL_HINT}")
    return found


def command_line(config: EtcdMemberConfig, binary: str) -> list[str]:
    """Every flag of the member, from its configuration."""
    cluster = ",".join(f"{name}={url}" for name, url in config.initial_cluster.items())
    args = [
        binary,
        f"--name={config.name}",
        f"--data-dir={config.data_dir}",
        f"--listen-client-urls={','.join(config.client_urls)}",
        f"--advertise-client-urls={','.join(config.client_urls)}",
        f"--listen-peer-urls={','.join(config.peer_urls)}",
        f"--initial-advertise-peer-urls={','.join(config.peer_urls)}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-state={config.initial_cluster_state}",
        f"--initial-cluster-token={config.cluster_token}",
        f"--heartbeat-interval={config.heartbeat_ms}",
        f"--election-timeout={config.election_ms}",
        "--auto-compaction-mode=revision",
        f"--auto-compaction-retention={config.auto_compaction_retention}",
        f"--experimental-watch-progress-notify-interval={config.watch_progress_seconds}s",
    ]
    if config.tls is not None:
        tls = config.tls
        for side in ("", "peer-"):
            args += [
                f"--{side}cert-file={tls.cert_file}",
                f"--{side}key-file={tls.key_file}",
                f"--{side}trusted-ca-file={tls.trusted_ca_file}",
                f"--{side}client-cert-auth",
            ]
    return [*args, *config.extra_args]


def remove_stale_sockets(config: EtcdMemberConfig) -> None:
    """Delete the member's unix socket files that nobody listens on any more: a killed member
    leaves them behind, and etcd refuses to bind over them ("address already in use")."""
    for url in (*config.client_urls, *config.peer_urls):
        endpoint = (
            EtcdEndpoint.parse(
                url, base_dir=str(config.working_dir) if config.working_dir else None
            )
            if url.startswith(("unix://", "unixs://"))
            else None
        )
        if endpoint is None or endpoint.uds is None or not os.path.exists(endpoint.uds):
            continue
        if not stat.S_ISSOCK(os.stat(endpoint.uds).st_mode):
            continue
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(endpoint.uds)
        except ConnectionRefusedError:
            os.unlink(endpoint.uds)
        except OSError:
            pass
        finally:
            probe.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


ExitCallback = Callable[[int], None]


class EtcdMember:
    """One member's process: ``start`` → ``wait_ready`` → ``stop``."""

    def __init__(self, config: EtcdMemberConfig, *, on_exit: ExitCallback | None = None) -> None:
        self.config = config
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        self._tasks = TaskSet(f"etcd member [{config.name}]", log)
        self._stopping = False
        self.returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self.returncode is None

    def endpoints(self) -> tuple[EtcdEndpoint, ...]:
        base = str(self.config.working_dir) if self.config.working_dir else None
        return tuple(EtcdEndpoint.parse(url, base_dir=base) for url in self.config.client_urls)

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited({self.returncode})"
        return f"<EtcdMember {self.config.name} pid={self.pid} {state}>"

    async def start(self) -> None:
        binary = find_binary(self.config.binary)
        self.config.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.config.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.config.working_dir is not None:
            self.config.working_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_sockets(self.config)
        with open(self.config.log_file, "ab") as output:
            self._process = await asyncio.create_subprocess_exec(
                *command_line(self.config, binary),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.config.working_dir,
                preexec_fn=_die_with_parent,
            )
        log.info("started etcd member [%s] (pid %d)", self.config.name, self._process.pid)
        self._tasks.spawn(self._supervise(self._process), name="supervise")

    async def _supervise(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        self.returncode = code
        if self._stopping:
            return
        log.error(
            "etcd member [%s] exited unexpectedly with status [%d]; see [%s]",
            self.config.name,
            code,
            self.config.log_file,
        )
        if self._on_exit is not None:
            self._on_exit(code)

    async def wait_ready(
        self, timeout: float = 10.0, *, ssl_context: ssl.SSLContext | None = None
    ) -> float:
        """Wait until the member answers a linearizable read (it has a leader and a quorum);
        returns the seconds waited. ``ssl_context``: the client's, when the member has TLS."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        client = EtcdClient(
            self.endpoints(), ssl_context=ssl_context, request_timeout=0.5, connect_timeout=0.5
        )
        last = "no answer yet"
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if not self.running:
                        raise NodeStartupError(
                            f"etcd member [{self.config.name}] exited with status "
                            f"[{self.returncode}] while starting; see [{self.config.log_file}]"
                        )
                    try:
                        await client.get(b"/isthmus-ready-probe")
                        return loop.time() - started
                    except CoordinationError as exc:
                        last = exc.reason
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise NodeStartupError(
                f"etcd member [{self.config.name}] was not ready within [{timeout}s]: {last}"
            ) from None
        finally:
            await client.close()

    def send_signal(self, sig: int) -> None:
        if self._process is not None and self.returncode is None:
            self._process.send_signal(sig)

    async def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(timeout):
                    await process.wait()
            except TimeoutError:
                log.warning("etcd member [%s] ignored SIGTERM; killing it", self.config.name)
                process.kill()
                await process.wait()
        await self._tasks.close()
        if process is not None:
            self.returncode = process.returncode
        return self.returncode
