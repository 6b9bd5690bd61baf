"""``isthmus doctor``: why a remote cluster does not work, stage by stage.

Collects evidence (the local cluster's REST APIs; optionally the remote's, config directories,
log directories, and active probes of the remote's address), diagnoses every alias, prints one
screen per alias (or ``--json``) and exits 0 healthy, 1 a fault was found, 2 undecided. Works
against Elasticsearch 8.x/9.x as well as Isthmus: only ES's public APIs are required.
``--bundle FILE`` keeps the evidence (secrets redacted) and ``--from FILE`` diagnoses it offline.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from isthmus.settings.secret import Secret

F = TypeVar("F", bound=Callable[..., Any])
LOG_TAIL = 5000  # lines kept per log file (the recent past is what explains a failure)


def _access_options(side: str) -> list[Any]:
    return [
        click.option(
            f"--{side}", f"{side}_url", metavar="URL", help=f"The {side} cluster's REST URL."
        ),
        click.option(f"--{side}-user", metavar="NAME", help="Basic authentication user."),
        click.option(
            f"--{side}-password",
            metavar="PASSWORD",
            help="Basic authentication password (or prompt).",
        ),
        click.option(f"--{side}-api-key", metavar="ENCODED", help="An API key (the encoded form)."),
        click.option(
            f"--{side}-ca",
            type=click.Path(path_type=Path, exists=True, dir_okay=False),
            help="CA certificate (PEM) of its HTTP layer.",
        ),
        click.option(
            f"--{side}-fingerprint",
            metavar="SHA256",
            help="Pin the HTTP certificate's SHA-256 fingerprint.",
        ),
        click.option(
            f"--{side}-config",
            multiple=True,
            type=click.Path(path_type=Path, exists=True, file_okay=False),
            help="A node's config directory (repeat per node): yml and keystore names.",
        ),
        click.option(
            f"--{side}-logs",
            type=click.Path(path_type=Path, exists=True, file_okay=False),
            help="Its log directory.",
        ),
    ]


def _with(options: list[Any]) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


@click.command("doctor")
@_with(_access_options("local"))
@_with(_access_options("remote"))
@click.option(
    "--alias", "aliases", multiple=True, help="Only this alias (repeatable; default: all)."
)
@click.option(
    "--index", default="*", show_default=True, help="The remote index (or pattern) to check."
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]),
    default=None,
    help="Only log lines from this time on (local time unless an offset is given).",
)
@click.option(
    "--no-probe", is_flag=True, help="Do not probe the remote's addresses from this machine."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--verify", is_flag=True, help="Re-run until healthy (after a fix), up to --verify-rounds."
)
@click.option("--verify-rounds", default=10, show_default=True, type=int)
@click.option(
    "--verify-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between --verify rounds.",
)
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the evidence to FILE.",
)
@click.option(
    "--from",
    "from_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Diagnose a bundle offline.",
)
@click.option(
    "--timeout",
    default=15.0,
    show_default=True,
    type=float,
    help="Seconds per REST call and probe.",
)
def doctor_cli(**opts: Any) -> None:
    """Diagnose every remote cluster alias of the local cluster, stage by stage."""
    sys.exit(run_doctor(opts))


def _access(opts: Mapping[str, Any], side: str) -> Any:
    from isthmus.doctor.collect import ClusterAccess

    url = opts.get(f"{side}_url")
    if not url:
        return None
    password = opts.get(f"{side}_password")
    api_key = opts.get(f"{side}_api_key")
    return ClusterAccess(
        url,
        opts.get(f"{side}_user"),
        Secret(password) if password is not None else None,
        Secret(api_key) if api_key else None,
        opts.get(f"{side}_ca"),
        opts.get(f"{side}_fingerprint"),
        float(opts.get("timeout") or 15.0),
    )


def run_doctor(opts: Mapping[str, Any]) -> int:
    opts = dict(opts)
    if opts.get("since") is not None and opts["since"].tzinfo is None:
        opts["since"] = opts["since"].astimezone()  # a naive time is this machine's local time
    from rich.console import Console

    from isthmus.doctor.bundle import BundleError, decode, encode, scrub

    console = Console(stderr=False, soft_wrap=False, width=max(100, Console().width))
    secrets: list[str] = []
    rounds = int(opts.get("verify_rounds") or 1) if opts.get("verify") else 1
    if opts.get("from_path"):
        try:
            bundle = decode(Path(opts["from_path"]).read_bytes())
        except BundleError as exc:
            click.echo(f"ERROR: {exc}", err=True)
            return 2
        report = _diagnose(bundle, opts)
    else:
        local, remote = _access(opts, "local"), _access(opts, "remote")
        if local is None:
            click.echo(
                "ERROR: give the local cluster (--local URL) or a bundle (--from FILE)", err=True
            )
            return 2
        secrets = local.secrets() + (remote.secrets() if remote is not None else [])
        for attempt in range(rounds):
            bundle = asyncio.run(_collect(opts, local, remote))
            root = bundle.local.call("GET /")
            # No answer, or credentials refused: nothing to diagnose with. Any other answer
            # (403 for a user without cluster privileges, say) still leaves evidence.
            if root is None or root.status is None or root.status == 401:
                why = (root.error or f"HTTP {root.status}") if root is not None else "no answer"
                click.echo(
                    f"ERROR: cannot read the local cluster at {local.public_url}: {scrub(why, secrets)}",
                    err=True,
                )
                return 2
            listing = bundle.local.call("GET /_remote/info")
            if not bundle.aliases and listing is not None and not listing.ok:
                click.echo(
                    f"ERROR: the local cluster does not list its remote clusters to this user "
                    f"(GET /_remote/info: HTTP {listing.status}); name them with --alias",
                    err=True,
                )
                return 2
            report = _diagnose(bundle, opts)
            if report.exit_code == 0 or attempt == rounds - 1:
                break
            time.sleep(float(opts.get("verify_interval", 1.0)))
        if opts.get("bundle_path"):
            Path(opts["bundle_path"]).write_bytes(encode(bundle, secrets))
    if opts.get("as_json"):
        import orjson

        text = orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode()
        click.echo(scrub(text, secrets))
    else:
        from isthmus.doctor.render import render

        with console.capture() as capture:
            render(report, console)
        click.echo(scrub(capture.get(), secrets), nl=False)
    code: int = report.exit_code
    return code


async def _collect(opts: Mapping[str, Any], local: Any, remote: Any) -> Any:
    """Two phases, so that one round per alias takes about one timeout: the clusters' general
    evidence (both sides at once), then per alias the test requests and the probes at once
    (a probe is kept only when the requests show the connection failing)."""
    from isthmus.doctor.bundle import Bundle
    from isthmus.doctor.collect import (
        collect_alias_calls,
        collect_local,
        collect_remote,
        credential_key_ids,
    )
    from isthmus.doctor.evidence import SideEvidence

    index = str(opts.get("index") or "*")
    aliases = tuple(opts.get("aliases") or ())

    async def no_remote() -> None:
        return None

    local_ev, remote_ev = await asyncio.gather(
        collect_local(local, aliases, index, opts.get("local_config") or (), alias_calls=False),
        collect_remote(
            remote,
            index,
            opts.get("remote_config") or (),
            credential_key_ids(opts.get("local_config") or ()),  # each key's expiry
        )
        if remote is not None
        else no_remote(),
    )
    logs: dict[str, dict[str, list[str]]] = {}
    for side in ("local", "remote"):
        directory = opts.get(f"{side}_logs")
        if directory:
            logs[side] = read_log_texts(Path(directory))
    known = aliases or local_ev.aliases
    general = Bundle(datetime.now(UTC), index, known, local_ev, remote_ev, logs)
    from isthmus.cli.doctor_probes import keep_failing, probe_all

    calls, probes = await asyncio.gather(
        collect_alias_calls(local, known, index, local_ev.version), probe_all(general, opts)
    )
    local_ev = SideEvidence(local_ev.url, {**local_ev.calls, **calls}, local_ev.configs)
    bundle = Bundle(general.collected_at, index, known, local_ev, remote_ev, logs)
    return Bundle(
        bundle.collected_at, index, known, local_ev, remote_ev, logs, keep_failing(bundle, probes)
    )


def read_log_texts(directory: Path) -> dict[str, list[str]]:
    """The tail of every log file in ``directory`` (plain and JSON), by file name."""
    out: dict[str, list[str]] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".log", ".json"):
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            out[path.name] = lines[-LOG_TAIL:]
    return out


def log_results(bundle: Any, alias: str, since: datetime | None = None) -> list[Any]:
    """The log analysis (isthmus.doctor.logs) on the bundle's lines; [] until it is there."""
    if "local" not in bundle.logs:
        return []
    try:
        from isthmus.doctor import logs as doctor_logs
    except ImportError:
        return []
    try:
        return _analyse_logs(doctor_logs, bundle, alias, since)
    except Exception as exc:  # an optional analysis must not take the REST verdict down
        click.echo(f"WARNING: log analysis failed ({type(exc).__name__}: {exc}); ignored", err=True)
        return []


def _analyse_logs(doctor_logs: Any, bundle: Any, alias: str, since: datetime | None) -> list[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        parsed: dict[str, Any] = {}
        for side, files in bundle.logs.items():
            directory = Path(tmp) / side
            directory.mkdir()
            for name, lines in files.items():
                (directory / Path(name).name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            parsed[side] = doctor_logs.read_log_dir(directory)
    window = (since, datetime.now(UTC) + timedelta(minutes=1)) if since is not None else None
    return list(doctor_logs.log_findings(parsed["local"], parsed.get("remote"), alias, window))


def _diagnose(bundle: Any, opts: Mapping[str, Any]) -> Any:
    from isthmus.doctor.engine import diagnose

    aliases: Sequence[str] = tuple(opts.get("aliases") or ()) or bundle.aliases
    since = opts.get("since")
    extra = {a: [list(bundle.probes.get(a, ())), log_results(bundle, a, since)] for a in aliases}
    level = ["local_rest"]
    if any(c for c in bundle.local.configs) or "local" in bundle.logs:
        level.append("local_files")
    if any(bundle.probes.values()):
        level.append("probe")
    if bundle.remote is not None or "remote" in bundle.logs:
        level.append("remote")
    now = datetime.now(UTC) if not opts.get("from_path") else bundle.collected_at
    return diagnose(
        bundle.local,
        bundle.remote,
        aliases=aliases,
        index=bundle.index,
        now=now,
        extra=extra,
        evidence_level=level,
        since=since,
    )
