"""Which API keys a caller may see and manage.  [no I/O]

``manage_api_key`` (or more) reaches every key. ``manage_own_api_key`` reaches the caller's own
keys only, and ES narrows that further for a caller that is itself an API key: it reaches its own
key id and nothing else (an API key owns no other key), so a key leaked from a script cannot list,
invalidate or mint its owner's other keys. Every level of a key's permissions must grant a
privilege for it to count (a key limited to one index does not inherit its owner's
``manage_api_key``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from isthmus.security.privileges import cluster_grants

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.security.roles import RoleDescriptor

_GET = "cluster:admin/xpack/security/api_key/get"


def _level_manages_all(descriptors: Sequence[RoleDescriptor]) -> bool:
    return any(
        cluster_grants(p, _GET) and p != "manage_own_api_key"
        for r in descriptors
        for p in r.cluster
    )


def manages_all_keys(subject: Subject) -> bool:
    """``manage_api_key`` or more, at every level of the subject's permissions."""
    levels = [subject.descriptors] if subject.descriptors else []
    if subject.limited_by is not None:
        levels.append(subject.limited_by)
    return bool(levels) and all(_level_manages_all(level) for level in levels)


def may_reach_keys(
    subject: Subject,
    *,
    ids: Sequence[str] = (),
    username: str | None = None,
    realm: str | None = None,
    owner: bool = False,
) -> bool:
    """ES's ``checkIfUserIsOwnerOfApiKeys`` for a caller holding ``manage_own_api_key``."""
    if manages_all_keys(subject):
        return True
    if subject.is_api_key:
        return bool(ids) and all(i == subject.api_key_id for i in ids)
    if owner:
        return True
    return username == subject.username and realm is not None and realm == subject.realm


def visible_records(subject: Subject, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored key records ``subject`` may see (query results are filtered, not refused)."""
    if manages_all_keys(subject):
        return records
    if subject.is_api_key:
        return [r for r in records if r["id"] == subject.api_key_id]
    return [r for r in records if (r["username"], r["realm"]) == (subject.username, subject.realm)]


def grants_any_privilege(role_descriptors: Any) -> bool:
    """Whether a create-API-key body would grant anything (ES: a key may derive only a key with
    an explicitly empty role descriptor)."""
    if not isinstance(role_descriptors, dict) or not role_descriptors:
        return True
    return any(
        not isinstance(body, dict) or any(body.get(k) for k in body if k != "metadata")
        for body in role_descriptors.values()
    )


__all__ = ["grants_any_privilege", "manages_all_keys", "may_reach_keys", "visible_records"]
