"""``isthmus demo``: one node with embedded defaults, sample data, a search — the quick start.

(The two-cluster remote demo replaces this once remote clusters land.)
"""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

from rich.console import Console
from rich.table import Table

from isthmus.testing.process import NodeProcess

SAMPLE = [
    {"title": "Remote clusters connect in sniff or proxy mode", "topic": "remote", "year": 2019},
    {
        "title": "Cross-cluster search queries indices on remote clusters",
        "topic": "ccs",
        "year": 2018,
    },
    {"title": "Cross-cluster replication follows leader indices", "topic": "ccr", "year": 2018},
    {"title": "API keys secure the remote cluster interface", "topic": "security", "year": 2023},
    {"title": "Certificates secure the transport interface", "topic": "security", "year": 2016},
]


def run_demo(workdir: Path, *, detach: bool = False) -> int:
    from elasticsearch import Elasticsearch

    console = Console()
    home = workdir.resolve() / "node"
    if home.exists():
        shutil.rmtree(home)
    node = NodeProcess(home, {"cluster.name": "demo", "node.name": "demo-node"})
    with console.status("starting node ..."):
        try:
            node.start()
        except (RuntimeError, TimeoutError) as exc:
            console.print(f"[red]node failed to start[/red]: {exc}\nsee {home / 'stderr.log'}")
            return 1
    console.print(f"[green]node up[/green] at {node.url} (logs: {node.log_file})")
    es = Elasticsearch(node.url)
    info = es.info()
    console.print(
        f"GET / → cluster [bold]{info['cluster_name']}[/bold], version {info['version']['number']}"
    )
    ops: list[dict[str, object]] = []
    for i, doc in enumerate(SAMPLE):
        ops += [{"index": {"_index": "articles", "_id": str(i + 1)}}, doc]
    resp = es.bulk(operations=ops, refresh=True)
    console.print(f"indexed {len(resp['items'])} documents (errors: {resp['errors']})")
    result = es.search(
        index="articles",
        query={"match": {"title": "remote cluster"}},
        highlight={"fields": {"title": {}}},
    )
    table = Table(title='search: match title "remote cluster"')
    for col in ("_id", "_score", "title"):
        table.add_column(col)
    for hit in result["hits"]["hits"]:
        marked = hit.get("highlight", {}).get("title", [hit["_source"]["title"]])[0]
        table.add_row(hit["_id"], f"{hit['_score']:.3f}", marked)
    console.print(table)
    console.print(f"try: curl '{node.url}/articles/_search?q=security&pretty'")
    if detach:
        console.print(
            f"node left running (pid file: none); stop it with: kill {node.proc.pid if node.proc else '?'}"
        )
        return 0
    console.print("press Ctrl-C to stop")
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    node.stop()
    console.print("stopped")
    return 0
