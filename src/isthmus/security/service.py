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
from collections.abc import Mapping
from typing import Any

import orjson

from isthmus.errors import (
    AuthenticationError,
    IllegalArgumentError,
    SecurityError,
)
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.api_keys import ApiKeys
from isthmus.security.authz import Subject
from isthmus.security.passwords import (
    check_password,
    check_secret,
)
from isthmus.security.roles import RoleDescriptor, parse_role
from isthmus.security.users import MIN_PASSWORD, RESERVED_USERS, AnonymousConfig
from isthmus.wire.names import REMOTE_CLUSTER_HANDSHAKE_ACTION

log = logging.getLogger("org.elasticsearch.xpack.security.authc.AuthenticationService")
api_key_log = logging.getLogger("org.elasticsearch.xpack.security.authc.ApiKeyAuthenticator")

_KEY_FAILURE = (
    "unable to authenticate with provided credentials and anonymous access is not allowed for "
    "this request"
)


class SecurityService(ApiKeys):
    """Users, roles and API keys (its bases) and the authentication of requests."""

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
        if not self.store.loaded:
            log.error(
                "security index is unavailable. short circuiting retrieval of user [%s]", username
            )
            raise AuthenticationError(f"unable to authenticate user [{username}] for {what}")
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

        if not self.store.loaded:
            raise fail(f"api key [{key_id}] cannot be read: the security index is unavailable")
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


__all__ = [
    "MIN_PASSWORD",
    "RESERVED_USERS",
    "AnonymousConfig",
    "SecurityError",
    "SecurityService",
]
