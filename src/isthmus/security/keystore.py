"""Reading and writing ``<config>/isthmus.keystore``: the I/O shell around ``keystore_format``.

Owns where the keystore lives, crash-safe saving and the writers' lock. It must not parse bytes
(``keystore_format`` does) nor talk to a terminal (``isthmus.cli.keystore`` does).

* Saving writes a temporary file in the same directory, fsyncs it, ``os.replace``s it over the
  keystore and fsyncs the directory: a reader sees the old file or the new one, never half of one.
  So readers (the node at startup or on reload, ``list``, ``show``) take no lock.
* Writers hold an exclusive ``fcntl.flock`` on ``isthmus.keystore.lock`` around
  read-modify-write (:func:`locked`, :func:`update_keystore`), so concurrent ``add`` commands do
  not lose each other's entries. The lock file is never deleted (deleting it would let two
  writers lock two different files). The lock is not re-entrant.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from isthmus.errors import KeystoreNotFoundError, SettingsError
from isthmus.security.keystore_format import (
    KDF_ITERATIONS,
    KEYSTORE_FILENAME,
    KeystoreContents,
    KeystoreHeader,
    decode,
    encode,
    new_keystore,
    read_header,
)
from isthmus.settings.secret import Secret

LOCK_FILENAME = KEYSTORE_FILENAME + ".lock"
PASSPHRASE_FILE_ENV = "ISTHMUS_KEYSTORE_PASSPHRASE_FILE"
FILE_MODE = 0o600  # ES uses rw-rw---- for its service group; Isthmus runs as one user


def keystore_path(config_dir: Path) -> Path:
    return config_dir / KEYSTORE_FILENAME


def keystore_exists(config_dir: Path) -> bool:
    return keystore_path(config_dir).is_file()


def _read_bytes(config_dir: Path) -> bytes:
    path = keystore_path(config_dir)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeystoreNotFoundError(str(path)) from None


def read_keystore_header(config_dir: Path) -> KeystoreHeader:
    """Format version and whether a password is needed; raises if missing or corrupted."""
    path = keystore_path(config_dir)
    return read_header(_read_bytes(config_dir), source=str(path))


def load_keystore(config_dir: Path, password: Secret | None) -> KeystoreContents:
    """Read and decrypt the keystore. ``None`` means no password (the empty one)."""
    path = keystore_path(config_dir)
    return decode(_read_bytes(config_dir), password, source=str(path))


def save_keystore(
    config_dir: Path,
    contents: KeystoreContents,
    password: Secret | None,
    *,
    iterations: int = KDF_ITERATIONS,
) -> None:
    """Encrypt and atomically replace the keystore. Callers that read first hold :func:`locked`."""
    data = encode(contents, password, iterations=iterations)
    _atomic_write(keystore_path(config_dir), data)


def create_keystore(
    config_dir: Path, password: Secret | None, *, iterations: int = KDF_ITERATIONS
) -> KeystoreContents:
    """Write a new keystore holding only ``keystore.seed``, replacing any existing one."""
    config_dir.mkdir(parents=True, exist_ok=True)
    contents = new_keystore()
    with locked(config_dir):
        save_keystore(config_dir, contents, password, iterations=iterations)
    return _as_saved(contents, password, iterations)


def update_keystore(
    config_dir: Path,
    password: Secret | None,
    change: Callable[[KeystoreContents], KeystoreContents],
    *,
    iterations: int = KDF_ITERATIONS,
) -> KeystoreContents:
    """Lock, load, apply ``change``, save; returns what was saved."""
    with locked(config_dir):
        updated = change(load_keystore(config_dir, password))
        save_keystore(config_dir, updated, password, iterations=iterations)
    return _as_saved(updated, password, iterations)


def _as_saved(
    contents: KeystoreContents, password: Secret | None, iterations: int
) -> KeystoreContents:
    has_password = password is not None and password.reveal() != ""
    return KeystoreContents(contents.entries, has_password, kdf_iterations=iterations)


@contextlib.contextmanager
def locked(config_dir: Path) -> Iterator[None]:
    """Hold the keystore writers' lock (blocks until free). The config dir must exist."""
    fd = os.open(config_dir / LOCK_FILENAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _atomic_write(path: Path, data: bytes) -> None:
    mode = FILE_MODE
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(path.stat().st_mode)  # keep permissions an operator chose
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            tmp_file.write(data)
            tmp_file.flush()
            os.fchmod(tmp_file.fileno(), mode)
            os.fsync(tmp_file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def keystore_password_from_env(env: Mapping[str, str] | None = None) -> Secret | None:
    """The password held in the file named by ``ISTHMUS_KEYSTORE_PASSPHRASE_FILE``, if set.

    Trailing newlines are dropped, as the shell's ``$(cat file)`` in ES's startup script drops them.
    """
    env = os.environ if env is None else env
    name = env.get(PASSPHRASE_FILE_ENV)
    if not name:
        return None
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError(
            f"cannot read the keystore passphrase file [{name}] named by {PASSPHRASE_FILE_ENV}: "
            f"{reason}"
        ) from None
    return Secret(text.rstrip("\r\n"))


def read_node_keystore(
    config_dir: Path, password: Secret | None, typed: Secret | None = None
) -> KeystoreContents | None:
    """The node's keystore, read and validated as the node reads it (at start and on
    ``reload_secure_settings``): None when there is none. The password is the given one (the
    API's ``secure_settings_password``), else the passphrase file named by
    ``ISTHMUS_KEYSTORE_PASSPHRASE_FILE``, else the one ``typed`` at the start prompt. Every
    entry must be a known secure setting."""
    from isthmus.settings.secure import validate_known

    if not keystore_exists(config_dir):
        return None
    contents = load_keystore(config_dir, password or keystore_password_from_env() or typed)
    validate_known(contents.names())
    return contents
