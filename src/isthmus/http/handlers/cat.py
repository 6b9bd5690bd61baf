"""``_cat`` APIs: aligned text tables (``v``, ``h``, ``s``, ``bytes``) or JSON (``format=json``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import IndicesOptions, resolve
from isthmus.cluster.routing_rows import EXTRA_SHARD_COLUMNS, allocation_rows, shard_rows
from isthmus.cluster.shard_health import IndexHealth
from isthmus.errors import IllegalArgumentError
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, bool_param, json_object
from isthmus.http.router import Request, Response, Route, route

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions, NodeIdentity
    from isthmus.actions.indices import IndicesActions
    from isthmus.actions.search import SearchActions
    from isthmus.cluster.metadata import IndexMetadata
    from isthmus.cluster.service import ClusterService
    from isthmus.index.service import IndicesService
    from isthmus.security.index_authorization import IndexAuthorization

CAT_PARAMS = ("v", "h", "s", "help", "bytes", "time", "local", "master_timeout", "format")
# _cat/shards columns of a cluster of several nodes (ES's aliases).
SHARD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "unassigned.reason": ("ur",),
    "unassigned.at": ("ua",),
    "unassigned.for": ("uf",),
    "unassigned.details": ("ud",),
}


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("b", "kb", "mb", "gb", "tb"):
        if size < 1024 or unit == "tb":
            return f"{int(size)}{unit}" if unit == "b" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}b"


# ES's column aliases (its cat handlers' ``alias:`` attributes): ``h`` and ``s`` take them, and a
# column asked for by an alias is shown under that alias (text header and JSON key).
ALIASES: dict[str, tuple[str, ...]] = {
    # _cat/indices
    "health": ("h",),
    "status": ("s",),
    "index": ("i", "idx"),
    "uuid": ("id", "uuid"),
    "pri": ("p", "shards.primary", "shardsPrimary"),
    "rep": ("r", "shards.replica", "shardsReplica"),
    "docs.count": ("dc", "docsCount"),
    "docs.deleted": ("dd", "docsDeleted"),
    "store.size": ("ss", "storeSize"),
    # _cat/health and _cat/count
    "epoch": ("t", "time"),
    "timestamp": ("ts", "hms", "hhmmss"),
    "cluster": ("cl",),
    "node.total": ("nt", "nodeTotal"),
    "node.data": ("nd", "nodeData"),
    "shards": ("t", "sh", "shards.total", "shardsTotal"),
    "relo": ("r", "shards.relocating", "shardsRelocating"),
    "init": ("i", "shards.initializing", "shardsInitializing"),
    "unassign": ("u", "shards.unassigned", "shardsUnassigned"),
    "unassign.pri": ("up", "shards.unassigned.primary", "shardsUnassignedPrimary"),
    "pending_tasks": ("pt", "pendingTasks"),
    "max_task_wait_time": ("mtwt", "maxTaskWaitTime"),
    "active_shards_percent": ("asp", "activeShardsPercent"),
    "count": ("dc", "docs.count", "docsCount"),
    # _cat/aliases
    "alias": ("a",),
    "filter": ("f", "fi"),
    "routing.index": ("ri", "routingIndex"),
    "routing.search": ("rs", "routingSearch"),
    "is_write_index": ("w", "isWriteIndex"),
    # _cat/shards
    "shard": ("s", "sh"),
    "prirep": ("p", "pr", "primaryOrReplica"),
    "state": ("st",),
    "docs": ("d", "dc"),
    "store": ("sto",),
    "node": ("n",),
    # _cat/nodes
    "ip": ("i",),
    "heap.percent": ("hp", "heapPercent"),
    "ram.percent": ("rp", "ramPercent"),
    "load_1m": ("l",),
    "load_5m": ("l",),
    "load_15m": ("l",),
    "node.role": ("r", "role", "nodeRole"),
    "master": ("m",),
    "name": ("n",),
    "port": ("po",),
    "http_address": ("http",),
}


def _headers(
    wanted: list[str], columns: list[str], aliases: Mapping[str, tuple[str, ...]]
) -> list[tuple[str, str]]:
    """ES's RestTable rules for ``h``: (column, shown as) pairs. A wildcard adds every column
    whose name or alias it matches; a name or alias of this table adds its column; any other
    name is dropped (ES's buildDisplayHeaders skips what it cannot find)."""
    requested: list[str] = []
    for header in wanted:
        if "*" in header:
            for column in columns:
                names = (column, *aliases.get(column, ()))
                if any(simple_match(n, header) for n in names) and column not in requested:
                    requested.append(column)
        elif header not in requested:
            requested.append(header)
    out: list[tuple[str, str]] = []
    for header in requested:
        if header in columns:
            out.append((header, header))
            continue
        found = _column(header, columns, aliases)
        if found is not None:  # a name the table does not have is left out, as ES does
            out.append((found, header))
    return out


def _column(name: str, columns: list[str], aliases: Mapping[str, tuple[str, ...]]) -> str | None:
    if name in columns:
        return name
    # Two columns may share an alias (``t`` in _cat/health): as in ES, the later one answers.
    matches = [c for c in columns if name in aliases.get(c, ())]
    return matches[-1] if matches else None


def render(
    req: Request,
    columns: list[str],
    rows: list[dict[str, Any]],
    aliases: Mapping[str, tuple[str, ...]] = ALIASES,
) -> Response:
    """The rows as ES renders a cat table; ``h`` selects and ``s`` sorts columns (by name or
    alias)."""
    selected = [(c, c) for c in columns]
    if "h" in req.params:
        wanted = [c.strip() for c in req.params["h"].split(",") if c.strip()]
        selected = _headers(wanted, columns, aliases)
    if "s" in req.params:
        for key in reversed([k.strip() for k in req.params["s"].split(",") if k.strip()]):
            name, _, order = key.partition(":")
            column = _column(name, columns, aliases)
            if column is None:
                raise IllegalArgumentError(f"Unable to sort by unknown sort key `{name}`")
            rows.sort(key=_sort_key(column), reverse=order == "desc")
    if req.params.get("format") == "json":
        return Response(200, [{shown: _text(r.get(c)) for c, shown in selected} for r in rows])
    if "help" in req.params:
        return Response(200, "".join(f"{c} | {','.join(aliases.get(c, ()))} | \n" for c in columns))
    table = [[_text(r.get(c)) for c, _ in selected] for r in rows]
    if "v" in req.params and req.params["v"] != "false":
        table.insert(0, [shown for _, shown in selected])
    widths = [max((len(row[i]) for row in table), default=0) for i in range(len(selected))]
    lines = [
        " ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n"
        for row in table
    ]
    return Response(200, "".join(lines), content_type="text/plain; charset=UTF-8")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    return lambda row: (row.get(name) is None, _sortable(row.get(name)))


def _sortable(value: Any) -> Any:
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return float(value)
    return value if isinstance(value, int | float) else str(value)


@dataclass(frozen=True)
class CatApiDeps:
    """What the ``_cat`` handlers use. ``authz`` is None exactly when security is off: then no request is narrowed or filtered."""

    node: NodeIdentity
    cluster: ClusterService
    indices: IndicesService  # the shards, for ``_cat/indices`` and ``_cat/shards``
    cluster_actions: ClusterActions
    indices_actions: IndicesActions
    search: SearchActions  # ``_cat/count``
    authz: IndexAuthorization | None


def routes(s: CatApiDeps) -> list[Route]:
    def size(req: Request, n: int) -> str | int:
        unit = req.params.get("bytes")
        if unit is None:
            return _human_bytes(n)
        div = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}.get(unit, 1)
        return n // div

    async def cat_health(req: Request) -> Response:
        h = s.cluster_actions.health_body(None)
        now = time.time()
        row = {
            "epoch": int(now),
            "timestamp": time.strftime("%H:%M:%S", time.gmtime(now)),
            "cluster": h["cluster_name"],
            "status": h["status"],
            "node.total": h["number_of_nodes"],
            "node.data": h["number_of_data_nodes"],
            "shards": h["active_shards"],
            "pri": h["active_primary_shards"],
            "relo": h["relocating_shards"],
            "init": h["initializing_shards"],
            "unassign": h["unassigned_shards"],
            "unassign.pri": h["unassigned_primary_shards"],
            "pending_tasks": 0,
            "max_task_wait_time": "-",
            "active_shards_percent": f"{h['active_shards_percent_as_number']:.1f}%",
        }
        # _cat/health calls its status column "st" (the indices table calls it "s").
        return render(req, list(row), [row], {**ALIASES, "status": ("st",)})

    async def cat_nodes(req: Request) -> Response:
        # Every node of the view; the load columns are known for this node only (another node's
        # cells stay empty until nodes answer each other's stats requests).
        nodes = s.node.view.nodes
        full_id = bool_param(req, "full_id")
        local = (await s.cluster_actions.nodes_stats("_local"))["nodes"][s.node.node_id]
        rows = []
        for node in nodes:
            stats = local if node.id == nodes.local_node_id else None
            load = stats["os"]["cpu"]["load_average"] if stats else None
            rows.append(
                {
                    "ip": node.host_address,
                    "heap.percent": 0 if stats else None,
                    "ram.percent": stats["os"]["mem"]["used_percent"] if stats else None,
                    "cpu": stats["os"]["cpu"]["percent"] if stats else None,
                    "load_1m": f"{load['1m']:.2f}" if load else None,
                    "load_5m": f"{load['5m']:.2f}" if load else None,
                    "load_15m": f"{load['15m']:.2f}" if load else None,
                    "node.role": node.role_letters(),
                    "master": "*" if node.id == nodes.master_node_id else "-",
                    "name": node.name,
                    "id": node.id if full_id else node.id[:4],
                    "port": node.transport_address.rsplit(":", 1)[1],
                    "http_address": node.http_address,
                }
            )
        cols = [
            "ip",
            "heap.percent",
            "ram.percent",
            "cpu",
            "load_1m",
            "load_5m",
            "load_15m",
            "node.role",
            "master",
            "name",
        ]
        return (
            render(req, [*cols, "id", "port", "http_address"], rows)
            if "h" in req.params
            else render(req, cols, rows)
        )

    async def cat_indices(req: Request) -> Response:
        wanted_health = req.params.get("health")
        if wanted_health is not None and wanted_health.lower() not in ("green", "yellow", "red"):
            raise IllegalArgumentError(f"unknown cluster health status [{wanted_health}]")
        targets = s.indices_actions.resolve(
            req.path_params.get("index"),
            req.params,
            IndicesOptions(expand_open=True, expand_closed=True, forbid_closed=False),
        )
        rows = []
        # A cluster of several nodes: every node's copies (docs of the primaries, store of all).
        gathered = await s.indices_actions.copy_statistics([t.index for t in targets])
        for t in targets:
            meta = t.index
            docs = deleted = store = 0
            pri_store = None
            if gathered is not None:
                held = [c for c in gathered if c.index_uuid == meta.uuid]
                docs = sum(c.docs for c in held if c.primary)
                deleted = sum(c.deleted for c in held if c.primary)
                store = sum(c.store_bytes for c in held)
                pri_store = sum(c.store_bytes for c in held if c.primary)
            for shard in [] if gathered is not None else s.indices.shards_of(meta):
                st = shard.engine.stats()
                docs, deleted, store = (
                    docs + st.docs,
                    deleted + st.deleted_docs,
                    store + st.store_bytes,
                )
            opened = meta.is_open
            # Closed indices keep their shards (and so a health) in ES; their stats are empty.
            health = s.cluster_actions.index_health(meta)
            if wanted_health is not None and health != wanted_health.lower():
                continue
            rows.append(
                {
                    "health": health,
                    "status": meta.state,
                    "index": meta.name,
                    "uuid": meta.uuid,
                    "pri": meta.number_of_shards,
                    "rep": meta.number_of_replicas,
                    "docs.count": docs if opened else None,
                    "docs.deleted": deleted if opened else None,
                    "store.size": size(req, store) if opened else None,
                    "pri.store.size": size(req, store if pri_store is None else pri_store)
                    if opened
                    else None,
                    "dataset.size": size(req, store) if opened else None,
                }
            )
        rows.sort(key=lambda r: str(r["index"]))
        cols = [
            "health",
            "status",
            "index",
            "uuid",
            "pri",
            "rep",
            "docs.count",
            "docs.deleted",
            "store.size",
            "pri.store.size",
            "dataset.size",
        ]
        return render(req, cols, rows)

    async def cat_count(req: Request) -> Response:
        result = await s.search.count(req.path_params.get("index"), json_object(req), {})
        now = time.time()
        row = {
            "epoch": int(now),
            "timestamp": time.strftime("%H:%M:%S", time.gmtime(now)),
            "count": result["count"],
        }
        return render(req, list(row), [row])

    def visible(req: Request, action: str) -> tuple[set[str], Callable[[str], bool]]:
        """The indices the guard narrowed this request to, and a test for other names (alias
        names) under the same action: a listing shows only what the caller may see."""
        state = s.cluster.state
        if s.authz is None or req.subject is None:
            return set(state.indices), lambda _name: True
        options = IndicesOptions(
            ignore_unavailable=True, expand_closed=True, expand_hidden=True, forbid_closed=False
        )
        narrowed = resolve(state, req.path_params.get("index"), options)
        names = {t.index.name for t in narrowed}
        authz, subject = s.authz, req.subject
        return names, lambda name: authz.authorizer.index_access(subject, action, name).granted

    async def cat_aliases(req: Request) -> Response:
        rows = []
        indices, may_see = visible(req, "indices:admin/aliases/get")
        for meta in s.cluster.state.indices.values():
            if meta.name not in indices:
                continue
            for name, alias in meta.aliases.items():
                if not may_see(name):
                    continue
                rows.append(
                    {
                        "alias": name,
                        "index": meta.name,
                        "filter": "*" if alias.filter else "-",
                        "routing.index": alias.index_routing or "-",
                        "routing.search": alias.search_routing or "-",
                        "is_write_index": "-"
                        if alias.is_write_index is None
                        else str(alias.is_write_index).lower(),
                    }
                )
        rows.sort(key=lambda r: (r["alias"], r["index"]))
        return render(
            req,
            ["alias", "index", "filter", "routing.index", "routing.search", "is_write_index"],
            rows,
        )

    async def cat_shards(req: Request) -> Response:
        rows = []
        indices, _ = visible(req, "indices:monitor/stats")
        if req.path_params.get("index") is not None:
            named = s.indices_actions.resolve(
                req.path_params["index"],
                req.params,
                IndicesOptions(expand_open=True, expand_closed=True, forbid_closed=False),
            )
            indices &= {t.index.name for t in named}
        if s.cluster.state.routing:
            return routed_shards(req, indices)
        for meta in sorted(s.cluster.state.indices.values(), key=lambda m: m.name):
            if meta.name not in indices:
                continue
            for n in range(meta.number_of_shards):
                shard = next((x for x in s.indices.shards_of(meta) if x.shard_id.shard == n), None)
                st = shard.engine.stats() if shard else None
                rows.append(
                    {
                        "index": meta.name,
                        "shard": n,
                        "prirep": "p",
                        "state": "STARTED" if shard else "UNASSIGNED",
                        "docs": st.docs if st else None,
                        "store": size(req, st.store_bytes) if st else None,
                        "ip": s.cluster_actions.node_base()["ip"] if shard else None,
                        "node": s.node.settings.node_name if shard else None,
                    }
                )
                for _ in range(meta.number_of_replicas):
                    rows.append(
                        {"index": meta.name, "shard": n, "prirep": "r", "state": "UNASSIGNED"}
                    )
        columns = ["index", "shard", "prirep", "state", "docs", "store", "ip", "node"]
        # Here "ip" has no alias ("i" is the index), unlike in _cat/nodes.
        return render(req, columns, rows, {**ALIASES, "ip": ()})

    def local_stats(meta: IndexMetadata, number: int) -> tuple[int, int] | None:
        shard = next((x for x in s.indices.shards_of(meta) if x.shard_id.shard == number), None)
        if shard is None:
            return None
        st = shard.engine.stats()
        return st.docs, st.store_bytes

    def routed_shards(req: Request, indices: set[str]) -> Response:
        """A cluster of several nodes: every copy, from the routing table."""
        now = int(time.time() * 1000)
        rows = shard_rows(s.cluster.state, s.node.view.nodes, indices, local_stats, now)
        for row in rows:
            stored = row.pop("store_bytes")
            row["store"] = None if stored is None else size(req, stored)
        columns = ["index", "shard", "prirep", "state", "docs", "store", "ip", "node"]
        if "h" in req.params:
            columns += EXTRA_SHARD_COLUMNS
        return render(req, columns, rows, {**ALIASES, "ip": (), **SHARD_ALIASES})

    async def cat_allocation(req: Request) -> Response:
        state, nodes = s.cluster.state, s.node.view.nodes
        if state.routing or len(nodes) > 1:
            rows = allocation_rows(state, nodes)
        else:  # a cluster of one: its running primaries; every replica is unassigned
            healths = [
                IndexHealth.of(m, (x.shard_id.shard for x in s.indices.shards_of(m)))
                for m in state.indices.values()
            ]
            local = nodes.local_node
            rows = [
                {
                    "shards": sum(h.totals()["active_shards"] for h in healths),
                    "host": local.host_name,
                    "ip": local.host_address,
                    "node": local.name,
                    "node.role": local.role_letters(),
                }
            ]
            unassigned = sum(h.totals()["unassigned_shards"] for h in healths)
            if unassigned:
                rows.append({"shards": unassigned, "node": "UNASSIGNED"})
        if req.path_params.get("node_id") is not None:
            named = {n.name for n in nodes.resolve(req.path_params["node_id"])}
            rows = [r for r in rows if r["node"] in named]
        columns = ["shards", "host", "ip", "node"]
        if "h" in req.params:
            columns.append("node.role")
        return render(req, columns, rows, {**ALIASES, "shards": ("s",), "ip": (), "node": ("n",)})

    async def cat_root(req: Request) -> Response:
        return Response(
            200,
            "=^.^=\n/_cat/health\n/_cat/nodes\n/_cat/indices\n"
            "/_cat/indices/{index}\n/_cat/count\n/_cat/count/{index}\n"
            "/_cat/aliases\n/_cat/shards\n/_cat/allocation\n",
        )

    idx_params = (
        *CAT_PARAMS,
        "health",
        "pri",
        "include_unloaded_segments",
        "expand_wildcards",
        *COMMON_INDICES_PARAMS,
    )
    return [
        route("GET", "/_cat", cat_root, action="cluster:monitor/main"),
        route(
            "GET",
            "/_cat/health",
            cat_health,
            params=(*CAT_PARAMS, "ts"),
            action="cluster:monitor/health",
        ),
        route(
            "GET",
            "/_cat/nodes",
            cat_nodes,
            params=(*CAT_PARAMS, "full_id", "include_unloaded_segments"),
            action="cluster:monitor/nodes/info",
        ),
        route(
            "GET", "/_cat/indices", cat_indices, params=idx_params, action="indices:monitor/stats"
        ),
        route(
            "GET",
            "/_cat/indices/{index}",
            cat_indices,
            params=idx_params,
            action="indices:monitor/stats",
        ),
        route(
            ("GET", "POST"),
            "/_cat/count",
            cat_count,
            params=CAT_PARAMS,
            action="indices:data/read/search",
        ),
        route(
            ("GET", "POST"),
            "/_cat/count/{index}",
            cat_count,
            params=CAT_PARAMS,
            action="indices:data/read/search",
        ),
        route(
            "GET",
            "/_cat/aliases",
            cat_aliases,
            params=CAT_PARAMS,
            action="indices:admin/aliases/get",
        ),
        route("GET", "/_cat/shards", cat_shards, params=CAT_PARAMS, action="indices:monitor/stats"),
        route(
            "GET",
            "/_cat/allocation",
            cat_allocation,
            params=CAT_PARAMS,
            action="cluster:monitor/state",
        ),
        route(
            "GET",
            "/_cat/allocation/{node_id}",
            cat_allocation,
            params=CAT_PARAMS,
            action="cluster:monitor/state",
        ),
        route(
            "GET",
            "/_cat/shards/{index}",
            cat_shards,
            params=(*CAT_PARAMS, "expand_wildcards", *COMMON_INDICES_PARAMS),
            action="indices:monitor/stats",
        ),
    ]
