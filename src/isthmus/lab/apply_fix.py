"""Apply the doctor's fix to a running lab exactly as the doctor printed it.

A fix's steps are what a user pastes into a console or a shell, so the lab runs them the same
way, and a step it cannot run as printed is an error (:class:`FixNotRunnable`), never skipped:

* a REST step (``PUT /_cluster/settings {...}``, ``POST /_nodes/reload_secure_settings``,
  ``POST /_security/cross_cluster/api_key {...}``) is sent, as the ``elastic`` administrator,
  to the cluster the step names (``on the remote``, ``on the local cluster:``) or else to the
  side of the fix; an error status fails the fix. The one instruction a REST step may carry in
  its comment is ``keep the role's other fields, add to remote_indices: {...}`` (the doctor
  could not read the role): the role is read, the entry added, the whole role put back;
* a shell step runs the Isthmus command of its ``# on Isthmus: ...`` comment (ES's
  ``bin/elasticsearch-keystore`` / ``elasticsearch-certutil`` lines carry one), or an
  ``isthmus`` / ``cp`` command printed as such, in the config directory of the side it names;
  ``keystore add`` is given the ``encoded`` value of the key an earlier step created (what the
  user pastes);
* ``<setting>: <value>   # elasticsearch.yml ...`` edits that side's ``isthmus.yml`` (``in place
  of A and B`` removes those settings, ``added to the`` CAs a list names keeps the list's
  entries); ``restart ... local|remote ...`` restarts that node as
  ``isthmus lab restart`` does (the lab's ports must be pinned: :func:`lifecycle.pin_ports`);
* a fix for the network (side ``network``) is applied by healing the lab's relay (pass mode, no
  idle cut): the relay is the lab's stand-in for the network, and host commands printed for it
  (``sysctl``, ``ss``, ``nc``) are the network's part of that fix.

A step starting with ``or, instead:`` begins another way to the same end (the doctor prints
both when both work): the lab runs the steps before it, as a user picks one of the two.

Placeholders a fix may leave are facts only the user has; the lab fills them from what it built
(:data:`USER_FACTS`). Any other ``<...>`` left in a step means the doctor printed a placeholder
for something it should have known: not runnable.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from isthmus.lab.topology import Lab, LabError, _call

# The placeholders a fix may print for what only the user knows, and what the lab knows them as.
USER_FACTS = {
    "<config dir>": "the config directory of the node the step runs on",
    "<ca.p12>": "the CA (key and certificate, PKCS#12) that issues the remote's server certificate",
    "<current remote CA file>": "the CA file that issued the remote's certificate",
    "<name the proxy routes>": "the name the proxy in front of the remote routes to it",
}
_NETWORK_COMMANDS = frozenset({"sysctl", "ss", "nc", "ping", "traceroute"})
_SIDE_PREFIX = re.compile(
    r"^(?:on the (?P<a>local|remote) cluster|(?P<b>local|remote)|"
    r"(?:from|on) (?:each|every) (?P<c>local|remote) node)\s*:\s*",
    re.IGNORECASE,
)
_COMMENT = re.compile(r"\s+#\s")
_REST = re.compile(r"^(GET|PUT|POST|DELETE|HEAD)\s+(\S+)(?:\s+(.+))?$", re.DOTALL)
_YML = re.compile(
    r"^(?:elasticsearch\.yml:\s*)?(?P<key>[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\s*:\s+(?P<value>.+)$"
)
_RESTART = re.compile(r"^restart\b", re.IGNORECASE)
_IN_PLACE_OF = re.compile(r"in place of (\S+?) and (\S+?)(?:[\s;,)]|$)")
_ROLE_MERGE = re.compile(r"keep the role's other fields, add to remote_indices:\s*(\{.*\})\s*$")
_PLACEHOLDER = re.compile(r"<[^<>]+>")
_ALTERNATIVE = re.compile(r"^\s*or,? instead\b", re.IGNORECASE)


class FixNotRunnable(Exception):
    """A step of the fix cannot be run as printed (or failed when run)."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{why}: {step!r}")
        self.step = step
        self.why = why


@dataclass(frozen=True)
class AppliedStep:
    step: str  # as printed
    how: str  # what the lab did with it

    def __str__(self) -> str:
        return f"{self.step!r} -> {self.how}"


@dataclass
class _Run:
    lab: Lab
    fix_side: str
    finding_side: str
    on_secret: Callable[[str], None]
    pasted: str | None = None  # the `encoded` value of a key created by an earlier step
    done: list[AppliedStep] = dataclasses.field(default_factory=list)


def apply_fix(
    lab: Lab, finding: Mapping[str, Any], on_secret: Callable[[str], None] = lambda s: None
) -> list[AppliedStep]:
    """Run the steps of ``finding['fix']`` (a finding of ``isthmus doctor --json``) on ``lab``;
    what was done, step by step (never a secret: a key a step creates goes to ``on_secret``).
    Raises :class:`FixNotRunnable` on the first step that cannot be run as printed or fails."""
    fix = finding.get("fix")
    if not isinstance(fix, Mapping):
        raise FixNotRunnable("", f"the finding [{finding.get('cause')}] has no fix")
    run = _Run(lab, str(fix.get("side", "unknown")), str(finding.get("side", "unknown")), on_secret)
    for step in fix.get("steps") or ():
        if _ALTERNATIVE.match(str(step)):  # the rest is another way to the same end
            run.done.append(AppliedStep(str(step), "an alternative to the steps before: not run"))
            break
        run.done.append(AppliedStep(str(step), _apply_step(run, str(step))))
    if "network" in (run.fix_side, run.finding_side):
        run.done.append(AppliedStep("(the network's part of the fix)", _heal_network(lab)))
    if not run.done:
        raise FixNotRunnable(str(fix.get("summary")), "the fix prints no step to run")
    return run.done


def _apply_step(run: _Run, step: str) -> str:
    text, side = step.strip(), None
    prefix = _SIDE_PREFIX.match(text)
    if prefix is not None:
        side = (prefix.group("a") or prefix.group("b") or prefix.group("c")).lower()
        text = text[prefix.end() :]
    command, comment = _split_comment(text)
    if "on Isthmus:" in comment:
        command = comment.split("on Isthmus:", 1)[1].split(";", 1)[0].strip()
        return _shell(run, step, command, side or _side_in(comment, run, step))
    if _RESTART.match(command):
        which = side or _side_in(command + " " + comment, run, step)
        _restart(run.lab, which)
        return f"restarted [{which}] (as `isthmus lab restart {which}`)"
    rest = _REST.match(command)
    if rest is not None:
        return _rest(run, step, rest, comment, side or _side_in(comment, run, step))
    yml = _YML.match(command)
    if yml is not None and " " not in yml.group("key"):
        return _yml(run, step, yml, comment, side or _side_in(comment, run, step))
    program = command.split(" ", 1)[0]
    if program in _NETWORK_COMMANDS and "network" in (run.fix_side, run.finding_side):
        return "a host network command: the lab's network is its relay, healed below"
    return _shell(run, step, command, side or _side_in(command + " " + comment, run, step))


def _split_comment(text: str) -> tuple[str, str]:
    mark = _COMMENT.search(text)
    if mark is None:
        return text.strip(), ""
    return text[: mark.start()].strip(), text[mark.end() :].strip()


def _side_in(text: str, run: _Run, step: str) -> str:
    """The side a step names in its words, else the fix's side (local or remote)."""
    words = text.lower()
    local = "local node" in words or "local cluster" in words or "on the local" in words
    remote = "remote node" in words or "on the remote" in words or "remote cluster:" in words
    if local != remote:
        return "local" if local else "remote"
    if run.fix_side in ("local", "remote"):
        return run.fix_side
    raise FixNotRunnable(step, f"the step does not say which cluster (fix side {run.fix_side})")


# --- the kinds of step -------------------------------------------------------------------------


def _url(lab: Lab, side: str) -> str:
    return lab.local_url if side == "local" else lab.remote_url


def _rest(run: _Run, step: str, match: re.Match[str], comment: str, side: str) -> str:
    method, path, raw = match.group(1), match.group(2), match.group(3)
    path = path if path.startswith("/") else "/" + path
    _no_placeholder(step, path)
    raw = None if raw is None else _fill(run, step, raw, side)
    body: Any = None
    if raw is not None:
        try:
            body = yaml.safe_load(raw)  # JSON is YAML; a non-JSON tail is a parse error here
        except yaml.YAMLError as exc:
            raise FixNotRunnable(step, f"the body is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise FixNotRunnable(step, "the body is not a JSON object")
    merge = _ROLE_MERGE.search(comment)
    if merge is not None and method == "PUT" and path.startswith("/_security/role/"):
        return _merge_role(run, step, path, merge.group(1), side)
    try:
        answer = _call(_url(run.lab, side), method, path, body)
    except LabError as exc:
        raise FixNotRunnable(step, f"{side} answered {exc.status}: {exc.body[:300]}") from None
    if isinstance(answer.get("encoded"), str):
        run.pasted = answer["encoded"]
        run.on_secret(answer["encoded"])
        run.on_secret(str(answer.get("api_key", "")))
    return f"{method} {path} on [{side}]"


def _merge_role(run: _Run, step: str, path: str, entry_json: str, side: str) -> str:
    try:
        entry = yaml.safe_load(entry_json)
    except yaml.YAMLError as exc:
        raise FixNotRunnable(step, f"the remote_indices entry is not JSON ({exc})") from None
    name = path.rsplit("/", 1)[1]
    try:
        role = _call(_url(run.lab, side), "GET", path).get(name, {})
    except LabError as exc:
        if exc.status != 404:
            raise FixNotRunnable(step, f"reading the role: {exc}") from None
        role = {}  # the role does not exist: the entry is all of it
    body = {k: v for k, v in role.items() if k != "transient_metadata"}
    body["remote_indices"] = [*body.get("remote_indices", []), entry]
    try:
        _call(_url(run.lab, side), "PUT", path, body)
    except LabError as exc:
        raise FixNotRunnable(step, f"{side} answered {exc.status}: {exc.body[:300]}") from None
    return f"GET {path}, added the remote_indices entry, PUT {path} on [{side}]"


def _yml(run: _Run, step: str, match: re.Match[str], comment: str, side: str) -> str:
    key = match.group("key")
    raw = _fill(run, step, match.group("value"), side)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise FixNotRunnable(step, f"the value is not YAML ({exc})") from None
    node = getattr(run.lab, side)
    path = node.config_dir / "isthmus.yml"
    settings = yaml.safe_load(path.read_text()) or {}
    if "added to the" in comment and isinstance(value, list):  # beside what it lists already
        before = settings.get(key) or []
        value = [*(before if isinstance(before, list) else [before]), *value]
    settings[key] = value
    removed = []
    for old in _IN_PLACE_OF.findall(comment):
        for name in old:
            full = name if not name.startswith(".") else key.rsplit(".", 2)[0] + name
            if settings.pop(full, None) is not None:
                removed.append(full)
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    node.settings = settings
    gone = f", removed {removed}" if removed else ""
    return f"set {key} in [{side}]'s isthmus.yml{gone}"


def _shell(run: _Run, step: str, command: str, side: str) -> str:
    try:
        args = shlex.split(_fill(run, step, command, side))
    except ValueError as exc:
        raise FixNotRunnable(step, f"not a shell command ({exc})") from None
    if not args:
        raise FixNotRunnable(step, "an empty command")
    program = args[0]
    node = getattr(run.lab, side)
    if program == "cp" and len(args) == 3:
        target = Path(args[2])
        shutil.copyfile(args[1], target if target.is_absolute() else node.config_dir / target)
        return f"copied {args[1]} to {args[2]}"
    if program != "isthmus":
        raise FixNotRunnable(step, f"[{program}] is neither an Isthmus command nor a REST call")
    stdin = ""
    if args[1:3] == ["keystore", "add"]:
        if run.pasted is None:
            raise FixNotRunnable(step, "no key value to paste: no earlier step created a key")
        stdin = run.pasted + "\n"
    done = subprocess.run(
        [sys.executable, "-m", "isthmus", *args[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=node.config_dir,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 or "without modifying" in done.stdout + done.stderr:
        said = (done.stdout + done.stderr)[-500:]
        raise FixNotRunnable(step, f"exit {done.returncode}, nothing changed: {said}")
    return f"ran `isthmus {' '.join(args[1:3])} ...` in [{side}]'s config directory"


def _fill(run: _Run, step: str, text: str, side: str) -> str:
    """Replace the user's facts (:data:`USER_FACTS`); any other placeholder is not runnable."""
    from isthmus.lab.faults import SNI_NAME

    lab = run.lab
    facts = {
        "<config dir>": str(getattr(lab, side).config_dir),
        "<ca.p12>": str(_ca_p12(lab)),
        "<current remote CA file>": str(_current_ca(lab)),
        "<name the proxy routes>": SNI_NAME,
    }
    for placeholder, value in facts.items():
        text = text.replace(placeholder, value)
    _no_placeholder(step, text)
    return text


def _no_placeholder(step: str, text: str) -> None:
    left = _PLACEHOLDER.findall(text)
    if left:
        raise FixNotRunnable(step, f"placeholders the doctor should have filled: {left}")


def _ca_p12(lab: Lab) -> Path:
    """The remote server's CA as the PKCS#12 file ``certutil ca`` gives its administrator (the
    lab keeps its CAs in memory)."""
    from isthmus.security.certs import encode_pkcs12

    path = lab.pki.dir / "remote-server-ca.p12"
    if not path.exists():
        ca = lab.pki.cas.get("remote-server-ca") or lab.pki.cas["remote-transport-ca"]
        path.write_bytes(encode_pkcs12(ca, alias="ca", password=None))
    return path


def _current_ca(lab: Lab) -> Path:
    files = lab.pki.files
    if lab.spec.remote_certificate == "regenerated_ca":
        return files["remote-server-regenerated-ca"]
    return files["remote-server-ca"]


# --- restarts and the network ------------------------------------------------------------------


def _restart(lab: Lab, which: str) -> None:
    """Restart node ``which`` with its ``isthmus.yml`` as it is now, on the same ports."""
    from isthmus.lab import lifecycle

    node = getattr(lab, which)
    node.stop()
    setattr(lab, which, lifecycle.restart(lab.root, which))


def _heal_network(lab: Lab) -> str:
    from isthmus.lab.relay_config import RelayMode

    if lab.relay is None:
        return "no relay in this lab: nothing stands for the network"
    # Open connections stay open, as they do when a firewall rule is fixed: the relay applies
    # its new mode to the connections it holds and to new ones.
    config = lab.relay.config
    lab.relay.configure(dataclasses.replace(config, mode=RelayMode.PASS, idle_cut=None))
    return (
        f"healed the relay (was {config.mode}"
        + (f", idle cut {config.idle_cut:g}s" if config.idle_cut else "")
        + "): pass mode, no idle cut"
    )


__all__ = ["USER_FACTS", "AppliedStep", "FixNotRunnable", "apply_fix"]
