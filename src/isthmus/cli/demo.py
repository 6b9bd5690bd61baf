"""``isthmus demo``: two clusters trusting each other through a cross-cluster API key, a
cross-cluster search answering, and a follower index replicating a remote index — the quick
start.

Every step is the lab's (:mod:`isthmus.lab.topology`), shown as it runs; a failing step is named
with the log file that explains it. ``--detach`` returns once connected and leaves both nodes
running; ``isthmus demo stop`` stops them. Nodes run in a session of their own, so Ctrl-C
reaches only this command, which then stops them cleanly.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from isthmus.cli.command import console as new_console
from isthmus.installation import isthmus_command
from isthmus.lab import session
from isthmus.lab.topology import (
    ALIAS,
    USER,
    USER_PASSWORD,
    Lab,
    LabSpec,
)
from isthmus.testing.process import NodeProcess

ARTICLES = "articles"
FOLLOWER = f"{ARTICLES}-copy"  # on local, following remote's articles (CCR)
REPLICATOR, REPLICATOR_PASSWORD = "replicator", "replicator-password"
_DATA = Path(__file__).resolve().parent.parent / "lab" / "data" / "articles.ndjson"


class StepFailed(Exception):
    def __init__(self, step: str, cause: BaseException, log: Path | None) -> None:
        super().__init__(step)
        self.step = step
        self.cause = cause
        self.log = log


def _articles() -> list[dict[str, Any]]:
    return [json.loads(line) for line in _DATA.read_text().splitlines() if line.strip()]


def demo_spec() -> LabSpec:
    return LabSpec(
        mode="proxy",
        key_access={"search": [{"names": [ARTICLES]}], "replication": [{"names": [ARTICLES]}]},
        sample_index=False,  # the demo searches its articles only
        user_remote_indices=(
            {"clusters": [ALIAS], "names": ["*"], "privileges": ["read", "read_cross_cluster"]},
        ),
    )


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def run_demo(
    workdir: Path,
    *,
    detach: bool = False,
    mode: str = "proxy",
    ports: tuple[int, int] = (0, 0),
) -> int:
    """``ports``: the HTTP ports of local and remote (0: any free one)."""
    console = new_console()
    root = workdir.resolve()
    try:
        stopped = session.replace_dir(root)
    except FileExistsError as exc:
        console.print(f"{exc}", style="red", markup=False)
        return 1
    if stopped:
        console.print(
            f"replaced the previous demo in {root} (stopped pids {stopped})", markup=False
        )
    for name, port in zip(("--local-port", "--remote-port"), ports, strict=True):
        if port and _busy(port):
            console.print(
                f"✗ port {port} on 127.0.0.1 is already in use; choose another with {name} "
                "(0 picks a free one)",
                style="red",
                markup=False,
            )
            return 1
    spec = demo_spec()
    if mode != spec.mode:
        from dataclasses import replace

        spec = replace(spec, mode=mode)
    lab = Lab(root, spec, detached=True)
    try:
        _bring_up(lab, console, ports)
        _search(lab, console)
        _follow(lab, console)
    except StepFailed as exc:
        console.print(f"✗ step failed: {exc.step}", style="red", markup=False)
        console.print(f"  {type(exc.cause).__name__}: {exc.cause}", markup=False)
        if exc.log is not None:
            console.print(f"  read the log: {exc.log}", markup=False)
        lab.stop()
        session.stop(root)
        return 1
    except BaseException:
        lab.stop()
        raise
    _how_to_reach(lab, console)
    if detach:
        console.print(
            f"\nleft running; stop with: {isthmus_command()} demo stop --dir {workdir}",
            markup=False,
        )
        return 0
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    console.print("\nboth clusters are up; press Ctrl-C to stop them")
    done.wait()
    with console.status("stopping both clusters ..."):
        lab.stop()
        session.stop(root)
    console.print("stopped")
    return 0


def _bring_up(lab: Lab, console: Console, ports: tuple[int, int]) -> None:
    @contextlib.contextmanager
    def step(name: str, node: NodeProcess | None) -> Iterator[None]:
        started = time.monotonic()
        with console.status(f"{escape(name)} ..."):
            try:
                yield
            except Exception as exc:
                raise StepFailed(name, exc, _log_of(node)) from exc
        console.print(
            f"[green]✓[/green] {escape(name)} [dim]({time.monotonic() - started:.1f}s)[/dim]"
        )

    with step("create CAs, certificates and keystores", None):
        lab.build()
    assert lab.local is not None and lab.remote is not None
    lab.local.settings["http.port"], lab.remote.settings["http.port"] = ports
    lab.start(step=step)
    assert lab.local is not None and lab.remote is not None and lab.remote.proc is not None
    assert lab.local.proc is not None
    session.write_state(
        lab.root,
        {
            "kind": "demo",
            "pids": [lab.remote.proc.pid, lab.local.proc.pid],
            "local": lab.local.url,
            "remote": lab.remote.url,
        },
    )
    with step(f"load the sample articles on remote ({_DATA.name})", lab.remote):
        lab.load_documents(ARTICLES, _articles())
    with step(f"wait for remote cluster [{ALIAS}] to connect", lab.local):
        info = lab.wait_connected()
        if not info.get("connected"):
            raise RuntimeError(f"_remote/info says: {info}")


def _log_of(node: NodeProcess | None) -> Path | None:
    if node is None:
        return None
    return node.log_file if node.log_file.exists() else node.home / "stderr.log"


def _search(lab: Lab, console: Console) -> dict[str, Any]:
    """The cross-cluster search, over plain HTTP: the demo ships with Isthmus and must not need
    the official client (a development dependency); its output shows how to use the client."""
    from isthmus.lab.topology import _call as rest_call

    assert lab.local is not None
    console.print("\n[bold]GET /_remote/info[/bold] (local cluster)")
    console.print_json(data=lab.remote_info())
    query = {"query": {"match": {"title": "remote cluster"}}, "size": 5}
    try:
        result = rest_call(lab.user_url, "POST", f"/{ALIAS}:{ARTICLES}/_search", query)
    except Exception as exc:
        raise StepFailed("cross-cluster search", exc, _log_of(lab.local)) from exc
    table = Table(
        title=escape(
            f'cross-cluster search as [{USER}]: GET {ALIAS}:{ARTICLES}/_search, match title "remote cluster"'
        )
    )
    for column in ("_index", "_id", "_score", "title"):
        table.add_column(column)
    for hit in result["hits"]["hits"]:
        table.add_row(hit["_index"], hit["_id"], f"{hit['_score']:.3f}", hit["_source"]["title"])
    console.print(table)
    clusters = result["_clusters"]
    console.print(
        f"_clusters: total {clusters['total']}, successful {clusters['successful']}, "
        f"skipped {clusters['skipped']}; hits {result['hits']['total']['value']}"
    )
    return result


# The follow user's privileges, as ES's create follower API asks: manage_ccr on the local
# cluster, manage_follow_index (with write and monitor) on the follower, and the replication
# privileges on the leader through the alias.
_REPLICATOR_ROLE: dict[str, Any] = {
    "cluster": ["manage_ccr", "monitor"],
    "indices": [
        {"names": [FOLLOWER], "privileges": ["manage_follow_index", "write", "monitor", "read"]}
    ],
    "remote_indices": [
        {
            "clusters": [ALIAS],
            "names": [ARTICLES],
            "privileges": ["cross_cluster_replication", "cross_cluster_replication_internal"],
        }
    ],
}


def _follow(lab: Lab, console: Console, timeout: float = 30.0) -> dict[str, Any]:
    """Cross-cluster replication: a follower of remote's articles on local, made by a user
    with the follow privileges, then its ``_ccr/stats``: the follower's checkpoint against the
    leader's (the lag). Over plain HTTP, like the search."""
    from isthmus.lab.topology import _call as rest_call
    from isthmus.lab.topology import _with_user

    assert lab.local is not None
    replicator = _with_user(lab.local.url, REPLICATOR, REPLICATOR_PASSWORD)
    step = f"follow {ALIAS}:{ARTICLES} into [{FOLLOWER}] as [{REPLICATOR}]"
    try:
        rest_call(lab.local_url, "PUT", f"/_security/role/{REPLICATOR}", _REPLICATOR_ROLE)
        user = {"password": REPLICATOR_PASSWORD, "roles": [REPLICATOR]}
        rest_call(lab.local_url, "PUT", f"/_security/user/{REPLICATOR}", user)
        body = {"remote_cluster": ALIAS, "leader_index": ARTICLES}
        rest_call(replicator, "PUT", f"/{FOLLOWER}/_ccr/follow", body)
        deadline = time.monotonic() + timeout
        while True:
            stats = rest_call(replicator, "GET", f"/{FOLLOWER}/_ccr/stats")
            shards = stats["indices"][0]["shards"]
            behind = [
                s for s in shards if s["follower_global_checkpoint"] < s["leader_global_checkpoint"]
            ]
            if not behind or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    except Exception as exc:
        raise StepFailed(step, exc, _log_of(lab.local)) from exc
    console.print(f"\n[bold]{escape(step)}[/bold]: PUT /{FOLLOWER}/_ccr/follow")
    table = Table(title=escape(f"GET /{FOLLOWER}/_ccr/stats (local cluster)"))
    for column in ("shard", "leader checkpoint", "follower checkpoint", "lag", "ops written"):
        table.add_column(column)
    for shard in shards:
        leader, follower = shard["leader_global_checkpoint"], shard["follower_global_checkpoint"]
        table.add_row(
            str(shard["shard_id"]),
            str(leader),
            str(follower),
            str(leader - follower),
            str(shard["operations_written"]),
        )
    console.print(table)
    lag = stats["indices"][0]["total_global_checkpoint_lag"]
    console.print(
        f"total_global_checkpoint_lag {lag}"
        + (" (caught up)" if not behind else f" (still behind after {timeout:g}s)")
    )
    return stats


def _how_to_reach(lab: Lab, console: Console) -> None:
    assert lab.local is not None and lab.remote is not None
    files = lab.pki.files
    console.print("\n[bold]How to reach them[/bold]")
    for line in lab.where():
        console.print(f"  {line}", markup=False)
    console.print(
        f"  remote cluster server (API-key model): {lab.remote_cluster_address()}", markup=False
    )
    console.print(f"  remote cluster server CA: {files['remote-server-ca']}", markup=False)
    console.print(
        f"  transport CAs: {files['local-transport-ca']}, {files['remote-transport-ca']}",
        markup=False,
    )
    console.print("\n  curl:")
    console.print(
        f"    curl -u {USER}:{USER_PASSWORD} '{lab.local.url}/{ALIAS}:{ARTICLES}/_search?q=security&pretty'",
        soft_wrap=True,
    )
    console.print(
        f"    curl -u {REPLICATOR}:{REPLICATOR_PASSWORD} '{lab.local.url}/{FOLLOWER}/_ccr/stats?pretty'",
        soft_wrap=True,
    )
    console.print("  Python (the official client: pip install elasticsearch):")
    console.print(
        "    from elasticsearch import Elasticsearch\n"
        f"    es = Elasticsearch('{lab.local.url}', basic_auth=('{USER}', '{USER_PASSWORD}'))\n"
        f"    print(es.search(index='{ALIAS}:{ARTICLES}', q='security'))",
        soft_wrap=True,
        highlight=False,
    )


def stop_demo(workdir: Path) -> int:
    console = new_console()
    root = workdir.resolve()
    if not root.exists():
        console.print(f"no demo in {root}", markup=False)
        return 0
    stopped = session.stop(root)
    console.print(
        f"stopped {len(stopped)} node(s) in {root}" if stopped else f"nothing running in {root}"
    )
    return 0
