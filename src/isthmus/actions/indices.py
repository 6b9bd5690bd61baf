"""Index administration: create, delete, open/close, mappings, settings, aliases, refresh, stats.

Every change goes through :meth:`ClusterService.submit` as a pure function of the metadata, so
it is validated against the latest state, persisted, and only then applied to shards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from isthmus import ES_COMPAT_VERSION
from isthmus.actions.cluster import flat_settings
from isthmus.actions.node_shard_stats import CopyStats, CopyStatsGather
from isthmus.actions.node_shards import CopiesRefresh
from isthmus.cluster import blocks
from isthmus.cluster.alias_actions import (
    AliasAction,
    AliasActionResult,
    alias_matcher,
    apply_alias_actions,
    missing_aliases,
)
from isthmus.cluster.data_streams import (
    check_close,
    parent_of,
    stream,
    timestamp_mapping,
    without_backing,
)
from isthmus.cluster.metadata import (
    AliasMetadata,
    ClusterMetadata,
    IndexMetadata,
    new_uuid,
    validate_alias_name,
    validate_index_name,
)
from isthmus.cluster.new_index import check_new_index
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import (
    IndicesOptions,
    Resolved,
    check_destructive,
    resolve,
    split_expression,
    write_index,
)
from isthmus.cluster.routing import check_routing_shards
from isthmus.cluster.service import ClusterService
from isthmus.cluster.templates import find_composable, merge_mappings, resolve_templates
from isthmus.errors import (
    ActionRequestValidationError,
    ElasticsearchParseError,
    IllegalArgumentError,
    IndexNotFoundError,
    InvalidIndexNameError,
    ResourceAlreadyExistsError,
    SettingsError,
)
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.index.service import IndicesService
from isthmus.settings.auto_expand import desired_replicas
from isthmus.settings.catalog import all_settings, find
from isthmus.settings.registry import INDEX_SETTINGS, Scope, flatten, unknown

ES_VERSION_ID = "9010000"
_PRIVATE_SETTINGS = {
    "index.uuid",
    "index.creation_date",
    "index.provided_name",
    "index.version.created",
}


_FINAL_SETTINGS = {"index.number_of_shards", *_PRIVATE_SETTINGS}


def static_keys(updates: Mapping[str, str]) -> list[str]:
    """The keys of ``updates`` that only a closed index accepts."""
    out = []
    for key in updates:
        setting = find(key, (Scope.INDEX,))
        if setting is not None and not setting.dynamic:
            out.append(key)
    return out


def normalize_index_settings(raw: Mapping[str, Any], *, creating: bool) -> dict[str, str]:
    """Flatten, prefix with ``index.``, validate against the registry; values as ES strings."""
    flat = flatten(raw)
    if "index" in raw and not isinstance(raw["index"], Mapping):
        raise SettingsError(
            "unknown setting [index] please check that any required plugins are "
            "installed, or check the breaking changes documentation for removed settings"
        )
    out: dict[str, str] = {}
    for key, value in flat.items():
        full = key if key.startswith("index.") else f"index.{key}"
        setting = find(full, (Scope.INDEX,))
        if setting is None:
            raise unknown(full, all_settings(Scope.INDEX))
        if value is None:
            out[full] = ""
            continue
        setting.coerce(full, value)
        out[full] = "true" if value is True else "false" if value is False else str(value)
    return out


class IndicesActions:
    def __init__(self, cluster: ClusterService, indices: IndicesService) -> None:
        self.cluster = cluster
        self.indices = indices
        # A cluster of several nodes: the other nodes' copies refresh too (actions/node_shards).
        self.copies_refresh: CopiesRefresh | None = None
        # ... and the statistics of every node's copies (``_stats``, ``_cat/indices``).
        self.copy_stats: CopyStatsGather | None = None

    async def copy_statistics(
        self, metas: list[IndexMetadata], history: bool = False
    ) -> list[CopyStats] | None:
        """In a cluster of several nodes, the statistics of every reachable copy of ``metas``
        (None on one node: the shards held here are every copy there is); ``history``: with
        each copy's history sections."""
        if self.copy_stats is None:
            return None
        uuids = [m.uuid for m in metas]
        return await self.copy_stats.gather(self.cluster.state.routing, uuids, history)

    def resolve(
        self,
        expression: str | None,
        params: Mapping[str, str],
        default: IndicesOptions | None = None,
    ) -> list[Resolved]:
        options = IndicesOptions.from_params(
            params, default=default or IndicesOptions(forbid_closed=False)
        )
        return resolve(self.cluster.state, expression, options)

    # --- create / delete ----------------------------------------------------------------------

    async def create(
        self,
        name: str,
        body: Mapping[str, Any] | None,
        *,
        data_stream: str | None = None,
        also: Callable[[ClusterMetadata], ClusterMetadata] | None = None,
        wait_for_active_shards: int | str = 1,
    ) -> IndexMetadata:
        """Create ``name``, merging the templates that match it (ES's order: component
        templates, the composable template, then the request). ``data_stream``: the index is
        a backing index of that stream (its template is the stream's; hidden; ``@timestamp``
        mapped), and ``also`` registers it in the stream within the same metadata change."""
        validate_index_name(name)
        body = dict(body or {})
        for key in body:
            if key not in ("settings", "mappings", "aliases"):
                raise ElasticsearchParseError(f"unknown key [{key}] for create index")
            if body[key] is not None and not isinstance(body[key], Mapping):
                raise ElasticsearchParseError(f"key [{key}] must be an object")
        requested = normalize_index_settings(body.get("settings") or {}, creating=True)
        hidden = requested.get("index.hidden") == "true"
        found = resolve_templates(self.cluster.state.customs, data_stream or name, hidden=hidden)
        if data_stream is None and found.composable and found.composable.data_stream is not None:
            raise IllegalArgumentError(
                f"cannot create index with name [{name}], because it matches with template "
                f"[{found.composable.name}] that creates data streams only, use create data "
                "stream api instead"
            )
        settings = {**found.settings, **requested}
        settings = {k: v for k, v in settings.items() if v != ""}
        mappings = merge_mappings(found.mappings, body.get("mappings"))
        if data_stream is not None:
            mappings = timestamp_mapping(mappings)
            settings["index.hidden"] = "true"
        mapping = IndexMapping(mappings or {})
        aliases: dict[str, AliasMetadata] = {}
        # A backing index takes no template alias: aliases of a data stream are its own.
        template_aliases = {} if data_stream is not None else found.aliases
        for alias, spec in {**template_aliases, **(body.get("aliases") or {})}.items():
            validate_alias_name(alias)
            if spec is not None and not isinstance(spec, Mapping):
                raise ElasticsearchParseError(f"key [{alias}] must be an object")
            aliases[alias] = AliasMetadata.from_json(alias, spec or {})
        for key in ("index.number_of_shards", "index.number_of_replicas"):
            settings.setdefault(key, "1")
        check_routing_shards(settings)
        _auto_expand(settings)
        # ES refuses to create an index whose wait_for_active_shards asks for more copies
        # than it will have (ActiveShardCount.validate), even on a single node.
        copies = int(settings["index.number_of_replicas"]) + 1
        if isinstance(wait_for_active_shards, int) and wait_for_active_shards > copies:
            raise IllegalArgumentError(
                f"invalid wait_for_active_shards[{wait_for_active_shards}]: cannot be greater "
                f"than number of shard copies [{copies}]"
            )
        uid = new_uuid()
        now = int(time.time() * 1000)
        settings.update(
            {
                "index.uuid": uid,
                "index.creation_date": str(now),
                "index.provided_name": name,
                "index.version.created": ES_VERSION_ID,
            }
        )
        meta = IndexMetadata(
            name=name,
            uuid=uid,
            settings=settings,
            mapping=mapping,
            aliases=aliases,
            creation_date=now,
        )

        def change(state: ClusterMetadata) -> ClusterMetadata:
            check_new_index(state, name, aliases)
            if stream(state, name) is not None:
                raise InvalidIndexNameError(name, "already exists as data stream")
            created = replace(state, indices={**state.indices, name: meta})
            return created if also is None else also(created)

        source = "api" if data_stream is None else "initialize_data_stream"
        await self.cluster.submit(f"create-index [{name}], cause [{source}]", change)
        return meta

    async def shards_acknowledged(
        self, name: str, count: int | str, params: Mapping[str, str]
    ) -> bool:
        """Create index's ``shards_acknowledged``: whether ``count`` copies of every shard (1:
        the primaries; ``all``; ES's ``wait_for_active_shards``, parsed by the caller before
        the index is created) became active within ``timeout`` (30s). A cluster of one opens
        its primaries before the index is created: always true there."""
        from isthmus.cluster.allocation_service import wait_for_active_shards
        from isthmus.settings.values import parse_time

        if not self.cluster.replicated:
            return True
        timeout = parse_time(params.get("timeout", "30s"), "timeout").seconds
        return await wait_for_active_shards(self.cluster, [name], count, timeout)

    async def ensure_exists(self, name: str, auto_create: str) -> IndexMetadata:
        """Auto-create ``name`` on first write, under ``action.auto_create_index``; a matching
        composable template's ``allow_auto_create`` overrides the setting, and a template with
        ``data_stream`` makes the first write create that data stream (ES's AutoCreateIndex)."""
        template = find_composable(self.cluster.state.customs, name)
        allowed = (
            template.allow_auto_create
            if template is not None and template.allow_auto_create is not None
            else _auto_create_allows(auto_create, name)
        )
        if not allowed:
            refused = IndexNotFoundError(name)
            if template is not None and template.allow_auto_create is False:
                patterns = ", ".join(template.index_patterns)
                why = f"composable template [{patterns}] forbids index auto creation"
            elif str(auto_create).strip() == "false":
                why = "[action.auto_create_index] is [false]"
            else:
                raise refused
            refused.reason = f"{refused.reason} and {why}"
            refused.args = (refused.reason,)
            raise refused
        try:
            if template is not None and template.data_stream is not None:
                from isthmus.actions.data_streams import create_stream

                return await create_stream(self, name)
            return await self.create(name, None)
        except ResourceAlreadyExistsError:
            meta = write_index(self.cluster.state, name)
            assert meta is not None
            return meta

    async def delete(self, expression: str, params: Mapping[str, str]) -> dict[str, Any]:
        parts = split_expression(expression)
        check_destructive(self.cluster.state, expression)
        for part in parts:
            if part in self.cluster.state.aliases() and part not in self.cluster.state.indices:
                raise IllegalArgumentError(
                    f"The provided expression [{part}] matches an alias, specify the "
                    "corresponding concrete indices instead."
                )
        # A wildcard deletes indices, never what an alias points to (ES ignores aliases here).
        targets = self.resolve(
            expression,
            params,
            IndicesOptions(
                expand_open=True, expand_closed=True, forbid_closed=False, ignore_aliases=True
            ),
        )
        names = {t.index.name for t in targets}

        def change(state: ClusterMetadata) -> ClusterMetadata:
            blocked = blocks.check_delete(state, [state.indices[n] for n in names])
            if blocked is not None:
                raise blocked
            state = without_backing(state, names)
            return replace(
                state, indices={k: v for k, v in state.indices.items() if k not in names}
            )

        if names:
            await self.cluster.submit(f"delete-index {sorted(names)}", change)
        return {"acknowledged": True}

    async def set_state(
        self, expression: str, params: Mapping[str, str], open_: bool
    ) -> dict[str, Any]:
        if not open_:
            check_destructive(self.cluster.state, expression)
        targets = self.resolve(
            expression,
            params,
            IndicesOptions(expand_open=True, expand_closed=True, forbid_closed=False),
        )
        names = {t.index.name for t in targets}
        state_name = "open" if open_ else "close"
        if not open_:
            check_close(self.cluster.state, names)

        def change(state: ClusterMetadata) -> ClusterMetadata:
            blocked = blocks.check(
                state, blocks.Level.METADATA_WRITE, [state.indices[n] for n in names]
            )
            if blocked is not None:
                raise blocked
            indices = dict(state.indices)
            for name in names:
                indices[name] = replace(
                    indices[name], state=state_name, version=indices[name].version + 1
                )
            return replace(state, indices=indices)

        await self.cluster.submit(f"{state_name}-indices {sorted(names)}", change)
        if open_:
            return {"acknowledged": True, "shards_acknowledged": True}
        return {
            "acknowledged": True,
            "shards_acknowledged": True,
            "indices": {n: {"closed": True} for n in sorted(names)},
        }

    # --- mappings ----------------------------------------------------------------------------

    async def put_mapping(
        self, expression: str, body: Mapping[str, Any] | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        if not body:
            raise ActionRequestValidationError("Validation Failed: 1: mapping source is empty;")
        targets = self.resolve(expression, params)
        names = [t.index.name for t in targets]
        for name in names:  # validate before changing anything
            self.cluster.state.indices[name].mapping.merge(body)
        await self.update_mappings({n: body for n in names})
        for name in names:
            meta = self.cluster.state.indices[name]
            for shard in self.indices.shards_of(meta):
                await asyncio.to_thread(shard.engine.ensure_mapping, meta.mapping)
        return {"acknowledged": True}

    async def update_mappings(self, updates: Mapping[str, Mapping[str, Any]]) -> ClusterMetadata:
        """Merge mapping updates (dynamic or explicit) into the named indices."""

        def change(state: ClusterMetadata) -> ClusterMetadata:
            indices = dict(state.indices)
            changed = False
            for name, update in updates.items():
                meta = indices.get(name)
                if meta is None:
                    raise IndexNotFoundError(name)
                blocked = blocks.check(state, blocks.Level.METADATA_WRITE, [meta])
                if blocked is not None:
                    raise blocked
                merged = meta.mapping.merge(update)
                if merged != meta.mapping:
                    indices[name] = meta.with_mapping(merged)
                    changed = True
            return replace(state, indices=indices) if changed else state

        return await self.cluster.submit("put-mapping", change)

    def get_mapping(self, expression: str | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {
            t.index.name: {"mappings": t.index.mapping.to_json()}
            for t in self.resolve(expression, params)
        }

    # --- settings ----------------------------------------------------------------------------

    def render_settings(
        self, meta: IndexMetadata, *, flat: bool, include_defaults: bool
    ) -> dict[str, Any]:
        from isthmus.settings.registry import nest

        settings = dict(meta.settings)
        out: dict[str, Any] = {"settings": settings if flat else nest(settings)}
        if include_defaults:
            defaults = {s.key: s.default_text() for s in INDEX_SETTINGS if s.key not in settings}
            out["defaults"] = defaults if flat else nest(defaults)
        return out

    def get_settings(
        self, expression: str | None, params: Mapping[str, str], name_filter: str | None = None
    ) -> dict[str, Any]:

        flat = flat_settings(params)
        out = {}
        for t in self.resolve(expression, params):
            rendered = self.render_settings(
                t.index, flat=True, include_defaults=params.get("include_defaults") == "true"
            )
            if name_filter:
                pats = split_expression(name_filter)
                for section in rendered:
                    rendered[section] = {
                        k: v
                        for k, v in rendered[section].items()
                        if any(simple_match(k, p) for p in pats)
                    }
            if not flat:
                from isthmus.settings.registry import nest

                rendered = {k: nest(v) for k, v in rendered.items()}
            out[t.index.name] = rendered
        return out

    async def put_settings(
        self, expression: str | None, body: Mapping[str, Any] | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        raw = dict(body or {})
        if "settings" in raw and isinstance(raw["settings"], Mapping):
            raw = dict(raw["settings"])
        if not raw:
            raise ActionRequestValidationError("Validation Failed: 1: no settings to update;")
        updates = normalize_index_settings(raw, creating=False)
        targets = self.resolve(expression, params)
        names = {t.index.name for t in targets}
        static = static_keys(updates)
        opened = [t.index for t in targets if t.index.is_open]
        if static and opened:
            keys = ", ".join(static)
            where = ", ".join(f"[{m.name}/{m.uuid}]" for m in opened)
            raise IllegalArgumentError(
                f"Can't update non dynamic settings [[{keys}]] for open indices [{where}]"
            )
        for key in updates:
            if key in _FINAL_SETTINGS:
                raise IllegalArgumentError(f"final index setting [{key}], not updateable")

        def change(state: ClusterMetadata) -> ClusterMetadata:
            blocked = blocks.check_settings_update(
                state, updates, [state.indices[n] for n in names]
            )
            if blocked is not None:
                raise blocked
            indices = dict(state.indices)
            for name in names:
                meta = indices[name]
                settings = dict(meta.settings)
                for key, value in updates.items():
                    if value == "":
                        settings.pop(key, None)
                    else:
                        settings[key] = value
                _auto_expand(settings)
                indices[name] = replace(
                    meta,
                    settings=settings,
                    version=meta.version + 1,
                    settings_version=meta.settings_version + 1,
                )
            return replace(state, indices=indices)

        await self.cluster.submit("update-settings", change)
        return {"acknowledged": True}

    # --- aliases -----------------------------------------------------------------------------

    async def update_aliases(self, actions: list[AliasAction]) -> dict[str, Any]:
        """Apply parsed (and, with security on, authorized) alias actions atomically; ES's
        response: ``errors``, and each action's result when one failed."""
        results: list[AliasActionResult] = []

        def change(state: ClusterMetadata) -> ClusterMetadata:
            updated, outcome = apply_alias_actions(state, actions)
            results[:] = outcome
            return updated

        await self.cluster.submit("index-aliases", change)
        errors = any(r.error is not None for r in results)
        out: dict[str, Any] = {"acknowledged": True, "errors": errors}
        if errors:
            out["action_results"] = [r.to_json() for r in results]
        return out

    def get_aliases(
        self, expression: str | None, alias_expr: str | None, params: Mapping[str, str]
    ) -> tuple[dict[str, Any], list[str]]:
        """Index → its (matching) aliases; also the requested alias names nothing matched.
        Closed and hidden indices show too (ES's GetAliasesRequest defaults)."""

        wanted = split_expression(alias_expr) if alias_expr else []
        matches = alias_matcher(wanted)
        every = IndicesOptions(expand_closed=True, expand_hidden=True, forbid_closed=False)
        targets = self.resolve(expression, params, every)
        out: dict[str, Any] = {}
        found: set[str] = set()
        for t in targets:
            aliases = {}
            for name, alias in t.index.aliases.items():
                if matches(name):
                    aliases[name] = alias.to_json()
                    found.add(name)
            if aliases or not wanted:
                out[t.index.name] = {"aliases": aliases}
        return out, missing_aliases(wanted, found)

    # --- refresh / stats / get ---------------------------------------------------------------

    async def refresh(self, expression: str | None, params: Mapping[str, str]) -> dict[str, Any]:
        targets = self.resolve(expression, params, IndicesOptions())
        shards = [s for t in targets for s in self.indices.shards_of(t.index)]
        elsewhere: Any = None
        if self.copies_refresh is not None:
            uuids = {t.index.uuid: t.index.name for t in targets}
            elsewhere = self.copies_refresh.refresh(self.cluster.state.routing, uuids)
        await asyncio.gather(*(s.refresh() for s in shards))
        done, failures = (0, []) if elsewhere is None else await elsewhere
        total = sum(t.index.number_of_shards * (1 + t.index.number_of_replicas) for t in targets)
        section: dict[str, Any] = {
            "total": total,
            "successful": len(shards) + done,
            "failed": len(failures),
        }
        if failures:
            section["failures"] = failures
        return {"_shards": section}

    def get_index(self, expression: str, params: Mapping[str, str]) -> dict[str, Any]:
        out = {}
        for t in self.resolve(expression, params):
            meta = t.index
            rendered = self.render_settings(
                meta,
                flat=flat_settings(params),
                include_defaults=params.get("include_defaults") == "true",
            )
            out[meta.name] = {
                "aliases": {k: a.to_json() for k, a in meta.aliases.items()},
                "mappings": meta.mapping.to_json(),
                **rendered,
            }
            parent = parent_of(self.cluster.state, meta.name)
            if parent is not None:  # ES names the stream a backing index belongs to
                out[meta.name]["data_stream"] = parent.name
        return out


def _auto_expand(settings: dict[str, str]) -> None:
    """``index.auto_expand_replicas`` sets the replica count from the data nodes (one here)."""
    expanded = desired_replicas(settings.get("index.auto_expand_replicas", "false"))
    if expanded is not None:
        settings["index.number_of_replicas"] = str(expanded)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _auto_create_allows(setting: str, name: str) -> bool:

    text = str(setting).strip()
    if text in ("true", ""):
        return True
    if text == "false":
        return False
    for pattern in (p.strip() for p in text.split(",")):
        if pattern.startswith("-") and simple_match(name, pattern[1:]):
            return False
        if simple_match(name, pattern.lstrip("+")):
            return True
    return False


__all__ = ["ES_COMPAT_VERSION", "IndicesActions", "normalize_index_settings"]
