"""``isthmus lab``: summon one failure of the troubleshooting guide on two real clusters.

``lab up <scenario>`` builds the pair with that scenario's fault (the same definitions the
integration tests assert, :mod:`isthmus.lab.scenarios`; for a replication failure of
:mod:`isthmus.lab.ccr_scenarios` it also follows a leader index and does the fault), waits
until its symptom shows, and leaves both nodes running for you to investigate. What was broken is only printed with
``--reveal``, so the lab works as an exercise. ``lab down`` stops and removes it. In the
scenarios with a relay in front of the remote, ``lab path <mode>`` breaks or heals the path
while the clusters run (``lab relay`` is the relay process itself).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from isthmus.cli.command import console as new_console
from isthmus.installation import isthmus_command

if TYPE_CHECKING:  # rich loads when a lab command runs, not with every `isthmus` command
    pass

_DIR = click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("lab"),
    show_default=True,
    help="Working directory of the lab (replaced by each `up`).",
)


@click.group("lab")
def lab_cli() -> None:
    """Two clusters with one deliberate fault from the troubleshooting guide."""


@lab_cli.command("list")
def lab_list() -> None:
    """The scenarios `lab up` knows."""
    from rich.table import Table

    from isthmus.lab.scenarios import lab_scenarios as scenarios

    table = Table(title="isthmus lab up <name> [--mode proxy|sniff] [--reveal]")
    table.add_column("name")
    table.add_column("symptom")
    table.add_column("modes")
    # Every scenario of either mode: some exist in proxy mode only, some in sniff mode only.
    by_mode = {"proxy": scenarios("proxy"), "sniff": scenarios("sniff")}
    for name, scenario in {**by_mode["proxy"], **by_mode["sniff"]}.items():
        modes = ", ".join(mode for mode, known in by_mode.items() if name in known)
        table.add_row(name, scenario.title, modes)
    new_console().print(table)


@lab_cli.command("up")
@click.argument("name")
@_DIR
@click.option("--mode", type=click.Choice(["proxy", "sniff"]), default="proxy", show_default=True)
@click.option("--reveal", is_flag=True, help="Also print what was broken and how to fix it.")
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=None,
    help="Nodes of the local cluster (default: the scenario's, 1 for most); several nodes "
    "form one cluster through etcd (its members on unix sockets in the lab folder).",
)
@click.option(
    "--remote-nodes",
    type=click.IntRange(1, 9),
    default=None,
    help="Nodes of the remote cluster (default: the scenario's); sniff mode connects to up to "
    "three of them.",
)
def lab_up(
    name: str,
    workdir: Path,
    mode: str,
    reveal: bool,
    nodes: int | None,
    remote_nodes: int | None,
) -> None:
    """Build and start scenario NAME, wait for its symptom, leave it running."""
    sys.exit(_up(name, workdir, mode, reveal, nodes, remote_nodes))


@lab_cli.command("down")
@_DIR
def lab_down(workdir: Path) -> None:
    """Stop the lab's nodes and remove its directory."""
    import shutil

    from isthmus.lab import session

    console = new_console()
    root = workdir.resolve()
    if not root.exists():
        console.print(f"no lab in {root}", markup=False)
        return
    if session.read_state(root) is None and not (root / "certs").is_dir():
        console.print(
            f"{root} is not an Isthmus lab directory; left alone", style="red", markup=False
        )
        sys.exit(1)
    stopped = session.stop(root)
    shutil.rmtree(root)
    console.print(f"stopped {len(stopped)} node(s) and removed {root}", markup=False)


@lab_cli.command("restart")
@click.argument("which")
@_DIR
def lab_restart(which: str, workdir: Path) -> None:
    """Restart one node of the lab (local, remote; local-2 ... in a multi-node lab) after
    editing its isthmus.yml, say, on the same ports."""
    from isthmus.lab import lifecycle, session

    console = new_console()
    root = workdir.resolve()
    if session.read_state(root) is None:
        console.print(f"no lab in {root}", style="red", markup=False)
        sys.exit(1)
    known = session.node_dirs(root)
    if which not in known:
        console.print(
            f"no node [{which}] in this lab (its nodes: {', '.join(known)})",
            style="red",
            markup=False,
        )
        sys.exit(2)
    try:
        node = lifecycle.restart(root, which)
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[{which}] did not start again: {exc}", style="red", markup=False)
        console.print(f"  read its log: {root / which / 'logs'}", markup=False)
        sys.exit(1)
    assert node.proc is not None
    console.print(
        f"restarted [{which}]: {node.url}   pid {node.proc.pid}   log: {node.log_file}",
        markup=False,
    )


@lab_cli.command("status")
@_DIR
def lab_status(workdir: Path) -> None:
    """What runs in the lab: nodes, pids, ports, config directories, health, _remote/info."""
    import orjson

    from isthmus.lab import lifecycle, session

    console = new_console()
    root = workdir.resolve()
    if session.read_state(root) is None and not (root / "local").is_dir():
        console.print(f"no lab in {root}", style="red", markup=False)
        sys.exit(1)
    info = lifecycle.status(root)
    console.print(
        f"lab {info['dir']}: scenario [{info['scenario']}] ({info['mode']} mode)", markup=False
    )
    for which, node in info["nodes"].items():
        pids = ", ".join(map(str, node["pids"])) or "not running"
        console.print(
            f"  {which:6} {node.get('url', '-')}   pids: {pids}   health: {node.get('health')}",
            markup=False,
        )
        ports = ", ".join(f"{k} {v}" for k, v in node["ports"].items())
        console.print(f"         ports: {ports}", markup=False)
        console.print(
            f"         config: {node['config']}   keystore: {node['keystore']}", markup=False
        )
    if "remote_info" in info:
        console.print("  local GET /_remote/info:", markup=False)
        console.print(
            "    " + orjson.dumps(info["remote_info"]).decode(), markup=False, highlight=False
        )


@lab_cli.command("path")
@click.argument("mode")
@click.option("--idle-cut", type=float, help="Close connections idle this many seconds (0: never).")
@click.option("--hold", type=float, help="Seconds a new connection waits in hold mode.")
@_DIR
def lab_path(mode: str, idle_cut: float | None, hold: float | None, workdir: Path) -> None:
    """Break or heal the path: switch the relay in front of the remote to MODE (pass, drop,
    blackhole, hold, reset, sni, connect) and close the connections open through it."""
    from isthmus.lab.relay_config import RelayConfig
    from isthmus.lab.relay_control import RelayError, RelayProcess

    console = new_console()
    home = workdir.resolve() / "relay"
    try:
        relay = RelayProcess.attach(home)
        current = relay.request({"op": "stats"})["config"]
        config = RelayConfig.from_json(
            {
                **current,
                "mode": mode,
                "idle_cut": current["idle_cut"] if idle_cut is None else (idle_cut or None),
                "hold": current["hold"] if hold is None else hold,
            }
        )
        relay.configure(config)
        closed = relay.cut()
    except (RelayError, ValueError, OSError) as exc:
        console.print(f"{exc}", style="red", markup=False)
        sys.exit(2 if isinstance(exc, ValueError) else 1)
    console.print(
        f"relay {relay.address}: mode [{config.mode}]"
        + (f", idle cut {config.idle_cut:g}s" if config.idle_cut else "")
        + f"; closed {closed} open connection(s)",
        markup=False,
    )


@lab_cli.command("relay")
@click.option(
    "--home", type=click.Path(path_type=Path), required=True, help="Where ports.json is written."
)
@click.option("--listen", default="127.0.0.1:0", show_default=True, help="host:port to relay on.")
@click.option(
    "--config",
    "config_json",
    required=True,
    help='The relay\'s mode as JSON, e.g. {"mode": "pass", "backend": "127.0.0.1:9443"}.',
)
def lab_relay(home: Path, listen: str, config_json: str) -> None:
    """Run the lab's TCP relay (drop, blackhole, hold, reset, idle cut, SNI, HTTP CONNECT)."""
    import asyncio

    import orjson

    from isthmus.lab.relay_config import RelayConfig, parse_address
    from isthmus.lab.relay_control import serve

    try:
        config = RelayConfig.from_json(orjson.loads(config_json))
        address = parse_address(listen)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise click.BadParameter(str(exc)) from None
    home.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(home, config, address))


def _lab_for(
    root: Path, scenario: Any, mode: str, nodes: int | None, remote_nodes: int | None = None
) -> Any:
    """The scenario's pair: one node per cluster, or the nodes its layout (or ``--nodes`` and
    ``--remote-nodes``) asks for."""
    from isthmus.lab.ccr_scenarios import CcrScenario
    from isthmus.lab.multinode import MultiNodeLab, NodesLayout
    from isthmus.lab.multinode_scenarios import MultiNodeScenario
    from isthmus.lab.topology import Lab

    spec = replace(scenario.spec, mode=mode)
    layout = scenario.layout if isinstance(scenario, MultiNodeScenario) else NodesLayout()
    if nodes is not None:
        if nodes < layout.local_nodes:
            raise ValueError(f"needs at least {layout.local_nodes} local nodes")
        layout = replace(layout, local_nodes=nodes)
    if remote_nodes is not None:
        if remote_nodes < layout.remote_nodes:
            raise ValueError(f"needs at least {layout.remote_nodes} remote nodes")
        layout = replace(layout, remote_nodes=remote_nodes)
    if not layout.multi and layout == NodesLayout():
        return Lab(root, spec, detached=True)
    if isinstance(scenario, CcrScenario):
        raise ValueError(
            "the replication scenarios run on one node per cluster (indices and shards are "
            "each node's own, not yet allocated across nodes)"
        )
    return MultiNodeLab(root, spec, layout, detached=True)


def _up(
    name: str,
    workdir: Path,
    mode: str,
    reveal: bool,
    nodes: int | None = None,
    remote_nodes: int | None = None,
) -> int:

    from isthmus.lab import ccr_lab, lifecycle, multinode_verify, session
    from isthmus.lab.ccr_scenarios import PASSWORD, CcrScenario
    from isthmus.lab.multinode import MultiNodeLab
    from isthmus.lab.multinode_scenarios import MultiNodeScenario
    from isthmus.lab.scenarios import lab_scenarios as scenarios
    from isthmus.lab.topology import ALIAS, ELASTIC_PASSWORD, INDEX, USER, USER_PASSWORD
    from isthmus.lab.verify import apply_fault, wait_for_symptom
    from isthmus.security.keystore import keystore_path

    console = new_console()
    known = scenarios(mode)
    if name not in known:
        other = "sniff" if mode == "proxy" else "proxy"
        why = f"unknown scenario [{name}]"
        if name in scenarios(other):
            why = f"scenario [{name}] exists in {other} mode only"
        console.print(
            f"{why}; `{isthmus_command()} lab list` shows them",
            style="red",
            markup=False,
        )
        return 2
    scenario = known[name]
    root = workdir.resolve()
    try:
        session.replace_dir(root)
    except FileExistsError as exc:
        console.print(f"{exc}", style="red", markup=False)
        return 1
    try:
        lab = _lab_for(root, scenario, mode, nodes, remote_nodes)
    except ValueError as exc:  # a layout the scenario cannot take (a relay, several remotes)
        console.print(f"scenario [{name}]: {exc}", style="red", markup=False)
        return 2
    try:
        with console.status(f"building scenario [{name}] ({mode} mode) ..."):
            lab.start()
            assert lab.local is not None and lab.remote is not None
            # A restart (lab restart, or by hand after editing isthmus.yml) keeps the ports.
            lifecycle.pin_ports(lab)
            assert lab.local.proc is not None and lab.remote.proc is not None
            relay_pid = [lab.relay.proc.pid] if lab.relay and lab.relay.proc else []
            every = [lab.remote, lab.local]
            if isinstance(lab, MultiNodeLab):
                every = [*lab.remote_nodes, *lab.local_nodes]
            session.write_state(
                root,
                {
                    "kind": "lab",
                    "scenario": name,
                    "mode": mode,
                    "pids": [n.proc.pid for n in every if n.proc is not None] + relay_pid,
                    "local": lab.local.url,
                    "remote": lab.remote.url,
                },
            )
            if isinstance(scenario, CcrScenario):  # a follower, its fault, its _ccr/stats
                problems = ccr_lab.summon(lab, scenario)[1]
            elif isinstance(lab, MultiNodeLab) and isinstance(scenario, MultiNodeScenario):
                multinode_verify.apply_fault(lab, scenario)
                problems = multinode_verify.wait_for_symptom(lab, scenario)[1]
            else:
                apply_fault(lab, scenario)
                problems = wait_for_symptom(lab, scenario)[1]
    except Exception as exc:
        console.print(
            f"the lab could not be built: {type(exc).__name__}: {exc}", style="red", markup=False
        )
        lab.stop()
        session.stop(root)
        return 1
    assert lab.local is not None and lab.remote is not None
    console.print(f"scenario [{name}] is up ({mode} mode) in {root}", style="green", markup=False)
    for line in lab.where():
        console.print(f"  {line}", markup=False)
    for node_name, node in (("local", lab.local), ("remote", lab.remote)):
        console.print(
            f"  {node_name:6} config: {node.config_dir}   keystore: {keystore_path(node.config_dir)}",
            markup=False,
        )
    console.print("  try:")
    asked = lab.local.url  # the node whose view shows the symptom
    if isinstance(lab, MultiNodeLab) and isinstance(scenario, MultiNodeScenario):
        asked = lab.local_nodes[scenario.observed_on - 1].url
    console.print(
        f"    curl -u elastic:{ELASTIC_PASSWORD} '{asked}/_remote/info?pretty'",
        markup=False,
    )
    console.print(
        f"    curl -u {USER}:{USER_PASSWORD} '{asked}/{ALIAS}:{INDEX}/_search?pretty'",
        markup=False,
    )
    if isinstance(scenario, CcrScenario):
        console.print(
            f"    curl -u {scenario.user}:{PASSWORD} "
            f"'{lab.local.url}/{scenario.follower}/_ccr/stats?pretty'   (follows "
            f"[{scenario.followed}] on [{ALIAS}] as [{scenario.user}])",
            markup=False,
        )
    console.print("    and read both log files")
    if reveal:
        console.print(f"\n{scenario.title}", style="bold", markup=False)
        console.print(f"  broken: {scenario.broken}", markup=False)
        console.print(f"  where it shows: {scenario.look}", markup=False)
        console.print(f"  fix: {scenario.fix}", markup=False)
        if problems:
            console.print(
                f"  the expected symptom did not fully show: {problems}",
                style="yellow",
                markup=False,
            )
        else:
            console.print("  [green]symptom verified[/green] (the same checks as the test suite)")
    elif problems:
        console.print(
            "[yellow]  (the expected symptom did not fully show; --reveal says more)[/yellow]"
        )
    command = isthmus_command()
    console.print(
        f"\nrestart a node (same ports, after editing its isthmus.yml): "
        f"{command} lab restart local|remote --dir {workdir}",
        markup=False,
    )
    console.print(f"what runs where: {command} lab status --dir {workdir}", markup=False)
    console.print(f"stop and remove it with: {command} lab down --dir {workdir}", markup=False)
    return 0
