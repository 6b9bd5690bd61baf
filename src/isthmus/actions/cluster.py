"""Cluster actions: health, dynamic cluster settings, node info and stats.

Dynamic settings are validated against the registry (ES's messages), persisted with the cluster
metadata (persistent) or kept in memory (transient), and handed to registered consumers — the
logging levels now, remote clusters next.
"""

from __future__ import annotations

import asyncio
import operator
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import psutil

from isthmus import ES_COMPAT_VERSION, LUCENE_VERSION, xcontent
from isthmus.actions.node_info import BUILD_HASH as BUILD_HASH  # where the handlers read it
from isthmus.actions.node_info import (
    InfoRequest,
    LocalFacts,
    local_info,
    nodes_header,
    nodes_info,
)
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.nodes import INDEX_VERSION, DiscoveryNode, NodesView
from isthmus.cluster.resolve import IndicesOptions, resolve
from isthmus.cluster.service import ClusterService
from isthmus.cluster.shard_health import IndexHealth, check_level, worst
from isthmus.errors import ActionRequestValidationError, IllegalArgumentError, NumberFormatError
from isthmus.index.service import IndicesService
from isthmus.settings.catalog import all_settings, find
from isthmus.settings.node import NodeSettings
from isthmus.settings.registry import Scope, flatten, nest
from isthmus.settings.values import parse_flag

if TYPE_CHECKING:  # the etcd client loads only in a cluster of several nodes
    from isthmus.cluster.settings_replication import SettingsReplication

SettingsConsumer = Callable[[str, Any], None]
BUILD_DATE = "2026-11-27T00:00:00.000Z"


@dataclass(frozen=True)
class NodeIdentity:
    """This node as its APIs need it: ``view``, the cluster's nodes as this node sees them (its
    own entry holds its id, name, roles and published addresses: the one source of those), and
    what only this node knows: its settings, start time and the addresses it is bound to."""

    view: NodesView
    settings: NodeSettings
    started_at: float
    transport_bound: str | None = None  # "host:port" the transport server is bound to
    remote_cluster_bound: str | None = None

    @property
    def local(self) -> DiscoveryNode:
        return self.view.local

    @property
    def node_id(self) -> str:
        return self.view.local.id

    @property
    def http_address(self) -> str:
        return self.view.local.http_address or ""

    @property
    def transport_address(self) -> str:
        return self.view.local.transport_address

    @property
    def remote_cluster_address(self) -> str | None:
        return self.view.local.remote_cluster_address

    def facts(self) -> LocalFacts:
        return LocalFacts(self.settings, self.transport_bound, self.remote_cluster_bound)


def version_block() -> dict[str, Any]:
    return {
        "number": ES_COMPAT_VERSION,
        "build_flavor": "default",
        "build_type": "tar",
        "build_hash": BUILD_HASH,
        "build_date": BUILD_DATE,
        "build_snapshot": False,
        "lucene_version": LUCENE_VERSION,
        "minimum_wire_compatibility_version": "8.19.0",
        "minimum_index_compatibility_version": "8.0.0",
    }


_NODE_COUNT_TESTS: tuple[tuple[str, Callable[[int, int], bool]], ...] = (
    (">=", operator.ge),
    ("ge(", operator.ge),
    ("<=", operator.le),
    ("le(", operator.le),
    (">", operator.gt),
    ("gt(", operator.gt),
    ("<", operator.lt),
    ("lt(", operator.lt),
)


def nodes_condition(spec: str) -> Callable[[int], bool]:
    """``wait_for_nodes`` as ES's health action reads it: ``N`` (exactly), ``>=N``, ``<=N``,
    ``>N``, ``<N`` or ``ge(N)``, ``le(N)``, ``gt(N)``, ``lt(N)``; a number Java cannot parse is
    its ``number_format_exception``. Empty: no condition."""
    if not spec:
        return lambda count: True
    test: Callable[[int, int], bool] = operator.eq
    text = spec
    for prefix, op in _NODE_COUNT_TESTS:
        if spec.startswith(prefix):
            test = op
            text = spec[len(prefix) : -1] if prefix.endswith("(") else spec[len(prefix) :]
            break
    if re.fullmatch(r"[+-]?[0-9]+", text) is None or not -(2**31) <= int(text) < 2**31:
        raise NumberFormatError(f'For input string: "{text}"')  # Integer.parseInt
    expected = int(text)
    return lambda count: test(count, expected)


# (previous effective, new effective, (new transient layer, new persistent layer)) -> raises
GroupValidator = Callable[
    [Mapping[str, Any], Mapping[str, Any], tuple[Mapping[str, Any], Mapping[str, Any]]], None
]

_STATUS_RANK = {"green": 0, "yellow": 1, "red": 2}


def shards_condition(params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    """Health's ``wait_for_active_shards`` (a number, or ``all`` copies) and
    ``wait_for_no_initializing_shards`` / ``wait_for_no_relocating_shards`` as a test of a
    health body."""
    from isthmus.cluster.allocation_service import parse_active_shards

    raw = params.get("wait_for_active_shards")
    count = 0 if raw is None else parse_active_shards(raw)
    try:
        no_initializing = parse_flag(params.get("wait_for_no_initializing_shards"), False)
        no_relocating = parse_flag(params.get("wait_for_no_relocating_shards"), False)
    except ValueError as exc:
        raise IllegalArgumentError(str(exc)) from None

    def ok(body: Mapping[str, Any]) -> bool:
        active = body["active_shards"]
        total = active + body["initializing_shards"] + body["unassigned_shards"]
        if count == "all" and active < total:
            return False
        if isinstance(count, int) and active < count:
            return False
        if no_relocating and body["relocating_shards"]:
            return False
        return not (no_initializing and body["initializing_shards"])

    return ok


def flat_settings(params: Mapping[str, str]) -> bool:
    """``flat_settings``: settings as ``a.b.c`` keys instead of nested objects (ES's boolean
    parameter rules: empty is true, anything but true/false is a 400)."""
    try:
        return parse_flag(params.get("flat_settings"), False)
    except ValueError as exc:
        raise IllegalArgumentError(str(exc)) from None


class ClusterActions:
    def __init__(
        self,
        cluster: ClusterService,
        indices: IndicesService,
        node: NodeIdentity,
        breakers: Callable[[], dict[str, dict[str, Any]]] = dict,
    ) -> None:
        self.cluster = cluster
        self.indices = indices
        self.node = node
        # ES's ``breakers`` section of ``_nodes/stats``: name → the breaker's stats record.
        self.breakers = breakers
        # ES's ``indices.search`` context counts (set by the search context reaper's assembly).
        self.search_contexts: Callable[[], dict[str, int]] | None = None
        self._consumers: list[tuple[str, SettingsConsumer]] = []
        self._groups: list[
            tuple[
                str,
                GroupValidator,
                Callable[[Mapping[str, Any]], Awaitable[None]],
            ]
        ] = []
        self.process = psutil.Process(os.getpid())
        # A cluster of several nodes: settings updates go through etcd (cluster layer).
        self.replication: SettingsReplication | None = None

    # --- settings -----------------------------------------------------------------------------

    def add_consumer(self, prefix: str, consumer: SettingsConsumer) -> None:
        """Call ``consumer(key, value)`` whenever an effective setting under ``prefix`` changes."""
        self._consumers.append((prefix, consumer))

    def add_group(
        self,
        prefix: str,
        validate: GroupValidator,
        apply: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        """A family of settings validated and applied together (``cluster.remote.``).

        ``validate(previous, current, layers)`` sees the effective flat settings before and after
        an update, and the new (transient, persistent) layers, and raises to refuse it; ``apply`` is awaited with the new effective settings after any key under ``prefix``
        changed, before the update is acknowledged.
        """
        self._groups.append((prefix, validate, apply))

    def effective(self, state: ClusterMetadata | None = None) -> dict[str, Any]:
        """yml/-E settings overlaid by persistent, then transient cluster settings."""
        state = state or self.cluster.state
        return {**self.node.settings.raw, **state.persistent, **state.transient}

    def apply_all(self) -> None:
        """Replay the effective settings to consumers (at startup)."""
        state = self.cluster.state
        merged = {**self.node.settings.raw, **state.persistent, **state.transient}
        for key, value in merged.items():
            self._notify(key, value)

    def _notify(self, key: str, value: Any) -> None:
        for prefix, consumer in self._consumers:
            if key.startswith(prefix):
                consumer(key, value)

    def _validated(self, scope_name: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in flatten(updates).items():
            if value is None and key.endswith(".*"):
                out[key] = None  # ES: a null on a wildcard key removes every matching setting
                continue
            setting = find(key, (Scope.CLUSTER, Scope.NODE))
            if setting is None:
                raise IllegalArgumentError(f"{scope_name} setting [{key}], not recognized")
            if not setting.dynamic:
                raise IllegalArgumentError(
                    f"{scope_name} setting [{key}], not dynamically updateable"
                )
            if value is not None:
                setting.coerce(key, value)
                value = (
                    "true"
                    if value is True
                    else "false"
                    if value is False
                    else [str(v) for v in value]
                    if isinstance(value, list)
                    else str(value)
                )
            out[key] = value
        return out

    async def put_settings(self, body: Mapping[str, Any] | None) -> dict[str, Any]:
        body = dict(body or {})
        # ES's ClusterUpdateSettingsRequest parser declares these two objects only.
        for key in body:
            if key not in ("persistent", "transient"):
                raise xcontent.unknown_field(
                    "cluster_update_settings_request", key, ("persistent", "transient")
                )
        persistent = self._validated("persistent", _settings_object(body, "persistent"))
        transient = self._validated("transient", _settings_object(body, "transient"))
        if not persistent and not transient:
            raise ActionRequestValidationError("Validation Failed: 1: no settings to update;")

        def merge(current: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
            out = dict(current)
            for key, value in updates.items():
                if value is None:
                    prefix = key[:-1] if key.endswith("*") else None
                    for existing in list(out):
                        if existing == key or (prefix and existing.startswith(prefix)):
                            del out[existing]
                else:
                    out[key] = value
            return out

        def change(state: ClusterMetadata) -> ClusterMetadata:
            new_state = replace(
                state,
                persistent=merge(state.persistent, persistent),
                transient=merge(state.transient, transient),
            )
            touched = set(persistent) | set(transient)
            for prefix, validate, _ in self._groups:
                if any(key.startswith(prefix) for key in touched):
                    validate(
                        self.effective(state),
                        self.effective(new_state),
                        (new_state.transient, new_state.persistent),
                    )
            return new_state

        if self.replication is not None:
            # A cluster of several nodes: computed on the cluster's layers in etcd, answered
            # once every node applied them (apply_cluster_layers, from each node's watch).
            def change_layers(
                p: dict[str, Any], t: dict[str, Any]
            ) -> tuple[dict[str, Any], dict[str, Any]]:
                layers = change(replace(self.cluster.state, persistent=p, transient=t))
                return layers.persistent, layers.transient

            acknowledged = await self.replication.update(change_layers)
        else:
            old = self.cluster.state
            new = await self.cluster.submit("cluster-update-settings", change)
            await self._settings_changed(old, new)
            acknowledged = True
        return {
            "acknowledged": acknowledged,
            "persistent": nest({k: v for k, v in persistent.items() if v is not None}),
            "transient": nest({k: v for k, v in transient.items() if v is not None}),
        }

    async def _settings_changed(self, old: ClusterMetadata, new: ClusterMetadata) -> None:
        old_eff = {**old.persistent, **old.transient}
        new_eff = {**new.persistent, **new.transient}
        changed = [k for k in set(old_eff) | set(new_eff) if old_eff.get(k) != new_eff.get(k)]
        for key in changed:
            self._notify(key, new_eff.get(key))
        for prefix, _, apply in self._groups:
            if any(key.startswith(prefix) for key in changed):
                # Shielded: a client that gives up must not interrupt connections half-rebuilt.
                await asyncio.shield(apply(self.effective(new)))

    async def apply_cluster_layers(
        self, persistent: dict[str, Any], transient: dict[str, Any]
    ) -> None:
        """The cluster's settings layers (a multi-node cluster's etcd) become this node's."""
        old = self.cluster.state

        def change(state: ClusterMetadata) -> ClusterMetadata:
            if state.persistent == persistent and state.transient == transient:
                return state
            return replace(state, persistent=dict(persistent), transient=dict(transient))

        # etcd already shares the layers: each node applies them without publishing a state.
        new = await self.cluster.submit("cluster-settings-applied", change, local=True)
        await self._settings_changed(old, new)

    def get_settings(self, params: Mapping[str, str]) -> dict[str, Any]:
        flat = flat_settings(params)
        state = self.cluster.state

        def render(values: Mapping[str, Any]) -> dict[str, Any]:
            return dict(sorted(values.items())) if flat else nest(values)

        out = {"persistent": render(state.persistent), "transient": render(state.transient)}
        if params.get("include_defaults") == "true":
            defaults: dict[str, Any] = {}
            for setting in all_settings(Scope.CLUSTER) + all_settings(Scope.NODE):
                if setting.is_affix:
                    continue
                value = self.node.settings.raw.get(setting.key, setting.default_text())
                if setting.key == "node.name":
                    value = self.node.settings.node_name
                if (
                    value is not None
                    and setting.key not in state.persistent
                    and setting.key not in state.transient
                ):
                    defaults[setting.key] = value if not isinstance(value, tuple) else list(value)
            # The node's own affix settings (cluster.remote.<alias>.*, node.attr.*, ...) show as
            # ES shows them: from the node's yml/-E, under what the cluster settings override.
            affixes = [
                setting
                for setting in all_settings(Scope.CLUSTER) + all_settings(Scope.NODE)
                if setting.is_affix
            ]
            for key, value in self.node.settings.raw.items():
                if key in state.persistent or key in state.transient or key in defaults:
                    continue
                if any(setting.matches(key) for setting in affixes):
                    defaults[key] = list(value) if isinstance(value, tuple | list) else value
            out["defaults"] = render(defaults)
        return out

    # --- health -------------------------------------------------------------------------------

    def _index_health(self, meta: IndexMetadata) -> IndexHealth:
        routing = self.cluster.state.routing
        if routing:  # a cluster of several nodes: its routing table says what runs where
            table = routing.get(meta.uuid)
            if table is not None:
                live = {n.id for n in self.node.view.nodes}
                return IndexHealth.routed(meta, table, int(time.time() * 1000), live)
        running = (s.shard_id.shard for s in self.indices.shards_of(meta)) if meta.is_open else ()
        return IndexHealth.of(meta, running)

    def index_health(self, meta: IndexMetadata) -> str:
        return self._index_health(meta).status

    def health_body(self, expression: str | None, level: str = "cluster") -> dict[str, Any]:
        state = self.cluster.state
        # ES's ClusterHealthRequest: lenient, wildcards reach open, closed and hidden indices.
        options = IndicesOptions(
            expand_open=True,
            expand_closed=True,
            expand_hidden=True,
            forbid_closed=False,
            ignore_unavailable=True,
        )
        metas = (
            [r.index for r in resolve(state, expression, options)]
            if expression
            else list(state.indices.values())
        )
        # Concrete names that do not exist (yet) make the health red: ES waits for them.
        missing = bool(expression) and any(
            "*" not in part and part not in state.indices and part not in state.aliases()
            for part in (expression or "").split(",")
            if part and part != "_all" and not part.startswith("-")
        )
        healths = [self._index_health(m) for m in metas]
        totals = {
            key: sum(h.totals()[key] for h in healths)
            for key in (
                "active_primary_shards",
                "active_shards",
                "relocating_shards",
                "initializing_shards",
                "unassigned_shards",
                "unassigned_primary_shards",
                "delayed_unassigned_shards",
            )
        }
        status = worst((h.status for h in healths), "red" if missing else "green")
        active = totals["active_shards"]
        total = active + totals["initializing_shards"] + totals["unassigned_shards"]
        body: dict[str, Any] = {
            "cluster_name": self.node.settings.cluster_name,
            "status": status,
            "timed_out": False,
            "number_of_nodes": len(self.node.view.nodes),
            "number_of_data_nodes": len(self.node.view.nodes.data_nodes()),
            "active_primary_shards": totals["active_primary_shards"],
            "active_shards": active,
            "relocating_shards": totals["relocating_shards"],
            "initializing_shards": totals["initializing_shards"],
            "unassigned_shards": totals["unassigned_shards"],
            "unassigned_primary_shards": totals["unassigned_primary_shards"],
            "delayed_unassigned_shards": totals["delayed_unassigned_shards"],
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0 if total == 0 else active * 100.0 / total,
        }
        if level in ("indices", "shards"):
            body["indices"] = {h.meta.name: h.to_json(level) for h in healths}
        return body

    async def health(
        self, expression: str | None, params: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        from isthmus.settings.values import parse_time

        wanted = params.get("wait_for_status")
        if wanted is not None and wanted not in _STATUS_RANK:
            raise IllegalArgumentError(f"unknown cluster health status [{wanted}]")
        timeout = parse_time(params.get("timeout", "30s"), "timeout").seconds
        deadline = time.monotonic() + timeout
        level = check_level(params.get("level"))
        nodes_ok = nodes_condition(params.get("wait_for_nodes", ""))
        shards_ok = shards_condition(params)
        while True:
            body = self.health_body(expression, level)
            target = wanted if wanted is not None else ("yellow" if expression else None)
            status_ok = target is None or _STATUS_RANK[body["status"]] <= _STATUS_RANK[target]
            if status_ok and nodes_ok(body["number_of_nodes"]) and shards_ok(body):
                return 200, body
            if time.monotonic() >= deadline:
                body["timed_out"] = True
                return 408, body
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    # --- nodes --------------------------------------------------------------------------------

    def node_base(self) -> dict[str, Any]:
        """The fields every nodes API starts this node with."""
        return self.node.local.base_json()

    def local_node_info(self, request: InfoRequest, flat: bool) -> dict[str, Any]:
        """This node's entry of ``_nodes`` (the REST API asks every named node for its own
        through ``actions.nodes_fanout``)."""
        return local_info(self.node.view.local, self.node.facts(), request, flat)

    def nodes_info(self, flat: bool = False, request: InfoRequest | None = None) -> dict[str, Any]:
        """``GET /_nodes``: the nodes ``request`` names, in the sections it asks for."""
        request = request or InfoRequest()
        nodes = self.node.view.nodes
        return nodes_info(
            nodes.resolve(request.filters), nodes.local_node_id, self.node.facts(), request, flat
        )

    def indices_totals(self) -> dict[str, Any]:
        docs = deleted = size = 0
        for shard in self.indices.shards.values():
            stats = shard.engine.stats()
            docs += stats.docs
            deleted += stats.deleted_docs
            size += stats.store_bytes
        return {
            "docs": {"count": docs, "deleted": deleted},
            "store": {
                "size_in_bytes": size,
                "total_data_set_size_in_bytes": size,
                "reserved_in_bytes": 0,
            },
            "shard_stats": {"total_count": len(self.indices.shards)},
            **({} if self.search_contexts is None else {"search": self.search_contexts()}),
        }

    async def nodes_stats(self, filters: str | None = None) -> dict[str, Any]:
        """This node's ``GET /_nodes[/<filter>]/stats`` (``_cat`` reads it; the REST API asks
        every named node through ``actions.nodes_fanout``)."""
        s = self.node.settings
        if self.node.node_id not in {n.id for n in self.node.view.nodes.resolve(filters)}:
            return {**nodes_header(s.cluster_name, 0), "nodes": {}}
        stats = await self.local_node_stats()
        return {**nodes_header(s.cluster_name, 1), "nodes": {self.node.node_id: stats}}

    async def local_node_stats(self) -> dict[str, Any]:
        """This node's entry of ``_nodes/stats``."""
        proc = self.process
        indices = await asyncio.to_thread(self.indices_totals)
        with proc.oneshot():
            mem = proc.memory_info()
            cpu = proc.cpu_times()
            fds = proc.num_fds()
            cpu_percent = proc.cpu_percent(None)
        vm = psutil.virtual_memory()
        now = int(time.time() * 1000)
        load = os.getloadavg()
        stats = self.node_base()
        stats.update(
            {
                "timestamp": now,
                "indices": indices,
                "os": {
                    "timestamp": now,
                    "cpu": {
                        "percent": int(psutil.cpu_percent(None)),
                        "load_average": {"1m": load[0], "5m": load[1], "15m": load[2]},
                    },
                    "mem": {
                        "total_in_bytes": vm.total,
                        "adjusted_total_in_bytes": vm.total,
                        "free_in_bytes": vm.available,
                        "used_in_bytes": vm.total - vm.available,
                        "free_percent": int(vm.available * 100 / vm.total),
                        "used_percent": int((vm.total - vm.available) * 100 / vm.total),
                    },
                },
                "process": {
                    "timestamp": now,
                    "open_file_descriptors": fds,
                    "max_file_descriptors": _max_fds(),
                    "cpu": {
                        "percent": int(cpu_percent),
                        "total_in_millis": int((cpu.user + cpu.system) * 1000),
                    },
                    "mem": {"total_virtual_in_bytes": mem.vms, "resident_in_bytes": mem.rss},
                },
                "breakers": self.breakers(),
            }
        )
        return stats


ES_VERSION_INDEX = INDEX_VERSION


def _max_fds() -> int:
    import resource

    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _settings_object(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    return xcontent.as_object("cluster_update_settings_request", key, value)
