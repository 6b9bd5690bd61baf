"""Index APIs: create/get/exists/delete, mappings, settings, aliases, open/close, refresh, stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus.cluster.alias_actions import check_aliases_body, parse_alias_actions
from isthmus.cluster.allocation_service import parse_active_shards
from isthmus.cluster.shard_health import check_level
from isthmus.errors import AliasesNotFoundError, IndexNotFoundError, IsthmusError
from isthmus.http.handlers.common import COMMON_INDICES_PARAMS, MASTER_PARAMS, json_object
from isthmus.http.handlers.index_copies_stats import copies_stats_body
from isthmus.http.handlers.index_stats import ShardNumbers, parse_metrics, sections
from isthmus.http.router import Request, Response, Route, route

if TYPE_CHECKING:
    from isthmus.actions.cluster import ClusterActions
    from isthmus.actions.indices import IndicesActions
    from isthmus.index.service import IndicesService
    from isthmus.security.index_authorization import IndexAuthorization

CREATE_PARAMS = ("wait_for_active_shards", *MASTER_PARAMS)
GET_PARAMS = (
    "flat_settings",
    "include_defaults",
    "local",
    "master_timeout",
    "features",
    *COMMON_INDICES_PARAMS,
)


@dataclass(frozen=True)
class IndicesApiDeps:
    """What the index handlers use. ``authz`` is None exactly when security is off: then no request is narrowed or filtered."""

    indices_actions: IndicesActions
    cluster_actions: ClusterActions  # index health for ``_stats``
    indices: IndicesService  # the shards, for ``_stats``
    authz: IndexAuthorization | None


def routes(s: IndicesApiDeps) -> list[Route]:
    act = s.indices_actions

    async def create(req: Request) -> dict[str, Any]:
        body = json_object(req)
        if s.authz is not None:
            s.authz.authorize_new_aliases(req.subject, req.path_params["index"], body)
        count = parse_active_shards(req.params.get("wait_for_active_shards"))
        meta = await act.create(req.path_params["index"], body, wait_for_active_shards=count)
        acknowledged = await act.shards_acknowledged(meta.name, count, req.params)
        return {"acknowledged": True, "shards_acknowledged": acknowledged, "index": meta.name}

    def visible_mapping(req: Request, index: str, mapping: dict[str, Any]) -> dict[str, Any]:
        """The mapping as the subject may see it: field-level security hides fields here too."""
        if s.authz is None or req.subject is None:
            return mapping
        from isthmus.security.field_level import FieldPermissions, filter_mapping

        access = s.authz.authorizer.index_access(req.subject, "indices:data/read/search", index)
        fields = FieldPermissions.of(access.fields, access.limited_fields, access.extra_fields)
        return mapping if fields is None else filter_mapping(mapping, fields)

    async def get_index(req: Request) -> dict[str, Any]:
        out = act.get_index(req.path_params["index"], req.params)
        for name, body in out.items():
            body["mappings"] = visible_mapping(req, name, body["mappings"])
        return out

    async def exists(req: Request) -> Response:
        try:
            found = act.resolve(req.path_params["index"], req.params)
        except IndexNotFoundError:
            return Response(404, b"")
        return Response(200 if found else 404, b"")

    async def delete(req: Request) -> dict[str, Any]:
        return await act.delete(req.path_params["index"], req.params)

    async def get_mapping(req: Request) -> dict[str, Any]:
        out = act.get_mapping(req.path_params.get("index"), req.params)
        return {
            name: {"mappings": visible_mapping(req, name, body["mappings"])}
            for name, body in out.items()
        }

    async def put_mapping(req: Request) -> dict[str, Any]:
        return await act.put_mapping(req.path_params["index"], json_object(req), req.params)

    async def get_settings(req: Request) -> dict[str, Any]:
        return act.get_settings(
            req.path_params.get("index"), req.params, req.path_params.get("name")
        )

    async def put_settings(req: Request) -> dict[str, Any]:
        return await act.put_settings(req.path_params.get("index"), json_object(req), req.params)

    async def refresh(req: Request) -> dict[str, Any]:
        return await act.refresh(req.path_params.get("index"), req.params)

    async def open_index(req: Request) -> dict[str, Any]:
        return await act.set_state(req.path_params["index"], req.params, open_=True)

    async def close_index(req: Request) -> dict[str, Any]:
        return await act.set_state(req.path_params["index"], req.params, open_=False)

    async def apply_aliases(req: Request, raw: Any) -> dict[str, Any]:
        # Parsed at the edge, then every index and alias named in the body is authorized.
        actions = parse_alias_actions(raw)
        if s.authz is not None:
            actions = s.authz.authorize_alias_actions(req.subject, actions)
        return await act.update_aliases(actions)

    async def update_aliases(req: Request) -> dict[str, Any]:
        body = json_object(req, required=True) or {}
        check_aliases_body(body)
        return await apply_aliases(req, body.get("actions"))

    async def put_alias(req: Request) -> dict[str, Any]:
        body = json_object(req) or {}
        spec = {**body, "index": req.path_params["index"], "alias": req.path_params["name"]}
        return await apply_aliases(req, [{"add": spec}])

    async def delete_alias(req: Request) -> dict[str, Any]:
        spec = {"index": req.path_params["index"], "alias": req.path_params["name"]}
        return await apply_aliases(req, [{"remove": spec}])

    async def get_alias(req: Request) -> Response:
        body, missing = act.get_aliases(
            req.path_params.get("index"), req.path_params.get("name"), req.params
        )
        if missing:
            names = ",".join(missing)
            noun = "alias" if len(missing) == 1 else "aliases"
            out: dict[str, Any] = {"error": f"{noun} [{names}] missing", "status": 404}
            out.update(body)
            return Response(404, out)
        return Response(200, body)

    async def alias_exists(req: Request) -> Response:
        try:
            body, missing = act.get_aliases(
                req.path_params.get("index"), req.path_params.get("name"), req.params
            )
        except IsthmusError:
            return Response(404, b"")
        found = any(v["aliases"] for v in body.values())
        return Response(200 if found and not missing else 404, b"")

    async def stats(req: Request) -> dict[str, Any]:
        metrics = parse_metrics(req.path, req.path_params.get("metric"))
        targets = act.resolve(req.path_params.get("index"), req.params)
        indices: dict[str, Any] = {}
        every: list[ShardNumbers] = []
        level = check_level(req.params.get("level") or "indices")  # ES's ClusterStatsLevel
        by_shard = level == "shards"
        gathered = await act.copy_statistics([t.index for t in targets], history=by_shard)
        if gathered is not None:  # a cluster of several nodes: every node's copies
            return copies_stats_body(targets, gathered, metrics, level, s.cluster_actions)
        for t in targets:
            numbers: list[ShardNumbers] = []
            per_shard: dict[str, Any] = {}
            for shard in s.indices.shards_of(t.index):
                st = shard.engine.stats()
                one = ShardNumbers(
                    st.docs, st.deleted_docs, st.store_bytes, st.max_seq_no + 1, shard.noop_updates
                )
                numbers.append(one)
                if by_shard:  # ES's ShardStats, with the history a CCR follower depends on
                    per_shard[str(shard.shard_id.shard)] = [
                        {
                            "routing": {
                                "state": "STARTED",
                                "primary": True,
                                "node": s.cluster_actions.node.node_id,
                                "relocating_node": None,
                            },
                            **sections([one], metrics),
                            **(await shard.history_sections()),
                        }
                    ]
            section = sections(numbers, metrics)
            indices[t.index.name] = {
                "uuid": t.index.uuid,
                "health": s.cluster_actions.index_health(t.index),
                "status": t.index.state,
                "primaries": section,
                "total": section,
                **({"shards": per_shard} if by_shard else {}),
            }
            every.extend(numbers)
        total = sections(every, metrics)
        return {
            "_shards": {"total": len(every), "successful": len(every), "failed": 0},
            "_all": {"primaries": total, "total": total},
            **({"indices": indices} if level != "cluster" else {}),
        }

    alias_params = ("local", *MASTER_PARAMS, *COMMON_INDICES_PARAMS)
    return [
        route("PUT", "/{index}", create, params=CREATE_PARAMS, action="indices:admin/create"),
        route("GET", "/{index}", get_index, params=GET_PARAMS, action="indices:admin/get"),
        route("HEAD", "/{index}", exists, params=GET_PARAMS, action="indices:admin/get"),
        route(
            "DELETE",
            "/{index}",
            delete,
            params=(*MASTER_PARAMS, *COMMON_INDICES_PARAMS),
            action="indices:admin/delete",
        ),
        route(
            "GET", "/_mapping", get_mapping, params=GET_PARAMS, action="indices:admin/mappings/get"
        ),
        route(
            "GET",
            "/{index}/_mapping",
            get_mapping,
            params=GET_PARAMS,
            action="indices:admin/mappings/get",
        ),
        route(
            ("PUT", "POST"),
            "/{index}/_mapping",
            put_mapping,
            params=(*MASTER_PARAMS, "write_index_only", *COMMON_INDICES_PARAMS),
            action="indices:admin/mapping/put",
        ),
        route(
            "GET",
            "/_settings",
            get_settings,
            params=GET_PARAMS,
            action="indices:monitor/settings/get",
        ),
        route(
            "GET",
            "/{index}/_settings",
            get_settings,
            params=GET_PARAMS,
            action="indices:monitor/settings/get",
        ),
        route(
            "GET",
            "/{index}/_settings/{name}",
            get_settings,
            params=GET_PARAMS,
            action="indices:monitor/settings/get",
        ),
        route(
            "GET",
            "/_settings/{name}",
            get_settings,
            params=GET_PARAMS,
            action="indices:monitor/settings/get",
        ),
        route(
            "PUT",
            "/_settings",
            put_settings,
            params=(
                *MASTER_PARAMS,
                "preserve_existing",
                "flat_settings",
                "reopen",
                *COMMON_INDICES_PARAMS,
            ),
            action="indices:admin/settings/update",
        ),
        route(
            "PUT",
            "/{index}/_settings",
            put_settings,
            params=(
                *MASTER_PARAMS,
                "preserve_existing",
                "flat_settings",
                "reopen",
                *COMMON_INDICES_PARAMS,
            ),
            action="indices:admin/settings/update",
        ),
        route(
            ("POST", "GET"),
            "/_refresh",
            refresh,
            params=COMMON_INDICES_PARAMS,
            action="indices:admin/refresh",
        ),
        route(
            ("POST", "GET"),
            "/{index}/_refresh",
            refresh,
            params=COMMON_INDICES_PARAMS,
            action="indices:admin/refresh",
        ),
        route(
            "POST",
            "/{index}/_open",
            open_index,
            params=("wait_for_active_shards", *MASTER_PARAMS, *COMMON_INDICES_PARAMS),
            action="indices:admin/open",
        ),
        route(
            "POST",
            "/{index}/_close",
            close_index,
            params=("wait_for_active_shards", *MASTER_PARAMS, *COMMON_INDICES_PARAMS),
            action="indices:admin/close",
        ),
        route(
            "POST",
            "/_aliases",
            update_aliases,
            params=MASTER_PARAMS,
            action="indices:admin/aliases",
        ),
        route(
            ("PUT", "POST"),
            "/{index}/_alias/{name}",
            put_alias,
            params=MASTER_PARAMS,
            action="indices:admin/aliases",
        ),
        route(
            ("PUT", "POST"),
            "/{index}/_aliases/{name}",
            put_alias,
            params=MASTER_PARAMS,
            action="indices:admin/aliases",
        ),
        route(
            "DELETE",
            "/{index}/_alias/{name}",
            delete_alias,
            params=MASTER_PARAMS,
            action="indices:admin/aliases",
        ),
        route(
            "DELETE",
            "/{index}/_aliases/{name}",
            delete_alias,
            params=MASTER_PARAMS,
            action="indices:admin/aliases",
        ),
        route("GET", "/_alias", get_alias, params=alias_params, action="indices:admin/aliases/get"),
        route(
            "GET", "/_aliases", get_alias, params=alias_params, action="indices:admin/aliases/get"
        ),
        route(
            "GET",
            "/_alias/{name}",
            get_alias,
            params=alias_params,
            action="indices:admin/aliases/get",
        ),
        route(
            "GET",
            "/{index}/_alias",
            get_alias,
            params=alias_params,
            action="indices:admin/aliases/get",
        ),
        route(
            "GET",
            "/{index}/_alias/{name}",
            get_alias,
            params=alias_params,
            action="indices:admin/aliases/get",
        ),
        route(
            "HEAD",
            "/_alias/{name}",
            alias_exists,
            params=alias_params,
            action="indices:admin/aliases/get",
        ),
        route(
            "HEAD",
            "/{index}/_alias/{name}",
            alias_exists,
            params=alias_params,
            action="indices:admin/aliases/get",
        ),
        route(
            "GET",
            "/_stats",
            stats,
            params=("level", "fields", *COMMON_INDICES_PARAMS),
            action="indices:monitor/stats",
        ),
        route(
            "GET",
            "/{index}/_stats",
            stats,
            params=("level", "fields", *COMMON_INDICES_PARAMS),
            action="indices:monitor/stats",
        ),
        route(
            "GET",
            "/_stats/{metric}",
            stats,
            params=("level", "fields", *COMMON_INDICES_PARAMS),
            action="indices:monitor/stats",
        ),
        route(
            "GET",
            "/{index}/_stats/{metric}",
            stats,
            params=("level", "fields", *COMMON_INDICES_PARAMS),
            action="indices:monitor/stats",
        ),
    ]


__all__ = ["AliasesNotFoundError", "routes"]
