"""Auto-configuration, HTTPS, the keystore at startup and reload, reset-password."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from elasticsearch import AuthenticationException, Elasticsearch

from isthmus.testing.process import NodeProcess


def _run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isthmus", *args],
        cwd=cwd,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _start_raw(home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    ports = home / "ports.json"
    stderr = home / "stderr.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "isthmus",
            "node",
            "--config-dir",
            str(home / "config"),
            "--ports-file",
            str(ports),
            "-q",
            "-E",
            "http.port=0",
            *extra,
        ],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=stderr.open("wb"),
    )
    deadline = time.monotonic() + 30
    while not ports.exists():
        assert proc.poll() is None, stderr.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc, orjson.loads(ports.read_bytes())["http"], stderr


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def test_first_start_auto_configures_tls_and_prints_credentials(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    (tmp_path / "config").mkdir()
    proc, address, stderr = _start_raw(tmp_path)
    try:
        text = stderr.read_text()
        password = next(
            li for li in text.splitlines() if "password for the [elastic] user" in li
        ).rsplit(" ", 1)[1]
        record_secret(password)
        fingerprint = next(li for li in text.splitlines() if "SHA-256 fingerprint" in li).rsplit(
            " ", 1
        )[1]
        ca = tmp_path / "config" / "certs" / "http_ca.crt"
        assert ca.exists()
        yml = (tmp_path / "config" / "isthmus.yml").read_text()
        assert "BEGIN SECURITY AUTO CONFIGURATION" in yml
        assert "xpack.security.http.ssl.enabled: true" in yml
        assert oct((tmp_path / "config" / "certs" / "http.key").stat().st_mode & 0o777) == "0o600"
        client = Elasticsearch(
            f"https://{address}", ca_certs=str(ca), basic_auth=("elastic", password)
        )
        assert client.info()["tagline"] == "You Know, for Search"
        certs = client.ssl.certificates().body
        paths = {c["path"] for c in certs}
        assert {"http.crt", "http_ca.crt"} <= paths
        assert all(c["format"] == "PEM" for c in certs)
        assert any(c["has_private_key"] for c in certs if c["path"] == "http.crt")
        inspect = _run("certutil", "inspect", str(ca), "--json", cwd=tmp_path)
        assert orjson.loads(inspect.stdout)["certificates"][0]["fingerprint_sha256"] == fingerprint
        # Plain HTTP is refused on a TLS port; so is an untrusted client.
        with pytest.raises(Exception):  # noqa: B017 - any transport error
            Elasticsearch(
                f"http://{address}",
                basic_auth=("elastic", password),
                request_timeout=3,
                max_retries=0,
            ).info()
    finally:
        _stop(proc)
    # A second start keeps the configuration and prints no new password.
    proc, address, stderr = _start_raw(tmp_path)
    try:
        assert "password for the [elastic] user" not in stderr.read_text()
        assert (tmp_path / "config" / "isthmus.yml").read_text().count("BEGIN SECURITY") == 1
    finally:
        _stop(proc)


def test_keystore_bootstrap_password_and_reload(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    record_secret("bootstrap-pw")
    home = tmp_path / "n"
    config = home / "config"
    config.mkdir(parents=True)
    env = {**os.environ}
    created = _run("keystore", "create", "--config-dir", str(config), cwd=home)
    assert created.returncode == 0, created.stderr
    added = _run(
        "keystore",
        "add",
        "-x",
        "bootstrap.password",
        "--config-dir",
        str(config),
        cwd=home,
        stdin="bootstrap-pw\n",
    )
    assert added.returncode == 0, added.stderr
    node = NodeProcess(home, {"xpack.security.enabled": True}, env=env)
    node.start()
    try:
        client = Elasticsearch(node.url, basic_auth=("elastic", "bootstrap-pw"))
        assert client.security.authenticate()["username"] == "elastic"
        assert "password for the [elastic] user" not in (home / "stderr.log").read_text()
        reloaded = client.nodes.reload_secure_settings()
        (only,) = reloaded["nodes"].values()
        assert only == {"name": "node-0"}
        assert reloaded["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
        # Damage the keystore: the reload reports it and the node keeps serving.
        path = config / "isthmus.keystore"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        broken = client.nodes.reload_secure_settings()
        (entry,) = broken["nodes"].values()
        assert entry["reload_exception"]["reason"] == (
            "Keystore has been corrupted or tampered with"
        )
        assert client.info()["cluster_name"] == "test-cluster"
    finally:
        node.stop()
    # A node whose keystore cannot be read refuses to start and says why.
    with pytest.raises(RuntimeError, match="cannot read the keystore"):
        node.start(timeout=15)


def test_reset_password_tool(tmp_path: Path, record_secret: Callable[[str], None]) -> None:
    home = tmp_path / "n"
    node = NodeProcess(home, {"xpack.security.enabled": True})
    node.start()
    node.stop()
    reset = _run(
        "reset-password", "-u", "elastic", "-b", "--config-dir", str(home / "config"), cwd=home
    )
    assert reset.returncode == 0, reset.stderr
    new = reset.stdout.strip().rsplit(" ", 1)[1]
    record_secret(new)
    node.start()
    try:
        assert Elasticsearch(node.url, basic_auth=("elastic", new)).info()
        old = (home / "stderr.log").read_text()
        first = next(li for li in old.splitlines() if "password for the [elastic]" in li)
        with pytest.raises(AuthenticationException):
            Elasticsearch(node.url, basic_auth=("elastic", first.rsplit(" ", 1)[1])).info()
    finally:
        node.stop()


def test_security_on_a_reachable_transport_needs_tls(tmp_path: Path) -> None:
    node = NodeProcess(
        tmp_path / "n", {"xpack.security.enabled": True, "transport.host": "0.0.0.0"}
    )
    with pytest.raises(RuntimeError, match=r"Transport SSL must be enabled if security is enabled"):
        node.start(timeout=15)
    loopback = NodeProcess(tmp_path / "l", {"xpack.security.enabled": True})
    loopback.start()
    try:
        assert "Transport SSL is not enabled while security is" in loopback.log_text()
    finally:
        loopback.stop()


def test_password_protected_keystore_at_start_and_reload(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    home = tmp_path / "n"
    config = home / "config"
    config.mkdir(parents=True)
    record_secret("keystore-pw")
    assert (
        _run(
            "keystore",
            "create",
            "-p",
            "--config-dir",
            str(config),
            cwd=home,
            stdin="keystore-pw\nkeystore-pw\n",
        ).returncode
        == 0
    )
    assert (
        _run(
            "keystore",
            "add",
            "-x",
            "bootstrap.password",
            "--config-dir",
            str(config),
            cwd=home,
            stdin="keystore-pw\nboot-pw-1\n",
        ).returncode
        == 0
    )
    record_secret("boot-pw-1")
    # Without the passphrase the node refuses to start, saying why.
    locked = NodeProcess(home, {"xpack.security.enabled": True})
    with pytest.raises(RuntimeError, match="Provided keystore password was incorrect"):
        locked.start(timeout=15)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("keystore-pw\n")
    node = NodeProcess(
        home,
        {"xpack.security.enabled": True},
        env={"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(passphrase)},
    )
    node.start()
    try:
        client = Elasticsearch(node.url, basic_auth=("elastic", "boot-pw-1"))
        ok = client.nodes.reload_secure_settings(secure_settings_password="keystore-pw")
        assert "reload_exception" not in next(iter(ok["nodes"].values()))
        wrong = client.nodes.reload_secure_settings(secure_settings_password="nope")
        assert next(iter(wrong["nodes"].values()))["reload_exception"] == {
            "type": "security_exception",
            "reason": "Provided keystore password was incorrect",
        }
    finally:
        node.stop()
