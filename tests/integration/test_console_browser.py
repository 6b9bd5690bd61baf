"""The web console in headless Chromium against the lab's real pair (one pair for the module).

What a user sees: the remote clusters view shows the alias's live status and updates by itself
(its "as of" moves); an alias pointed at a port nobody listens on turns red at the TCP stage and
Diagnose stops its ladder there; the wizard refuses an address that answers HTTP and accepts the
remote cluster server, and saving it brings the alias back; the fix Diagnose prints for a user
without ``remote_indices``, applied as printed, makes "Verify again" pass; from no key and no
credential, the wizard creates the key on the remote, stores it in the node's keystore, reloads
and saves (and in a local cluster of two nodes says that only its node's keystore was written);
and no password or key reaches the page or any response it received.

Screenshots for the docs: ``ISTHMUS_CONSOLE_SCREENSHOTS=docs/console`` writes one per view.
"""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.lab.apply_fix import apply_fix
from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    USER,
    USER_PASSWORD,
    USER_ROLE,
    Lab,
    LabSpec,
    _call,
    _unused_port,
)
from tests.integration.console_browser import Browser, browser_or_fail

CONSOLE = "/_isthmus/console/?poll=1"
SHOTS = os.environ.get("ISTHMUS_CONSOLE_SCREENSHOTS")
# Nodes other than the module's pair whose pages the browser opened (the secret test allows them).
OTHER_ORIGINS: set[str] = set()


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, record_secret: Callable[[str], None]
) -> Iterator[Lab]:
    browser_or_fail()  # before starting two nodes for nothing
    pair = Lab(tmp_path_factory.mktemp("console"), LabSpec())
    with pair:
        pair.start()
        for secret in (ELASTIC_PASSWORD, USER_PASSWORD, pair.credential):
            if secret:
                record_secret(secret)
        assert pair.wait_connected()["connected"]
        yield pair


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def console_url(lab: Lab) -> str:
    assert lab.local is not None
    return lab.local.url + CONSOLE


def shot(browser: Browser, name: str) -> None:
    if SHOTS:
        browser.screenshot(Path(SHOTS) / f"{name}.png")


def row_status(browser: Browser) -> str | None:
    return browser.attr(f'#remotes tr[data-alias="{ALIAS}"]', "data-status")


def ensure_registered(lab: Lab) -> None:
    lab.register()
    assert lab.wait_connected()["connected"]


def test_remote_clusters_view_shows_live_health(lab: Lab, browser: Browser) -> None:
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(console_url(lab))
    browser.wait(lambda: row_status(browser) == "green", why="the alias's row, green")
    row = f'#remotes tr[data-alias="{ALIAS}"]'
    assert browser.text(f"{row} .connections") == "18 / 18 sockets"
    assert "proxy" in browser.text(row) and "API key" in browser.text(row)
    assert browser.text(f"{row} .last-error") == "none"
    assert "ms" in browser.text(row)  # the handshake latency
    first = browser.attr("#remotes-asof", "datetime")
    assert first is not None
    # Live: the page polls by itself and says when its figures are from.
    browser.wait(lambda: browser.attr("#remotes-asof", "datetime") != first, why="a new reading")
    assert browser.js("return document.querySelectorAll('svg.timeline rect.connected').length") >= 1
    shot(browser, "remote-clusters")
    # Readable in dark mode: the page follows prefers-color-scheme.
    light = browser.js("return getComputedStyle(document.body).backgroundColor")
    browser.color_scheme("dark")
    assert browser.js("return getComputedStyle(document.body).backgroundColor") != light
    shot(browser, "remote-clusters-dark")
    browser.color_scheme("light")


def test_the_console_is_usable_with_the_keyboard(lab: Lab, browser: Browser) -> None:
    """Tab order: the skip link, then the views; Enter on a view's link opens it."""
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(console_url(lab))
    browser.wait(lambda: row_status(browser), why="the list")
    browser.keys("TAB")
    assert browser.js("return document.activeElement.textContent") == "Skip to content"
    browser.keys("TAB", "TAB")
    assert browser.js("return document.activeElement.textContent") == "Diagnose"
    browser.keys("ENTER")
    browser.wait(lambda: browser.js("return location.hash") == "#diagnose", why="Diagnose open")
    assert browser.js("return document.getElementById('view-diagnose').hidden") is False
    browser.keys("SHIFT_TAB", "ENTER")  # back to the remote clusters
    browser.wait(lambda: browser.js("return location.hash") == "#remotes", why="the list again")


def test_wrong_port_is_red_at_tcp_and_the_wizard_fixes_it(lab: Lab, browser: Browser) -> None:
    ensure_registered(lab)
    right = lab.target_address()
    assert lab.remote is not None
    http_address = lab.remote.url.split("://", 1)[1]
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(console_url(lab))
    browser.wait(lambda: row_status(browser) == "green", why="green first")
    wrong = f"127.0.0.1:{_unused_port()}"
    settings = {f"cluster.remote.{ALIAS}.proxy_address": wrong}
    _call(lab.local_url, "PUT", "/_cluster/settings", {"persistent": settings})
    browser.wait(lambda: row_status(browser) == "red", why="the row turning red by itself")
    error = f'#remotes tr[data-alias="{ALIAS}"] .last-error'
    assert browser.attr(error, "data-stage") == "tcp"
    assert "opening a TCP connection" in browser.text(error)
    assert wrong in browser.text(error)
    shot(browser, "remote-clusters-red")

    # Diagnose stops the ladder at the TCP stage, with the evidence.
    browser.click(f'#remotes tr[data-alias="{ALIAS}"] a[href^="#diagnose"]')
    browser.wait(lambda: browser.attr("#verdict", "data-failed-stage"), why="a verdict")
    assert browser.attr("#verdict", "data-failed-stage") == "tcp"
    assert browser.attr('li[data-stage="configuration"]', "data-outcome") == "passed"
    assert browser.attr('li[data-stage="tcp"]', "data-outcome") == "failed"
    assert browser.attr('li[data-stage="handshake"]', "data-outcome") == "not_reached"
    # The node's own configuration and logs are evidence, as the probe from the node is.
    assert "local_rest, local_files, probe" in browser.text("#verdict")
    shot(browser, "diagnose-wrong-port")

    # The wizard: the remote's HTTP port answers with the wrong protocol and is refused ...
    browser.open(f"{console_url(lab)}#wizard/{ALIAS}")
    browser.wait(lambda: browser.js("return document.getElementById('wizard-alias').value"))
    browser.fill("#wizard-addresses", http_address)
    browser.fill("#wizard-credential", str(lab.credential))  # tried, never stored or shown
    browser.click("#wizard-check")
    browser.wait(lambda: browser.attr("#probe", "data-ok"), why="the probe's answer")
    assert browser.attr("#probe", "data-ok") == "false"
    assert browser.attr(".probed", "data-failed-stage") == "protocol"
    assert "HTTP" in browser.text(".probed")
    assert browser.js("return document.getElementById('wizard-save').disabled") is True
    shot(browser, "wizard-refused")
    before = _call(lab.local_url, "GET", "/_cluster/settings")
    assert before["persistent"]["cluster"]["remote"][ALIAS]["proxy_address"] == wrong

    # ... the remote cluster server is accepted (the key authenticates), and saving it heals.
    browser.fill("#wizard-addresses", right)
    browser.click("#wizard-check")
    browser.wait(lambda: browser.attr("#probe", "data-ok") == "true", why="an accepted address")
    assert browser.attr('.probed li[data-stage="authentication"]', "data-outcome") == "passed"
    shot(browser, "wizard-accepted")
    # The API-key model's last step from the page: reload the keystore on every node.
    browser.click("#wizard-reload")
    browser.wait(lambda: "reloaded on 1 of 1 nodes" in browser.text("#wizard-reloaded"))
    browser.click("#wizard-save")
    browser.wait(lambda: browser.js("return location.hash") == "#remotes", why="back to the list")
    browser.wait(lambda: row_status(browser) == "green", timeout=15, why="green again")
    after = _call(lab.local_url, "GET", "/_cluster/settings")
    assert after["persistent"]["cluster"]["remote"][ALIAS]["proxy_address"] == right


def test_the_fix_diagnose_shows_resolves_the_scenario(lab: Lab, browser: Browser) -> None:
    """The guide's "no remote_indices" scenario: the user's role lacks them. Diagnose, as that
    user, stops at authorization and prints the fix; run as printed, "Verify again" passes."""
    ensure_registered(lab)
    _call(lab.local_url, "PUT", f"/_security/role/{USER_ROLE}", {"cluster": ["monitor"]})
    browser.sign_in(USER, USER_PASSWORD)
    browser.open(f"{console_url(lab)}#diagnose/{ALIAS}")
    browser.wait(lambda: browser.attr("#verdict", "data-failed-stage"), why="a verdict")
    assert browser.attr("#verdict", "data-failed-stage") == "authorization"
    finding = browser.js(
        """const f = document.querySelector('li[data-stage="authorization"] .finding');
        return {cause: f.dataset.cause, side: f.dataset.side,
                fix: {side: f.querySelector('.fix').dataset.side, summary: '',
                      steps: [...f.querySelectorAll('code.fix-step')].map(c => c.textContent)}};"""
    )
    assert finding["cause"] == "user_lacks_remote_indices"
    assert finding["fix"]["steps"], finding
    shot(browser, "diagnose-fix")
    apply_fix(lab, finding)
    browser.click("#verify-again")
    browser.wait(
        lambda: (
            browser.attr("#verdict", "data-status") == "green"
            and not browser.js(
                "return document.getElementById('diagnose-result').hasAttribute('aria-busy')"
            )
        ),
        why="a green verdict after the fix",
    )
    assert (
        browser.js(
            "return document.querySelectorAll('#verdict li[data-outcome=\"passed\"]').length"
        )
        == 9
    )
    shot(browser, "diagnose-green")


def test_effective_privileges_say_which_side_blocks(lab: Lab, browser: Browser) -> None:
    """The user's role grants [logs] and [secret-*] on the alias; the lab's key lets it search
    [logs] and [logs-*] only: [logs] is allowed, [secret-1] is blocked by the key (the remote
    side), [other] by the role. Checked as the administrator for the user (run-as)."""
    ensure_registered(lab)
    names = {"clusters": [ALIAS], "names": ["logs", "secret-*"], "privileges": ["read"]}
    role = {"cluster": ["monitor"], "remote_indices": [names]}
    _call(lab.local_url, "PUT", f"/_security/role/{USER_ROLE}", role)
    _call(lab.remote_url, "PUT", "/secret-1", {"settings": {"number_of_shards": 1}})
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(f"{console_url(lab)}#privileges")
    browser.wait(lambda: browser.js("return document.getElementById('privileges-alias').value"))
    browser.fill("#privileges-user", USER)
    search = '#privileges-actions tr[data-action="search"]'
    seen = {}
    for index in ("logs", "secret-1", "other"):
        browser.js("document.getElementById('privileges-result').replaceChildren()")
        browser.fill("#privileges-index", index)
        browser.click("#privileges-check")
        browser.wait(lambda: browser.attr(search, "data-blocked-by") is not None, why=index)
        assert browser.attr("#privileges", "data-user") == USER
        seen[index] = browser.attr(search, "data-blocked-by")
        if index == "secret-1":
            assert lab.key is not None
            fix = browser.text('#privileges-result .fix[data-side="remote"]')
            assert f"cross_cluster/api_key/{lab.key['id']}" in fix
            shot(browser, "privileges")
    assert seen == {"logs": "", "secret-1": "remote", "other": "role"}


def test_followers_view_shows_lag_and_pauses_and_resumes(
    lab: Lab, browser: Browser, record_secret: Callable[[str], None]
) -> None:
    """A follower of the pair's remote (a key that may replicate): the view lists it active
    with its leader and lag, and its Pause and Resume buttons do what they say."""
    ensure_registered(lab)
    access = {"search": [{"names": ["*"]}], "replication": [{"names": ["leader-*"]}]}
    key = _call(
        lab.remote_url,
        "POST",
        "/_security/cross_cluster/api_key",
        {"name": "ccr", "access": access},
    )
    record_secret(str(key["encoded"]))
    lab.set_credential(str(key["encoded"]))
    _call(lab.remote_url, "PUT", "/leader-1", {"settings": {"number_of_shards": 1}})
    _call(lab.remote_url, "POST", "/leader-1/_doc?refresh=true", {"n": 1})
    follow = {"remote_cluster": ALIAS, "leader_index": "leader-1"}
    _call(lab.local_url, "PUT", "/follower-1/_ccr/follow?wait_for_active_shards=1", follow)
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(f"{console_url(lab)}#followers")
    row = '#followers tr[data-index="follower-1"]'
    browser.wait(lambda: browser.attr(row, "data-status") == "active", why="the follower")
    assert f"{ALIAS}:leader-1" in browser.text(row)
    browser.wait(lambda: browser.text(f"{row} .lag").startswith("0"), why="caught up")
    assert browser.text(f"{row} .behind") == "caught up"
    shot(browser, "followers")
    browser.click(f"{row} button")
    browser.wait(lambda: browser.attr(row, "data-status") == "paused", why="paused")
    info = _call(lab.local_url, "GET", "/follower-1/_ccr/info")
    assert info["follower_indices"][0]["status"] == "paused"
    browser.click(f"{row} button")
    browser.wait(lambda: browser.attr(row, "data-status") == "active", why="resumed")


def test_the_wizard_creates_the_key_stores_it_reloads_and_saves(
    lab: Lab, browser: Browser, record_secret: Callable[[str], None]
) -> None:
    """The API-key model from nothing: no key on the remote, no credential in the local
    keystore, no alias. The wizard checks the address (the key untested), then the node creates
    a key on the remote with the access typed in the page (a wrong password first: the remote's
    refusal in its own words), stores it in its keystore without showing it, reloads, checks
    again with the stored key, and saving turns the alias green; the row then knows the key's
    expiry (the console created it)."""
    assert lab.remote is not None and lab.local is not None
    prefix = f"cluster.remote.{ALIAS}"
    unset = {f"{prefix}.{k}": None for k in ("mode", "proxy_address", "skip_unavailable")}
    _call(lab.local_url, "PUT", "/_cluster/settings", {"persistent": unset})
    lab.set_credential(None)
    keys = _call(lab.remote_url, "GET", "/_security/api_key")["api_keys"]
    ids = [k["id"] for k in keys if not k.get("invalidated")]
    _call(lab.remote_url, "DELETE", "/_security/api_key", {"ids": ids})
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(f"{console_url(lab)}#wizard")
    browser.fill("#wizard-alias", ALIAS)
    browser.fill("#wizard-addresses", lab.remote_cluster_address())
    browser.click("#wizard-check")
    browser.wait(lambda: browser.attr("#probe", "data-ok") == "true", why="the address")
    assert browser.js("return document.getElementById('wizard-key').hidden") is False
    browser.fill("#key-url", lab.remote.url)
    browser.fill("#key-user", "elastic")
    browser.fill("#key-password", "not-" + ELASTIC_PASSWORD)
    browser.fill("#key-search", "logs, logs-*")
    browser.fill("#key-expiration", "30d")
    browser.click("#wizard-key-create")
    refused = 'li[data-step="create_key"][data-ok="false"]'
    browser.wait(lambda: browser.text(refused), why="the remote's refusal")
    assert "security_exception" in browser.text(refused), browser.text(refused)
    assert "unable to authenticate user [elastic]" in browser.text(refused)
    browser.fill("#key-password", ELASTIC_PASSWORD)
    browser.click("#wizard-key-create")
    done = 'li[data-step="probe"]'
    browser.wait(lambda: browser.attr(done, "data-ok") == "true", timeout=20, why="checked again")
    for step in ("create_key", "store", "reload"):
        assert browser.attr(f'li[data-step="{step}"]', "data-ok") == "true", step
    assert browser.attr('.probed li[data-stage="authentication"]', "data-outcome") == "passed"
    shot(browser, "wizard-key-created")
    # The key went to the keystore only: the test reads it there (for the secret scan).
    from isthmus.security.keystore import load_keystore

    stored = load_keystore(lab.local.config_dir, None).get(f"{prefix}.credentials")
    assert stored is not None
    record_secret(stored.reveal())
    lab.credential = stored.reveal()
    (key,) = [
        k
        for k in _call(lab.remote_url, "GET", "/_security/api_key")["api_keys"]
        if not k.get("invalidated")
    ]
    assert key["name"] == f"{ALIAS}-console" and key["type"] == "cross_cluster"
    assert base64.b64decode(stored.reveal()).decode().startswith(f"{key['id']}:")
    # The audit line: who created which key for which alias (no secret: the scan checks).
    audit = f"user [elastic] created cross-cluster API key [{ALIAS}-console] (id [{key['id']}])"
    assert audit in lab.local.log_file.read_text()
    assert browser.js("return document.getElementById('wizard-save').disabled") is False
    browser.click("#wizard-save")
    cell = f'#remotes tr[data-alias="{ALIAS}"] .credential'
    browser.wait(
        lambda: (
            row_status(browser) == "green" and browser.attr(cell, "data-expiry-known") == "true"
        ),
        timeout=15,
        why="the new alias green, its key's expiry known",
    )
    days = (int(key["expiration"]) / 1000 - time.time()) / 86400
    assert 29.9 < days <= 30 and "key expires" in browser.text(cell)
    # The key's access is what the page asked for: a search through the alias works.
    hits = _call(lab.local_url, "GET", f"/{ALIAS}:logs/_search")["hits"]["total"]["value"]
    assert hits == 3


def test_in_a_cluster_of_two_nodes_only_this_nodes_keystore_is_written(
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
    record_secret: Callable[[str], None],
) -> None:
    """A local cluster of two nodes, neither holding a credential: the wizard on the first
    creates and stores the key, says that only its keystore was written, and prints for the
    other node the command that copies the entry; run as printed (``ssh <host>`` standing for
    the other node's shell: here its config directory), then a reload, the second node
    connects too."""
    from isthmus.lab.multinode import MultiNodeLab, NodesLayout
    from isthmus.security.keystore import load_keystore

    lab = MultiNodeLab(
        tmp_path_factory.mktemp("console-2-nodes"),
        LabSpec(credential=None, sample_index=False),
        NodesLayout(local_nodes=2),
    )
    with lab:
        lab.start()
        first, second = lab.local_nodes
        assert lab.remote is not None and lab.local is first
        OTHER_ORIGINS.add(first.url)
        seen_before = len(browser.seen)
        browser.sign_in("elastic", ELASTIC_PASSWORD)
        browser.open(f"{first.url}/_isthmus/console/?poll=1#wizard")
        browser.fill("#wizard-alias", ALIAS)
        browser.fill("#wizard-addresses", lab.remote_cluster_address())
        browser.click("#wizard-check")
        browser.wait(lambda: browser.attr("#probe", "data-ok") == "true", why="the address")
        browser.fill("#key-url", lab.remote.url)
        browser.fill("#key-user", "elastic")
        browser.fill("#key-password", ELASTIC_PASSWORD)
        browser.click("#wizard-key-create")
        others = 'li[data-step="other-nodes"]'
        browser.wait(lambda: browser.text(others), timeout=20, why="the other nodes' step")
        assert browser.attr('li[data-step="probe"]', "data-ok") == "true"
        assert "Only this node's keystore was written" in browser.text(others)
        (command,) = browser.js(
            "return [...document.querySelectorAll(arguments[0] + ' code')]"
            ".map(c => c.textContent).filter(t => t.startsWith('isthmus'))",
            others,
        )
        name = f"cluster.remote.{ALIAS}.credentials"
        assert command == (
            f"isthmus keystore show {name} | "
            f"ssh <host of local-node-2> isthmus keystore add -f -x {name}"
        )
        stored = load_keystore(first.config_dir, None).get(name)
        assert stored is not None
        record_secret(stored.reveal())
        lab.credential = stored.reveal()
        assert name not in load_keystore(second.config_dir, None).names()
        browser.click("#wizard-save")
        browser.wait(lambda: row_status(browser) == "green", timeout=15, why="node 1 green")
        # The printed command, with each side's shell standing for its node.
        bin_dir = Path(sys.executable).parent
        shell = command.replace(
            "isthmus keystore show", f"ISTHMUS_PATH_CONF={first.config_dir} isthmus keystore show"
        ).replace("ssh <host of local-node-2> ", f"ISTHMUS_PATH_CONF={second.config_dir} ")
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        subprocess.run(shell, shell=True, check=True, env=env, capture_output=True, timeout=60)
        assert load_keystore(second.config_dir, None).get(name) == stored
        # Nothing the page received carried the key or a password (the module's last test
        # reads these responses again for the pair's secrets).
        browser.seen.extend(browser.responses())
        received = browser.seen[seen_before:]
        assert any(u.endswith("/api/remote_key") for u, *_ in received)
        for url, _status, headers, body in received:
            text = body + repr(headers)
            assert stored.reveal() not in text and ELASTIC_PASSWORD not in text, url
        second_url = lab.node_url(second)
        _call(second_url, "POST", "/_nodes/reload_secure_settings", {})
        deadline = time.monotonic() + 15
        while not _call(second_url, "GET", "/_remote/info")[ALIAS]["connected"]:
            assert time.monotonic() < deadline, "node 2 never connected"
            time.sleep(0.1)


def _get(url: str, path: str, auth: tuple[str, str] | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_console_is_behind_authentication_and_authorization(lab: Lab) -> None:
    assert lab.local is not None
    url = lab.local.url
    status, _ = _get(url, "/_isthmus/console/", None)
    assert status == 401
    status, _ = _get(url, "/_isthmus/console/api/remotes", None)
    assert status == 401
    # The wizard's probe opens connections from the node: manage, which the user lacks.
    request = urllib.request.Request(url + "/_isthmus/console/api/probe", data=b"{}", method="POST")
    token = base64.b64encode(f"{USER}:{USER_PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Content-Type", "application/json")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    # Creating a key and writing this node's keystore: manage_security; manage is not enough.
    _call(lab.local_url, "PUT", "/_security/role/console-manage", {"cluster": ["manage"]})
    user = {"password": USER_PASSWORD, "roles": ["console-manage"]}
    _call(lab.local_url, "PUT", "/_security/user/console-admin", user)
    for name in (USER, "console-admin"):
        request = urllib.request.Request(
            url + "/_isthmus/console/api/remote_key", data=b"{}", method="POST"
        )
        token = base64.b64encode(f"{name}:{USER_PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        request.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        body = orjson.loads(refused.value.read())
        assert refused.value.code == 403, (name, body)
        assert "cluster:admin/xpack/security/isthmus/console/remote_key" in body["error"]["reason"]


def _ask(lab: Lab, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    """One request as ``elastic`` over http.client (any Host header); (status, JSON body)."""
    assert lab.local is not None and lab.local.http_address is not None
    conn = http.client.HTTPConnection(lab.local.http_address, timeout=30)
    token = base64.b64encode(f"elastic:{ELASTIC_PASSWORD}".encode()).decode()
    sent = {"Authorization": f"Basic {token}", "Content-Type": "application/json", **headers}
    conn.request(method, path, body, {k.replace("_", "-"): v for k, v in sent.items()})
    response = conn.getresponse()
    return response.status, orjson.loads(response.read() or b"{}")


def test_bad_input_is_an_es_error_never_a_5xx(lab: Lab) -> None:
    ensure_registered(lab)
    status, body = _ask(lab, "POST", "/_isthmus/console/api/diagnose/nope")
    assert (status, body["error"]["type"]) == (404, "no_such_remote_cluster_exception")
    status, body = _ask(lab, "POST", "/_isthmus/console/api/probe", b"{not json")
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    for bad in (b"{not json", b'{"alias": "x"}', b'{"alias": "x", "remote_url": "ftp://h:1"}'):
        status, body = _ask(lab, "POST", "/_isthmus/console/api/remote_key", bad)
        assert (status, body["error"]["type"]) == (400, "illegal_argument_exception"), body
    status, body = _ask(lab, "GET", "/_isthmus/console/static/secrets.txt")
    assert status == 400
    status, body = _ask(lab, "POST", f"/_isthmus/console/api/diagnose/{ALIAS}?since=yesterday")
    assert (status, body["error"]["type"]) == (400, "illegal_argument_exception")
    # A Host header that is no host: the evidence names localhost, the answer is the verdict.
    status, body = _ask(lab, "POST", f"/_isthmus/console/api/diagnose/{ALIAS}", Host="a b/c")
    assert status == 200 and body["status"] == "green", body
    assert body["local"]["url"] == "http://localhost"
    # Effective privileges for a user the caller may not run as: ES's 403, as the guard says.
    conn = http.client.HTTPConnection(lab.local.http_address or "", timeout=30)  # type: ignore[union-attr]
    token = base64.b64encode(f"{USER}:{USER_PASSWORD}".encode()).decode()
    conn.request(
        "GET",
        f"/_isthmus/console/api/privileges/{ALIAS}?username=elastic",
        headers={"Authorization": f"Basic {token}"},
    )
    refused = conn.getresponse()
    reason = orjson.loads(refused.read())["error"]["reason"]
    assert refused.status == 403 and "unauthorized to run as [elastic]" in reason, reason


def test_the_wizards_probe_names_what_answers_at_each_port(lab: Lab) -> None:
    """The wizard's check without the page, in sniff mode: the API-key model refuses the remote's
    HTTP port (the wrong protocol) and its transport port (whose certificate comes from a CA the
    client does not trust, and which asks for a client certificate, as a transport port does),
    and accepts the remote cluster server as a seed."""
    ensure_registered(lab)
    assert lab.remote is not None
    (node,) = _call(lab.remote_url, "GET", "/_nodes")["nodes"].values()
    ports = {
        "transport": str(node["transport_address"]),
        "http": lab.remote.url.split("://", 1)[1],
        "server": lab.remote_cluster_address(),
    }
    answers = {}
    for name, address in ports.items():
        body = {"alias": "checked", "mode": "sniff", "addresses": [address]}
        status, answer = _ask(lab, "POST", "/_isthmus/console/api/probe", orjson.dumps(body))
        assert status == 200, answer
        (checked,) = answer["addresses"]
        answers[name] = (answer["ok"], checked["failed_stage"])
        if name == "transport":  # TLS with another CA: the evidence says what the port is
            evidence = [e["detail"] for st in checked["stages"] for e in st["evidence"]]
            assert any("a transport port does" in e for e in evidence), evidence
    assert answers == {
        "transport": (False, "tls"),
        "http": (False, "protocol"),
        "server": (True, None),
    }
    # Nothing was written: the wizard's check never saves.
    settings = _call(lab.local_url, "GET", "/_cluster/settings")
    assert "checked" not in settings["persistent"].get("cluster", {}).get("remote", {})


def test_no_secret_in_the_page_or_its_traffic(lab: Lab, browser: Browser) -> None:
    """Runs last: every response the browser received in this module, bodies and headers."""
    browser.sign_in("elastic", ELASTIC_PASSWORD)
    browser.open(console_url(lab))
    browser.wait(lambda: row_status(browser) == "green", why="the list")
    seen = [*browser.seen, *browser.responses()]
    assert lab.key is not None
    secrets = {
        str(lab.credential),  # the follower test's key, now in the keystore
        ELASTIC_PASSWORD,
        USER_PASSWORD,
        str(lab.credential),
        str(lab.key["api_key"]),
        "not-" + ELASTIC_PASSWORD,  # the wizard's wrong remote password
        base64.b64encode(f"elastic:{ELASTIC_PASSWORD}".encode()).decode(),
    }
    urls = [u for u, *_ in seen]
    assert any("/api/remotes" in u for u in urls) and any("/api/probe" in u for u in urls)
    assert any("/api/diagnose/" in u for u in urls)
    assert any("/api/remote_key" in u for u in urls)
    bodies = [body for url, _s, _h, body in seen if url.endswith("/api/remotes")]
    assert bodies and all('"as_of"' in b for b in bodies)  # the bodies were read, not skipped
    for url, _status, headers, body in seen:
        text = body + repr(headers)
        leaked = [s[:3] + "…" for s in secrets if s in text]
        assert not leaked, f"{url} carried {leaked}"
    page = browser.js("return document.documentElement.outerHTML")
    assert not [s for s in secrets if s in page]
    # No request left the node: every URL the page loaded is the node's own.
    assert lab.local is not None
    origin = lab.local.url
    allowed = (origin, *OTHER_ORIGINS)
    elsewhere = [u for u in urls if not u.startswith(allowed) and u != "data:,"]  # data:, the
    assert not elsewhere  # browser's own first page
