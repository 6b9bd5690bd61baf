"""A node that cannot start says why in one line, on stderr and in its log, and exits 78 for a
configuration error (ES's code) or 1 otherwise: never a traceback.

Each case runs ``isthmus node`` as a user would, as a process, and reads what it printed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SECURE = {"xpack.security.enabled": True}


def start(home: Path, settings: dict[str, object]) -> tuple[int, str, str]:
    """Run a node with ``settings``; (exit code, stderr, the node's plain log)."""
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    base = {
        "cluster.name": "startup",
        "node.name": "n1",
        "http.port": 0,
        "transport.port": 0,
        "xpack.security.enabled": False,
    }
    (config / "isthmus.yml").write_text(yaml.safe_dump({**base, **settings}))
    proc = subprocess.run(
        [sys.executable, "-m", "isthmus", "node", "--config-dir", str(config), "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=home,
    )
    logs = home / "logs" / "startup.log"
    return proc.returncode, proc.stderr, logs.read_text() if logs.exists() else ""


def assert_one_line(rc: int, stderr: str, log: str, code: int, reason: str) -> None:
    assert rc == code, stderr
    assert "Traceback" not in stderr and "Traceback" not in log
    errors = [line for line in stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: "), stderr
    assert reason in errors[0]
    if log:  # once logging is up, the reason is the node's last ERROR line, before "closed"
        lines = log.splitlines()
        failed = [i for i, line in enumerate(lines) if "[ERROR]" in line and reason in line]
        assert failed, log
        assert "closed" in lines[-1] and failed[-1] < len(lines) - 1


def test_remote_cluster_server_enabled_without_its_tls(tmp_path: Path) -> None:
    # The guide's first fix, applied alone: the remote cluster server needs a key and certificate.
    rc, err, log = start(tmp_path, {**SECURE, "remote_cluster_server.enabled": True})
    assert_one_line(
        rc, err, log, 78, "invalid SSL configuration for xpack.security.remote_cluster_server.ssl"
    )
    # Nothing was configured before the check: no elastic password was generated.
    assert "generated a password" not in log and "password for the [elastic] user" not in err


@pytest.mark.parametrize(
    ("profile", "extra"),
    [
        ("transport", {}),
        ("http", {}),
        ("remote_cluster_server", {"remote_cluster_server.enabled": True}),
    ],
)
def test_missing_certificate_files(tmp_path: Path, profile: str, extra: dict[str, object]) -> None:
    prefix = f"xpack.security.{profile}.ssl"
    settings = {
        **SECURE,
        **extra,
        f"{prefix}.enabled": True,
        f"{prefix}.key": "missing.key",
        f"{prefix}.certificate": "missing.crt",
        f"{prefix}.certificate_authorities": ["missing-ca.crt"],
    }
    if profile != "transport":  # a reachable transport needs TLS; keep it on loopback
        settings["transport.host"] = "127.0.0.1"
    rc, err, log = start(tmp_path, settings)
    assert_one_line(rc, err, log, 78, prefix)


def test_garbage_certificate_files(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for name in ("node.key", "node.crt", "ca.crt"):
        (config / name).write_text("not a PEM file\n")
    prefix = "xpack.security.transport.ssl"
    rc, err, log = start(
        tmp_path,
        {
            **SECURE,
            f"{prefix}.enabled": True,
            f"{prefix}.key": "node.key",
            f"{prefix}.certificate": "node.crt",
            f"{prefix}.certificate_authorities": ["ca.crt"],
        },
    )
    assert_one_line(rc, err, log, 78, prefix)


def test_remote_cluster_client_trust_file_missing(tmp_path: Path) -> None:
    prefix = "xpack.security.remote_cluster_client.ssl"
    rc, err, log = start(
        tmp_path, {**SECURE, f"{prefix}.certificate_authorities": ["nowhere/ca.crt"]}
    )
    assert_one_line(rc, err, log, 78, prefix)


def test_security_without_transport_tls_on_a_reachable_address(tmp_path: Path) -> None:
    rc, err, log = start(tmp_path, {**SECURE, "transport.host": "0.0.0.0"})
    assert_one_line(rc, err, log, 78, "Transport SSL must be enabled if security is enabled")


def test_contradicting_disk_watermarks(tmp_path: Path) -> None:
    rc, err, log = start(
        tmp_path,
        {
            "cluster.routing.allocation.disk.watermark.low": "95%",
            "cluster.routing.allocation.disk.watermark.high": "90%",
        },
    )
    assert_one_line(rc, err, log, 78, "watermark")


def test_unknown_setting(tmp_path: Path) -> None:
    rc, err, log = start(tmp_path, {"no.such.setting": 1})
    assert_one_line(rc, err, log, 78, "unknown setting [no.such.setting]")


def test_http_port_in_use_is_not_a_configuration_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, err, log = start(tmp_path, {"http.port": port, "network.host": "127.0.0.1"})
    assert_one_line(rc, err, log, 1, "Failed to bind")


def test_ports_file_goes_only_after_the_data_path_is_released(tmp_path: Path) -> None:
    """A supervisor that restarts once the ports file is gone (or "closed" is logged) finds the
    data path free: the lock is released first. Checked at the moment the node removes its
    ports file, in process."""
    import asyncio
    import fcntl
    import os

    from isthmus.node import Node
    from isthmus.settings.node import NodeSettings

    config = tmp_path / "config"
    config.mkdir()
    settings = NodeSettings.from_flat(
        {"http.port": 0, "transport.port": 0, "xpack.security.enabled": False, "path.data": "data"},
        config,
    )
    lock_free: list[bool] = []

    class Watched(Node):
        def _remove_ports_file(self) -> None:
            fd = os.open(settings.path_data / "node.lock", os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lock_free.append(True)
            except BlockingIOError:
                lock_free.append(False)
            finally:
                os.close(fd)  # closing the descriptor drops our lock
            super()._remove_ports_file()

    node = Watched(settings, ports_file=tmp_path / "ports.json")

    async def run_then_stop() -> None:
        task = asyncio.create_task(node.run())
        while not (tmp_path / "ports.json").exists():
            await asyncio.sleep(0.01)
        node.request_stop()
        await task

    asyncio.run(run_then_stop())
    assert lock_free == [True]
    assert not (tmp_path / "ports.json").exists()


# --- clusters of several nodes (issue 20) ----------------------------------------------------


def test_a_master_eligible_node_outside_the_initial_master_nodes(tmp_path: Path) -> None:
    rc, err, log = start(
        tmp_path,
        {"cluster.initial_master_nodes": ["other-1", "other-2"], "discovery.type": "multi-node"},
    )
    assert_one_line(rc, err, log, 78, "this master-eligible node [n1] is not named in")


def test_a_multi_node_cluster_without_its_etcd_binary(tmp_path: Path) -> None:
    rc, err, log = start(
        tmp_path,
        {
            "cluster.initial_master_nodes": ["n1"],
            "isthmus.coordination.etcd.binary": str(tmp_path / "no-etcd"),
        },
    )
    assert_one_line(rc, err, log, 78, "does not exist or is not executable; install it with")


def test_a_secured_multi_node_cluster_without_transport_tls(tmp_path: Path) -> None:
    rc, err, log = start(tmp_path, {**SECURE, "cluster.initial_master_nodes": ["n1"]})
    assert_one_line(
        rc, err, log, 78, "Transport SSL must be enabled if security is enabled in a cluster of"
    )
