"""``isthmus keystore`` in-process (click's CliRunner): messages, prompts and exit codes as ES's."""

from __future__ import annotations

import functools
import stat
from collections.abc import Mapping
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner, Result

from isthmus.cli import keystore as cli
from isthmus.cli.keystore import keystore_cli
from isthmus.security import keystore as ks
from isthmus.security.keystore_format import KeystoreContents
from isthmus.settings.secret import Secret

FAST = 1_000
NOT_FOUND = "ERROR: Isthmus keystore not found at [{}]. Use 'create' command to create one.\n"
NAME_ERROR = (
    "ERROR: Setting name [{}] does not match the allowed setting name pattern [[A-Za-z0-9_\\-.]+]\n"
)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keystores written by the CLI in these tests use few PBKDF2 rounds (the format records them)."""
    monkeypatch.setattr(cli, "save_keystore", functools.partial(ks.save_keystore, iterations=FAST))
    monkeypatch.delenv("ISTHMUS_KEYSTORE_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("ISTHMUS_PATH_CONF", raising=False)


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return tmp_path / "config"


def run(
    conf: Path | None,
    *args: str,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    argv = [*args] if conf is None else [*args, "--config-dir", str(conf)]
    return CliRunner().invoke(keystore_cli, argv, input=input, env=env, catch_exceptions=False)


def created(conf: Path, password: str | None = None) -> Path:
    if password is None:
        result = run(conf, "create")
    else:
        result = run(conf, "create", "-p", input=f"{password}\n{password}\n")
    assert result.exit_code == 0, result.output
    return conf


def names(conf: Path, password: str | None = None) -> list[str]:
    return list(ks.load_keystore(conf, None if password is None else Secret(password)).names())


def value(conf: Path, name: str, password: str | None = None) -> bytes | None:
    return ks.load_keystore(conf, None if password is None else Secret(password)).get_file(name)


def test_group_is_named_keystore_with_es_commands() -> None:
    assert keystore_cli.name == "keystore"
    assert set(keystore_cli.commands) == {
        "create",
        "add",
        "add-file",
        "remove",
        "list",
        "show",
        "passwd",
        "has-passwd",
        "upgrade",
    }


# --- create -----------------------------------------------------------------------------------------


def test_create(conf: Path) -> None:
    result = run(conf, "create")
    assert result.exit_code == 0
    assert result.stdout == f"Created isthmus keystore in {conf / 'isthmus.keystore'}\n"
    assert names(conf) == ["keystore.seed"]
    assert stat.S_IMODE((conf / "isthmus.keystore").stat().st_mode) == 0o600


def test_create_silent(conf: Path) -> None:
    result = run(conf, "create", "--silent")
    assert result.exit_code == 0 and result.stdout == ""


@pytest.mark.parametrize(("answer", "replaced"), [("n\n", False), ("y\n", True), ("", False)])
def test_create_over_existing_asks(conf: Path, answer: str, replaced: bool) -> None:
    created(conf)
    before = value(conf, "keystore.seed")
    result = run(conf, "create", input=answer)
    assert result.exit_code == 0
    assert "An isthmus keystore already exists. Overwrite? [y/N]" in result.stderr
    if replaced:
        assert value(conf, "keystore.seed") != before
    else:
        assert result.stdout == "Exiting without creating keystore.\n"
        assert value(conf, "keystore.seed") == before


def test_create_repeats_a_question_it_did_not_understand(conf: Path) -> None:
    created(conf)
    result = run(conf, "create", input="maybe\ny\n")
    assert "Did not understand answer 'maybe'" in result.stderr
    assert result.stdout.startswith("Created isthmus keystore")


def test_create_with_password(conf: Path) -> None:
    result = run(conf, "create", "-p", input="pw\npw\n")
    assert result.exit_code == 0
    assert "Enter new password for the isthmus keystore (empty for no password): " in result.stderr
    assert "Enter same password again: " in result.stderr
    assert ks.read_keystore_header(conf).has_password
    assert names(conf, "pw") == ["keystore.seed"]


def test_create_with_empty_password_is_unprotected(conf: Path) -> None:
    assert run(conf, "create", "-p", input="\n\n").exit_code == 0
    assert not ks.read_keystore_header(conf).has_password


def test_create_password_mismatch(conf: Path) -> None:
    result = run(conf, "create", "-p", input="one-secret\nother-secret\n")
    assert result.exit_code == 65
    assert result.stderr.endswith("ERROR: Passwords are not equal, exiting.\n")
    assert "one-secret" not in result.output and "other-secret" not in result.output
    assert not (conf / "isthmus.keystore").exists()


# --- has-passwd --------------------------------------------------------------------------------------


def test_has_passwd(conf: Path) -> None:
    result = run(conf, "has-passwd")
    assert (result.exit_code, result.stderr) == (1, "ERROR: Isthmus keystore not found\n")
    created(conf)
    result = run(conf, "has-passwd")
    assert (result.exit_code, result.stderr) == (1, "ERROR: Keystore is not password-protected\n")
    assert run(conf, "has-passwd", "--silent").output == ""
    ks.create_keystore(conf, Secret("pw"), iterations=FAST)
    result = run(conf, "has-passwd")
    assert (result.exit_code, result.stdout) == (0, "Keystore is password-protected\n")
    assert run(conf, "has-passwd", "-s").output == ""


# --- add ---------------------------------------------------------------------------------------------


def test_add_prompts_for_each_value(conf: Path) -> None:
    created(conf)
    result = run(conf, "add", "a.one", "b.two", input="first value\nsecond\n")
    assert result.exit_code == 0, result.output
    assert "Enter value for a.one: " in result.stderr
    assert "Enter value for b.two: " in result.stderr
    assert result.stdout == ""
    assert value(conf, "a.one") == b"first value"
    assert value(conf, "b.two") == b"second"
    assert "first value" not in result.output


def test_add_from_stdin_one_line_per_setting(conf: Path) -> None:
    created(conf)
    result = run(conf, "add", "-x", "a.one", "b.two", input="v1\r\nv2 with spaces \n")
    assert result.exit_code == 0
    assert result.output == ""  # no prompts with --stdin
    assert value(conf, "a.one") == b"v1"
    assert value(conf, "b.two") == b"v2 with spaces "
    assert run(conf, "add", "--stdin", "c.three", input="ünïcode\n").exit_code == 0
    assert value(conf, "c.three") == "ünïcode".encode()


def test_add_empty_value(conf: Path) -> None:
    created(conf)
    assert run(conf, "add", "-x", "a.b", input="\n").exit_code == 0
    assert value(conf, "a.b") == b""


def test_add_stdin_runs_dry_writes_nothing(conf: Path) -> None:
    created(conf)
    before = (conf / "isthmus.keystore").read_bytes()
    result = run(conf, "add", "-x", "a.one", "b.two", input="only-one\n")
    assert result.exit_code == 65
    assert result.stderr == (
        "ERROR: unable to read from standard input; is standard input open and a tty attached?\n"
    )
    assert (conf / "isthmus.keystore").read_bytes() == before


def test_add_existing_asks_before_overwriting(conf: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="old\n")
    result = run(conf, "add", "a.b", input="n\n")
    assert result.exit_code == 0
    assert "Setting a.b already exists. Overwrite? [y/N]" in result.stderr
    assert result.stdout == "Exiting without modifying keystore.\n"
    assert value(conf, "a.b") == b"old"
    result = run(conf, "add", "a.b", input="y\nnew\n")
    assert result.exit_code == 0
    assert value(conf, "a.b") == b"new"


def test_add_force_overwrites_without_asking(conf: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="old\n")
    result = run(conf, "add", "-f", "-x", "a.b", input="new\n")
    assert result.exit_code == 0 and result.output == ""
    assert value(conf, "a.b") == b"new"
    assert run(conf, "add", "--force", "-x", "a.b", input="newer\n").exit_code == 0
    assert value(conf, "a.b") == b"newer"


@pytest.mark.parametrize(("answer", "created_it"), [("n\n", False), ("y\nv\n", True)])
def test_add_to_missing_keystore_asks_to_create(conf: Path, answer: str, created_it: bool) -> None:
    result = run(conf, "add", "a.b", input=answer)
    assert result.exit_code == 0
    assert "The isthmus keystore does not exist. Do you want to create it? [y/N]" in result.stderr
    if created_it:
        assert names(conf) == ["a.b", "keystore.seed"]
    else:
        assert result.stdout == "Exiting without creating keystore.\n"
        assert not (conf / "isthmus.keystore").exists()


def test_add_force_creates_missing_keystore(conf: Path) -> None:
    result = run(conf, "add", "-f", "-x", "a.b", input="v\n")
    assert result.exit_code == 0 and result.output == ""
    assert names(conf) == ["a.b", "keystore.seed"]
    assert not ks.read_keystore_header(conf).has_password


def test_add_without_names(conf: Path) -> None:
    result = run(conf, "add")
    assert (result.exit_code, result.stderr) == (64, "ERROR: the setting names can not be empty\n")


@pytest.mark.parametrize("name", ["foo@bar", "with space", "ünï"])
def test_add_invalid_name(conf: Path, name: str) -> None:
    created(conf)
    before = (conf / "isthmus.keystore").read_bytes()
    result = run(conf, "add", "-x", "ok.name", name, input="v\nw\n")
    assert result.exit_code == 65
    assert result.stderr == NAME_ERROR.format(name)
    assert (conf / "isthmus.keystore").read_bytes() == before


def test_add_to_protected_keystore_prompts_for_password(conf: Path) -> None:
    created(conf, "pw")
    result = run(conf, "add", "-x", "a.b", input="pw\nvalue\n")
    assert result.exit_code == 0
    assert "Enter password for the isthmus keystore : " in result.stderr
    assert value(conf, "a.b", "pw") == b"value"
    assert ks.read_keystore_header(conf).has_password  # the password is kept


def test_add_with_wrong_password(conf: Path) -> None:
    created(conf, "pw")
    before = (conf / "isthmus.keystore").read_bytes()
    result = run(conf, "add", "-x", "a.b", input="wrong\nvalue\n")
    assert result.exit_code == 65
    assert result.stderr.endswith("ERROR: Provided keystore password was incorrect\n")
    assert (conf / "isthmus.keystore").read_bytes() == before


def test_password_from_passphrase_file(conf: Path, tmp_path: Path) -> None:
    created(conf, "file-pw")
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text("file-pw\n")
    env = {"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(pw_file)}
    result = run(conf, "add", "-x", "a.b", input="value\n", env=env)
    assert result.exit_code == 0 and result.output == ""
    result = run(conf, "list", env=env)
    assert result.stdout == "a.b\nkeystore.seed\n"
    pw_file.write_text("wrong\n")
    result = run(conf, "list", env=env)
    assert (result.exit_code, result.stderr) == (
        65,
        "ERROR: Provided keystore password was incorrect\n",
    )


def test_passphrase_file_missing(conf: Path, tmp_path: Path) -> None:
    created(conf, "pw")
    env = {"ISTHMUS_KEYSTORE_PASSPHRASE_FILE": str(tmp_path / "missing")}
    result = run(conf, "list", env=env)
    assert result.exit_code == 65
    assert "cannot read the keystore passphrase file" in result.stderr


# --- add-file ----------------------------------------------------------------------------------------


def test_add_file_pairs(conf: Path, tmp_path: Path) -> None:
    created(conf)
    one, two = tmp_path / "one.bin", tmp_path / "two.json"
    one.write_bytes(b"\x00\xff\x10binary")
    two.write_text('{"k": 1}')
    result = run(conf, "add-file", "a.one", str(one), "b.two", str(two))
    assert result.exit_code == 0 and result.output == ""
    assert value(conf, "a.one") == b"\x00\xff\x10binary"
    assert value(conf, "b.two") == b'{"k": 1}'


def test_add_file_usage_errors(conf: Path, tmp_path: Path) -> None:
    created(conf)
    result = run(conf, "add-file")
    assert (result.exit_code, result.stderr) == (64, "ERROR: Missing setting name\n")
    result = run(conf, "add-file", "a.b")
    assert (result.exit_code, result.stderr) == (
        64,
        "ERROR: settings and filenames must come in pairs\n",
    )
    missing = tmp_path / "nope.txt"
    result = run(conf, "add-file", "a.b", str(missing))
    assert (result.exit_code, result.stderr) == (74, f"ERROR: File [{missing}] does not exist\n")
    some = tmp_path / "f"
    some.write_text("x")
    result = run(conf, "add-file", "bad name", str(some))
    assert (result.exit_code, result.stderr) == (65, NAME_ERROR.format("bad name"))


def test_add_file_existing_asks(conf: Path, tmp_path: Path) -> None:
    created(conf)
    f = tmp_path / "f"
    f.write_text("one")
    run(conf, "add-file", "a.b", str(f))
    f.write_text("two")
    result = run(conf, "add-file", "a.b", str(f), input="n\n")
    assert result.stdout == "Exiting without modifying keystore.\n"
    assert value(conf, "a.b") == b"one"
    assert run(conf, "add-file", "-f", "a.b", str(f)).exit_code == 0
    assert value(conf, "a.b") == b"two"


def test_add_file_force_creates_missing_keystore(conf: Path, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert run(conf, "add-file", "--force", "a.b", str(f)).exit_code == 0
    assert names(conf) == ["a.b", "keystore.seed"]


# --- remove, list, show ------------------------------------------------------------------------------


def test_remove(conf: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", "c.d", "e.f", input="1\n2\n3\n")
    result = run(conf, "remove", "a.b", "e.f")
    assert result.exit_code == 0 and result.output == ""
    assert names(conf) == ["c.d", "keystore.seed"]


def test_remove_missing_setting_removes_nothing(conf: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="1\n")
    result = run(conf, "remove", "a.b", "nope")
    assert (result.exit_code, result.stderr) == (
        78,
        "ERROR: Setting [nope] does not exist in the keystore.\n",
    )
    assert names(conf) == ["a.b", "keystore.seed"]


def test_remove_usage(conf: Path) -> None:
    created(conf)
    result = run(conf, "remove")
    assert (result.exit_code, result.stderr) == (
        64,
        "ERROR: Must supply at least one setting to remove\n",
    )


@pytest.mark.parametrize(
    "args", [("list",), ("remove", "a.b"), ("show", "a.b"), ("passwd",), ("upgrade",)]
)
def test_commands_needing_a_keystore(conf: Path, args: tuple[str, ...]) -> None:
    result = run(conf, *args)
    assert result.exit_code == 65
    assert result.stderr == NOT_FOUND.format(conf / "isthmus.keystore")
    assert not (conf / "isthmus.keystore").exists()


def test_list_is_sorted(conf: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "z.last", "a.first", "m.mid", input="1\n2\n3\n")
    result = run(conf, "list")
    assert result.stdout == "a.first\nkeystore.seed\nm.mid\nz.last\n"


def test_show_string_and_file_values(conf: Path, tmp_path: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="the value\n")
    f = tmp_path / "bin"
    f.write_bytes(b"\x00\x01\xfe\xff")
    run(conf, "add-file", "c.d", str(f))
    result = run(conf, "show", "a.b")
    assert result.exit_code == 0
    assert result.stdout_bytes == b"the value"  # redirected output: the exact bytes
    result = run(conf, "show", "c.d")
    assert result.stdout_bytes == b"\x00\x01\xfe\xff"


def test_show_on_a_terminal(conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="the value\n")
    f = tmp_path / "bin"
    f.write_bytes(b"\x00\x01\xfe\xff")
    run(conf, "add-file", "c.d", str(f))
    monkeypatch.setattr(
        click.testing._NamedTextIOWrapper, "isatty", lambda self: self.name == "<stdout>"
    )
    result = run(conf, "show", "a.b")
    assert (result.exit_code, result.stdout) == (0, "the value\n")
    result = run(conf, "show", "c.d")
    assert result.exit_code == 74
    assert result.stderr == (
        "The value for the setting [c.d] is not a string and cannot be printed to the console\n"
        "ERROR: Please redirect binary output to a file instead\n"
    )


def test_show_to_output_file(conf: Path, tmp_path: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="the value\n")
    out = tmp_path / "out.txt"
    result = run(conf, "show", "-o", str(out), "a.b")
    assert result.exit_code == 0 and result.output == ""
    assert out.read_bytes() == b"the value"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_show_errors(conf: Path) -> None:
    created(conf)
    result = run(conf, "show", "nope")
    assert (result.exit_code, result.stderr) == (
        78,
        "ERROR: Setting [nope] does not exist in the keystore.\n",
    )
    for args in (("show",), ("show", "a", "b")):
        result = run(conf, *args)
        assert (result.exit_code, result.stderr) == (
            64,
            "ERROR: Must provide a single setting name to show\n",
        )


# --- passwd, upgrade ---------------------------------------------------------------------------------


def test_passwd_sets_changes_and_removes_the_password(conf: Path) -> None:
    created(conf)
    run(conf, "add", "-x", "a.b", input="v\n")
    result = run(conf, "passwd", input="first\nfirst\n")
    assert result.exit_code == 0
    assert result.stdout == "Isthmus keystore password changed successfully.\n"
    assert value(conf, "a.b", "first") == b"v"
    result = run(conf, "passwd", input="first\nsecond\nsecond\n")
    assert result.exit_code == 0
    assert value(conf, "a.b", "second") == b"v"
    result = run(conf, "list", input="first\n")
    assert result.exit_code == 65
    assert result.stderr.endswith("ERROR: Provided keystore password was incorrect\n")
    assert run(conf, "passwd", input="second\n\n\n").exit_code == 0
    assert not ks.read_keystore_header(conf).has_password
    assert value(conf, "a.b") == b"v"


def test_passwd_mismatch_changes_nothing(conf: Path) -> None:
    created(conf, "pw")
    before = (conf / "isthmus.keystore").read_bytes()
    result = run(conf, "passwd", input="pw\nnew1\nnew2\n")
    assert result.exit_code == 65
    assert result.stderr.endswith("ERROR: Passwords are not equal, exiting.\n")
    assert (conf / "isthmus.keystore").read_bytes() == before


def test_upgrade_adds_missing_seed_and_strengthens_kdf(
    conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "save_keystore", ks.save_keystore)  # the real KDF for this one
    conf.mkdir()
    ks.save_keystore(
        conf, KeystoreContents().with_string("a.b", "v"), Secret("pw"), iterations=FAST
    )
    result = run(conf, "upgrade", input="pw\n")
    assert result.exit_code == 0 and result.stdout == ""
    upgraded = ks.load_keystore(conf, Secret("pw"))
    assert upgraded.names() == ("a.b", "keystore.seed")
    assert upgraded.kdf_iterations == 210_000
    before = (conf / "isthmus.keystore").read_bytes()
    assert run(conf, "upgrade", input="pw\n").exit_code == 0
    assert (conf / "isthmus.keystore").read_bytes() == before  # already current: untouched


# --- damaged files, config dir -----------------------------------------------------------------------


@pytest.mark.parametrize("pos", [0, 5, 8, 10, 11, 40, 85, 95, -17, -1])
@pytest.mark.parametrize(
    "args", [("list",), ("show", "keystore.seed"), ("add", "-x", "a.b"), ("remove", "x.y")]
)
def test_damaged_keystore_gives_es_error_not_traceback(
    conf: Path, pos: int, args: tuple[str, ...]
) -> None:
    created(conf)
    path = conf / "isthmus.keystore"
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x20
    path.write_bytes(bytes(data))
    result = run(conf, *args, input="v\n")
    assert result.exit_code == 65
    assert result.stderr == "ERROR: Keystore has been corrupted or tampered with\n"
    assert path.read_bytes() == bytes(data)


def test_truncated_keystore(conf: Path) -> None:
    created(conf)
    path = conf / "isthmus.keystore"
    path.write_bytes(path.read_bytes()[:50])
    for args in (("list",), ("has-passwd",), ("passwd",), ("upgrade",)):
        result = run(conf, *args)
        assert result.exit_code == 65, args
        assert result.stderr == "ERROR: Keystore has been corrupted or tampered with\n"


def test_config_dir_from_env(tmp_path: Path) -> None:
    conf = tmp_path / "from-env"
    result = run(None, "create", env={"ISTHMUS_PATH_CONF": str(conf)})
    assert result.exit_code == 0
    assert (conf / "isthmus.keystore").exists()


def test_config_dir_defaults_to_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(None, "list")
    assert result.stderr == NOT_FOUND.format(tmp_path / "config" / "isthmus.keystore")
    assert run(None, "create").exit_code == 0
    assert (tmp_path / "config" / "isthmus.keystore").exists()


def test_no_secret_in_any_output_but_show(conf: Path) -> None:
    secret = "TOP-SECRET-VALUE-42"
    outputs = [
        run(conf, "create", "-p", input="kspw\nkspw\n"),
        run(conf, "add", "a.b", input=f"kspw\n{secret}\n"),
        run(conf, "list", input="kspw\n"),
        run(conf, "add", "a.b", input=f"kspw\ny\n{secret}\n"),
        run(conf, "remove", "nope", input="kspw\n"),
        run(conf, "passwd", input="kspw\nnewpw\nnewpw\n"),
        run(conf, "has-passwd"),
        run(conf, "list", input="kspw\n"),  # the old password: error output
    ]
    for result in outputs:
        assert secret not in result.output
        assert "kspw" not in result.output and "newpw" not in result.output
    assert run(conf, "show", "a.b", input="newpw\n").stdout.endswith(secret)


def test_add_to_a_keystore_without_entries_keeps_it_so(conf: Path) -> None:
    # An empty keystore is falsy as a collection; it must still be the one written back.
    conf.mkdir()
    ks.save_keystore(conf, KeystoreContents(), None, iterations=FAST)
    assert run(conf, "add", "-x", "a.b", input="v\n").exit_code == 0
    assert names(conf) == ["a.b"]
