"""The REST guard: authenticate every request, then authorize its action.

Cluster actions are checked against cluster privileges. Index actions are checked per index, the
way ES does it: explicitly named indices (or aliases) must all be authorized (else 403 naming
them), while wildcards expand only to the names the subject may use. The guard hands the
handler the resulting explicit expression, so no handler can see an index the subject may not.
Per-item checks (``_bulk``, ``_mget``) use :meth:`Guard.item_allowed`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import split_expression
from isthmus.cluster.service import ClusterService
from isthmus.errors import IllegalArgumentError, SecurityError
from isthmus.http.router import Request, Route
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.privileges import is_index_action

if TYPE_CHECKING:
    from isthmus.security.service import SecurityService

RUN_AS_HEADER = "es-security-runas-user"
NOTHING = "*,-*"  # an expression that resolves to no index at all (with allow_no_indices)
# Routes whose items name their own indices: authorized item by item in the action.
PER_ITEM_ACTIONS = {
    "indices:data/write/bulk",
    "indices:data/read/mget",
    "indices:data/read/msearch",
}
# Actions whose index expressions may name remote clusters (alias:index).
CROSS_CLUSTER_ACTIONS = {
    "indices:data/read/search",
    "indices:data/read/msearch",
    "indices:admin/resolve/cluster",
    "indices:admin/resolve/index",
    "indices:data/read/async_search/submit",
    "indices:data/read/field_caps",
}
# Authorized by the search they continue.
UNCHECKED_ACTIONS = {"indices:data/read/scroll", "indices:data/read/scroll/clear"}


@dataclass
class Guard:
    security: SecurityService
    cluster: ClusterService
    authorizer: Authorizer

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
            self.authorizer.check_cluster(subject, action)
            return subject, params
        params["index"] = self.narrow(subject, action, params.get("index"))
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

    def narrow(self, subject: Subject, action: str, expression: str | None) -> str:
        state = self.cluster.state
        names = sorted({*state.indices, *state.aliases()})
        explicit: list[str] = []
        allowed: list[str] = []
        remote: list[str] = []  # alias:index parts are authorized by the remote cluster
        parts = split_expression(expression) or ["*"]
        for part in parts:
            if ":" in part and not part.startswith(("<", "-<")):
                if action not in CROSS_CLUSTER_ACTIONS:
                    raise IllegalArgumentError(
                        "Cross-cluster calls are not supported in this context but remote "
                        f"indices were requested: [{part}]"
                    )
                # Authorized by the remote cluster; the cross-cluster action groups these by
                # alias and never resolves them locally.
                remote.append(part)
                continue
            if part == "_all":
                part = "*"
            if part.startswith("-"):
                allowed.append(part)
                continue
            if "*" in part or "?" in part:
                allowed.extend(
                    n
                    for n in names
                    if simple_match(n, part)
                    and not n.startswith(".")
                    and self.authorizer.index_access(subject, action, n).granted
                )
                continue
            explicit.append(part)
        refused = [
            n for n in explicit if not self.authorizer.index_access(subject, action, n).granted
        ]
        if refused:
            raise self.authorizer.denied(subject, action, refused)
        chosen = explicit + allowed
        local_named = len(remote) < len(parts)
        if not [c for c in chosen if not c.startswith("-")]:
            if not local_named:
                return ",".join(remote)
            chosen = NOTHING.split(",")
        return ",".join(dict.fromkeys(chosen + remote))

    def item_allowed(
        self, subject: Subject | None, action: str, index: str
    ) -> SecurityError | None:
        if subject is None:
            return None
        if self.authorizer.index_access(subject, action, index).granted:
            return None
        return self.authorizer.denied(subject, action, [index])
