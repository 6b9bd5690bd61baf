"""``isthmus keystore``: the ``elasticsearch-keystore`` equivalent.

Owns the terminal side of the keystore: prompts, messages and exit codes, which follow ES's
keystore CLI (``Elasticsearch`` reads ``Isthmus`` here). Reading, locking and writing belong to
``isthmus.security.keystore``; this module translates their errors once, at its edge, into
``ERROR: <reason>`` on stderr and ES's exit codes.

Input rules, as ES's terminal has them: on a TTY secrets are read without echo; otherwise one
line per secret is read from stdin (``-x``/``--stdin`` only drops the prompt). Prompts go to
stderr so that ``show`` can be piped. A password-protected keystore is opened with the password
held in the file named by ``ISTHMUS_KEYSTORE_PASSPHRASE_FILE``, else a prompted one. Every writing
command asks its questions first, against a snapshot, then holds the keystore lock only to
re-read, apply and save: concurrent commands lose no entries, and no command holds the lock while
waiting for a person.
"""

from __future__ import annotations

import functools
import getpass
import hmac
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click

from isthmus.errors import KeystoreError, KeystoreNotFoundError, SettingsError
from isthmus.security.keystore import (
    FILE_MODE,
    keystore_exists,
    keystore_password_from_env,
    keystore_path,
    load_keystore,
    locked,
    read_keystore_header,
    save_keystore,
)
from isthmus.security.keystore_format import KeystoreContents, new_keystore
from isthmus.settings.loader import default_config_dir
from isthmus.settings.secret import Secret
from isthmus.settings.secure import validate_setting_name

# ES ExitCodes.
USAGE = 64
DATA_ERROR = 65
IO_ERROR = 74
CONFIG = 78
NO_PASSWORD = 1  # has-passwd

PASSWORD_PROMPT = "Enter password for the isthmus keystore : "
NEW_PASSWORD_PROMPT = "Enter new password for the isthmus keystore (empty for no password): "
STDIN_CLOSED = "unable to read from standard input; is standard input open and a tty attached?"

P = ParamSpec("P")
R = TypeVar("R")


class UserError(Exception):
    """A message for the operator and the exit code to leave with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(code)


def _translating(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the keystore's exceptions into ``ERROR: ...`` and ES's exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            _fail(exc.message, exc.code)
        except (KeystoreError, SettingsError) as exc:
            _fail(exc.reason, DATA_ERROR)
        except OSError as exc:
            where = f" [{exc.filename}]" if exc.filename else ""
            _fail(f"{exc.strerror or type(exc).__name__}{where}", IO_ERROR)

    return wrapper


class Console:
    """Prompts and messages. Informational lines obey ``--silent``; errors and values do not."""

    def __init__(self, silent: bool) -> None:
        self.silent = silent

    def println(self, message: str) -> None:
        if not self.silent:
            click.echo(message)

    def _read_line(self) -> str:
        line = sys.stdin.readline()
        if not line:
            raise UserError(STDIN_CLOSED, DATA_ERROR)
        return line.removesuffix("\n").removesuffix("\r")

    def read_secret(self, prompt: str) -> str:
        if sys.stdin.isatty():
            try:
                return getpass.getpass(prompt, stream=sys.stderr)
            except EOFError:
                raise UserError(STDIN_CLOSED, DATA_ERROR) from None
        if prompt:
            click.echo(prompt, err=True, nl=False)
        return self._read_line()

    def confirm(self, question: str) -> bool:
        """ES's ``promptYesNo`` with default "no"; end of input counts as "no"."""
        while True:
            click.echo(f"{question} [y/N]", err=True)
            line = sys.stdin.readline()
            answer = line.strip().lower()
            if not line or answer in ("", "n", "no"):
                return False
            if answer in ("y", "yes"):
                return True
            click.echo(f"Did not understand answer '{answer}'", err=True)


def _config_dir(config_dir: Path | None) -> Path:
    # Absolute, so messages name the file unambiguously (ES prints absolute paths too).
    return (config_dir if config_dir is not None else default_config_dir()).absolute()


def _options(fn: Callable[P, R]) -> Callable[P, R]:
    """``--config-dir`` and ``-s/--silent``, on every command."""
    fn = click.option("-s", "--silent", is_flag=True, help="Show minimal output.")(fn)
    return click.option(
        "--config-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Directory holding isthmus.keystore (default: $ISTHMUS_PATH_CONF or ./config).",
    )(fn)


def _open_password(console: Console, config_dir: Path) -> Secret | None:
    """The password to open an existing keystore: none, the env file's, or a prompted one."""
    if not read_keystore_header(config_dir).has_password:
        return None
    from_env = keystore_password_from_env()
    if from_env is not None:
        return from_env
    return Secret(console.read_secret(PASSWORD_PROMPT))


def _new_password(console: Console) -> Secret:
    first = console.read_secret(NEW_PASSWORD_PROMPT)
    again = console.read_secret("Enter same password again: ")
    if not hmac.compare_digest(first.encode(), again.encode()):
        raise UserError("Passwords are not equal, exiting.", DATA_ERROR)
    return Secret(first)


def _must_exist(config_dir: Path) -> None:
    if not keystore_exists(config_dir):
        raise KeystoreNotFoundError(str(keystore_path(config_dir)))


def _open_or_new(console: Console, config_dir: Path) -> tuple[KeystoreContents, Secret | None]:
    """The keystore as it is now, or a new one (which gets the empty password, as in ES)."""
    if keystore_exists(config_dir):
        password = _open_password(console, config_dir)
        return load_keystore(config_dir, password), password
    return new_keystore(), None


def _commit(
    config_dir: Path,
    password: Secret | None,
    change: Callable[[KeystoreContents], KeystoreContents],
) -> None:
    """Lock, re-read, apply ``change``, save.

    Prompts happen before, against a snapshot, so the lock is never held while waiting for a
    person; re-reading under the lock keeps what other writers saved in the meantime.
    """
    with locked(config_dir):
        exists = keystore_exists(config_dir)
        current = load_keystore(config_dir, password) if exists else new_keystore()
        save_keystore(config_dir, change(current), password)


def _may_create(console: Console, config_dir: Path, force: bool) -> bool:
    """``add``/``add-file`` on a missing keystore: create it if forced or confirmed."""
    if keystore_exists(config_dir):
        return True
    if not force and not console.confirm(
        "The isthmus keystore does not exist. Do you want to create it?"
    ):
        console.println("Exiting without creating keystore.")
        return False
    config_dir.mkdir(parents=True, exist_ok=True)
    return True


def _may_overwrite(console: Console, contents: KeystoreContents, name: str, force: bool) -> bool:
    if name not in contents or force:
        return True
    if console.confirm(f"Setting {name} already exists. Overwrite?"):
        return True
    console.println("Exiting without modifying keystore.")
    return False


@click.group("keystore", context_settings={"help_option_names": ["-h", "--help"]})
def keystore_cli() -> None:
    """Manage the Isthmus keystore (secure settings)."""


@keystore_cli.command("create")
@_options
@click.option(
    "-p", "--password", is_flag=True, help="Prompt for a password to encrypt the keystore."
)
@_translating
def create(config_dir: Path | None, silent: bool, password: bool) -> None:
    """Create a new keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    secret = _new_password(console) if password else None
    path = keystore_path(conf)
    if path.exists() and not console.confirm("An isthmus keystore already exists. Overwrite?"):
        console.println("Exiting without creating keystore.")
        return
    conf.mkdir(parents=True, exist_ok=True)
    with locked(conf):
        save_keystore(conf, new_keystore(), secret)
    console.println(f"Created isthmus keystore in {path}")


@keystore_cli.command("add")
@_options
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Overwrite existing settings without prompting, creating the keystore if necessary.",
)
@click.option(
    "-x",
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read setting values from stdin, one per line.",
)
@click.argument("settings", nargs=-1)
@_translating
def add(
    config_dir: Path | None,
    silent: bool,
    force: bool,
    from_stdin: bool,
    settings: tuple[str, ...],
) -> None:
    """Add string settings to the keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    if not settings:
        raise UserError("the setting names can not be empty", USAGE)
    for name in settings:
        validate_setting_name(name)
    if not _may_create(console, conf, force):
        return
    snapshot, password = _open_or_new(console, conf)
    values: dict[str, Secret] = {}
    for name in settings:
        if not _may_overwrite(console, snapshot, name, force):
            return
        values[name] = Secret(
            console.read_secret("" if from_stdin else f"Enter value for {name}: ")
        )

    def change(contents: KeystoreContents) -> KeystoreContents:
        for name, secret in values.items():
            contents = contents.with_string(name, secret)
        return contents

    _commit(conf, password, change)


@keystore_cli.command("add-file")
@_options
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Overwrite existing settings without prompting, creating the keystore if necessary.",
)
@click.argument("pairs", nargs=-1, metavar="(SETTING PATH)...")
@_translating
def add_file(config_dir: Path | None, silent: bool, force: bool, pairs: tuple[str, ...]) -> None:
    """Add file settings to the keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    if not pairs:
        raise UserError("Missing setting name", USAGE)
    if len(pairs) % 2:
        raise UserError("settings and filenames must come in pairs", USAGE)
    files: list[tuple[str, bytes]] = []
    for name, file_name in zip(pairs[::2], pairs[1::2], strict=True):
        validate_setting_name(name)
        source = Path(file_name)
        if not source.is_file():
            raise UserError(f"File [{source}] does not exist", IO_ERROR)
        files.append((name, source.read_bytes()))
    if not _may_create(console, conf, force):
        return
    snapshot, password = _open_or_new(console, conf)
    for name, _ in files:
        if not _may_overwrite(console, snapshot, name, force):
            return

    def change(contents: KeystoreContents) -> KeystoreContents:
        for name, data in files:
            contents = contents.with_file(name, data)
        return contents

    _commit(conf, password, change)


@keystore_cli.command("remove")
@_options
@click.argument("settings", nargs=-1)
@_translating
def remove(config_dir: Path | None, silent: bool, settings: tuple[str, ...]) -> None:
    """Remove settings from the keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    if not settings:
        raise UserError("Must supply at least one setting to remove", USAGE)
    _must_exist(conf)
    password = _open_password(console, conf)
    with locked(conf):
        contents = load_keystore(conf, password)
        for name in settings:
            if name not in contents:
                raise UserError(f"Setting [{name}] does not exist in the keystore.", CONFIG)
        save_keystore(conf, contents.without(*settings), password)


@keystore_cli.command("list")
@_options
@_translating
def list_(config_dir: Path | None, silent: bool) -> None:
    """List entries in the keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    _must_exist(conf)
    contents = load_keystore(conf, _open_password(console, conf))
    for name in contents.names():
        click.echo(name)


@keystore_cli.command("show")
@_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the value to this file.",
)
@click.argument("settings", nargs=-1)
@_translating
def show(
    config_dir: Path | None,
    silent: bool,
    output: Path | None,
    settings: tuple[str, ...],
) -> None:
    """Show a value from the keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    if len(settings) != 1:
        raise UserError("Must provide a single setting name to show", USAGE)
    (name,) = settings
    _must_exist(conf)
    contents = load_keystore(conf, _open_password(console, conf))
    data = contents.get_file(name)
    if data is None:
        raise UserError(f"Setting [{name}] does not exist in the keystore.", CONFIG)
    if output is not None:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return
    if not sys.stdout.isatty():
        # Redirected: the exact bytes, no newline added (ES's heuristic for "output is a file").
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        click.echo(
            f"The value for the setting [{name}] is not a string and cannot be printed to the console",
            err=True,
        )
        raise UserError("Please redirect binary output to a file instead", IO_ERROR) from None
    click.echo(text, nl=not text.endswith("\n"))


@keystore_cli.command("passwd")
@_options
@_translating
def passwd(config_dir: Path | None, silent: bool) -> None:
    """Change the password of the keystore."""
    console, conf = Console(silent), _config_dir(config_dir)
    _must_exist(conf)
    password = _open_password(console, conf)
    load_keystore(conf, password)  # a wrong password fails before new ones are asked for
    new_password = _new_password(console)
    with locked(conf):
        save_keystore(conf, load_keystore(conf, password), new_password)
    console.println("Isthmus keystore password changed successfully.")


@keystore_cli.command("has-passwd")
@_options
@_translating
def has_passwd(config_dir: Path | None, silent: bool) -> None:
    """Succeed if the keystore exists and is password-protected, exit 1 otherwise."""
    console, conf = Console(silent), _config_dir(config_dir)
    if not keystore_exists(conf):
        if not silent:
            click.echo("ERROR: Isthmus keystore not found", err=True)
        sys.exit(NO_PASSWORD)
    if not read_keystore_header(conf).has_password:
        if not silent:
            click.echo("ERROR: Keystore is not password-protected", err=True)
        sys.exit(NO_PASSWORD)
    console.println("Keystore is password-protected")


@keystore_cli.command("upgrade")
@_options
@_translating
def upgrade(config_dir: Path | None, silent: bool) -> None:
    """Upgrade the keystore format (and add keystore.seed if missing)."""
    console, conf = Console(silent), _config_dir(config_dir)
    _must_exist(conf)
    password = _open_password(console, conf)
    with locked(conf):
        contents = load_keystore(conf, password)
        if contents.needs_upgrade:
            save_keystore(conf, contents.with_seed(), password)
