"""The commands a fix prints run as printed: the Isthmus equivalent in the comment is a real
command line of the keystore tool, and the reload step has no placeholder body."""

from __future__ import annotations

import shlex
from pathlib import Path

from click.testing import CliRunner

from isthmus.cli.keystore import keystore_cli
from isthmus.doctor.commands import RELOAD, certutil_cert, keystore_add


def test_the_isthmus_keystore_line_runs_with_the_config_dir_filled_in(tmp_path: Path) -> None:
    line = keystore_add("cluster.remote.my.credentials", force=True, note="on every local node")
    assert line.startswith("bin/elasticsearch-keystore add -f cluster.remote.my.credentials")
    isthmus = line.split("on Isthmus: ", 1)[1].replace("<config dir>", str(tmp_path))
    argv = shlex.split(isthmus)
    assert argv[:2] == ["isthmus", "keystore"]
    done = CliRunner().invoke(keystore_cli, [*argv[2:], "-x"], input="c2VjcmV0\n")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "isthmus.keystore").exists()


def test_no_placeholder_body_in_the_reload_step() -> None:
    assert RELOAD.split("#")[0].strip() == "POST /_nodes/reload_secure_settings"


def test_certutil_lines_name_both_tools() -> None:
    line = certutil_cert()
    assert line.startswith("bin/elasticsearch-certutil cert") and "isthmus certutil cert" in line
