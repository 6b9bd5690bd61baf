"""The security service: native users, roles, API keys, and authentication of REST requests.

It owns the records in :class:`SecurityStore` and the rules around them (reserved users and
roles, password rules, key lifecycles) and turns an ``Authorization`` header into a
:class:`Subject` — or raises ES's 401. Authorization decisions are :mod:`isthmus.security.authz`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.errors import (
    ActionRequestValidationError,
    AuthenticationError,
    ElasticsearchParseError,
    IllegalArgumentError,
    ResourceNotFoundError,
    SecurityError,
)
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.authz import Subject
from isthmus.security.passwords import (
    AuthCache,
    check_password,
    check_password_hash,
    check_secret,
    hash_password,
    hash_secret,
)
from isthmus.security.roles import BUILTIN_ROLES, RoleDescriptor, parse_role
from isthmus.security.store import SecurityStore
from isthmus.settings.values import parse_time
from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION
from isthmus.xcontent import as_object

log = logging.getLogger("org.elasticsearch.xpack.security.authc.AuthenticationService")
api_key_log = logging.getLogger("org.elasticsearch.xpack.security.authc.ApiKeyAuthenticator")

RESERVED_USERS = {"elastic": ("superuser",)}
_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_@\-\$\.\+ ]{0,506}$")
MIN_PASSWORD = 6
_KEY_FAILURE = (
    "unable to authenticate with provided credentials and anonymous access is not allowed for "
    "this request"
)


@dataclass(frozen=True)
class AnonymousConfig:
    username: str
    roles: tuple[str, ...]


def _b64id(nbytes: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(nbytes)).decode().rstrip("=")


class SecurityService:
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

    # --- authentication -----------------------------------------------------------------------

    def subject_for_user(self, record: Mapping[str, Any]) -> Subject:
        roles = tuple(record.get("roles", []))
        realm = "reserved" if record["username"] in RESERVED_USERS else "default_native"
        return Subject(
            username=record["username"],
            role_names=roles,
            descriptors=self.resolve_roles(roles),
            realm=realm,
            realm_type="reserved" if realm == "reserved" else "native",
            full_name=record.get("full_name"),
            email=record.get("email"),
            metadata=dict(record.get("metadata", {})),
        )

    def authenticate(self, header: str | None, what: str) -> Subject:
        """The subject of a REST request (``what`` is ``REST request [/path]``)."""
        if not header:
            if self.anonymous is not None:
                return Subject(
                    self.anonymous.username,
                    self.anonymous.roles,
                    self.resolve_roles(self.anonymous.roles),
                    realm="__anonymous",
                    realm_type="anonymous",
                )
            raise AuthenticationError(f"missing authentication credentials for {what}")
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self._basic(value.strip(), what)
        if scheme == "apikey":
            return self.authenticate_api_key(value.strip(), "rest")
        raise AuthenticationError(f"missing authentication credentials for {what}")

    def _basic(self, value: str, what: str) -> Subject:
        try:
            username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError(f"missing authentication credentials for {what}") from None
        record = self.store.get("users", username)
        # Keyed by the stored hash too: a password changed elsewhere (reset-password on the
        # store) is never answered from the cache.
        cache_key = f"user:{username}:{(record or {}).get('password', '')[-16:]}"
        ok = (
            record is not None
            and record.get("enabled", True)
            and (
                self.cache.hit(cache_key, password) or check_password(password, record["password"])
            )
        )
        if not ok or record is None:
            log.debug("authentication of [%s] failed", username)
            raise AuthenticationError(f"unable to authenticate user [{username}] for {what}")
        self.cache.remember(cache_key, password)
        return self.subject_for_user(record)

    def authenticate_api_key(self, encoded: str, expected_type: str) -> Subject:
        """The subject of ``Authorization: ApiKey <encoded>`` (``expected_type`` ``rest``)."""
        try:
            key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError(_KEY_FAILURE) from None
        return self._authenticate_key(key_id, secret, expected_type)

    def authenticate_cross_cluster_api_key(
        self, credential: str, action: str = REMOTE_CLUSTER_HANDSHAKE_ACTION
    ) -> Subject:
        """The subject of a cross-cluster request's ``_cross_cluster_access_credentials`` header
        (``ApiKey <base64(id:secret)>``), for the remote cluster server.

        Its descriptors are the key's ``cross_cluster`` descriptor alone (no owner limit). A
        malformed credential is ES's 401 ``failed to extract credentials from headers`` caused by
        ``cross cluster access header [...] value must be a valid API key credential`` (and its
        cause); a REST key is ``authentication expected API key type of [cross_cluster], but API
        key [<id>] has type [rest]``; an unknown, invalidated or expired key or a wrong secret is
        ``unable to authenticate user [<id>] for action [<action>]``, its reason (``API key:
        unable to find apikey with id ...``, ``... invalid credentials ...``) in
        ``additional_unsuccessful_credentials`` and in the WARN log, as ES does."""
        try:
            key_id, secret = ccx.parse_credential(credential)
        except IllegalArgumentError as exc:
            err = AuthenticationError("failed to extract credentials from headers")
            err.caused_by = exc
            raise err from None
        try:
            return self._authenticate_key(key_id, secret, "cross_cluster")
        except AuthenticationError as exc:
            reason = exc.extra.get("additional_unsuccessful_credentials")
            if reason is None:
                raise  # the wrong key type: ES terminates with that message
            err = AuthenticationError(
                f"unable to authenticate user [{key_id}] for action [{action}]"
            )
            err.extra["additional_unsuccessful_credentials"] = reason
            raise err from None

    def _authenticate_key(self, key_id: str, secret: str, expected_type: str) -> Subject:
        # ES's order: the document, invalidation, the secret, then type and expiry, so nobody
        # learns anything about a key without its secret.
        record = self.store.get("api_keys", key_id)

        def fail(reason: str) -> AuthenticationError:
            # ES's ApiKeyAuthenticator logs every unsuccessful API key (never its secret).
            api_key_log.warning("Authentication using apikey failed - %s", reason)
            err = AuthenticationError(_KEY_FAILURE)
            err.extra["additional_unsuccessful_credentials"] = f"API key: {reason}"
            return err

        if record is None:
            raise fail(f"unable to find apikey with id {key_id}")
        if record.get("invalidated"):
            raise fail("api key has been invalidated")
        cache_key = f"key:{key_id}"
        if not (self.cache.hit(cache_key, secret) or check_secret(secret, record["hash"])):
            raise fail(f"invalid credentials for API key [{key_id}]")
        self.cache.remember(cache_key, secret)
        key_type = record.get("type", "rest")
        if key_type != expected_type:
            raise AuthenticationError(
                f"authentication expected API key type of [{expected_type}], but API key "
                f"[{key_id}] has type [{key_type}]"
            )
        if record.get("expiration") is not None and record["expiration"] <= self.clock() * 1000:
            raise fail("api key is expired")
        own = _stored_descriptors(orjson.dumps(record.get("role_descriptors", {})))
        if key_type == "cross_cluster":
            return Subject(
                username=record["username"],
                role_names=(),
                descriptors=own,
                limited_by=None,
                realm="_es_api_key",
                realm_type="_es_api_key",
                api_key_id=key_id,
                api_key_name=record["name"],
            )
        limited = tuple(
            d
            for item in record.get("limited_by", [])
            for d in _stored_descriptors(orjson.dumps(item))
        )
        return Subject(
            username=record["username"],
            role_names=tuple(n for i in record.get("limited_by", []) for n in i),
            descriptors=own,
            limited_by=limited,
            realm="_es_api_key",
            realm_type="_es_api_key",
            api_key_id=key_id,
            api_key_name=record["name"],
        )

    def lookup_user(self, username: str) -> Subject | None:
        """A native user as a subject, for ``run_as`` (None when unknown or disabled)."""
        record = self.store.get("users", username)
        if record is None or not record.get("enabled", True):
            return None
        return self.subject_for_user(record)

    def authenticate_response(self, subject: Subject) -> dict[str, Any]:
        """``GET /_security/_authenticate``'s body."""
        auth = subject.authenticated_as or subject
        out: dict[str, Any] = {
            "username": subject.username,
            "roles": [] if subject.is_api_key else list(subject.role_names),
            "full_name": subject.full_name,
            "email": subject.email,
            "metadata": subject.metadata,
            "enabled": True,
            "authentication_realm": {"name": auth.realm, "type": auth.realm_type},
            "lookup_realm": {"name": subject.realm, "type": subject.realm_type},
            "authentication_type": "api_key"
            if auth.is_api_key
            else "anonymous"
            if auth.realm_type == "anonymous"
            else "realm",
        }
        if subject.is_api_key:
            out["api_key"] = {"id": subject.api_key_id, "name": subject.api_key_name}
        return out


@functools.lru_cache(maxsize=1024)
def _stored_descriptors(text: bytes) -> tuple[RoleDescriptor, ...]:
    """The role descriptors an API key stores, parsed once per distinct stored form (every
    request with a key would otherwise parse them again; an update stores a new form)."""
    return tuple(parse_role(n, b, stored=True) for n, b in orjson.loads(text).items())


__all__ = ["AnonymousConfig", "SecurityError", "SecurityService"]


@functools.lru_cache(maxsize=512)
def _stored_role(name: str, raw: bytes) -> RoleDescriptor:
    """A stored role, parsed once per distinct stored document (every authenticated request
    resolves its roles; a changed role is a different document, so nothing goes stale)."""
    body = {k: v for k, v in orjson.loads(raw).items() if k not in ("applications",)}
    return parse_role(name, body)
