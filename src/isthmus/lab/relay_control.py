"""The lab's relay as a process of its own, steered from another process.

The lab's nodes are processes that outlive ``isthmus lab up``; the relay in front of the remote
must outlive it too, and a scenario must be able to switch its mode while the clusters run.
``isthmus lab relay`` runs one (:func:`serve`): it relays on one loopback port and answers control
requests on a second one, one JSON object per line:

* ``{"op": "configure", "config": {...}}``: switch to that :class:`RelayConfig`;
* ``{"op": "cut", "reset": true}``: break the open connections (RST with ``reset``);
* ``{"op": "stats"}``: the counters and the current config.

Every answer is one line, ``{"ok": true, "stats": {...}, "config": {...}}`` or ``{"ok": false,
"error": "..."}`` for a malformed request (the control connection stays usable). Once bound, the
process writes both addresses to ``<home>/ports.json``; each mode change is logged to its
stderr (the lab sends it to ``<home>/relay.log``). :class:`RelayProcess` starts one and talks
to it synchronously, as the rest of the lab does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from isthmus.lab.relay import Relay
from isthmus.lab.relay_config import Address, RelayConfig, RelayMode, format_address, parse_address

PORTS_FILE = "ports.json"
LOG_FILE = "relay.log"


# --- the relay process ------------------------------------------------------------------------


async def serve(home: Path, config: RelayConfig, listen: Address) -> None:
    """Relay on ``listen`` and take control requests until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Relay(config, host=listen[0], port=listen[1]) as relay:
        control = await asyncio.start_server(
            lambda r, w: _control_connection(relay, r, w), "127.0.0.1", 0
        )
        async with control:
            control_address = control.sockets[0].getsockname()[:2]
            tmp = home / f"{PORTS_FILE}.tmp"
            tmp.write_bytes(
                orjson.dumps(
                    {
                        "listen": format_address(relay.address),
                        "control": format_address(control_address),
                    }
                )
            )
            os.replace(tmp, home / PORTS_FILE)
            _log(
                f"relay on [{format_address(relay.address)}] {orjson.dumps(config.to_json()).decode()}"
            )
            await stop.wait()
    _log("relay stopped")


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


async def _control_connection(
    relay: Relay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while line := await reader.readline():
            answer = await _answer(relay, line)
            writer.write(orjson.dumps(answer) + b"\n")
            await writer.drain()
    except ConnectionError:
        pass  # the controlling process went away; the relay keeps running
    finally:
        writer.close()


async def _answer(relay: Relay, line: bytes) -> dict[str, Any]:
    """One control request's answer; a bad request is answered, never raised."""
    try:
        request = orjson.loads(line)
        if not isinstance(request, dict):
            raise ValueError("a control request is a JSON object")
        op = request.get("op")
        out: dict[str, Any] = {"ok": True}
        if op == "configure":
            config = RelayConfig.from_json(request.get("config") or {})
            await relay.configure(config)
            _log(f"relay reconfigured: {orjson.dumps(config.to_json()).decode()}")
        elif op == "cut":
            out["cut"] = relay.cut(reset=bool(request.get("reset")))
            _log(f"relay cut [{out['cut']}] connections (reset={bool(request.get('reset'))})")
        elif op != "stats":
            raise ValueError(f"unknown control op [{op}], expected configure, cut or stats")
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        return {"ok": False, "error": str(exc)}
    out["stats"] = relay.stats().to_json()
    out["config"] = relay.config.to_json()
    return out


# --- steering it from another process -------------------------------------------------------


class RelayError(Exception):
    """The relay process refused a request or did not start."""


class RelayProcess:
    """One ``isthmus lab relay`` process under ``home`` (its ports file and log live there)."""

    def __init__(
        self,
        home: Path,
        config: RelayConfig,
        *,
        listen: str = "127.0.0.1:0",
        detached: bool = False,
    ) -> None:
        self.home = home
        self.config = config
        self.listen = listen
        self.detached = detached  # outlives this process (lab up), like the lab's nodes
        self.proc: subprocess.Popen[bytes] | None = None
        self.address: str | None = None  # where the relay listens, "host:port"
        self._control: Address | None = None

    @property
    def log_file(self) -> Path:
        return self.home / LOG_FILE

    def start(self, timeout: float = 15.0) -> RelayProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        ports = self.home / PORTS_FILE
        with contextlib.suppress(FileNotFoundError):
            ports.unlink()
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "isthmus", "lab", "relay",
                    "--home", str(self.home),
                    "--listen", self.listen,
                    "--config", orjson.dumps(self.config.to_json()).decode(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=self.detached,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not ports.exists():
            if self.proc.poll() is not None:
                raise RelayError(f"the relay exited: {self.log_file.read_text()[-1000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RelayError(f"the relay did not start within {timeout}s")
            time.sleep(0.02)
        info = orjson.loads(ports.read_bytes())
        self.address = str(info["listen"])
        self._control = parse_address(info["control"])
        return self

    @classmethod
    def attach(cls, home: Path) -> RelayProcess:
        """The relay already running under ``home`` (started by another process, e.g. ``lab
        up``), to steer it; :class:`RelayError` when there is none."""
        try:
            info = orjson.loads((home / PORTS_FILE).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            raise RelayError(
                f"no relay runs in [{home}] (only the scenarios with a relay have one; "
                "`isthmus lab list`)"
            ) from None
        relay = cls(home, RelayConfig(RelayMode.DROP))  # replaced by the relay's own below
        relay.address = str(info["listen"])
        relay._control = parse_address(info["control"])
        relay.config = RelayConfig.from_json(relay.request({"op": "stats"})["config"])
        return relay

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """One control request; raises :class:`RelayError` when the relay refuses it."""
        assert self._control is not None, "relay not started"
        try:
            sock = socket.create_connection(self._control, timeout=10)
        except OSError as exc:
            raise RelayError(
                f"the relay does not answer at {format_address(self._control)}: {exc}"
            ) from None
        with sock:
            sock.sendall(orjson.dumps(request) + b"\n")
            with sock.makefile("rb") as stream:
                answer: dict[str, Any] = orjson.loads(stream.readline())
        if not answer.get("ok"):
            raise RelayError(str(answer.get("error")))
        return answer

    def configure(self, config: RelayConfig) -> dict[str, Any]:
        answer = self.request({"op": "configure", "config": config.to_json()})
        self.config = config
        return answer

    def cut(self, *, reset: bool = False) -> int:
        return int(self.request({"op": "cut", "reset": reset})["cut"])

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.request({"op": "stats"})["stats"]
        return stats

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __repr__(self) -> str:
        state = "running" if self.proc is not None and self.proc.poll() is None else "stopped"
        return f"<RelayProcess {self.address} {self.config.mode} {state}>"


__all__ = ["RelayError", "RelayProcess", "serve"]
