"""``isthmus keystore`` as real processes: exit codes, stdin, a real TTY, concurrent writers.

Runs the click group through ``python -c`` so it works before ``cli/main.py`` registers it; the
``python -m isthmus keystore`` test skips until then. These processes use the real 210 000-round
KDF, as an operator's would.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from isthmus.security import keystore as ks
from isthmus.settings.secret import Secret

RUN_GROUP = (
    "import sys; from isthmus.cli.keystore import keystore_cli; "
    "keystore_cli(sys.argv[1:], prog_name='isthmus keystore')"
)


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISTHMUS_")}
    env.update(extra or {})
    return env


def keystore(
    conf: Path,
    *args: str,
    input: bytes = b"",
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", RUN_GROUP, *args, "--config-dir", str(conf)],
        input=input,
        capture_output=True,
        env=_env(env),
        timeout=60,
    )


def test_full_session(tmp_path: Path) -> None:
    conf = tmp_path / "config"
    path = conf / "isthmus.keystore"
    missing = keystore(conf, "list")
    assert missing.returncode == 65
    assert missing.stderr.decode() == (
        f"ERROR: Isthmus keystore not found at [{path}]. Use 'create' command to create one.\n"
    )
    assert keystore(conf, "has-passwd").returncode == 1

    created = keystore(conf, "create", "-p", input=b"ks-pw\nks-pw\n")
    assert created.returncode == 0, created.stderr
    assert created.stdout.decode() == f"Created isthmus keystore in {path}\n"
    assert keystore(conf, "has-passwd").stdout == b"Keystore is password-protected\n"

    added = keystore(
        conf, "add", "-x", "cluster.remote.r1.credentials", "bootstrap.password",
        input=b"ks-pw\nencoded-api-key\nchangeme\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert b"encoded-api-key" not in added.stdout + added.stderr

    listed = keystore(conf, "list", input=b"ks-pw\n")
    assert listed.stdout == b"bootstrap.password\ncluster.remote.r1.credentials\nkeystore.seed\n"
    shown = keystore(conf, "show", "cluster.remote.r1.credentials", input=b"ks-pw\n")
    assert shown.stdout == b"encoded-api-key"

    wrong = keystore(conf, "list", input=b"nope\n")
    assert wrong.returncode == 65
    assert wrong.stderr.endswith(b"ERROR: Provided keystore password was incorrect\n")

    contents = ks.load_keystore(conf, Secret("ks-pw"))
    assert contents.get("bootstrap.password") == Secret("changeme")


def test_passphrase_file(tmp_path: Path) -> None:
    conf = tmp_path / "config"
    assert keystore(conf, "create", "-p", input=b"from-file\nfrom-file\n").returncode == 0
    pw_file = tmp_path / "keystore.pass"
    pw_file.write_text("from-file\n")
    env = {"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(pw_file)}
    added = keystore(conf, "add", "-x", "a.b", input=b"v\n", env=env)
    assert added.returncode == 0 and added.stderr == b""
    assert keystore(conf, "list", env=env).stdout == b"a.b\nkeystore.seed\n"


@pytest.mark.parametrize("pos", [3, 12, 60, 120, -2])
def test_damaged_file_no_traceback(tmp_path: Path, pos: int) -> None:
    conf = tmp_path / "config"
    keystore(conf, "create")
    path = conf / "isthmus.keystore"
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))
    result = keystore(conf, "list")
    assert result.returncode == 65
    assert result.stderr == b"ERROR: Keystore has been corrupted or tampered with\n"


def test_concurrent_add_commands_lose_no_entry(tmp_path: Path) -> None:
    conf = tmp_path / "config"
    assert keystore(conf, "create", "-p", input=b"pw\npw\n").returncode == 0
    n = 8
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_GROUP, "add", "-x", f"concurrent.s{i}", "--config-dir", str(conf)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        for i in range(n)
    ]  # fmt: skip
    # Feeding the processes one after another also proves no command waits for input while
    # holding the lock: if one did, the next would block on the lock and this would hang.
    try:
        results = [
            p.communicate(f"pw\nvalue-{i}\n".encode(), timeout=90) for i, p in enumerate(procs)
        ]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * n, results
    contents = ks.load_keystore(conf, Secret("pw"))
    assert set(contents.names()) == {"keystore.seed"} | {f"concurrent.s{i}" for i in range(n)}
    for i in range(n):
        assert contents.get(f"concurrent.s{i}") == Secret(f"value-{i}")
    assert not [p for p in conf.iterdir() if p.name.endswith(".tmp")]


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"did not see {marker!r}; got {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_prompts_on_a_terminal_do_not_echo(tmp_path: Path) -> None:
    conf = tmp_path / "config"
    assert keystore(conf, "create").returncode == 0
    pid, fd = pty.fork()
    if pid == 0:  # the child: a process whose controlling terminal is the pty
        os.execve(
            sys.executable,
            [sys.executable, "-c", RUN_GROUP, "add", "a.secret", "--config-dir", str(conf)],
            _env(),
        )
    try:
        before = _read_until(fd, b"Enter value for a.secret: ")
        os.write(fd, b"typed-secret\n")
        after = _read_until(fd, b"\n", timeout=30)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"typed-secret" not in before + after  # getpass turned echo off
    assert ks.load_keystore(conf, None).get("a.secret") == Secret("typed-secret")


def test_python_m_isthmus_keystore(tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "isthmus", "keystore", "--help"],
        capture_output=True,
        env=_env(),
        timeout=60,
    )
    if probe.returncode != 0:
        pytest.skip(
            "`isthmus keystore` is not registered in isthmus.cli.main yet "
            "(the lead adds `cli.add_command(keystore_cli)`)"
        )
    conf = tmp_path / "config"

    def isthmus(*args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "isthmus", "keystore", *args, "--config-dir", str(conf)],
            input=input,
            capture_output=True,
            env=_env(),
            timeout=60,
        )

    assert isthmus("create").returncode == 0
    assert isthmus("add", "-x", "a.b", input=b"v\n").returncode == 0
    assert isthmus("list").stdout == b"a.b\nkeystore.seed\n"
    assert isthmus("show", "a.b").stdout == b"v"
    assert isthmus("has-passwd").returncode == 1
    assert isthmus("remove", "missing").returncode == 78
