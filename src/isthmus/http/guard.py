"""The REST guard: authenticate every request, then authorize its action.

Cluster actions are checked against cluster privileges. Index actions are checked per index, the
way ES does it: explicitly named indices (or aliases) must all be authorized (else 403 naming
them), while wildcards expand only to the names the subject may use. The guard hands the
handler the resulting explicit expression, so no handler can see an index the subject may not.
Index-level decisions live in :mod:`isthmus.security.index_authorization` (``Guard.indices``),
shared with the transport side: per-item checks (``_bulk``, ``_mget``) use ``item_allowed``, APIs
that name indices or aliases in their body (``_aliases``, index creation) its body checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import orjson

from isthmus.cluster.resolve import DESTRUCTIVE_ACTIONS, check_destructive
from isthmus.cluster.service import ClusterService
from isthmus.errors import SecurityError
from isthmus.http.router import Request, Route
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.index_authorization import (
    CONCRETE_ONLY_ACTIONS,
    INDEX_ACTION,
    PER_ITEM_ACTIONS,
    UNCHECKED_ACTIONS,
    IndexAuthorization,
    index_action,
)
from isthmus.security.privileges import SELF_ACTIONS, is_index_action
from isthmus.wire.names import SEARCH_ACTION

if TYPE_CHECKING:
    from isthmus.security.service import SecurityService

RUN_AS_HEADER = "es-security-runas-user"
# Searches that may name a point in time instead of indices (``_search``, ``_async_search``).
PIT_SEARCH_ACTIONS = frozenset({SEARCH_ACTION, "indices:data/read/async_search/submit"})


def names_pit(body: bytes) -> bool:
    """Whether a search body is a JSON object with a top-level ``pit``."""
    if b'"pit"' not in body:
        return False
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and "pit" in parsed


__all__ = ["PER_ITEM_ACTIONS", "RUN_AS_HEADER", "UNCHECKED_ACTIONS", "Guard"]


@dataclass
class Guard:
    security: SecurityService
    cluster: ClusterService
    authorizer: Authorizer
    # Index-level decisions (also used by the transport side): security/index_authorization.
    indices: IndexAuthorization = field(init=False)

    def __post_init__(self) -> None:
        cluster = self.cluster
        self.indices = IndexAuthorization(lambda: cluster.state, self.authorizer)

    def admit(self, route: Route, request: Request) -> tuple[Subject, dict[str, str]]:
        """The subject and the (possibly narrowed) path parameters, or a 401/403."""
        subject = self.security.authenticate(
            request.headers.get("authorization"), f"REST request [{request.path}]"
        )
        params = dict(request.path_params)
        action = route.action
        target = request.headers.get(RUN_AS_HEADER)
        if target is not None:
            subject = self.run_as(subject, target, action)
        if not action or action in UNCHECKED_ACTIONS or action in PER_ITEM_ACTIONS:
            return subject, params
        if not is_index_action(action):
            if action in SELF_ACTIONS and self.authorizer.same_user_allowed(
                subject, action, params.get("username")
            ):
                return subject, params
            self.authorizer.check_cluster(subject, action)
            return subject, params
        if action in PIT_SEARCH_ACTIONS and "index" not in params and names_pit(request.body):
            # A search with a point in time names no index: ES authorizes it on the PIT's
            # indices, which its handler reads from the id (actions/pit_search.py).
            return subject, params
        if action in DESTRUCTIVE_ACTIONS:
            # On the expression as written: narrowing would turn `*` into names.
            check_destructive(self.cluster.state, params.get("index"))
        if action == INDEX_ACTION:
            action = index_action(route.segments, request.params)
        params["index"] = self.indices.narrow(
            subject,
            action,
            params.get("index"),
            request.params,
            concrete_only=action in CONCRETE_ONLY_ACTIONS,
            segments=route.segments,
        )
        return subject, params

    def run_as(self, subject: Subject, target: str, action: str) -> Subject:
        """The subject ``target`` when ``subject`` may run as it; ES's 403 otherwise."""
        user = self.security.lookup_user(target) if target else None
        if user is None or not self.authorizer.may_run_as(subject, target):
            raise SecurityError(
                f"action [{action}] is unauthorized for {subject.who()}, because "
                f"{subject.who().split(' with ')[0]} is unauthorized to run as [{target}]"
            )
        return replace(user, authenticated_as=subject)
