"""The API-key security model across clusters: what the querying cluster sends, and what the
remote cluster server checks before anything runs.  [no I/O]

**Querying side.** A remote alias with ``cluster.remote.<alias>.credentials`` in the keystore
sends every request with two headers instead of the certificate model's identity:
``_cross_cluster_access_credentials`` (``ApiKey <base64(id:secret)>``, the cross-cluster API key)
and ``_cross_cluster_access_subject_info`` (who the local user is, and the role descriptors their
``remote_indices`` grant *for that alias*, turned into plain index privileges). A user whose
roles grant nothing for the alias is refused here, before anything is sent. Internal requests
(handshakes, node discovery) travel as the cross-cluster system subject.

**Fulfilling side** (the ``_remote_cluster`` profile only, :class:`CrossClusterAccessFilter`),
in ES's order: the action must be on the allowlist; both headers must be present; no other
header may be; the key must authenticate as a ``cross_cluster`` key. The request then runs as a
subject whose permission is the subject info's descriptors limited by the key's ``cross_cluster``
descriptor: the querying cluster can only narrow what the key grants. The anonymous role of this
cluster never applies here.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.cluster.patterns import simple_match
from isthmus.errors import IllegalArgumentError, IsthmusError, SecurityError
from isthmus.security.authz import Authorizer, CrossClusterOrigin, Subject
from isthmus.security.roles import IndicesPrivileges, RoleDescriptor, parse_role
from isthmus.settings.secret import Secret
from isthmus.transport.channel_info import ChannelInfo
from isthmus.wire.names import (
    ADD_RETENTION_LEASE_ACTION,
    CLUSTER_STATE_ACTION,
    FIELD_CAPS_ACTION,
    HANDSHAKE_ACTION,
    HAS_PRIVILEGES_ACTION,
    PROXY_ACTION_PREFIX,
    REMOTE_CLUSTER_HANDSHAKE_ACTION,
    REMOTE_CLUSTER_NODES_ACTION,
    REMOVE_RETENTION_LEASE_ACTION,
    RENEW_RETENTION_LEASE_ACTION,
    RESOLVE_CLUSTER_ACTION,
    RESOLVE_INDEX_ACTION,
    RESTORE_FILE_CHUNK_ACTION,
    RESTORE_SESSION_CLEAR_ACTION,
    RESTORE_SESSION_PUT_ACTION,
    SEARCH_ACTION,
    SEARCH_SHARDS_ACTION,
    SHARD_CHANGES_ACTION,
)

CREDENTIALS_HEADER = "_cross_cluster_access_credentials"
SUBJECT_INFO_HEADER = "_cross_cluster_access_subject_info"

log = logging.getLogger(
    "org.elasticsearch.xpack.security.transport.CrossClusterAccessServerTransportFilter"
)

_SEARCH_SHARD_ACTIONS = (
    "indices:data/read/search[phase/query]",
    "indices:data/read/search[phase/fetch/id]",
    "indices:data/read/search[phase/dfs]",
    "indices:data/read/search[phase/query/id]",
    "indices:data/read/search[phase/query+fetch/scroll]",
    "indices:data/read/search[phase/query/scroll]",
    "indices:data/read/search[phase/fetch/id/scroll]",
    "indices:data/read/search[free_context]",
    "indices:data/read/search[free_context/scroll]",
    "indices:data/read/search[clear_scroll_contexts]",
    "indices:data/read/search[can_match]",
    "indices:data/read/search[can_match][n]",
)

# What a remote cluster server answers at all (ES's CROSS_CLUSTER_ACCESS_ACTION_ALLOWLIST, plus
# resolve/cluster, which newer ES versions also serve over this port).
ALLOWED_ACTIONS = frozenset(
    {
        *_SEARCH_SHARD_ACTIONS,
        *(f"{PROXY_ACTION_PREFIX}{a}" for a in _SEARCH_SHARD_ACTIONS),
        "indices:data/read/open_reader_context",
        SEARCH_ACTION,
        "indices:admin/shards/search_shards",
        SEARCH_SHARDS_ACTION,
        RESOLVE_INDEX_ACTION,
        RESOLVE_CLUSTER_ACTION,
        FIELD_CAPS_ACTION,
        "indices:data/read/field_caps[n]",
        "indices:data/read/eql",
        "cluster:monitor/xpack/info",
        "indices:internal/transform/checkpoint",
        "indices:internal/transform/checkpoint[n]",
        REMOTE_CLUSTER_HANDSHAKE_ACTION,
        REMOTE_CLUSTER_NODES_ACTION,
        SHARD_CHANGES_ACTION,
        CLUSTER_STATE_ACTION,
        HAS_PRIVILEGES_ACTION,
        "indices:monitor/stats",
        "indices:monitor/stats[n]",
        ADD_RETENTION_LEASE_ACTION,
        REMOVE_RETENTION_LEASE_ACTION,
        RENEW_RETENTION_LEASE_ACTION,
        RESTORE_SESSION_PUT_ACTION,
        RESTORE_SESSION_CLEAR_ACTION,
        RESTORE_FILE_CHUNK_ACTION,
    }
)

# Headers a cross-cluster request may carry besides the two above: the audit id and what ES's
# tasks copy (X-Opaque-Id, trace context), and the parent task Isthmus sends as a header.
ALLOWED_HEADERS = frozenset(
    {
        CREDENTIALS_HEADER,
        SUBJECT_INFO_HEADER,
        "_xpack_audit_request_id",
        "X-Opaque-Id",
        "traceparent",
        "tracestate",
        "_isthmus_parent_task",
    }
)

# The internal subject handshakes and node discovery run as (ES's cross-cluster system user).
SYSTEM_USERNAME = "_system"
SYSTEM_ROLE = RoleDescriptor(
    "_cross_cluster_access",
    cluster=("cross_cluster_search", "cross_cluster_replication"),
    indices=(
        IndicesPrivileges(
            ("*",),
            ("cross_cluster_replication", "cross_cluster_replication_internal"),
            allow_restricted_indices=True,
        ),
    ),
)


@dataclass(frozen=True)
class SubjectInfo:
    """Who runs a cross-cluster request and what the querying cluster lets them do there.

    ``descriptor_sets``: each set's union grants; the sets intersect (one set for a user)."""

    username: str
    role_names: tuple[str, ...]
    realm: str
    descriptor_sets: tuple[tuple[RoleDescriptor, ...], ...]

    def encode(self) -> str:
        body = {
            "username": self.username,
            "roles": list(self.role_names),
            "realm": self.realm,
            "role_descriptors_sets": [
                {d.name: d.to_json() for d in descriptors} for descriptors in self.descriptor_sets
            ],
        }
        return base64.b64encode(orjson.dumps(body)).decode()

    @classmethod
    def decode(cls, text: str) -> SubjectInfo:
        """The value of the subject-info header; a 400 for anything malformed. Decoded once
        per distinct value (a user's requests repeat it)."""
        return _decode_subject_info(text)

    @classmethod
    def _decode(cls, text: str) -> SubjectInfo:
        try:
            body = orjson.loads(base64.b64decode(text, validate=True))
            roles = body["roles"]
            sets = body["role_descriptors_sets"]
            if (
                not isinstance(body["username"], str)
                or not isinstance(roles, list)
                or not all(isinstance(r, str) for r in roles)
                or not isinstance(sets, list)
                or not 1 <= len(sets) <= 2
                or not all(isinstance(s, dict) and s for s in sets)
            ):
                raise TypeError
            parsed = tuple(
                tuple(parse_role(str(n), b, stored=True) for n, b in s.items()) for s in sets
            )
            return cls(body["username"], tuple(roles), str(body.get("realm", "")), parsed)
        except (ValueError, KeyError, TypeError, AttributeError):  # binascii and JSON errors too
            raise IllegalArgumentError(
                f"cross cluster access header [{SUBJECT_INFO_HEADER}] is not valid"
            ) from None
        except IsthmusError as exc:
            raise IllegalArgumentError(
                f"cross cluster access header [{SUBJECT_INFO_HEADER}] is not valid",
                caused_by=exc,
            ) from None


@functools.lru_cache(maxsize=1024)
def _decode_subject_info(text: str) -> SubjectInfo:
    return SubjectInfo._decode(text)


SYSTEM_SUBJECT_INFO = SubjectInfo(SYSTEM_USERNAME, (), "__attach", ((SYSTEM_ROLE,),))


# --- querying side ------------------------------------------------------------------------------


def _matches(patterns: tuple[str, ...], alias: str) -> bool:
    # ES's simple wildcards: only `*` (and `?`) are special, `[` is literal.
    return any(p == alias or simple_match(alias, p) for p in patterns)


def descriptors_for_alias(
    descriptors: tuple[RoleDescriptor, ...], alias: str
) -> tuple[RoleDescriptor, ...]:
    """The ``remote_indices`` entries of ``descriptors`` that name ``alias``, as the plain index
    privileges the remote cluster applies (one descriptor per role that grants any)."""
    out = []
    for role in descriptors:
        entries = tuple(
            IndicesPrivileges(
                entry.names,
                entry.privileges,
                entry.query,
                entry.field_security,
                entry.allow_restricted_indices,
            )
            for entry in role.remote_indices
            if _matches(entry.clusters, alias)
        )
        if entries:
            out.append(RoleDescriptor(role.name, indices=entries))
    return tuple(out)


def subject_info(subject: Subject, alias: str, action: str) -> SubjectInfo:
    """What ``subject`` may do on remote ``alias``; refused here when nothing applies (ES's
    ``because no remote indices privileges apply for the target cluster``)."""
    if subject.is_api_key:
        own = descriptors_for_alias(subject.descriptors, alias)
        limit = descriptors_for_alias(subject.limited_by or (), alias)
        sets = (limit,) if not subject.descriptors else (own, limit)
    else:
        sets = (descriptors_for_alias(subject.descriptors, alias),)
    if any(not s for s in sets):
        effective = [d.name for d in subject.descriptors] if not subject.is_api_key else []
        missing = [r for r in subject.role_names if r not in effective]
        roles = f"with effective roles [{','.join(effective)}]"
        if missing and not subject.is_api_key:
            roles += f" (assigned roles [{','.join(missing)}] were not found)"
        who = (
            f"API key id [{subject.api_key_id}] of user [{subject.username}]"
            if subject.is_api_key
            else f"user [{subject.username}] {roles}"
        )
        raise SecurityError(
            f"action [{action}] towards remote cluster [{alias}] is unauthorized for {who} "
            "because no remote indices privileges apply for the target cluster"
        )
    return SubjectInfo(subject.username, subject.role_names, subject.realm, sets)


def outbound_headers(credential: Secret, info: SubjectInfo) -> dict[str, str]:
    """The two headers of one cross-cluster request."""
    return {
        CREDENTIALS_HEADER: f"ApiKey {credential.reveal()}",
        SUBJECT_INFO_HEADER: info.encode(),
    }


# --- fulfilling side ----------------------------------------------------------------------------


def _missing_header(name: str) -> IllegalArgumentError:
    return IllegalArgumentError(
        "Cross cluster requests through the dedicated remote cluster server port require "
        f"transport header [{name}] but none found. Please ensure you have configured remote "
        "cluster credentials on the cluster originating the request."
    )


class CrossClusterAccessFilter:
    """The remote cluster server's request filter (profile ``_remote_cluster``)."""

    def __init__(self, security: Any, authorizer: Authorizer) -> None:
        self.security = security  # a SecurityService
        self.authorizer = authorizer

    def check(self, action: str, headers: Mapping[str, str], channel: ChannelInfo) -> Subject:
        try:
            self._before_authentication(action, headers)
        except IsthmusError:
            log.debug(
                "Cross cluster access request [TransportRequest] for action [%s] rejected "
                "before authentication",
                action,
            )
            raise
        # ES reads both headers before authenticating the key.
        info = SubjectInfo.decode(headers[SUBJECT_INFO_HEADER])
        key = self.security.authenticate_cross_cluster_api_key(
            headers[CREDENTIALS_HEADER], action=action
        )
        subject = self.subject(key, info)
        # has_privileges answers about the user itself (within the key), as ES lets any user.
        if not action.startswith("indices:") and action != HAS_PRIVILEGES_ACTION:
            # A plain transport handshake is refused here too: cross-cluster keys grant only
            # the remote cluster handshake.
            self.authorizer.check_cluster(subject, action)
        return subject

    @staticmethod
    def _before_authentication(action: str, headers: Mapping[str, str]) -> None:
        # A certificate-model caller's own transport handshake meets the header check (the
        # guide's "connecting without a cross-cluster API key"); any other action must be
        # allowed here first.
        if action != HANDSHAKE_ACTION and action not in ALLOWED_ACTIONS:
            raise IllegalArgumentError(
                f"action [{action}] is not allowed as a cross cluster operation on the dedicated "
                "remote cluster server port"
            )
        for name in (CREDENTIALS_HEADER, SUBJECT_INFO_HEADER):
            if name not in headers:
                raise _missing_header(name)
        for name in headers:
            if name not in ALLOWED_HEADERS:
                raise IllegalArgumentError(
                    f"Transport request header [{name}] is not allowed for cross cluster "
                    "requests through the dedicated remote cluster server port"
                )

    @staticmethod
    def subject(key: Subject, info: SubjectInfo) -> Subject:
        """The request's subject: the subject info's descriptors, limited by the key's."""
        sets = info.descriptor_sets
        origin = CrossClusterOrigin(key.api_key_id or "", key.username)
        if len(sets) == 1:
            descriptors, limited_by = sets[0], key.descriptors
        else:
            # An API key caller on the querying side: its own set, then its owner's; the
            # cross-cluster key limits both (the sets are intersected on this side).
            descriptors, limited_by = sets[0], key.descriptors
            origin = CrossClusterOrigin(key.api_key_id or "", key.username, extra_limit=sets[1])
        return Subject(
            username=info.username,
            role_names=info.role_names,
            descriptors=descriptors,
            limited_by=limited_by,
            realm=info.realm,
            realm_type="_es_cross_cluster",
            cross_cluster=origin,
        )
