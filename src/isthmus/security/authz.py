"""Authorization decisions: (subject, action, indices) → allowed, and ES's denial texts.  [no I/O]

A :class:`Subject` carries resolved role descriptors. For an API key, ``descriptors`` are the
key's own role descriptors (empty: unrestricted) and ``limited_by`` the owner's at creation; the
effective permission is their intersection, as in ES. Document- and field-level security come
out of the same walk (:meth:`Authorizer.index_access`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from isthmus.errors import SecurityError
from isthmus.security.privileges import (
    CHANGE_PASSWORD_ACTION,
    INDEX_PRIVILEGES,
    SELF_ACTIONS,
    cluster_grants,
    granting_cluster_privileges,
    granting_index_privileges,
    index_grants,
)
from isthmus.security.roles import FieldSecurity, RoleDescriptor


@dataclass(frozen=True)
class CrossClusterOrigin:
    """How a subject reached this cluster through its remote cluster server: the cross-cluster
    API key that authenticated the request and the key's owner. ``extra_limit``: a second
    descriptor set from the querying side (its caller was itself an API key)."""

    key_id: str
    key_owner: str
    extra_limit: tuple[RoleDescriptor, ...] | None = None


@dataclass(frozen=True)
class Subject:
    username: str
    role_names: tuple[str, ...]
    descriptors: tuple[RoleDescriptor, ...]
    limited_by: tuple[RoleDescriptor, ...] | None = None
    realm: str = "native"
    realm_type: str = "native"
    api_key_id: str | None = None
    api_key_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    metadata: dict[str, object] = field(default_factory=dict)
    # Set when this subject runs as another user: who authenticated, and in which realm.
    authenticated_as: Subject | None = None
    # Set on a remote cluster server for a request of another cluster (API-key model).
    cross_cluster: CrossClusterOrigin | None = None

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None

    def who(self) -> str:
        if self.cross_cluster is not None:
            return (
                f"user [{self.username}] with assigned roles [{','.join(self.role_names)}] "
                f"authenticated by API key id [{self.cross_cluster.key_id}] of user "
                f"[{self.cross_cluster.key_owner}]"
            )
        if self.api_key_id is not None:
            return f"API key id [{self.api_key_id}] of user [{self.username}]"
        return f"user [{self.username}] with effective roles [{','.join(self.role_names)}]"


@dataclass(frozen=True)
class IndexAccess:
    """What one index grants for one action: whether, and under which DLS/FLS restrictions.

    ``queries``: None means every document; otherwise a document must match one of them (and,
    for an API key, one of ``limited_queries`` too). ``fields`` likewise for field security.
    """

    granted: bool
    queries: tuple[str, ...] | None = None
    limited_queries: tuple[str, ...] | None = None
    fields: tuple[FieldSecurity, ...] | None = None
    limited_fields: tuple[FieldSecurity, ...] | None = None
    # A third level, for cross-cluster requests whose caller was an API key.
    extra_queries: tuple[str, ...] | None = None
    extra_fields: tuple[FieldSecurity, ...] | None = None


def _matches(patterns: Iterable[str], name: str) -> bool:
    return any(p == name or fnmatch.fnmatchcase(name, p) for p in patterns)


def _cluster_ok(descriptors: Sequence[RoleDescriptor], action: str) -> bool:
    return any(cluster_grants(p, action) for d in descriptors for p in d.cluster)


def _index_walk(
    descriptors: Sequence[RoleDescriptor], action: str, index: str
) -> tuple[bool, tuple[str, ...] | None, tuple[FieldSecurity, ...] | None]:
    granted = False
    queries: list[str] = []
    unrestricted_docs = False
    fields: list[FieldSecurity] = []
    unrestricted_fields = False
    for role in descriptors:
        for entry in role.indices:
            if (
                index.startswith(".")
                and not entry.allow_restricted_indices
                and index.startswith(".security")
            ):
                continue
            if not _matches(entry.names, index):
                continue
            if not any(index_grants(p, action) for p in entry.privileges):
                continue
            granted = True
            if entry.query is None:
                unrestricted_docs = True
            else:
                queries.append(entry.query)
            if entry.field_security is None:
                unrestricted_fields = True
            else:
                fields.append(entry.field_security)
    return (
        granted,
        None if unrestricted_docs or not granted else tuple(queries),
        None if unrestricted_fields or not granted else tuple(fields),
    )


# Realms whose users may change their own password (ES: the native realm and the reserved users).
_PASSWORD_REALMS = frozenset({"native", "reserved"})
# One concrete action per pattern of every index privilege: what "everything an index name
# grants" is compared on (``indices:data/read/*`` → ``indices:data/read/x``).
_INDEX_PROBES = tuple(
    sorted({p.replace("*", "x") for patterns in INDEX_PRIVILEGES.values() for p in patterns})
)


class Authorizer:
    """Decides on actions for subjects; raises :class:`SecurityError` with ES's texts."""

    @staticmethod
    def same_user_allowed(subject: Subject, action: str, target: str | None) -> bool:
        """ES's "same user" rule for the actions every user may run about itself.

        ``target`` is the user the request is about (None: the caller). Changing one's own
        password additionally requires that the caller authenticated with a password of a realm
        that keeps passwords: never an API key, a cross-cluster request or anonymous access (an
        API key limited to one index must not be able to take over its owner's account).
        Anything else falls back to the cluster privileges (``manage_security``)."""
        if action not in SELF_ACTIONS:
            return False
        if target is not None and target != subject.username:
            return False
        if action != CHANGE_PASSWORD_ACTION:
            return True
        origin = subject.authenticated_as or subject
        if origin.is_api_key or subject.is_api_key or subject.cross_cluster is not None:
            return False
        # Run as: the realm of the user run as; otherwise of the user who authenticated.
        return subject.realm_type in _PASSWORD_REALMS

    def cluster_allowed(self, subject: Subject, action: str) -> bool:
        if subject.cross_cluster is not None:
            # Cluster actions of another cluster's request are the key's to grant alone (the
            # querying side sends index privileges only).
            return subject.limited_by is not None and _cluster_ok(subject.limited_by, action)
        if subject.descriptors and not _cluster_ok(subject.descriptors, action):
            return False
        if subject.limited_by is not None:
            return _cluster_ok(subject.limited_by, action)
        return bool(subject.descriptors)

    def index_access(self, subject: Subject, action: str, index: str) -> IndexAccess:
        if subject.cross_cluster is not None and not subject.descriptors:
            # Another cluster's request carries what its user may do: nothing is nothing (an
            # empty set must never fall through to the key's whole access).
            return IndexAccess(False)
        if subject.descriptors:
            granted, queries, fields = _index_walk(subject.descriptors, action, index)
        else:
            granted, queries, fields = subject.limited_by is not None, None, None
        if not granted:
            return IndexAccess(False)
        if subject.limited_by is None:
            return IndexAccess(True, queries, None, fields, None)
        ok, lq, lf = _index_walk(subject.limited_by, action, index)
        if not ok:
            return IndexAccess(False)
        extra = subject.cross_cluster.extra_limit if subject.cross_cluster else None
        if extra is None:
            return IndexAccess(True, queries, lq, fields, lf)
        ok, eq, ef = _index_walk(extra, action, index)
        if not ok:
            return IndexAccess(False)
        return IndexAccess(True, queries, lq, fields, lf, eq, ef)

    @staticmethod
    def grants_anywhere(subject: Subject, action: str) -> bool:
        """Whether some index pattern of every level of ``subject`` grants ``action`` (ES lets
        a wildcard that matches nothing authorized answer empty only then; else 403)."""
        if subject.cross_cluster is not None and not subject.descriptors:
            return False
        levels = [subject.descriptors] if subject.descriptors else []
        if subject.limited_by is not None:
            levels.append(subject.limited_by)
        return bool(levels) and all(
            any(index_grants(p, action) for d in level for e in d.indices for p in e.privileges)
            for level in levels
        )

    def grants_no_more(self, subject: Subject, alias: str, index: str) -> bool:
        """True when the name ``alias`` grants ``subject`` no action that ``index`` does not:
        ES's rule for adding an alias (it must not widen the caller's access to the index)."""
        return all(
            self.index_access(subject, a, index).granted
            for a in _INDEX_PROBES
            if self.index_access(subject, a, alias).granted
        )

    def authorized_indices(self, subject: Subject, action: str, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.index_access(subject, action, n).granted]

    # --- denials ------------------------------------------------------------------------------

    def may_run_as(self, subject: Subject, target: str) -> bool:
        """``run_as`` patterns of every level must name ``target`` (ES's run_as privilege)."""
        levels = [subject.descriptors] if subject.descriptors else []
        if subject.limited_by is not None:
            levels.append(subject.limited_by)
        return bool(levels) and all(
            any(_matches(d.run_as, target) for d in level) for level in levels
        )

    def check_cluster(self, subject: Subject, action: str) -> None:
        if not self.cluster_allowed(subject, action):
            raise self.denied(subject, action)

    def check_indices(self, subject: Subject, action: str, indices: Sequence[str]) -> None:
        refused = [i for i in indices if not self.index_access(subject, action, i).granted]
        if refused:
            raise self.denied(subject, action, refused)

    @staticmethod
    def denied(
        subject: Subject, action: str, indices: Sequence[str] | None = None
    ) -> SecurityError:
        if indices is not None:
            granting = granting_index_privileges(action)
            where = f" on indices [{','.join(indices)}]"
            tail = f", this action is granted by the index privileges [{','.join(granting)}]"
        else:
            granting = granting_cluster_privileges(action)
            where = ""
            tail = (
                f", this action is granted by the cluster privileges [{','.join(granting)}]"
                if granting
                else ""
            )
        towards = " towards remote cluster" if subject.cross_cluster is not None else ""
        return SecurityError(
            f"action [{action}]{towards} is unauthorized for {subject.who()}{where}{tail}"
        )
