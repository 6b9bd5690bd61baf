"""Security APIs: ``_authenticate``, users, roles, API keys, privileges."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from isthmus import xcontent
from isthmus.errors import (
    ActionRequestValidationError,
    ElasticsearchParseError,
    IllegalArgumentError,
    ResourceNotFoundError,
    SecurityError,
)
from isthmus.http.handlers.common import bool_param, json_object
from isthmus.http.router import Handler, Request, Response, Route, route
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.api_key_scope import grants_any_privilege, may_reach_keys, visible_records
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.privileges import CLUSTER_PRIVILEGES

if TYPE_CHECKING:
    from isthmus.security.service import SecurityService

_SEC = "cluster:admin/xpack/security"


def _names(req: Request, key: str) -> list[str]:
    raw = req.path_params.get(key)
    return [n for n in raw.split(",") if n] if raw else []


def _subject(req: Request) -> Subject:
    if req.subject is None:
        raise IllegalArgumentError("security is not enabled on this node")
    assert isinstance(req.subject, Subject)
    return req.subject


def _probes(patterns: tuple[str, ...]) -> list[str]:
    # A privilege is held when every action it names is allowed: probe one concrete action per
    # pattern (``indices:data/read/*`` → ``indices:data/read/x``).
    return [p.replace("*", "x") for p in patterns]


def _holds_manage_security(authorizer: Authorizer, subject: Subject) -> bool:
    """``manage_security`` or more (ES's bar for invalidating cross-cluster API keys)."""
    return all(
        authorizer.cluster_allowed(subject, a)
        for a in _probes(CLUSTER_PRIVILEGES["manage_security"])
    )


def _validate_key_selection(
    verb: str,
    named_clause: str,
    named: bool,
    owner: bool,
    username: object,
    realm: object,
) -> None:
    """ES's validation of which keys a get/invalidate request selects."""
    if not (username or realm):
        return
    if named:
        reason = f"username or realm name must not be specified when {named_clause}"
    elif owner:
        reason = f"neither username nor realm-name may be specified when {verb} owned API keys"
    else:
        return
    raise ActionRequestValidationError(f"Validation Failed: 1: {reason};")


def _body_required(req: Request) -> dict[str, Any]:
    """The JSON object body of an API that reads it with ES's ``contentParser()``."""
    if not req.has_body:
        raise ElasticsearchParseError("request body is required")
    return json_object(req) or {}


def routes(security: SecurityService | None) -> list[Route]:
    """The security APIs; none when security is off (``security`` is None)."""
    sec = security
    if sec is None:
        return []
    authorizer = Authorizer()

    async def authenticate(req: Request) -> dict[str, Any]:
        return sec.authenticate_response(_subject(req))

    async def put_user(req: Request) -> dict[str, Any]:
        body = json_object(req, required=True) or {}
        if req.path_params["username"] == _subject(req).username and body.get("enabled") is False:
            raise ActionRequestValidationError(
                "Validation Failed: 1: native and reserved realm users may not update the "
                "enabled status of their own account;"
            )
        created = sec.put_user(req.path_params["username"], body)
        return {"created": created}

    async def get_user(req: Request) -> Response:
        names = _names(req, "username")
        users = sec.get_users(names)
        if names and not users:
            return Response(404, {})
        return Response(200, users)

    async def delete_user(req: Request) -> Response:
        found = sec.delete_user(req.path_params["username"])
        return Response(200 if found else 404, {"found": found})

    async def change_password(req: Request) -> dict[str, Any]:
        # Authorized by the guard: ES's same-user rule, else manage_security.
        subject = _subject(req)
        target = req.path_params.get("username") or subject.username
        body = json_object(req, required=True) or {}
        password = body.get("password")
        if not isinstance(password, str):
            raise IllegalArgumentError("Validation Failed: 1: password must be specified;")
        sec.change_password(target, password)
        return {}

    def set_enabled(req: Request, enabled: bool) -> dict[str, Any]:
        # Locking oneself out (or back in) is refused whoever asks: ES's rule.
        if req.path_params["username"] == _subject(req).username:
            raise IllegalArgumentError(
                "users may not update the enabled status of their own account"
            )
        sec.set_enabled(req.path_params["username"], enabled)
        return {}

    async def enable(req: Request) -> dict[str, Any]:
        return set_enabled(req, True)

    async def disable(req: Request) -> dict[str, Any]:
        return set_enabled(req, False)

    async def put_role(req: Request) -> dict[str, Any]:
        created = sec.put_role(req.path_params["name"], json_object(req, required=True) or {})
        return {"role": {"created": created}}

    async def get_role(req: Request) -> Response:
        names = _names(req, "name")
        roles = sec.get_roles(names)
        if names and not roles:
            return Response(404, {})
        return Response(200, roles)

    async def delete_role(req: Request) -> Response:
        found = sec.delete_role(req.path_params["name"])
        return Response(200 if found else 404, {"found": found})

    async def create_key(req: Request) -> dict[str, Any]:
        subject = _subject(req)
        body = json_object(req, required=True) or {}
        # ES's CreateApiKeyRequest parser ("api_key_request"): its error is x-content's.
        fields = ("name", "role_descriptors", "expiration", "metadata")
        for key in body:
            if key not in fields:
                raise xcontent.unknown_field("api_key_request", key, fields)
        if subject.is_api_key and grants_any_privilege(body.get("role_descriptors")):
            raise IllegalArgumentError(
                "creating derived api keys requires an explicit role descriptor that is empty "
                "(has no privileges)"
            )
        return sec.create_api_key(subject, body)

    def _reach(req: Request, action: str, **scope: Any) -> Subject:
        subject = _subject(req)
        if not may_reach_keys(subject, **scope):
            raise authorizer.denied(subject, action)
        return subject

    async def get_keys(req: Request) -> dict[str, Any]:
        owner = bool_param(req, "owner")
        key_id = req.params.get("id")
        _validate_key_selection(
            "retrieving",
            "the api key id or api key name is specified",
            bool(key_id or req.params.get("name")),
            owner,
            req.params.get("username"),
            req.params.get("realm_name"),
        )
        subject = _reach(
            req,
            f"{_SEC}/api_key/get",
            ids=[key_id] if key_id else [],
            username=req.params.get("username"),
            realm=req.params.get("realm_name"),
            owner=owner,
        )
        records = sec.find_keys(
            key_id=req.params.get("id"),
            name=req.params.get("name"),
            username=subject.username if owner else req.params.get("username"),
            realm=req.params.get("realm_name"),
            active_only=bool_param(req, "active_only"),
        )
        records = visible_records(subject, records)
        if not records and (req.params.get("id") or req.params.get("name")):
            what = (
                f"id [{req.params['id']}]"
                if req.params.get("id")
                else f"name [{req.params['name']}]"
            )
            raise ResourceNotFoundError(f"unable to find API key with {what}")
        with_limited = bool_param(req, "with_limited_by")
        return {"api_keys": [sec.render_key(r, with_limited) for r in records]}

    async def invalidate_keys(req: Request) -> dict[str, Any]:
        body = json_object(req, required=True) or {}
        ids = body.get("ids") or ([body["id"]] if body.get("id") else [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise IllegalArgumentError("[ids] must be a list of API key ids")
        _validate_key_selection(
            "invalidating",
            "the api key id(s) or api key name are specified",
            bool(ids or body.get("name")),
            body.get("owner") is True,
            body.get("username"),
            body.get("realm_name"),
        )
        subject = _reach(
            req,
            f"{_SEC}/api_key/invalidate",
            ids=ids,
            username=body.get("username"),
            realm=body.get("realm_name"),
            owner=body.get("owner") is True,
        )
        records: list[dict[str, Any]] = []
        if ids:
            for key_id in ids:
                records.extend(sec.find_keys(key_id=key_id))
        elif body.get("name") or body.get("owner") or body.get("username"):
            records = sec.find_keys(
                name=body.get("name"),
                username=subject.username if body.get("owner") else body.get("username"),
            )
        else:
            raise IllegalArgumentError(
                "One of [api key id(s), api key name, username, realm name] must be specified "
                "if [owner] flag is false"
            )
        records = visible_records(subject, records)
        refused: list[str] = []
        if not _holds_manage_security(authorizer, subject):
            refused = [r["id"] for r in records if r.get("type") == "cross_cluster"]
            records = [r for r in records if r.get("type") != "cross_cluster"]
        return sec.invalidate_keys(records, refused=refused)

    async def query_keys(req: Request) -> dict[str, Any]:
        subject = _subject(req)
        body = json_object(req) or {}
        records = visible_records(subject, sec.find_keys())
        query = body.get("query")
        if query is not None:
            from isthmus.index.mapping import Mapping
            from isthmus.search.dsl import parse_query
            from isthmus.search.evaluate import EvalDoc, matches

            mapping = Mapping(
                {
                    "properties": {
                        "id": {"type": "keyword"},
                        "name": {"type": "keyword"},
                        "type": {"type": "keyword"},
                        "username": {"type": "keyword"},
                        "realm_name": {"type": "keyword"},
                        "invalidated": {"type": "boolean"},
                        "creation": {"type": "date"},
                        "expiration": {"type": "date"},
                    }
                }
            )
            q = parse_query(query)
            records = [
                r
                for r in records
                if matches(
                    q,
                    EvalDoc(r["id"], {**r, "realm_name": r["realm"]}),
                    mapping,
                    now_ms=int(sec.clock() * 1000),
                )
            ]
        start = xcontent.as_int("query_api_key_request", "from", body.get("from", 0))
        size = xcontent.as_int("query_api_key_request", "size", body.get("size", 10))
        page = records[start : start + size]
        return {
            "total": len(records),
            "count": len(page),
            "api_keys": [sec.render_key(r) for r in page],
        }

    async def update_key(req: Request) -> dict[str, Any]:
        subject = _subject(req)
        body = json_object(req) or {}
        descriptors = None
        if "role_descriptors" in body:
            from isthmus.security.roles import parse_role

            roles = xcontent.as_object(
                "update_api_key_request", "role_descriptors", body["role_descriptors"] or {}
            )
            descriptors = {n: parse_role(n, b).to_json() for n, b in roles.items()}
        expiration_ms = None
        if body.get("expiration") is not None:
            expiration_ms = sec.parse_expiration(body["expiration"])
        updated = sec.update_api_key(
            subject,
            req.path_params["id"],
            expected_type="rest",
            role_descriptors=descriptors,
            metadata=body.get("metadata") if "metadata" in body else None,
            expiration_ms=expiration_ms,
        )
        return {"updated": updated}

    async def create_cross_cluster_key(req: Request) -> dict[str, Any]:
        # Parsed and validated first, as ES does before the action runs.
        request = ccx.parse_create(_body_required(req))
        return sec.create_cross_cluster_api_key(_subject(req), request)

    async def update_cross_cluster_key(req: Request) -> dict[str, Any]:
        request = ccx.parse_update(_body_required(req))
        descriptors = None
        if request.descriptor is not None:
            descriptors = {request.descriptor.name: request.descriptor.to_json()}
        updated = sec.update_api_key(
            _subject(req),
            req.path_params["id"],
            expected_type="cross_cluster",
            role_descriptors=descriptors,
            metadata=request.metadata,
            expiration_ms=request.expiration_ms,
        )
        return {"updated": updated}

    async def list_privileges(req: Request) -> dict[str, Any]:
        subject = _subject(req)
        if subject.is_api_key and subject.descriptors:
            # The key's own descriptors narrow its owner's: there is no one list to show.
            raise IllegalArgumentError(
                "Cannot retrieve privileges for API keys with assigned role descriptors. Please "
                "use the Get API key information API https://ela.st/es-api-get-api-key"
            )
        descriptors = subject.limited_by if subject.limited_by is not None else subject.descriptors
        return {
            "cluster": sorted({p for d in descriptors for p in d.cluster}),
            "global": [],
            "indices": [
                {
                    "names": list(i.names),
                    "privileges": list(i.privileges),
                    "allow_restricted_indices": i.allow_restricted_indices,
                    **({"query": [i.query]} if i.query else {}),
                    **(
                        {"field_security": [i.field_security.to_json()]} if i.field_security else {}
                    ),
                }
                for d in descriptors
                for i in d.indices
            ],
            "applications": [],
            "run_as": sorted({r for d in descriptors for r in d.run_as}),
            "remote_indices": [i.to_json() for d in descriptors for i in d.remote_indices],
        }

    async def has_privileges(req: Request) -> dict[str, Any]:
        from isthmus.security.privileges import INDEX_PRIVILEGES

        subject = _subject(req)
        body = json_object(req, required=True) or {}
        cluster: dict[str, bool] = {}
        for privilege in xcontent.as_list(
            "has_privileges_request", "cluster", body.get("cluster", [])
        ):
            privilege = xcontent.as_str("has_privileges_request", "cluster", privilege)
            if privilege.startswith("cluster:"):
                patterns: tuple[str, ...] = (privilege,)
            elif privilege in CLUSTER_PRIVILEGES:
                patterns = CLUSTER_PRIVILEGES[privilege]
            else:
                raise IllegalArgumentError(f"unknown cluster privilege [{privilege}]")
            cluster[privilege] = all(
                authorizer.cluster_allowed(subject, a) for a in _probes(patterns)
            )
        index: dict[str, dict[str, bool]] = {}
        for entry in xcontent.as_list("has_privileges_request", "index", body.get("index", [])):
            entry = xcontent.as_object("has_privileges_request", "index", entry)
            names = xcontent.as_list("index_privileges", "names", entry.get("names", []))
            wanted = xcontent.as_list("index_privileges", "privileges", entry.get("privileges", []))
            for name in (xcontent.as_str("index_privileges", "names", n) for n in names):
                checks = index.setdefault(name, {})
                for privilege in (
                    xcontent.as_str("index_privileges", "privileges", p) for p in wanted
                ):
                    if privilege.startswith("indices:"):
                        patterns = (privilege,)
                    elif privilege in INDEX_PRIVILEGES:
                        patterns = INDEX_PRIVILEGES[privilege]
                    else:
                        raise IllegalArgumentError(f"unknown index privilege [{privilege}]")
                    checks[privilege] = all(
                        authorizer.index_access(subject, a, name).granted for a in _probes(patterns)
                    )
        ok = all(cluster.values()) and all(v for c in index.values() for v in c.values())
        return {
            "username": subject.username,
            "has_all_requested": ok,
            "cluster": cluster,
            "index": index,
            "application": {},
        }

    def committed(handler: Handler) -> Handler:
        # A change is answered once it is the cluster's (a multi-node cluster's etcd has it and
        # every node applied it): what this node answered, every node then enforces.
        async def run(req: Request) -> Any:
            out = await handler(req)
            await sec.store.committed()
            return out

        return run

    key_params = (
        "id",
        "name",
        "owner",
        "realm_name",
        "username",
        "active_only",
        "with_limited_by",
        "with_profile_uid",
    )
    listed = [
        route("GET", "/_security/_authenticate", authenticate, action=f"{_SEC}/user/authenticate"),
        route(
            ("PUT", "POST"),
            "/_security/user/{username}",
            put_user,
            params=("refresh",),
            action=f"{_SEC}/user/put",
        ),
        route(
            "GET",
            "/_security/user",
            get_user,
            params=("with_profile_uid",),
            action=f"{_SEC}/user/get",
        ),
        route(
            "GET",
            "/_security/user/{username}",
            get_user,
            params=("with_profile_uid",),
            action=f"{_SEC}/user/get",
        ),
        route(
            "DELETE",
            "/_security/user/{username}",
            delete_user,
            params=("refresh",),
            action=f"{_SEC}/user/delete",
        ),
        route(
            ("PUT", "POST"),
            "/_security/user/{username}/_password",
            change_password,
            params=("refresh",),
            action=f"{_SEC}/user/change_password",
        ),
        route(
            ("PUT", "POST"),
            "/_security/user/_password",
            change_password,
            params=("refresh",),
            action=f"{_SEC}/user/change_password",
        ),
        route(
            ("PUT", "POST"),
            "/_security/user/{username}/_enable",
            enable,
            params=("refresh",),
            action=f"{_SEC}/user/set_enabled",
        ),
        route(
            ("PUT", "POST"),
            "/_security/user/{username}/_disable",
            disable,
            params=("refresh",),
            action=f"{_SEC}/user/set_enabled",
        ),
        route(
            ("PUT", "POST"),
            "/_security/role/{name}",
            put_role,
            params=("refresh",),
            action=f"{_SEC}/role/put",
        ),
        route("GET", "/_security/role", get_role, action=f"{_SEC}/role/get"),
        route("GET", "/_security/role/{name}", get_role, action=f"{_SEC}/role/get"),
        route(
            "DELETE",
            "/_security/role/{name}",
            delete_role,
            params=("refresh",),
            action=f"{_SEC}/role/delete",
        ),
        route(
            ("PUT", "POST"),
            "/_security/api_key",
            create_key,
            params=("refresh",),
            action=f"{_SEC}/api_key/create",
        ),
        route(
            "GET", "/_security/api_key", get_keys, params=key_params, action=f"{_SEC}/api_key/get"
        ),
        route(
            "DELETE",
            "/_security/api_key",
            invalidate_keys,
            action=f"{_SEC}/api_key/invalidate",
            body=True,
        ),
        route(
            ("GET", "POST"),
            "/_security/_query/api_key",
            query_keys,
            params=("with_limited_by", "with_profile_uid", "typed_keys"),
            action=f"{_SEC}/api_key/query",
        ),
        route("PUT", "/_security/api_key/{id}", update_key, action=f"{_SEC}/api_key/update"),
        route(
            "POST",
            "/_security/cross_cluster/api_key",
            create_cross_cluster_key,
            action=f"{_SEC}/cross_cluster/api_key/create",
        ),
        route(
            "PUT",
            "/_security/cross_cluster/api_key/{id}",
            update_cross_cluster_key,
            action=f"{_SEC}/cross_cluster/api_key/update",
        ),
        route(
            "GET",
            "/_security/user/_privileges",
            list_privileges,
            action=f"{_SEC}/user/list_privileges",
        ),
        route(
            ("GET", "POST"),
            "/_security/user/_has_privileges",
            has_privileges,
            action=f"{_SEC}/user/has_privileges",
        ),
        route(
            ("GET", "POST"),
            "/_security/user/{username}/_has_privileges",
            has_privileges,
            action=f"{_SEC}/user/has_privileges",
        ),
    ]
    return [
        r if r.methods <= {"GET", "HEAD"} else dataclasses.replace(r, handler=committed(r.handler))
        for r in listed
    ]


__all__ = ["SecurityError", "routes"]
