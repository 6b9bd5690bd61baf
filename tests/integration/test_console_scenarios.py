"""The web console on a few of the troubleshooting guide's lab scenarios (one pair each, one
browser for the module): the remote clusters view shows the alias red with the stage the live
health names, and Diagnose stops its ladder at the stage, with the cause, that the scenario's
doctor verdict declares at the probe level (what the console's doctor has: the local REST
APIs, the node's own configuration and logs, and the probe from the node). For an invalid key
(a new key on the remote, the keystore, the reload) and for an untrusted CA (the remote's CA
copied into the local node's config, added to its remote cluster client CAs, a restart of the
local node), the fix the page prints, run as printed, makes "verify again" green and the alias's
row green."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from isthmus.lab.apply_fix import apply_fix
from isthmus.lab.lifecycle import pin_ports
from isthmus.lab.scenarios import EvidenceLevel, Scenario, scenarios
from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, Lab
from tests.integration.console_browser import Browser, browser_or_fail

# name -> the stage the live health shows for it (the first failing attempt's).
# Scenarios whose fix, applied as printed, the test runs (it then verifies again).
FIXED = frozenset({"invalid-key", "untrusted-ca"})
CASES = {
    "untrusted-ca": "tls",
    "transport-port-different-ca": "tls",
    "invalid-key": "authentication",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    browser_or_fail()
    b = Browser()
    try:
        b.sign_in("elastic", ELASTIC_PASSWORD)
        yield b
    finally:
        b.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_console_shows_the_scenarios_stage(
    name: str,
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
    record_secret: Callable[[str], None],
) -> None:
    scenario: Scenario = scenarios("proxy")[name]
    assert scenario.verdict is not None
    verdict = scenario.verdict.at(EvidenceLevel.PROBE)
    with Lab(tmp_path_factory.mktemp(name), scenario.spec) as lab:
        lab.start()
        if name in FIXED:
            pin_ports(lab)  # a fix's restart comes back on the same ports, as `lab up` makes it
        if lab.credential:
            record_secret(lab.credential)
        assert lab.local is not None
        browser.open(f"{lab.local.url}/_isthmus/console/?poll=1")
        row = f'#remotes tr[data-alias="{ALIAS}"]'
        browser.wait(lambda: browser.attr(row, "data-status") == "red", why=f"{name}: red")
        assert browser.attr(f"{row} .last-error", "data-stage") == CASES[name]
        browser.open(f"{lab.local.url}/_isthmus/console/#diagnose/{ALIAS}")
        browser.wait(lambda: browser.attr("#verdict", "data-failed-stage"), why="a verdict")
        stage = browser.attr("#verdict", "data-failed-stage")
        causes = browser.js(
            "return [...document.querySelectorAll('#verdict li[data-stage=\"' + arguments[0]"
            " + '\"] .finding')].map(f => f.dataset.cause)",
            stage,
        )
        assert (stage, causes[:1]) == (verdict.stage.value, [verdict.cause]), browser.text(
            "#verdict"
        )
        if name in FIXED:  # the fix as the page prints it, run as printed, heals the pair
            finding = browser.js(
                """const f = document.querySelector(
                     '#verdict li[data-stage="' + arguments[0] + '"] .finding');
                return {cause: f.dataset.cause, side: f.dataset.side,
                        fix: {side: f.querySelector('.fix').dataset.side, summary: '',
                              steps: [...f.querySelectorAll('code.fix-step')]
                                     .map(c => c.textContent)}};""",
                stage,
            )
            apply_fix(lab, finding, record_secret)
            browser.click("#verify-again")
            browser.wait(
                lambda: browser.attr("#verdict", "data-status") == "green",
                timeout=20,
                why=f"{name}: green after the fix",
            )
            browser.open(f"{lab.local.url}/_isthmus/console/?poll=1")
            browser.wait(lambda: browser.attr(row, "data-status") == "green", why=f"{name}: row")
