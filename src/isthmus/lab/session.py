"""A lab left running in a directory: what is there (``lab.json``), and stopping it.

``isthmus demo --detach`` and ``isthmus lab up`` leave two node processes running in a session
of their own and record their pids and addresses here; ``isthmus demo stop`` and
``isthmus lab down`` read the record back and stop them. A second run in the same directory
stops what the first left behind before replacing the directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import orjson

STATE_FILE = "lab.json"


def write_state(root: Path, state: dict[str, Any]) -> None:
    tmp = root / f"{STATE_FILE}.tmp"
    tmp.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    os.replace(tmp, root / STATE_FILE)


def read_state(root: Path) -> dict[str, Any] | None:
    try:
        state = orjson.loads((root / STATE_FILE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def is_node(pid: int, root: Path) -> bool:
    """Whether ``pid`` is still an Isthmus node of this lab (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    text = [part.decode(errors="replace") for part in cmdline]
    return "isthmus" in text and any(part.startswith(str(root)) for part in text)


def running_pids(root: Path) -> list[int]:
    """The lab's processes: those it recorded, and any other Isthmus process working in its
    directory (a node the user restarted by hand)."""
    state = read_state(root) or {}
    pids = [int(p) for p in state.get("pids", []) if isinstance(p, int)]
    return sorted({p for p in pids if is_node(p, root)} | set(pids_under(root)))


def stop(root: Path, timeout: float = 30.0) -> list[int]:
    """SIGTERM the lab's nodes and wait until they are gone (SIGKILL after ``timeout``);
    returns the pids that were running."""
    root = root.resolve()
    pids = running_pids(root)
    terminate(pids, root, timeout)
    with contextlib.suppress(FileNotFoundError):
        (root / STATE_FILE).unlink()
    return pids


def replace_dir(root: Path) -> list[int]:
    """Make ``root`` empty and ours: stop a lab still running there, then remove it. Refuses a
    non-empty directory that is not a lab (it might be someone's data)."""
    root = root.resolve()
    stopped: list[int] = []
    if root.exists():
        if any(root.iterdir()) and read_state(root) is None and not (root / "certs").is_dir():
            raise FileExistsError(
                f"[{root}] exists and is not an Isthmus lab directory; choose another with --dir"
            )
        stopped = stop(root)
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return stopped


# --- nodes started by hand, restarts, status ---------------------------------------------------

NODES = ("local", "remote")


def node_dirs(root: Path) -> list[str]:
    """The lab's node folders that hold a node's configuration: ``local`` and ``remote``, and
    in a multi-node lab ``local-2``, ``remote-2``, ... (local nodes first, each cluster's in
    order)."""

    def order(name: str) -> tuple[int, int]:
        cluster, _, number = name.partition("-")
        return NODES.index(cluster), int(number or 1)

    found = [
        d.name
        for d in (root.iterdir() if root.is_dir() else ())
        if (d / "config" / "isthmus.yml").is_file()
        and d.name.partition("-")[0] in NODES
        and (d.name.partition("-")[2] or "1").isdigit()
    ]
    return sorted(found, key=order)


def _under(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root) + os.sep)


def _isthmus_server(args: list[str]) -> bool:
    """An ``isthmus node`` or ``isthmus lab relay`` process (``python -m isthmus ...`` or the
    installed script), never a test runner or shell that merely mentions the lab."""
    head = args[:4]
    program = any(a == "isthmus" or Path(a).name == "isthmus" for a in head)
    return program and ("node" in args or "relay" in args)


def pids_under(root: Path) -> list[int]:
    """Every Isthmus process working in ``root``: named there on its command line, running
    there, or holding a file there open (a node the user restarted by hand, with a relative
    ``--config-dir`` say, holds its data path's lock)."""
    root = root.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = [
                a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")
            ]
            if not _isthmus_server(args):
                continue
            places = [*args, os.readlink(entry / "cwd")]
            with contextlib.suppress(OSError):
                places += [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(_under(place, root) for place in places):
            found.append(int(entry.name))
    return sorted(found)


def node_pids(root: Path, name: str) -> list[int]:
    """The processes of one lab node (``local`` or ``remote``)."""
    return pids_under(root.resolve() / name)


def terminate(pids: list[int], root: Path, timeout: float = 30.0) -> None:
    """SIGTERM ``pids``, wait until none of them works in ``root`` any more (one scan of
    ``/proc`` per check), SIGKILL what is left after ``timeout``."""

    def left() -> set[int]:
        return set(pids) & set(pids_under(root))

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
