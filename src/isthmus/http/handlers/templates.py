"""Index template APIs: ``_index_template``, ``_component_template``, ``_template`` (legacy)
and the simulate APIs. Authorized as cluster actions (``manage_index_templates``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isthmus import ES_COMPAT_VERSION
from isthmus.errors import IndexTemplateMissingError, ResourceNotFoundError
from isthmus.http.handlers.cat import render
from isthmus.http.handlers.common import MASTER_PARAMS, bool_param, json_object
from isthmus.http.router import Request, Response, Route, route

if TYPE_CHECKING:
    from isthmus.actions.templates import TemplateActions

GET_PARAMS = ("local", "flat_settings", "include_defaults", "master_timeout")
CAT_PARAMS = ("v", "h", "s", "help", "local", "master_timeout", "format")
PUT_PARAMS = ("create", "cause", *MASTER_PARAMS)


@dataclass(frozen=True)
class TemplatesApiDeps:
    templates: TemplateActions


def _warned(body: dict[str, Any], warnings: list[str]) -> Response:
    """ES sends each deprecation as a ``Warning`` header (``299 Elasticsearch-<version>``)."""
    from isthmus.actions.cluster import BUILD_HASH

    headers: dict[str, str | list[str]] = {}
    if warnings:
        headers["Warning"] = [
            f'299 Elasticsearch-{ES_COMPAT_VERSION}-{BUILD_HASH} "{w}"' for w in warnings
        ]
    return Response(200, body, headers=headers)


def flat(req: Request) -> bool:
    """``flat_settings``: settings as ``index.number_of_shards`` keys instead of objects."""
    return bool_param(req, "flat_settings")


def routes(s: TemplatesApiDeps) -> list[Route]:
    act = s.templates

    async def put_composable(req: Request) -> Response:
        warnings = await act.put_composable(
            req.path_params["name"],
            json_object(req, required=True),
            create=bool_param(req, "create"),
            cause=req.params.get("cause", "api"),
        )
        return _warned({"acknowledged": True}, warnings)

    async def get_composable(req: Request) -> dict[str, Any]:
        return act.get_composable(req.path_params.get("name"), flat=flat(req))

    async def composable_exists(req: Request) -> Response:
        try:
            act.get_composable(req.path_params["name"])
        except ResourceNotFoundError:
            return Response(404, b"")
        return Response(200, b"")

    async def delete_composable(req: Request) -> dict[str, Any]:
        return await act.delete_composable(req.path_params["name"])

    async def put_component(req: Request) -> dict[str, Any]:
        return await act.put_component(
            req.path_params["name"],
            json_object(req, required=True),
            create=bool_param(req, "create"),
            cause=req.params.get("cause", "api"),
        )

    async def get_component(req: Request) -> dict[str, Any]:
        return act.get_component(req.path_params.get("name"), flat=flat(req))

    async def component_exists(req: Request) -> Response:
        try:
            act.get_component(req.path_params["name"])
        except ResourceNotFoundError:
            return Response(404, b"")
        return Response(200, b"")

    async def delete_component(req: Request) -> dict[str, Any]:
        return await act.delete_component(req.path_params["name"])

    async def put_legacy(req: Request) -> Response:
        warnings = await act.put_legacy(
            req.path_params["name"], json_object(req, required=True), req.params
        )
        return _warned({"acknowledged": True}, warnings)

    async def get_legacy(req: Request) -> Response:
        status, body = act.get_legacy(req.path_params.get("name"), flat=flat(req))
        return Response(status, body)

    async def legacy_exists(req: Request) -> Response:
        status, _ = act.get_legacy(req.path_params["name"])
        return Response(status, b"")

    async def delete_legacy(req: Request) -> dict[str, Any]:
        return await act.delete_legacy(req.path_params["name"])

    async def cat_templates(req: Request) -> Response:
        columns = ["name", "index_patterns", "order", "version", "composed_of"]
        return render(req, columns, act.cat_rows(req.path_params.get("name")))

    async def simulate_index(req: Request) -> dict[str, Any]:
        return act.simulate_index(req.path_params["name"], json_object(req))

    async def simulate(req: Request) -> dict[str, Any]:
        return act.simulate_template(req.path_params.get("name"), json_object(req))

    put_v2, get_v2 = "indices:admin/index_template/put", "indices:admin/index_template/get"
    put_ct, get_ct = "cluster:admin/component_template/put", "cluster:admin/component_template/get"
    put_v1, get_v1 = "indices:admin/template/put", "indices:admin/template/get"
    return [
        route(("PUT", "POST"), "/_index_template/{name}", put_composable, params=PUT_PARAMS, action=put_v2),
        route("GET", "/_index_template", get_composable, params=GET_PARAMS, action=get_v2),
        route("GET", "/_index_template/{name}", get_composable, params=GET_PARAMS, action=get_v2),
        route("HEAD", "/_index_template/{name}", composable_exists, params=GET_PARAMS, action=get_v2),
        route("DELETE", "/_index_template/{name}", delete_composable, params=MASTER_PARAMS, action="indices:admin/index_template/delete"),
        route("POST", "/_index_template/_simulate_index/{name}", simulate_index, params=("include_defaults", *MASTER_PARAMS), action="indices:admin/index_template/simulate_index"),
        route("POST", "/_index_template/_simulate", simulate, params=("include_defaults", "create", "cause", *MASTER_PARAMS), action="indices:admin/index_template/simulate"),
        route("POST", "/_index_template/_simulate/{name}", simulate, params=("include_defaults", "create", "cause", *MASTER_PARAMS), action="indices:admin/index_template/simulate"),
        route(("PUT", "POST"), "/_component_template/{name}", put_component, params=PUT_PARAMS, action=put_ct),
        route("GET", "/_component_template", get_component, params=GET_PARAMS, action=get_ct),
        route("GET", "/_component_template/{name}", get_component, params=GET_PARAMS, action=get_ct),
        route("HEAD", "/_component_template/{name}", component_exists, params=GET_PARAMS, action=get_ct),
        route("DELETE", "/_component_template/{name}", delete_component, params=MASTER_PARAMS, action="cluster:admin/component_template/delete"),
        route(("PUT", "POST"), "/_template/{name}", put_legacy, params=("order", *PUT_PARAMS), action=put_v1),
        route("GET", "/_template", get_legacy, params=GET_PARAMS, action=get_v1),
        route("GET", "/_template/{name}", get_legacy, params=GET_PARAMS, action=get_v1),
        route("HEAD", "/_template/{name}", legacy_exists, params=GET_PARAMS, action=get_v1),
        route("DELETE", "/_template/{name}", delete_legacy, params=MASTER_PARAMS, action="indices:admin/template/delete"),
        route("GET", "/_cat/templates", cat_templates, params=CAT_PARAMS, action=get_v2),
        route("GET", "/_cat/templates/{name}", cat_templates, params=CAT_PARAMS, action=get_v2),
    ]  # fmt: skip


__all__ = ["IndexTemplateMissingError", "TemplatesApiDeps", "routes"]
