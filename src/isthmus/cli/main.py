"""``isthmus``: the command-line interface."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from isthmus import __version__

if TYPE_CHECKING:
    from isthmus.settings.secret import Secret

# The tools with a module of their own: "name": "module:attribute". A tool's module (and what
# it imports: certificates, the keystore's crypto, the lab) is loaded only when the tool runs or
# a help lists it, so `isthmus doctor` does not pay for certutil's or the lab's imports.
_LAZY_TOOLS = {
    "certutil": "isthmus.cli.certutil:certutil_cli",
    "doctor": "isthmus.cli.doctor:doctor_cli",
    "keystore": "isthmus.cli.keystore:keystore_cli",
    "lab": "isthmus.cli.lab:lab_cli",
}


class _LazyGroup(click.Group):
    """A group whose tools in :data:`_LAZY_TOOLS` are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup, lazy=_LAZY_TOOLS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="isthmus")
def cli() -> None:
    """Isthmus: a light Elasticsearch-compatible cluster for remote-cluster work."""


@cli.command()
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory holding isthmus.yml (default: $ISTHMUS_PATH_CONF or ./config).",
)
@click.option(
    "-E",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting, as Elasticsearch's -E does.",
)
@click.option(
    "-p",
    "--pidfile",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the process id to this file.",
)
@click.option(
    "--ports-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the bound addresses as JSON to this file once listening.",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not log to stderr.")
def node(
    config_dir: Path | None,
    overrides: tuple[str, ...],
    pidfile: Path | None,
    ports_file: Path | None,
    quiet: bool,
) -> None:
    """Start a node."""
    import os

    from isthmus import logs
    from isthmus.errors import IsthmusError, NodeStartupError
    from isthmus.node import run_node
    from isthmus.security import autoconfig
    from isthmus.settings.loader import default_config_dir, load_raw, parse_overrides
    from isthmus.settings.node import NodeSettings

    conf = config_dir or default_config_dir()
    auto: autoconfig.AutoConfigured | None = None
    try:
        flat = load_raw(conf, parse_overrides(overrides))
        settings = NodeSettings.from_flat(flat, conf)
        if autoconfig.wanted(flat, settings.path_data):
            conf.mkdir(parents=True, exist_ok=True)
            auto = autoconfig.configure(conf, settings.node_name, [settings.http_bind_host])
            flat = load_raw(conf, parse_overrides(overrides))
            settings = NodeSettings.from_flat(flat, conf)
    except IsthmusError as exc:
        click.echo(f"ERROR: {exc.reason}", err=True)
        sys.exit(78)
    if auto is not None:
        click.echo(
            "Isthmus security auto-configuration: TLS certificates were generated in "
            f"{auto.http_ca.parent} and security was enabled in {conf / 'isthmus.yml'}.\n"
            f"HTTP CA certificate SHA-256 fingerprint: {auto.http_ca_sha256}\n"
            f"Connect with: curl --cacert {auto.http_ca} -u elastic https://localhost:"
            f"{settings.http_ports[0]}",
            err=True,
        )
    keystore_password = _prompt_keystore_password(conf)
    logs.configure(settings.path_logs, settings.cluster_name, settings.node_name, stderr=not quiet)
    if pidfile is not None:
        pidfile.write_text(str(os.getpid()))
    try:
        from isthmus.console.routes import console_routes

        run_node(
            settings,
            ports_file=ports_file,
            keystore_password=keystore_password,
            extra_routes=console_routes,
        )
    except NodeStartupError as exc:  # already in the node's log
        click.echo(f"ERROR: {exc}", err=True)
        sys.exit(exc.exit_code)
    finally:
        if pidfile is not None and pidfile.exists():
            pidfile.unlink()


@cli.command("reset-password")
@click.option("-u", "--username", required=True, help="The user whose password to reset.")
@click.option("-i", "--interactive", is_flag=True, help="Prompt for the new password.")
@click.option("-a", "--auto", "auto_generate", is_flag=True, help="Generate a password (default).")
@click.option("--config-dir", type=click.Path(path_type=Path), default=None)
@click.option("-b", "--batch", is_flag=True, help="Do not ask for confirmation.")
def reset_password(
    username: str, interactive: bool, auto_generate: bool, config_dir: Path | None, batch: bool
) -> None:
    """Reset a native user's password (like elasticsearch-reset-password)."""
    import sqlite3

    from isthmus.errors import IsthmusError
    from isthmus.security.service import SecurityService
    from isthmus.security.store import SecurityStore
    from isthmus.settings.loader import default_config_dir, load_raw
    from isthmus.settings.node import NodeSettings

    conf = config_dir or default_config_dir()
    try:
        settings = NodeSettings.from_flat(load_raw(conf, {}), conf)
    except IsthmusError as exc:
        click.echo(f"ERROR: {exc.reason}", err=True)
        sys.exit(78)
    from isthmus.settings.discovery import forms_cluster_alone

    if not forms_cluster_alone(settings.raw):
        # The users of a multi-node cluster live in its etcd (security.replication): a change
        # to this node's copy alone would be the cluster's on no other node.
        click.echo(
            f"ERROR: Failed to reset password for the [{username}] user: this node belongs to a "
            "cluster of several nodes, whose users are the cluster's; change the password "
            f"through any node: PUT /_security/user/{username}/_password",
            err=True,
        )
        sys.exit(78)
    new: str | None = None
    if interactive:
        new = click.prompt(
            f"Enter password for [{username}]",
            hide_input=True,
            confirmation_prompt=f"Re-enter password for [{username}]",
            err=True,
        )
        if len(new) < 6:
            click.echo("ERROR: passwords must be at least [6] characters long", err=True)
            sys.exit(65)
    elif not batch and sys.stdin.isatty():
        click.confirm(
            f"This tool will reset the password of the [{username}] user to an autogenerated "
            "value.\nDo you want to continue?",
            abort=True,
            err=True,
        )
    try:
        store = SecurityStore(settings.path_data / "_state")
    except sqlite3.OperationalError:
        # A node holds the store exclusively (it started on a disk too full for shared mode).
        click.echo(
            f"ERROR: Failed to reset password for the [{username}] user: the security store "
            "is locked by a running node; stop it (or free disk space and restart it) first",
            err=True,
        )
        sys.exit(75)
    try:
        password = SecurityService(store).reset_password(username, new)
    except IsthmusError as exc:
        click.echo(
            f"ERROR: Failed to reset password for the [{username}] user: {exc.reason}", err=True
        )
        sys.exit(65)
    finally:
        store.close()
    click.echo(f"Password for the [{username}] user successfully reset.")
    if new is None:
        click.echo(f"New value: {password}")


_DIR_HELP = "Working directory (replaced by each run; a lab still running there is stopped)."


@cli.group(invoke_without_command=True)
@click.option(
    "--dir", "workdir", type=click.Path(path_type=Path), default=Path("demo"), help=_DIR_HELP
)
@click.option("--detach", is_flag=True, help="Return once connected and leave both running.")
@click.option("--mode", type=click.Choice(["proxy", "sniff"]), default="proxy", show_default=True)
@click.option("--local-port", type=int, default=0, help="HTTP port of local (0: a free one).")
@click.option("--remote-port", type=int, default=0, help="HTTP port of remote (0: a free one).")
@click.pass_context
def demo(
    ctx: click.Context,
    workdir: Path,
    detach: bool,
    mode: str,
    local_port: int,
    remote_port: int,
) -> None:
    """Two clusters, a cross-cluster API key between them, a cross-cluster search."""
    if ctx.invoked_subcommand is not None:
        return
    from isthmus.cli.demo import run_demo

    sys.exit(run_demo(workdir, detach=detach, mode=mode, ports=(local_port, remote_port)))


@demo.command("stop")
@click.option(
    "--dir", "workdir", type=click.Path(path_type=Path), default=Path("demo"), help=_DIR_HELP
)
def demo_stop(workdir: Path) -> None:
    """Stop a demo left running with --detach."""
    from isthmus.cli.demo import stop_demo

    sys.exit(stop_demo(workdir))


def _prompt_keystore_password(conf: Path) -> Secret | None:
    """A password-protected keystore without ISTHMUS_KEYSTORE_PASSPHRASE_FILE: ask on a tty."""
    import getpass
    import os

    from isthmus.errors import IsthmusError
    from isthmus.security.keystore import keystore_exists, read_keystore_header
    from isthmus.settings.secret import Secret

    if os.environ.get("ISTHMUS_KEYSTORE_PASSPHRASE_FILE") or not keystore_exists(conf):
        return None
    try:
        if not read_keystore_header(conf).has_password:
            return None
    except IsthmusError:
        return None  # the node reports the damage itself, with the reason
    if not sys.stdin.isatty():
        return None
    return Secret(getpass.getpass("Enter password for the isthmus keystore : "))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
