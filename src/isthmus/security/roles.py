"""Role descriptors: parsing, validation and the built-in roles.  [no I/O]

A role grants cluster privileges, index privileges on index patterns (with document- and
field-level security), the same for remote clusters (``remote_indices``, ``remote_cluster``),
and ``run_as``. The JSON shapes and validation messages are Elasticsearch's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.errors import IllegalArgumentError, ParsingError
from isthmus.security.privileges import valid_cluster_privilege, valid_index_privilege
from isthmus.xcontent import token

REMOTE_CLUSTER_PRIVILEGES = ("monitor_enrich", "monitor_stats")


@dataclass(frozen=True)
class FieldSecurity:
    grant: tuple[str, ...] = ("*",)
    except_: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"grant": list(self.grant)}
        if self.except_:
            out["except"] = list(self.except_)
        return out


@dataclass(frozen=True)
class IndicesPrivileges:
    names: tuple[str, ...]
    privileges: tuple[str, ...]
    query: str | None = None  # document-level security, a query as a JSON string or object
    field_security: FieldSecurity | None = None
    allow_restricted_indices: bool = False
    clusters: tuple[str, ...] = ()  # only for remote_indices

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.clusters:
            out["clusters"] = list(self.clusters)
        out["names"] = list(self.names)
        out["privileges"] = list(self.privileges)
        if self.field_security is not None:
            out["field_security"] = self.field_security.to_json()
        if self.query is not None:
            out["query"] = self.query
        out["allow_restricted_indices"] = self.allow_restricted_indices
        return out


@dataclass(frozen=True)
class RemoteClusterPrivileges:
    clusters: tuple[str, ...]
    privileges: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"privileges": list(self.privileges), "clusters": list(self.clusters)}


@dataclass(frozen=True)
class RoleDescriptor:
    name: str
    cluster: tuple[str, ...] = ()
    indices: tuple[IndicesPrivileges, ...] = ()
    remote_indices: tuple[IndicesPrivileges, ...] = ()
    remote_cluster: tuple[RemoteClusterPrivileges, ...] = ()
    run_as: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cluster": list(self.cluster),
            "indices": [i.to_json() for i in self.indices],
            "applications": [],
            "run_as": list(self.run_as),
            "metadata": dict(self.metadata),
        }
        if self.remote_indices:
            out["remote_indices"] = [i.to_json() for i in self.remote_indices]
        if self.remote_cluster:
            out["remote_cluster"] = [r.to_json() for r in self.remote_cluster]
        if self.description is not None:
            out["description"] = self.description
        return out


def _strings(name: str, field_name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParsingError(
            f"failed to parse role [{name}]. could not parse [{field_name}] field. "
            "expected a string or an array of strings"
        )
    return tuple(value)


def _field_security(role: str, raw: Any) -> FieldSecurity:
    if not isinstance(raw, Mapping):
        raise ParsingError(
            f"failed to parse indices privileges for role [{role}]. "
            "[field_security] must be an object"
        )
    grant = _strings(role, "grant", raw.get("grant", ["*"]))
    except_ = _strings(role, "except", raw.get("except", []))
    return FieldSecurity(grant, except_)


def _indices(role: str, raw: Any, *, remote: bool) -> tuple[IndicesPrivileges, ...]:
    key = "remote_indices" if remote else "indices"
    if not isinstance(raw, list):
        raise ParsingError(f"failed to parse role [{role}]. [{key}] must be an array")
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ParsingError(f"failed to parse indices privileges for role [{role}]")
        allowed = {"names", "privileges", "query", "field_security", "allow_restricted_indices"}
        if remote:
            allowed.add("clusters")
        for k in item:
            if k not in allowed:
                raise ParsingError(
                    f"failed to parse indices privileges for role [{role}]. unexpected field [{k}]"
                )
        if "names" not in item:
            raise ParsingError(
                f"failed to parse indices privileges for role [{role}]. "
                "missing required [names] field"
            )
        if "privileges" not in item:
            raise ParsingError(
                f"failed to parse indices privileges for role [{role}]. "
                "missing required [privileges] field"
            )
        clusters: tuple[str, ...] = ()
        if remote:
            if "clusters" not in item:
                raise ParsingError(
                    f"failed to parse remote indices privileges for role [{role}]."
                    " missing required [clusters] field"
                )
            clusters = _strings(role, "clusters", item["clusters"])
        privileges = _strings(role, "privileges", item["privileges"])
        for p in privileges:
            if not valid_index_privilege(p):
                raise IllegalArgumentError(
                    f"unknown index privilege [{p}]. a privilege must be either one of the "
                    "predefined fixed indices privileges [all,auto_configure,create,create_doc,"
                    "create_index,cross_cluster_replication,cross_cluster_replication_internal,"
                    "delete,delete_index,index,maintenance,manage,"
                    "manage_follow_index,monitor,none,read,read_cross_cluster,"
                    "view_index_metadata,write] or a pattern over one of the available index "
                    "actions"
                )
        query = item.get("query")
        if query is not None and not isinstance(query, str):
            import orjson

            query = orjson.dumps(query).decode()
        out.append(
            IndicesPrivileges(
                names=_strings(role, "names", item["names"]),
                privileges=privileges,
                query=query,
                field_security=_field_security(role, item["field_security"])
                if "field_security" in item
                else None,
                allow_restricted_indices=bool(item.get("allow_restricted_indices", False)),
                clusters=clusters,
            )
        )
    return tuple(out)


def parse_role(name: str, body: Mapping[str, Any], *, stored: bool = False) -> RoleDescriptor:
    """A role from its REST body, with ES's validation and messages. ``stored`` descriptors
    (snapshots inside API keys) may carry reserved ``_`` metadata, as built-in roles do."""
    if not isinstance(body, Mapping):
        raise ParsingError(
            f"failed to parse role [{name}]. expected an object but found [{token(body)}] instead"
        )
    allowed = {
        "cluster",
        "indices",
        "remote_indices",
        "remote_cluster",
        "run_as",
        "metadata",
        "applications",
        "global",
        "transient_metadata",
        "description",
    }
    for key in body:
        if key not in allowed:
            raise ParsingError(f"failed to parse role [{name}]. unexpected field [{key}]")
    cluster = _strings(name, "cluster", body.get("cluster", []))
    for p in cluster:
        if not valid_cluster_privilege(p):
            raise IllegalArgumentError(
                f"unknown cluster privilege [{p}]. a privilege must be either one of the "
                "predefined cluster privilege names [all,cross_cluster_replication,"
                "cross_cluster_search,manage,manage_api_key,manage_ccr,manage_index_templates,"
                "manage_own_api_key,manage_security,monitor,monitor_enrich,none,read_ccr] or a "
                "pattern over one of the available cluster actions"
            )
    remote_cluster = []
    for item in body.get("remote_cluster", []) or []:
        privs = _strings(name, "privileges", item.get("privileges", []))
        for p in privs:
            if p not in REMOTE_CLUSTER_PRIVILEGES:
                raise IllegalArgumentError(
                    f"Invalid remote_cluster permissions found. Please remove the following: "
                    f"[{p}] Only [monitor_enrich, monitor_stats] are allowed"
                )
        remote_cluster.append(
            RemoteClusterPrivileges(_strings(name, "clusters", item.get("clusters", [])), privs)
        )
    metadata = body.get("metadata", {}) or {}
    if not isinstance(metadata, Mapping):
        raise ParsingError(f"failed to parse role [{name}]. [metadata] must be an object")
    for key in metadata:
        if str(key).startswith("_") and not stored:
            raise IllegalArgumentError(
                f"role [{name}] has metadata keys starting with an underscore, which is reserved"
            )
    return RoleDescriptor(
        name=name,
        cluster=cluster,
        indices=_indices(name, body.get("indices", []), remote=False),
        remote_indices=_indices(name, body.get("remote_indices", []), remote=True),
        remote_cluster=tuple(remote_cluster),
        run_as=_strings(name, "run_as", body.get("run_as", [])),
        metadata=dict(metadata),
        description=body.get("description"),
    )


def _builtin(name: str, body: dict[str, Any]) -> RoleDescriptor:
    role = parse_role(name, body)
    return RoleDescriptor(
        role.name,
        role.cluster,
        role.indices,
        role.remote_indices,
        role.remote_cluster,
        role.run_as,
        {"_reserved": True},
        role.description,
    )


BUILTIN_ROLES: dict[str, RoleDescriptor] = {
    "superuser": _builtin(
        "superuser",
        {
            "cluster": ["all"],
            "indices": [{"names": ["*"], "privileges": ["all"], "allow_restricted_indices": True}],
            "remote_indices": [
                {
                    "clusters": ["*"],
                    "names": ["*"],
                    "privileges": ["all"],
                    "allow_restricted_indices": True,
                }
            ],
            "remote_cluster": [
                {"clusters": ["*"], "privileges": ["monitor_enrich", "monitor_stats"]}
            ],
            "run_as": ["*"],
        },
    ),
    "viewer": _builtin(
        "viewer",
        {
            "cluster": [],
            "indices": [{"names": ["*"], "privileges": ["read", "view_index_metadata"]}],
        },
    ),
    "editor": _builtin(
        "editor",
        {
            "cluster": [],
            "indices": [
                {
                    "names": ["*"],
                    "privileges": [
                        "read",
                        "view_index_metadata",
                        "write",
                        "create_index",
                        "maintenance",
                    ],
                }
            ],
        },
    ),
    "monitoring_user": _builtin(
        "monitoring_user",
        {
            "cluster": ["monitor"],
            "indices": [{"names": ["*"], "privileges": ["monitor"]}],
        },
    ),
    "remote_monitoring_agent": _builtin("remote_monitoring_agent", {"cluster": ["monitor"]}),
}
