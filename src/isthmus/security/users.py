"""Native users and roles: the records in :class:`SecurityStore` and their rules.

Reserved users and roles, the user name and password rules, bootstrapping ``elastic``, and
resolving role names to descriptors. :class:`UsersAndRoles` is the base of
:class:`isthmus.security.service.SecurityService`, which owns the store, clock and cache.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    ResourceNotFoundError,
)
from isthmus.security.passwords import (
    AuthCache,
    check_password_hash,
    hash_password,
)
from isthmus.security.roles import BUILTIN_ROLES, RoleDescriptor, parse_role
from isthmus.security.store import SecurityStore

RESERVED_USERS = {"elastic": ("superuser",)}
_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_@\-\$\.\+ ]{0,506}$")
MIN_PASSWORD = 6


@dataclass(frozen=True)
class AnonymousConfig:
    username: str
    roles: tuple[str, ...]


class UsersAndRoles:
    """Users and roles of the security service (its store, anonymous config, clock, cache)."""

    def __init__(
        self,
        store: SecurityStore,
        *,
        anonymous: AnonymousConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.anonymous = anonymous
        self.clock = clock
        self.cache = AuthCache()

    # --- bootstrap ----------------------------------------------------------------------------

    def ensure_elastic(self, bootstrap_password: str | None) -> str | None:
        """Create the ``elastic`` superuser on first start; returns a generated password."""
        if self.store.get("users", "elastic") is not None:
            return None
        generated = None
        password = bootstrap_password
        if password is None:
            generated = password = secrets.token_urlsafe(15)[:20]
        self.store.put(
            "users",
            "elastic",
            {
                "username": "elastic",
                "roles": ["superuser"],
                "full_name": None,
                "email": None,
                "metadata": {"_reserved": True},
                "enabled": True,
                "password": hash_password(password),
            },
        )
        return generated

    def reset_password(self, username: str, password: str | None = None) -> str:
        record = self.store.get("users", username)
        if record is None:
            raise ResourceNotFoundError(f"user [{username}] not found")
        new = password or secrets.token_urlsafe(15)[:20]
        record["password"] = hash_password(new)
        self.store.put("users", username, record)
        self.cache.forget(f"user:{username}")
        return new

    # --- users --------------------------------------------------------------------------------

    def put_user(self, username: str, body: Mapping[str, Any]) -> bool:
        if not _NAME.match(username):
            raise IllegalArgumentError(
                f"Validation Failed: 1: Invalid username [{username}]. Usernames must be at "
                "least 1 and no more than 507 characters. They can contain alphanumeric "
                "characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in the "
                "Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed.;"
            )
        for key in body:
            if key not in (
                "password",
                "password_hash",
                "roles",
                "full_name",
                "email",
                "metadata",
                "enabled",
            ):
                raise IllegalArgumentError(
                    f"failed to parse add user request. unexpected field [{key}]"
                )
        existing = self.store.get("users", username)
        if username in RESERVED_USERS and existing is not None and set(body) - {"password"}:
            raise IllegalArgumentError(
                f"user [{username}] is reserved and only the password can be changed"
            )
        password = body.get("password")
        if password is None and existing is None and "password_hash" not in body:
            raise ActionRequestValidationError(
                "Validation Failed: 1: password must be specified unless you are updating an existing user;"
            )
        if password is not None and len(str(password)) < MIN_PASSWORD:
            raise ActionRequestValidationError(
                f"Validation Failed: 1: passwords must be at least [{MIN_PASSWORD}] characters long;"
            )
        roles = body.get("roles", existing.get("roles", []) if existing else [])
        if not isinstance(roles, list):
            raise IllegalArgumentError("[roles] must be an array of role names")
        record = {
            "username": username,
            "roles": [str(r) for r in roles],
            "full_name": body.get("full_name", existing.get("full_name") if existing else None),
            "email": body.get("email", existing.get("email") if existing else None),
            "metadata": body.get("metadata", existing.get("metadata", {}) if existing else {}),
            "enabled": body.get("enabled", existing.get("enabled", True) if existing else True),
            "password": hash_password(str(password))
            if password is not None
            else check_password_hash(body["password_hash"])
            if "password_hash" in body
            else (existing or {}).get("password"),
        }
        self.cache.forget(f"user:{username}")
        return self.store.put("users", username, record)

    @staticmethod
    def render_user(record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "username": record["username"],
            "roles": record.get("roles", []),
            "full_name": record.get("full_name"),
            "email": record.get("email"),
            "metadata": record.get("metadata", {}),
            "enabled": record.get("enabled", True),
        }

    def get_users(self, names: Sequence[str]) -> dict[str, Any]:
        users = self.store.all("users")
        if names:
            users = {n: u for n, u in users.items() if n in names}
        return {n: self.render_user(u) for n, u in users.items()}

    def delete_user(self, username: str) -> bool:
        if username in RESERVED_USERS:
            raise IllegalArgumentError(f"user [{username}] is reserved and cannot be deleted")
        self.cache.forget(f"user:{username}")
        return self.store.delete("users", username)

    def change_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ActionRequestValidationError(
                f"Validation Failed: 1: passwords must be at least [{MIN_PASSWORD}] characters long;"
            )
        self.reset_password(username, password)

    def set_enabled(self, username: str, enabled: bool) -> None:
        record = self.store.get("users", username)
        if record is None:
            raise ResourceNotFoundError(f"user [{username}] not found")
        record["enabled"] = enabled
        self.store.put("users", username, record)
        self.cache.forget(f"user:{username}")

    # --- roles --------------------------------------------------------------------------------

    def put_role(self, name: str, body: Mapping[str, Any]) -> bool:
        if name in BUILTIN_ROLES:
            raise IllegalArgumentError(f"role [{name}] is reserved and cannot be modified.")
        role = parse_role(name, body)
        return self.store.put("roles", name, role.to_json())

    def get_roles(self, names: Sequence[str]) -> dict[str, Any]:
        out = {n: r.to_json() for n, r in BUILTIN_ROLES.items()}
        for n, body in self.store.all("roles").items():
            out[n] = {**body, "transient_metadata": {"enabled": True}}
        if names:
            out = {n: r for n, r in out.items() if n in names}
        return out

    def delete_role(self, name: str) -> bool:
        if name in BUILTIN_ROLES:
            raise IllegalArgumentError(f"role [{name}] is reserved and cannot be deleted")
        return self.store.delete("roles", name)

    def resolve_roles(self, names: Sequence[str]) -> tuple[RoleDescriptor, ...]:
        out = []
        for name in names:
            if name in BUILTIN_ROLES:
                out.append(BUILTIN_ROLES[name])
                continue
            raw = self.store.get_raw("roles", name)
            if raw is not None:
                out.append(_stored_role(name, raw))
        return tuple(out)


@functools.lru_cache(maxsize=512)
def _stored_role(name: str, raw: bytes) -> RoleDescriptor:
    """A stored role, parsed once per distinct stored document (every authenticated request
    resolves its roles; a changed role is a different document, so nothing goes stale)."""
    body = {k: v for k, v in orjson.loads(raw).items() if k not in ("applications",)}
    return parse_role(name, body)
