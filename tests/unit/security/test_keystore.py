"""``security.keystore``: load/save on disk, atomic replace, the writers' lock, passwords from env."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from isthmus.errors import (
    KeystoreCorruptedError,
    KeystoreNotFoundError,
    KeystorePasswordError,
    SettingsError,
)
from isthmus.security import keystore as ks
from isthmus.security.keystore_format import KeystoreContents
from isthmus.settings.secret import Secret

FAST = 1_000
SECRET_VALUE = "s3cr3t-value-do-not-print"


def _create(conf: Path, password: str | None = None) -> KeystoreContents:
    return ks.create_keystore(conf, None if password is None else Secret(password), iterations=FAST)


def _leftovers(conf: Path) -> list[str]:
    return sorted(p.name for p in conf.iterdir() if p.name.endswith(".tmp"))


# --- load / save ------------------------------------------------------------------------------------


def test_create_writes_a_seeded_keystore(tmp_path: Path) -> None:
    conf = tmp_path / "config"
    created = _create(conf)
    assert ks.keystore_path(conf) == conf / "isthmus.keystore"
    assert ks.keystore_exists(conf)
    loaded = ks.load_keystore(conf, None)
    assert loaded.names() == ("keystore.seed",)
    assert loaded.get("keystore.seed") == created.get("keystore.seed")
    assert not loaded.has_password


def test_round_trip_on_disk_with_password(tmp_path: Path) -> None:
    _create(tmp_path, "pw")
    ks.update_keystore(
        tmp_path,
        Secret("pw"),
        lambda c: c.with_string("bootstrap.password", SECRET_VALUE).with_file(
            "a.file", b"\x00\x01"
        ),
        iterations=FAST,
    )
    loaded = ks.load_keystore(tmp_path, Secret("pw"))
    assert loaded.names() == ("a.file", "bootstrap.password", "keystore.seed")
    secret = loaded.get("bootstrap.password")
    assert secret is not None and secret.reveal() == SECRET_VALUE
    assert loaded.get_file("a.file") == b"\x00\x01"
    assert loaded.has_password
    assert ks.read_keystore_header(tmp_path).has_password


def test_wrong_password_on_disk(tmp_path: Path) -> None:
    _create(tmp_path, "pw")
    with pytest.raises(KeystorePasswordError):
        ks.load_keystore(tmp_path, Secret("nope"))
    with pytest.raises(KeystorePasswordError):
        ks.load_keystore(tmp_path, None)


def test_missing_keystore(tmp_path: Path) -> None:
    with pytest.raises(KeystoreNotFoundError) as info:
        ks.load_keystore(tmp_path, None)
    path = tmp_path / "isthmus.keystore"
    assert info.value.reason == (
        f"Isthmus keystore not found at [{path}]. Use 'create' command to create one."
    )
    with pytest.raises(KeystoreNotFoundError):
        ks.read_keystore_header(tmp_path)
    assert not ks.keystore_exists(tmp_path)


@pytest.mark.parametrize("pos", [0, 9, 10, 50, 100, -30, -1])
def test_flipped_byte_on_disk(tmp_path: Path, pos: int) -> None:
    _create(tmp_path, "pw")
    path = ks.keystore_path(tmp_path)
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x04
    path.write_bytes(bytes(data))
    with pytest.raises(KeystoreCorruptedError):
        ks.load_keystore(tmp_path, Secret("pw"))


def test_truncated_file_on_disk(tmp_path: Path) -> None:
    _create(tmp_path)
    path = ks.keystore_path(tmp_path)
    data = path.read_bytes()
    for length in (0, 1, 10, 91, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:length])
        with pytest.raises(KeystoreCorruptedError):
            ks.load_keystore(tmp_path, None)


# --- atomic writes ----------------------------------------------------------------------------------


def test_save_leaves_no_temp_files_and_private_mode(tmp_path: Path) -> None:
    _create(tmp_path)
    assert _leftovers(tmp_path) == []
    mode = stat.S_IMODE(ks.keystore_path(tmp_path).stat().st_mode)
    assert mode == 0o600


def test_save_keeps_an_operator_chosen_mode(tmp_path: Path) -> None:
    _create(tmp_path)
    os.chmod(ks.keystore_path(tmp_path), 0o640)
    ks.update_keystore(tmp_path, None, lambda c: c.with_string("a.b", "v"), iterations=FAST)
    assert stat.S_IMODE(ks.keystore_path(tmp_path).stat().st_mode) == 0o640


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _create(tmp_path)
    before = ks.keystore_path(tmp_path).read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ks.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        ks.update_keystore(tmp_path, None, lambda c: c.with_string("a.b", "v"), iterations=FAST)
    assert ks.keystore_path(tmp_path).read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_failed_change_writes_nothing(tmp_path: Path) -> None:
    _create(tmp_path)
    before = ks.keystore_path(tmp_path).read_bytes()

    def change(c: KeystoreContents) -> KeystoreContents:
        return c.with_string("bad name", "v")

    with pytest.raises(SettingsError):
        ks.update_keystore(tmp_path, None, change, iterations=FAST)
    assert ks.keystore_path(tmp_path).read_bytes() == before


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    _create(tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                ks.load_keystore(tmp_path, None)
            except BaseException as exc:  # any failure is the bug we look for
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(15):
            ks.update_keystore(
                tmp_path, None, lambda c, i=i: c.with_file(f"f.{i}", b"x" * 50_000), iterations=FAST
            )
    finally:
        stop.set()
        thread.join()
    assert errors == []


# --- the writers' lock ------------------------------------------------------------------------------


def test_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    order: list[str] = []
    held = threading.Event()

    def second() -> None:
        held.wait()
        with ks.locked(tmp_path):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with ks.locked(tmp_path):
        held.set()
        time.sleep(0.2)
        order.append("first")
    thread.join()
    assert order == ["first", "second"]
    assert (tmp_path / "isthmus.keystore.lock").exists()  # never deleted


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from isthmus.security import keystore as ks
    from isthmus.settings.secret import Secret

    conf, name, go, use_lock = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "1"
    (conf / ("ready-" + name)).touch()
    while not go.exists():
        time.sleep(0.005)

    def change(contents):
        time.sleep(0.3)  # widen the read-modify-write window
        return contents.with_string(name, "value-of-" + name)

    if use_lock:
        ks.update_keystore(conf, Secret("pw"), change, iterations=1000)
    else:  # the race the lock prevents
        contents = ks.load_keystore(conf, Secret("pw"))
        ks.save_keystore(conf, change(contents), Secret("pw"), iterations=1000)
    """
)


def _race(conf: Path, n: int, use_lock: bool) -> KeystoreContents:
    go = conf / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(conf), f"writer.n{i}", str(go), str(int(use_lock))]
        )
        for i in range(n)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(conf.glob("ready-*"))) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0] * n
    return ks.load_keystore(conf, Secret("pw"))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    _create(tmp_path, "pw")
    n = 6
    contents = _race(tmp_path, n, use_lock=True)
    assert set(contents.names()) == {"keystore.seed"} | {f"writer.n{i}" for i in range(n)}
    for i in range(n):
        value = contents.get(f"writer.n{i}")
        assert value is not None and value.reveal() == f"value-of-writer.n{i}"
    assert _leftovers(tmp_path) == []


def test_without_the_lock_writers_do_lose_entries(tmp_path: Path) -> None:
    # The control for the test above: the race is real, so that test is meaningful.
    _create(tmp_path, "pw")
    contents = _race(tmp_path, 4, use_lock=False)
    assert len(contents.names()) < 5


# --- password from the environment ------------------------------------------------------------------


def test_password_from_env_file(tmp_path: Path) -> None:
    pw_file = tmp_path / "pass"
    pw_file.write_text("my passphrase\n\n")
    secret = ks.keystore_password_from_env({"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(pw_file)})
    assert secret is not None and secret.reveal() == "my passphrase"
    pw_file.write_text("keep  spaces  \r\n")
    secret = ks.keystore_password_from_env({"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(pw_file)})
    assert secret is not None and secret.reveal() == "keep  spaces  "


def test_password_from_env_unset_or_empty() -> None:
    assert ks.keystore_password_from_env({}) is None
    assert ks.keystore_password_from_env({"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": ""}) is None


def test_password_from_env_reads_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw_file = tmp_path / "pass"
    pw_file.write_text("pw")
    monkeypatch.setenv("ISTHMUS_KEYSTORE_PASSPHRASE_FILE", str(pw_file))
    assert ks.keystore_password_from_env() == Secret("pw")


def test_password_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SettingsError) as info:
        ks.keystore_password_from_env({"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(missing)})
    assert info.value.reason == (
        f"cannot read the keystore passphrase file [{missing}] named by "
        "ISTHMUS_KEYSTORE_PASSPHRASE_FILE: No such file or directory"
    )


def test_no_secret_in_logs_or_reprs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _create(tmp_path, "the-password")
    saved = ks.update_keystore(
        tmp_path,
        Secret("the-password"),
        lambda c: c.with_string("bootstrap.password", SECRET_VALUE),
        iterations=FAST,
    )
    loaded = ks.load_keystore(tmp_path, Secret("the-password"))
    logging.getLogger("isthmus.test").info("loaded %s %r %s", loaded, saved, loaded.entries)
    text = caplog.text + repr(saved) + repr(loaded) + repr(loaded.get("bootstrap.password"))
    assert SECRET_VALUE not in text and "the-password" not in text
    assert SECRET_VALUE.encode() not in ks.keystore_path(tmp_path).read_bytes()
