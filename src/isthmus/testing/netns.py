"""Private network namespaces for fault tests and benchmarks (Linux, root): loopback up, one
port black-holed on demand, sockets made inside from this process.

A namespace isolates everything a test does to the network: the nodes run inside it
(``ip netns exec``, see :attr:`Netns.wrap`), and a port's traffic is routed through an ``htb``
class that a ``blackhole`` qdisc can be attached to in one ``tc`` call, so only that port goes
dark while the rest (HTTP) keeps working.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import secrets
import socket
import subprocess
import threading

CLONE_NEWNET = 0x40000000


class NetnsUnavailable(RuntimeError):
    """This machine does not let us make a namespace (not root, no iproute2, no permission)."""


class Netns:
    """A private network namespace with its loopback up, removed by :meth:`delete`."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def create(cls, prefix: str = "isthmus") -> Netns:
        """``<prefix>-<random>``; raises :class:`NetnsUnavailable` when that is not permitted."""
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root (ip netns add)")
        ns = cls(f"{prefix}-{secrets.token_hex(4)}")
        try:
            subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
        except FileNotFoundError:
            raise NetnsUnavailable("the `ip` tool (iproute2) is missing") from None
        except subprocess.CalledProcessError as exc:
            raise NetnsUnavailable(exc.stderr.decode().strip()) from None
        try:
            ns.ip("link", "set", "lo", "up")
        except BaseException:
            ns.delete()
            raise
        return ns

    @property
    def wrap(self) -> list[str]:
        """The command prefix that runs a program inside the namespace (``ip`` execs it)."""
        return ["ip", "netns", "exec", self.name]

    def run(self, *args: str) -> None:
        """Run a command inside the namespace (e.g. ``sysctl``)."""
        subprocess.run([*self.wrap, *args], check=True, capture_output=True)

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.name, *args], check=True, capture_output=True)

    def tc(self, *args: str) -> None:
        subprocess.run(["tc", "-n", self.name, *args], check=True, capture_output=True)

    def prepare_blackhole(self, ports: list[int]) -> None:
        """Route TCP ``ports`` (both directions) on loopback to class 1:2; nothing dropped yet."""
        self.tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1")
        for cls in ("1:1", "1:2"):
            self.tc(
                *("class", "add", "dev", "lo", "parent", "1:", "classid", cls),
                *("htb", "rate", "10gbit", "quantum", "60000"),
            )
        for port in ports:
            for field in ("dport", "sport"):
                self.tc(
                    *("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1"),
                    *("u32", "match", "ip", field, str(port), "0xffff", "flowid", "1:2"),
                )

    BLACKHOLE = ("qdisc", "add", "dev", "lo", "parent", "1:2", "handle", "20:", "blackhole")

    def blackhole_on(self) -> None:
        """From now on, drop everything :meth:`prepare_blackhole` routed to class 1:2."""
        self.tc(*self.BLACKHOLE)

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
        """A TCP socket connected to ``address`` inside the namespace.

        A namespace belongs to a thread and a socket to the namespace it was made in: a fresh
        thread joins the namespace, connects and ends, leaving this process's threads alone.
        """
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

    def __repr__(self) -> str:
        return f"<Netns {self.name}>"


class NetnsHTTPConnection(http.client.HTTPConnection):
    """``http.client`` to a node inside ``netns`` (``None``: this process's own network)."""

    def __init__(self, host: str, port: int, timeout: float, netns: Netns | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self.netns = netns

    def connect(self) -> None:
        if self.netns is None:
            super().connect()
        else:
            self.sock = self.netns.connect((self.host, self.port), self.timeout)
