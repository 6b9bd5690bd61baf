"""API keys: creating, updating, rendering, finding and invalidating REST and cross-cluster
keys. :class:`ApiKeys` is a base of :class:`isthmus.security.service.SecurityService`;
authenticating with a key is :mod:`isthmus.security.service`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from typing import Any

from isthmus.errors import (
    ActionRequestValidationError,
    ElasticsearchParseError,
    IllegalArgumentError,
    ResourceNotFoundError,
    SecurityError,
)
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.authz import Subject
from isthmus.security.passwords import (
    hash_secret,
)
from isthmus.security.roles import parse_role
from isthmus.security.users import UsersAndRoles
from isthmus.settings.values import parse_time
from isthmus.xcontent import as_object


def _b64id(nbytes: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(nbytes)).decode().rstrip("=")


class ApiKeys(UsersAndRoles):
    """API keys of the security service."""

    # --- API keys -----------------------------------------------------------------------------

    def create_api_key(
        self, owner: Subject, body: Mapping[str, Any], key_type: str = "rest"
    ) -> dict[str, Any]:
        """A REST API key from ``POST /_security/api_key``'s body (``key_type="cross_cluster"``
        reads a cross-cluster key's body instead; see :meth:`create_cross_cluster_api_key`)."""
        if key_type == "cross_cluster":
            return self.create_cross_cluster_api_key(owner, ccx.parse_create(body))
        name = body.get("name")
        if not name or not isinstance(name, str):
            raise ActionRequestValidationError("Validation Failed: 1: api key name is required;")
        descriptors: dict[str, Any] = {}
        roles = body.get("role_descriptors") or {}
        for role_name, role_body in as_object("api_key_request", "role_descriptors", roles).items():
            descriptors[role_name] = parse_role(role_name, role_body).to_json()
        expiration_ms = None
        if body.get("expiration"):
            expiration_ms = self.parse_expiration(body["expiration"])
        limited_by = [{d.name: d.to_json()} for d in (owner.limited_by or owner.descriptors)]
        return self._new_key(
            owner,
            name,
            "rest",
            expiration_ms,
            as_object("api_key_request", "metadata", body.get("metadata") or {}),
            descriptors,
            limited_by,
        )

    def create_cross_cluster_api_key(
        self, owner: Subject, request: ccx.CreateRequest
    ) -> dict[str, Any]:
        """A cross-cluster API key: its only role descriptor is the ``cross_cluster`` one built
        from ``access``; it has no owner-limited permissions (ES keeps no ``limited_by``)."""
        if owner.is_api_key:
            raise IllegalArgumentError(
                "authentication via API key not supported: An API key cannot be used to create "
                "a cross-cluster API key"
            )
        descriptor = request.descriptor
        return self._new_key(
            owner,
            request.name,
            "cross_cluster",
            request.expiration_ms,
            request.metadata or {},
            {descriptor.name: descriptor.to_json()},
            None,
        )

    @staticmethod
    def parse_expiration(raw: object) -> int:
        """An API key lifetime in milliseconds, with ES's parse error."""
        try:
            return parse_time(raw).millis
        except ValueError:
            raise ElasticsearchParseError(
                f"failed to parse setting [expiration] with value [{raw}] as a time value: "
                "unit is missing or unrecognized"
            ) from None

    def _new_key(
        self,
        owner: Subject,
        name: str,
        key_type: str,
        expiration_ms: int | None,
        metadata: Mapping[str, Any],
        descriptors: dict[str, Any],
        limited_by: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        now = int(self.clock() * 1000)
        expiration = now + expiration_ms if expiration_ms is not None else None
        key_id = _b64id(15)
        secret = _b64id(16)[:22]
        record: dict[str, Any] = {
            "id": key_id,
            "name": name,
            "type": key_type,
            "creation": now,
            "expiration": expiration,
            "invalidated": False,
            "invalidation": None,
            "username": owner.username,
            "realm": owner.realm,
            "realm_type": owner.realm_type,
            "metadata": dict(metadata),
            "role_descriptors": descriptors,
            "hash": hash_secret(secret),
        }
        if limited_by is not None:
            record["limited_by"] = limited_by
        self.store.put("api_keys", key_id, record)
        out: dict[str, Any] = {"id": key_id, "name": name}
        if expiration is not None:
            out["expiration"] = expiration
        out["api_key"] = secret
        out["encoded"] = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        return out

    def update_api_key(
        self,
        owner: Subject,
        key_id: str,
        *,
        expected_type: str,
        role_descriptors: dict[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        expiration_ms: int | None = None,
    ) -> bool:
        """Update an API key the caller owns; False when nothing changed (ES's noop).

        A REST key's owner-limited descriptors are refreshed to the owner's current roles, as
        ES does on every update; a cross-cluster key has none."""
        if owner.is_api_key:
            raise IllegalArgumentError(
                "authentication via API key not supported: only the owner user can update an "
                "API key"
            )
        record = self.store.get("api_keys", key_id)
        if record is None or (record["username"], record["realm"]) != (
            owner.username,
            owner.realm,
        ):
            raise ResourceNotFoundError(
                f"no API key owned by requesting user found for ID [{key_id}]"
            )
        now = int(self.clock() * 1000)
        if record.get("invalidated"):
            raise IllegalArgumentError(f"cannot update invalidated API key [{key_id}]")
        if record.get("expiration") is not None and record["expiration"] <= now:
            raise IllegalArgumentError(f"cannot update expired API key [{key_id}]")
        key_type = record.get("type", "rest")
        if key_type != expected_type:
            raise IllegalArgumentError(
                f"cannot update API key of type [{key_type}] while expected type is "
                f"[{expected_type}]"
            )
        updated = dict(record)
        if role_descriptors is not None:
            updated["role_descriptors"] = role_descriptors
        if metadata is not None:
            updated["metadata"] = dict(metadata)
        if expiration_ms is not None:
            updated["expiration"] = now + expiration_ms
        if key_type != "cross_cluster":
            updated["limited_by"] = [{d.name: d.to_json()} for d in owner.descriptors]
        if updated == record:
            return False
        self.store.put("api_keys", key_id, updated)
        self.cache.forget(f"key:{key_id}")
        return True

    @staticmethod
    def _render_descriptor(body: Mapping[str, Any]) -> dict[str, Any]:
        """A stored descriptor as ES renders it: ``transient_metadata`` follows ``metadata``."""
        out: dict[str, Any] = {}
        for key, value in body.items():
            out[key] = value
            if key == "metadata":
                out["transient_metadata"] = {"enabled": True}
        out.setdefault("transient_metadata", {"enabled": True})
        return out

    @classmethod
    def render_key(cls, record: Mapping[str, Any], with_limited_by: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": record["id"],
            "name": record["name"],
            "type": record.get("type", "rest"),
            "creation": record["creation"],
        }
        if record.get("expiration") is not None:
            out["expiration"] = record["expiration"]
        out["invalidated"] = record.get("invalidated", False)
        if record.get("invalidation") is not None:
            out["invalidation"] = record["invalidation"]
        descriptors = record.get("role_descriptors", {})
        out.update(
            {
                "username": record["username"],
                "realm": record["realm"],
                "realm_type": record.get("realm_type", "native"),
                "metadata": record.get("metadata", {}),
                "role_descriptors": {
                    name: cls._render_descriptor(body) for name, body in descriptors.items()
                },
            }
        )
        if out["type"] == "cross_cluster":
            # ES derives ``access`` from the stored descriptor (and shows no ``limited_by``).
            for name, body in descriptors.items():
                out["access"] = ccx.access_json(parse_role(name, body, stored=True))
        elif with_limited_by:
            out["limited_by"] = [
                {name: cls._render_descriptor(body) for name, body in item.items()}
                for item in record.get("limited_by", [])
            ]
        return out

    def find_keys(
        self,
        *,
        key_id: str | None = None,
        name: str | None = None,
        username: str | None = None,
        realm: str | None = None,
        active_only: bool = False,
    ) -> list[dict[str, Any]]:
        import fnmatch

        now = int(self.clock() * 1000)
        out = []
        for record in self.store.all("api_keys").values():
            if key_id is not None and record["id"] != key_id:
                continue
            if name is not None and not fnmatch.fnmatchcase(record["name"], name):
                continue
            if username is not None and record["username"] != username:
                continue
            if realm is not None and record["realm"] != realm:
                continue
            expired = record.get("expiration") is not None and record["expiration"] <= now
            if active_only and (record.get("invalidated") or expired):
                continue
            out.append(record)
        return sorted(out, key=lambda r: r["creation"])

    def invalidate_keys(
        self, records: Sequence[Mapping[str, Any]], *, refused: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Invalidate ``records``; ``refused`` are ids of cross-cluster keys the caller may not
        invalidate (it lacks ``manage_security``), reported as ES reports them."""
        invalidated, previously = [], []
        now = int(self.clock() * 1000)
        for record in records:
            if record.get("invalidated"):
                previously.append(record["id"])
                continue
            updated = {**record, "invalidated": True, "invalidation": now}
            self.store.put("api_keys", record["id"], updated)
            self.cache.forget(f"key:{record['id']}")
            invalidated.append(record["id"])
        out: dict[str, Any] = {
            "invalidated_api_keys": invalidated,
            "previously_invalidated_api_keys": previously,
            "error_count": len(refused),
        }
        if refused:
            out["error_details"] = [
                SecurityError(
                    f"Cannot invalidate cross-cluster API key [{key_id}]. This requires "
                    "[manage_security] cluster privilege or higher"
                ).to_cause()
                for key_id in refused
            ]
        return out
