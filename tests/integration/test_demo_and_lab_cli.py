"""The quick start and the lab, run as a user runs them: ``isthmus demo`` and ``isthmus lab``
as processes, their output read back, and nothing left behind afterwards."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from isthmus.lab import session
from isthmus.lab.topology import ELASTIC_PASSWORD, _call, _with_user


def _isthmus(
    *args: str, cwd: Path, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # As a pipe or a CI log sees it: not a terminal, no COLUMNS (output must not wrap at 80).
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "TERM": "dumb", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "isthmus", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _ports(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", text)]


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _isthmus_nodes_under(root: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "isthmus node" in line and str(root) in line]


def _without_dev_extras(tmp_path: Path) -> dict[str, str]:
    """An environment where the official client (a development extra) cannot be imported, as
    after a plain ``pip install isthmus``."""
    shim = tmp_path / "no-dev-extras" / "elasticsearch"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'elasticsearch'\", name='elasticsearch')\n"
    )
    return {"PYTHONPATH": str(shim.parent)}


def test_demo_detach_then_stop(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    # The demo ships with Isthmus: it must work without the development extras.
    first = _isthmus(
        "demo", "--detach", "--dir", str(root), cwd=tmp_path, env=_without_dev_extras(tmp_path)
    )
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert '"connected": true' in out and '"cluster_credentials": "::es_redacted::"' in out
    assert '"mode": "proxy"' in out and '"num_proxy_sockets_connected": 18' in out
    assert "my:articles" in out and "successful 1, skipped 0" in out
    assert "curl -u foo:foo-password" in out and "from elasticsearch import Elasticsearch" in out
    assert "[logs]" not in out  # every step's index is one the demo uses
    # The follower of remote's articles has caught up: its _ccr/stats lag is 0.
    assert "GET /articles-copy/_ccr/stats" in out and "total_global_checkpoint_lag 0" in out
    first_pids = session.running_pids(root.resolve())
    assert len(first_pids) == 2

    # A second run replaces the first cleanly: its nodes are stopped, the directory rebuilt.
    second = _isthmus("demo", "--detach", "--dir", str(root), cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "replaced the previous demo" in second.stdout
    assert not any(session.is_node(p, root.resolve()) for p in first_pids)
    ports = _ports(second.stdout)
    assert ports

    # The printed command works as printed, from a shell whose PATH lacks the virtualenv.
    printed = re.search(r"stop with: (.+)$", second.stdout, re.M)
    assert printed is not None, second.stdout
    stopped = subprocess.run(
        printed.group(1),
        shell=True,
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert stopped.returncode == 0 and "stopped 2 node(s)" in stopped.stdout, stopped.stderr
    assert _isthmus_nodes_under(root.resolve()) == []
    assert all(_refused(port) for port in ports)


def test_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    done = _isthmus("demo", "--detach", "--dir", "mine", cwd=tmp_path)
    assert done.returncode == 1 and "is not an Isthmus lab directory" in done.stdout
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_lab_up_reveal_and_down(tmp_path: Path) -> None:
    listed = _isthmus("lab", "list", cwd=tmp_path)
    for name in ("server-disabled", "wrong-port", "untrusted-ca", "no-credentials", "rest-key",
                 "invalid-key", "insufficient-privileges", "no-remote-indices",
                 "transport-port-different-ca", "transport-port-shared-ca",
                 "transport-port-client-cert", "transport-port-anonymous",
                 "unreliable-connection"):  # fmt: skip
        assert name in listed.stdout
    assert _isthmus("lab", "up", "nope", cwd=tmp_path).returncode == 2

    root = tmp_path / "lab"
    # Without --reveal the cause stays hidden (an exercise); the symptom is there to find.
    quiet = _isthmus("lab", "up", "wrong-port", "--dir", str(root), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "broken:" not in quiet.stdout and "did not fully show" not in quiet.stdout
    # Piped output is not wrapped: the printed command and the log paths stay on one line.
    assert re.search(r"stop and remove it with: \S+ lab down --dir \S+$", quiet.stdout, re.M)
    assert f"log: {root.resolve() / 'local' / 'logs' / 'local.log'}" in quiet.stdout
    assert "connect_exception" in (root / "local" / "logs" / "local.log").read_text()

    # The frozen-then-resumed remote: `up` replaces the previous lab and verifies the symptom.
    shown = _isthmus(
        "lab", "up", "unreliable-connection", "--dir", str(root), "--reveal", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "broken: the remote node was frozen" in shown.stdout
    assert "symptom verified" in shown.stdout
    ports = _ports(shown.stdout)

    down = _isthmus("lab", "down", "--dir", str(root), cwd=tmp_path)
    assert down.returncode == 0 and "stopped 2 node(s)" in down.stdout
    assert not root.exists()
    assert _isthmus_nodes_under(root.resolve()) == []
    assert all(_refused(port) for port in ports)


def test_demo_names_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _isthmus(
            "demo", "--detach", "--dir", "demo", "--local-port", str(port), cwd=tmp_path
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in done.stdout
    assert "--local-port" in done.stdout
    assert _isthmus_nodes_under((tmp_path / "demo").resolve()) == []


def test_demo_in_the_foreground_stops_both_on_ctrl_c(tmp_path: Path) -> None:
    """The README's first command: up, connected, searched, then Ctrl-C stops everything."""
    import signal
    import time

    root = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "isthmus", "demo", "--dir", str(root)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if "press Ctrl-C" in line or time.monotonic() > deadline:
            break
    out = "".join(seen)
    assert "press Ctrl-C" in out, out
    assert '"cluster_credentials": "::es_redacted::"' in out and "my:articles" in out
    ports = _ports(out)
    assert len(session.running_pids(root.resolve())) == 2
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped" in rest
    assert _isthmus_nodes_under(root.resolve()) == []
    assert all(_refused(port) for port in ports)


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True  # 401 without credentials: it is up
    except OSError:
        return False
    return True


def test_lab_restart_keeps_ports_status_and_down_stops_a_node_started_by_hand(
    tmp_path: Path,
) -> None:
    import time

    root = tmp_path / "lab"
    up = _isthmus("lab", "up", "working", "--dir", str(root), cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    lab = root.resolve()
    for which in ("local", "remote"):
        assert f"config: {lab / which / 'config'}" in up.stdout
        assert f"keystore: {lab / which / 'config' / 'isthmus.keystore'}" in up.stdout
    assert re.search(r"lab restart local\|remote --dir \S+$", up.stdout, re.M)
    local_url, remote_url = (f"http://127.0.0.1:{p}" for p in _ports(up.stdout)[:2])
    # Nothing uses the alias while the remote restarts: the health probe reconnects it. Probing
    # every 1 s (not the default 10 s, which is not what this test is about) shows it in ~1 s
    # rather than after one or two 10 s ticks.
    _call(
        _with_user(local_url, "elastic", ELASTIC_PASSWORD),
        "PUT",
        "/_cluster/settings",
        {"persistent": {"isthmus.remote.health.probe_interval": "1s"}},
    )

    # The guide's "restart the node": same ports, so the printed URLs and the alias still work.
    restarted = _isthmus("lab", "restart", "remote", "--dir", str(root), cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert f"restarted [remote]: {remote_url}" in restarted.stdout
    deadline = time.monotonic() + 20
    while True:
        status = _isthmus("lab", "status", "--dir", str(root), cwd=tmp_path)
        assert status.returncode == 0, status.stdout + status.stderr
        if '"connected":true' in status.stdout:
            break
        assert time.monotonic() < deadline, status.stdout
        time.sleep(0.5)
    assert f"remote {remote_url}" in status.stdout and "health: green" in status.stdout

    # The user restarts the local node by hand, from its directory, with a relative path.
    local_pids = session.node_pids(lab, "local")
    for pid in local_pids:
        os.kill(pid, 15)
    while any(pid in session.node_pids(lab, "local") for pid in local_pids):
        time.sleep(0.05)
    hand = subprocess.Popen(
        [sys.executable, "-m", "isthmus", "node", "--config-dir", "config", "-q"],
        cwd=lab / "local",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not _answers(local_url):  # the pinned port again
            assert hand.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        down = _isthmus("lab", "down", "--dir", str(root), cwd=tmp_path)
        assert down.returncode == 0 and "stopped 2 node(s)" in down.stdout, down.stdout
        assert hand.wait(timeout=30) is not None  # lab down stopped it too
    finally:
        if hand.poll() is None:
            hand.kill()
    assert not root.exists()
