"""May this user follow that leader index? The question a follower asks its leader before
following (put follow, resume follow), as ES's ``CcrLicenseChecker.hasPrivilegesToFollowIndices``
asks it: ``has_privileges`` on the remote, as the user, for the index privileges
``indices:monitor/stats`` and ``indices:data/read/xpack/ccr/shard_changes`` on the leader index.
[no I/O]

The leader answers for its caller as it would authorize it (the certificate model: its roles of
the same names; the API-key model: the user's ``remote_indices`` within the key's
``replication`` access), one yes or no per index and privilege. A follower missing any gets
ES's 403 naming each missing privilege in the answer's (sorted) order::

    insufficient privileges to follow index [l], privilege for action
    [indices:data/read/xpack/ccr/shard_changes] is missing, privilege for action
    [indices:monitor/stats] is missing
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from isthmus.errors import IllegalArgumentError, SecurityError
from isthmus.wire.names import INDICES_STATS_ACTION, SHARD_CHANGES_ACTION

# What ES asks of the leader index before following.
FOLLOW_PRIVILEGES = (INDICES_STATS_ACTION, SHARD_CHANGES_ACTION)


@dataclass(frozen=True, slots=True)
class IndexPrivilegesRequest:
    """Which of ``privileges`` (action names) the caller has on each of ``indices``."""

    indices: tuple[str, ...]
    privileges: tuple[str, ...] = FOLLOW_PRIVILEGES

    def to_payload(self) -> dict[str, Any]:
        return {"index": [{"names": list(self.indices), "privileges": list(self.privileges)}]}

    @classmethod
    def from_payload(cls, value: Any) -> IndexPrivilegesRequest:
        entries = value.get("index") if isinstance(value, dict) else None
        if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
            raise IllegalArgumentError("has privileges request needs one [index] entry")
        names, privileges = entries[0].get("names"), entries[0].get("privileges")
        if not (_strings(names) and _strings(privileges)):
            raise IllegalArgumentError(
                "has privileges request [index] entry needs [names] and [privileges]"
            )
        return cls(tuple(names), tuple(privileges))


@dataclass(frozen=True, slots=True)
class IndexPrivilegesResponse:
    """Per index, per privilege: granted or not."""

    index: dict[str, dict[str, bool]]

    def to_payload(self) -> dict[str, Any]:
        return {"index": self.index}

    @classmethod
    def from_payload(cls, value: Any) -> IndexPrivilegesResponse:
        index = value.get("index") if isinstance(value, dict) else None
        if not isinstance(index, dict) or not all(
            isinstance(name, str)
            and isinstance(granted, dict)
            and all(isinstance(p, str) and type(ok) is bool for p, ok in granted.items())
            for name, granted in index.items()
        ):
            raise IllegalArgumentError("has privileges response needs [index] yes/no per privilege")
        return cls(index)


def check_follow_privileges(leader_index: str, answer: IndexPrivilegesResponse) -> None:
    """ES's refusal when the user lacks a privilege it needs on ``leader_index``."""
    granted = answer.index.get(leader_index, {})
    missing = [p for p in sorted(FOLLOW_PRIVILEGES) if not granted.get(p, False)]
    if missing:
        raise SecurityError(
            f"insufficient privileges to follow index [{leader_index}]"
            + "".join(f", privilege for action [{p}] is missing" for p in missing)
        )


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


__all__ = [
    "FOLLOW_PRIVILEGES",
    "IndexPrivilegesRequest",
    "IndexPrivilegesResponse",
    "check_follow_privileges",
]
