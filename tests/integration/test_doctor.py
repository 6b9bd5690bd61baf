"""``isthmus doctor`` run as a user runs it (a process, ``--json``) against real lab clusters.

One working pair (proxy mode) is built once and broken in turn the ways the guide describes —
and a few it does not: a malformed or unknown key, an index that does not exist, credentials
added but not reloaded — then repaired with the doctor's own first fix and checked green with
``--verify``. The guide's faults that need another build of the pair (certificates, ports,
anonymous access, a disabled server) get their own lab. Every case asserts stage, cause, side and
the first fix at the local-REST level and, where it decides more, with the remote's evidence;
undecided cases assert their candidates and exit code 2. Nothing the doctor prints or bundles
may contain a password or a key.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from isthmus.lab.fault_scenarios import base_spec
from isthmus.lab.faults import on_pair
from isthmus.lab.lifecycle import pin_ports
from isthmus.lab.scenarios import EvidenceLevel, scenarios
from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    USER_ROLE,
    Lab,
    LabSpec,
    _call,
)
from isthmus.lab.verify import wait_for_symptom

from .doctor_levels import expected_at, fix_then_verify, mismatches, run_levels
from .doctor_levels import no_secret as leaked_secrets

GOOD_ROLE = {
    "cluster": ["monitor"],
    "indices": [],
    "remote_indices": [
        {"clusters": [ALIAS], "names": ["*"], "privileges": ["read", "read_cross_cluster"]}
    ],
}


def doctor(
    lab: Lab, *extra: str, remote: bool = False, index: str = INDEX
) -> tuple[int, dict[str, Any], str]:
    """Run the CLI as the lab user; (exit code, JSON report or {}, all output)."""
    assert lab.local is not None and lab.remote is not None
    args = [
        sys.executable, "-m", "isthmus", "doctor",
        "--local", lab.local.url, "--local-user", USER, "--local-password", USER_PASSWORD,
        "--index", index, *extra,
    ]  # fmt: skip
    if remote:
        args += [
            "--remote",
            lab.remote.url,
            "--remote-user",
            "elastic",
            "--remote-password",
            ELASTIC_PASSWORD,
        ]
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "TERM": "dumb"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)
    output = done.stdout + done.stderr
    report = orjson.loads(done.stdout) if "--json" in extra and done.stdout.startswith("{") else {}
    return done.returncode, report, output


def verdict(
    lab: Lab, *, remote: bool = False, index: str = INDEX, extra: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    code, report, output = doctor(lab, "--json", *extra, remote=remote, index=index)
    assert report, output
    return code, report["aliases"][ALIAS]


def first(alias: dict[str, Any]) -> tuple[str, str, str]:
    f = alias["findings"][0]
    return f["stage"], f["cause"], f["side"]


def first_step(alias: dict[str, Any]) -> str:
    return str(alias["findings"][0]["fix"]["steps"][0])


def no_secret(text: str, secrets: list[str]) -> None:
    leaked = [s[:4] + "…" for s in secrets if s and s in text]
    assert not leaked, f"secrets in doctor output: {leaked}"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("doctor-pair"), LabSpec())
    with lab:
        lab.start()
        lab.wait_connected()
        yield lab


@pytest.fixture
def restore(pair: Lab) -> Iterator[Lab]:
    """Each case breaks the working pair; put everything back afterwards."""
    good = pair.credential
    yield pair
    pair.register()
    _call(pair.local_url, "PUT", f"/_security/role/{USER_ROLE}", GOOD_ROLE)
    assert pair.key is not None
    _call(
        pair.remote_url,
        "PUT",
        f"/_security/cross_cluster/api_key/{pair.key['id']}",
        {"access": pair.spec.key_access},
    )
    pair.set_credential(good)
    pair.wait_connected()


def _secrets(lab: Lab) -> list[str]:
    out = [ELASTIC_PASSWORD, USER_PASSWORD, lab.credential or ""]
    if lab.key is not None:
        out += [str(lab.key["api_key"]), str(lab.key["encoded"])]
    return out


def test_healthy_pair_is_green_with_zero_findings(
    pair: Lab, tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    for s in _secrets(pair):
        record_secret(s)
    code, alias = verdict(pair)
    assert (code, alias["status"], alias["findings"]) == (0, "green", [])
    assert all(s["outcome"] == "passed" for s in alias["stages"])
    bundle = tmp_path / "bundle.json"
    code, report, output = doctor(pair, "--json", "--bundle", str(bundle), remote=True)
    assert code == 0 and report["aliases"][ALIAS]["findings"] == []
    assert report["evidence_level"] == ["local_rest", "remote"]
    human = doctor(pair)
    assert human[0] == 0 and f"{ALIAS}: GREEN" in human[2] and "exit 0: healthy" in human[2]
    # Offline from the bundle: the same verdict; no secret in the bundle or any output.
    offline = subprocess.run(
        [sys.executable, "-m", "isthmus", "doctor", "--from", str(bundle), "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert offline.returncode == 0
    assert orjson.loads(offline.stdout)["aliases"] == report["aliases"]
    for text in (bundle.read_text(), output, human[2], offline.stdout):
        no_secret(text, _secrets(pair))


def test_wrong_key_type_then_the_fix_verifies_green(restore: Lab) -> None:
    lab = restore
    rest_key = _call(lab.remote_url, "POST", "/_security/api_key", {"name": "a-rest-key"})
    lab.set_credential(str(rest_key["encoded"]))
    code, alias = verdict(lab)
    assert code == 1 and first(alias) == ("authentication", "api_key_wrong_type", "local")
    assert first_step(alias).startswith("POST /_security/cross_cluster/api_key")
    # The fix: a cross-cluster key in the keystore, reloaded; --verify waits until it works.
    good = _call(
        lab.remote_url,
        "POST",
        "/_security/cross_cluster/api_key",
        {"name": "fixed", "access": lab.spec.key_access},
    )
    lab.set_credential(str(good["encoded"]))
    code, _, output = doctor(lab, "--verify")
    assert code == 0, output
    no_secret(output, [str(rest_key["encoded"]), str(good["encoded"])])


@pytest.mark.parametrize(
    "fault", ["wrong_secret", "invalidated", "expired", "unknown", "malformed"]
)
def test_refused_keys(restore: Lab, fault: str) -> None:
    lab = restore
    body: dict[str, Any] = {"name": f"k-{fault}", "access": lab.spec.key_access}
    if fault == "expired":
        body["expiration"] = "1ms"
    key = _call(lab.remote_url, "POST", "/_security/cross_cluster/api_key", body)
    encoded = str(key["encoded"])
    if fault == "wrong_secret":
        encoded = base64.b64encode(f"{key['id']}:{'x' * 22}".encode()).decode()
    elif fault == "invalidated":
        _call(lab.remote_url, "DELETE", "/_security/api_key", {"ids": [key["id"]]})
    elif fault == "unknown":
        encoded = base64.b64encode(b"Aaaaaaaaaaaaaaaaaaaa:" + b"b" * 22).decode()
    elif fault == "malformed":
        encoded = base64.b64encode(b"not-a-key").decode()
    time.sleep(0.05)
    lab.set_credential(encoded)
    expected = {
        "wrong_secret": "api_key_invalid",
        "invalidated": "api_key_invalidated",
        "expired": "api_key_expired",
        "unknown": "api_key_unknown",
        "malformed": "api_key_invalid",
    }[fault]
    for remote in (False, True):
        code, alias = verdict(lab, remote=remote)
        assert code == 1 and first(alias)[:2] == ("authentication", expected), (
            remote,
            alias["findings"],
        )
        assert "reload_secure_settings" in " ".join(alias["findings"][0]["fix"]["steps"])


def test_key_access_excludes_the_index(restore: Lab) -> None:
    lab = restore
    assert lab.key is not None
    _call(
        lab.remote_url,
        "PUT",
        f"/_security/cross_cluster/api_key/{lab.key['id']}",
        {"access": {"search": [{"names": ["metrics-*"]}]}},
    )
    code, alias = verdict(lab)
    assert code == 1 and first(alias) == ("authorization", "key_access_excludes", "remote")
    assert alias["findings"][0]["confidence"] == "likely"
    code, alias = verdict(lab, remote=True)
    assert alias["findings"][0]["confidence"] == "certain"
    step = first_step(alias)
    assert step.startswith(f"PUT /_security/cross_cluster/api_key/{lab.key['id']} ")
    # Applying the smallest grant as printed makes the search work.
    path, body = step.split(" ", 2)[1:]
    _call(lab.remote_url, "PUT", path, orjson.loads(body))
    assert doctor(lab, "--verify")[0] == 0


@pytest.mark.parametrize("role", ["narrow", "none"])
def test_user_lacks_remote_indices(restore: Lab, role: str) -> None:
    lab = restore
    changed = dict(GOOD_ROLE)
    if role == "narrow":
        changed["remote_indices"] = [
            {"clusters": [ALIAS], "names": ["metrics-*"], "privileges": ["read"]}
        ]
    else:
        del changed["remote_indices"]
    _call(lab.local_url, "PUT", f"/_security/role/{USER_ROLE}", changed)
    code, alias = verdict(lab)
    assert code == 1 and first(alias) == ("authorization", "user_lacks_remote_indices", "local")
    assert f'"clusters":["{ALIAS}"],"names":["{INDEX}"]' in first_step(alias)


def test_index_not_found(restore: Lab) -> None:
    code, alias = verdict(restore, index="logs-missing", remote=True)
    assert code == 1 and first(alias) == ("data", "index_not_found", "remote")


def test_unused_port(restore: Lab) -> None:
    lab = restore
    _call(
        lab.local_url,
        "PUT",
        "/_cluster/settings",
        {"persistent": {f"cluster.remote.{ALIAS}.proxy_address": "127.0.0.1:9"}},
    )
    code, alias = verdict(lab)
    assert code == 1 and first(alias) == ("tcp", "tcp_refused", "remote")
    code, alias = verdict(lab, remote=True)
    assert first(alias) == ("tcp", "tcp_refused", "local")
    assert lab.remote_cluster_address() in alias["findings"][0]["fix"]["steps"][1]


def test_transport_port_then_the_fix_verifies_green(restore: Lab) -> None:
    lab = restore
    assert lab.remote is not None
    (node,) = _call(lab.remote_url, "GET", "/_nodes")["nodes"].values()
    _call(
        lab.local_url,
        "PUT",
        "/_cluster/settings",
        {"persistent": {f"cluster.remote.{ALIAS}.proxy_address": node["transport_address"]}},
    )
    code, alias = verdict(lab)
    assert code == 2 and alias["status"] == "red"
    assert set(alias["findings"][0]["candidates"]) == {
        "tls_untrusted_ca",
        "transport_port_with_credentials",
    }
    code, alias = verdict(lab, remote=True)
    assert code == 1 and first(alias) == ("protocol", "transport_port_with_credentials", "local")
    step = alias["findings"][0]["fix"]["steps"][1]
    assert step.startswith("PUT /_cluster/settings ") and lab.remote_cluster_address() in step
    _call(lab.local_url, "PUT", "/_cluster/settings", orjson.loads(step.split(" ", 2)[2]))
    assert doctor(lab, "--verify")[0] == 0


def test_credentials_removed_then_added_without_reload(restore: Lab) -> None:
    lab = restore
    assert lab.local is not None
    good = lab.credential
    lab.set_credential(None)  # removed and reloaded: the certificate model against the RCS port
    code, alias = verdict(lab, remote=True)
    assert code == 1 and first(alias) == (
        "protocol",
        "remote_cluster_port_without_credentials",
        "local",
    )
    steps = " ".join(alias["findings"][0]["fix"]["steps"])
    assert "keystore add -f cluster.remote.my.credentials" in steps
    # Put back in the keystore only: the running node does not use it until a reload.
    from isthmus.lab.topology import _keystore

    assert good is not None
    _keystore(lab.local.config_dir, {f"cluster.remote.{ALIAS}.credentials": good})
    code, alias = verdict(lab, extra=("--local-config", str(lab.local.config_dir)))
    assert code == 1 and first(alias) == ("configuration", "credentials_not_reloaded", "local")
    assert first_step(alias).startswith("POST /_nodes/reload_secure_settings")
    _call(lab.local_url, "POST", "/_nodes/reload_secure_settings", {})
    assert doctor(lab, "--verify", "--local-config", str(lab.local.config_dir))[0] == 0


def test_unknown_alias(pair: Lab) -> None:
    code, report, _ = doctor(pair, "--json", "--alias", "nowhere")
    assert code == 1
    assert report["aliases"]["nowhere"]["findings"][0]["cause"] == "alias_not_configured"


# --- the guide's faults that need their own build ----------------------------------------------

# The scenarios a shared pair cannot take (other CAs, a client certificate, anonymous access, a
# disabled server): each gets its own lab, and the doctor runs at the four evidence levels at
# once, against the verdicts the scenarios declare; then the all-evidence run's first fix is
# applied as printed and `doctor --verify` must be green (the others are in
# test_doctor_lab_verdicts.py).
OWN_BUILD = sorted(
    name for name, s in scenarios("proxy").items() if on_pair(s.spec, base_spec("proxy")) is None
)


@pytest.mark.parametrize("name", OWN_BUILD)
def test_guide_scenarios_with_their_own_build(
    name: str, tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """The verdict at every evidence level, then the all-evidence run's first fix, as printed,
    makes ``doctor --verify`` green (the lab is discarded after: nothing to put back)."""
    scenario = scenarios("proxy")[name]
    assert scenario.verdict is not None
    with Lab(tmp_path, scenario.spec) as lab:
        lab.start()
        pin_ports(lab)  # a fix's restart comes back on the same ports, as `lab up` makes it
        for s in _secrets(lab):
            record_secret(s)
        # A user's search makes the failure happen and be logged on both sides.
        seen, problems = wait_for_symptom(lab, scenario)
        assert not problems, problems
        address = str(seen.remote_info.get("proxy_address"))
        runs = run_levels(lab, None)
        failures = []
        for level, run in runs.items():
            failures += mismatches(run, expected_at(scenario.verdict, level, address))
            failures += [
                f"{level.value}: secret {s}" for s in leaked_secrets(run.output, _secrets(lab))
            ]
        failures = [f"the verdict: {f}" for f in failures]
        fixed = fix_then_verify(lab, runs[EvidenceLevel.REMOTE], scenario.verdict, record_secret)
        failures += [f"the fix: {f}" for f in fixed]
    said = "\n".join(f"  {level.value}: {run.summary()}" for level, run in runs.items())
    assert not failures, "\n".join(failures) + "\n" + said


def test_sniff_mode_advertised_address_unreachable_at_every_level_then_the_fix(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """Sniff mode, the remote node advertising a port nothing listens on (NAT, containers):
    the seed answers, the managed connection fails. The doctor names the advertised address at
    every level (never the seed's refusal, never green because the probe of the seed passes),
    prints both fixes, and the first one as printed (proxy mode through the seed) verifies."""
    scenario = scenarios("sniff")["sniff-unreachable-publish-address"]
    assert scenario.verdict is not None
    with Lab(tmp_path, scenario.spec) as lab:
        lab.start()
        for s in _secrets(lab):
            record_secret(s)
        seen, problems = wait_for_symptom(lab, scenario)
        assert not problems, problems
        runs = run_levels(lab, None)
        failures = []
        for level, run in runs.items():
            failures += mismatches(run, expected_at(scenario.verdict, level, "-"))
            failures += [
                f"{level.value}: secret {s}" for s in leaked_secrets(run.output, _secrets(lab))
            ]
        said = "\n".join(f"  {level.value}: {run.summary()}" for level, run in runs.items())
        assert not failures, "\n".join(failures) + "\n" + said
        steps = runs[EvidenceLevel.REMOTE].alias["findings"][0]["fix"]["steps"]
        seed = seen.remote_info["seeds"][0]
        assert f'"cluster.remote.{ALIAS}.proxy_address": "{seed}"' in steps[0], steps
        assert steps[1].startswith("or, instead: remote_cluster.publish_host: 127.0.0.1"), steps
        fixed = fix_then_verify(lab, runs[EvidenceLevel.REMOTE], scenario.verdict, record_secret)
        assert not fixed, fixed


def test_sniff_mode_healthy_and_refused(tmp_path: Path) -> None:
    with Lab(tmp_path, LabSpec(mode="sniff")) as lab:
        lab.start()
        lab.wait_connected()
        code, alias = verdict(lab)
        assert (code, alias["findings"]) == (0, [])
        _call(
            lab.local_url,
            "PUT",
            "/_cluster/settings",
            {"persistent": {f"cluster.remote.{ALIAS}.seeds": ["127.0.0.1:9"]}},
        )
        code, alias = verdict(lab, remote=True)
        assert code == 1 and first(alias) == ("tcp", "tcp_refused", "local")
        assert '"cluster.remote.my.seeds": ["' in alias["findings"][0]["fix"]["steps"][1]


def test_unreachable_local_cluster_and_bad_bundle_exit_2(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "isthmus", "doctor"]
    done = subprocess.run(
        [*run, "--local", "http://127.0.0.1:9", "--local-user", "u", "--local-password", "secret-pw"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (
        done.returncode == 2
        and "cannot read the local cluster at http://127.0.0.1:9" in done.stderr
    )
    assert "secret-pw" not in done.stdout + done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    done = subprocess.run(
        [*run, "--from", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2 and "not an isthmus doctor bundle" in done.stderr
