"""One etcd member as a supervised child process: started on unix sockets with its log under the
node's logs, ready when it serves a read, an unexpected death reported, a clean stop, and a
missing binary named with the way to install it."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.coordination.etcd_member import EtcdMember, EtcdMemberConfig, command_line
from isthmus.errors import NodeStartupError


def _config(home: Path, **overrides: object) -> EtcdMemberConfig:
    values: dict[str, object] = {
        "name": "node-1",
        "data_dir": home / "data" / "etcd",
        "log_file": home / "logs" / "etcd.log",
        "client_urls": ("unix://node-1.client:1",),
        "peer_urls": ("unix://node-1.peer:1",),
        "initial_cluster": {"node-1": "unix://node-1.peer:1"},
        "heartbeat_ms": 25,
        "election_ms": 250,
        "working_dir": home / "sockets",
    }
    values.update(overrides)
    return EtcdMemberConfig(**values)  # type: ignore[arg-type]


async def test_a_member_starts_serves_reports_an_unexpected_death_and_stops(
    tmp_path: Path,
) -> None:
    deaths: list[int] = []
    member = EtcdMember(_config(tmp_path), on_exit=deaths.append)
    await member.start()
    try:
        waited = await member.wait_ready(timeout=10)
        assert waited < 10
        async with EtcdClient(member.endpoints()) as client:
            await client.put(b"/k", b"v")
            assert (await client.get(b"/k")).kvs[0].value == b"v"
        assert (tmp_path / "data" / "etcd" / "member").is_dir()
        assert "ready to serve client requests" in (tmp_path / "logs" / "etcd.log").read_text()
        assert "node-1" in repr(member) and "running" in repr(member)
        member.send_signal(signal.SIGKILL)
        async with asyncio.timeout(5):
            while not deaths:
                await asyncio.sleep(0.01)
        assert deaths == [-signal.SIGKILL]
    finally:
        await member.stop()

    # Restarted on its data: the key is still there; a requested stop is no "death".
    again = EtcdMember(_config(tmp_path), on_exit=deaths.append)
    await again.start()
    try:
        await again.wait_ready(timeout=10)
        async with EtcdClient(again.endpoints()) as client:
            assert (await client.get(b"/k")).kvs[0].value == b"v"
    finally:
        assert await again.stop() == -signal.SIGTERM  # etcd re-raises the signal it handled
    assert deaths == [-signal.SIGKILL]
    assert not again.running


async def test_a_missing_binary_names_the_way_to_install_etcd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no etcd there
    member = EtcdMember(_config(tmp_path))
    with pytest.raises(NodeStartupError) as on_path:
        await member.start()
    assert str(on_path.value) == (
        "etcd was not found on PATH; install it with scripts/install-etcd "
        "(Debian: apt-get install etcd-server)"
    )
    configured = EtcdMember(_config(tmp_path, binary=str(tmp_path / "etcd")))
    with pytest.raises(NodeStartupError) as wrong_path:
        await configured.start()
    assert f"etcd binary [{tmp_path / 'etcd'}] does not exist" in str(wrong_path.value)
    assert wrong_path.value.exit_code == 78


async def test_a_member_that_cannot_start_says_so_while_waiting(tmp_path: Path) -> None:
    # Its data dir is a file: etcd exits at once; the wait names the log instead of hanging.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "etcd").write_text("not a directory")
    member = EtcdMember(_config(tmp_path))
    await member.start()
    try:
        with pytest.raises(NodeStartupError, match=r"exited with status \[1\] while starting"):
            await member.wait_ready(timeout=10)
    finally:
        await member.stop()


def test_the_command_line_carries_cluster_timings_compaction_and_tls(tmp_path: Path) -> None:
    from isthmus.coordination.etcd_member import EtcdTlsFiles

    three = {f"n{i}": f"https://10.0.0.{i}:2380" for i in range(1, 4)}
    config = _config(
        tmp_path,
        name="n1",
        client_urls=("https://10.0.0.1:2379",),
        peer_urls=("https://10.0.0.1:2380",),
        initial_cluster=three,
        tls=EtcdTlsFiles(Path("c.pem"), Path("k.pem"), Path("ca.pem")),
    )
    args = command_line(config, "/usr/bin/etcd")
    assert args[0] == "/usr/bin/etcd"
    assert (
        "--initial-cluster=n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,"
        "n3=https://10.0.0.3:2380" in args
    )
    for flag in (
        "--heartbeat-interval=25",
        "--election-timeout=250",
        "--auto-compaction-mode=revision",
        "--peer-client-cert-auth",
        "--client-cert-auth",
        "--trusted-ca-file=ca.pem",
        "--peer-key-file=k.pem",
    ):
        assert flag in args
    assert os.fspath(tmp_path / "data" / "etcd") in args[2]
