"""``isthmus lab list`` names every scenario ``lab up`` knows, in either mode."""

from __future__ import annotations

from click.testing import CliRunner

from isthmus.cli.lab import lab_cli
from isthmus.lab.scenarios import lab_scenarios


def test_the_list_has_every_mode_s_scenarios_with_their_modes() -> None:
    done = CliRunner().invoke(lab_cli, ["list"], env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    rows = {line.split("│")[1].strip(): line for line in done.output.splitlines() if "│" in line}
    for mode in ("proxy", "sniff"):
        for name in lab_scenarios(mode):
            assert name in rows and mode in rows[name].split("│")[3], name
    # A sniff-only scenario (nothing is advertised in proxy mode) says so.
    assert rows["sniff-unreachable-publish-address"].split("│")[3].strip() == "sniff"
    assert rows["blackholed"].split("│")[3].strip() == "proxy"
