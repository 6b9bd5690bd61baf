"""Who owns a stored context (scroll, async search), and who may use it.  [no I/O]

ES binds scroll, point-in-time and async-search ids to the subject that created them
(``Authentication.canAccessResourcesOf``): an API key's contexts belong to that key alone, a
user's to that user of that realm; run-as counts as the user run as. Holding the id is not
enough, so an id that leaks into a log or a URL does not hand over the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isthmus.security.authz import Subject


@dataclass(frozen=True)
class Owner:
    username: str
    realm: str
    api_key_id: str | None = None

    @classmethod
    def of(cls, subject: Subject | None) -> Owner | None:
        """The owner of what ``subject`` creates (None when security is off)."""
        if subject is None:
            return None
        key = subject.api_key_id
        if subject.cross_cluster is not None:
            key = f"cross-cluster:{subject.cross_cluster.key_id}"
        return cls(subject.username, subject.realm, key)

    @staticmethod
    def may_access(owner: Owner | None, subject: Subject | None) -> bool:
        """Whether ``subject`` may use what ``owner`` created."""
        if owner is None:
            return True  # created with security off
        return Owner.of(subject) == owner

    def describe(self) -> str:
        if self.api_key_id is not None:
            return f"API key [{self.api_key_id}] of user [{self.username}]"
        return f"user [{self.username}] of realm [{self.realm}]"


__all__ = ["Owner"]
