"""The REST guard: authenticate every request, then authorize its action.

Cluster actions are checked against cluster privileges. Index actions are checked per index, the
way ES does it: explicitly named indices (or aliases) must all be authorized (else 403 naming
them), while wildcards expand only to the names the subject may use. The guard hands the
handler the resulting explicit expression, so no handler can see an index the subject may not.
Per-item checks (``_bulk``, ``_mget``) use :meth:`Guard.item_allowed`; APIs that name indices or
aliases in their body (``_aliases``, index creation with aliases) call the guard's body checks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from isthmus.cluster.alias_actions import AliasAction
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import split_expression
from isthmus.cluster.service import ClusterService
from isthmus.errors import IllegalArgumentError, SecurityError
from isthmus.http.router import Request, Route
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.privileges import SELF_ACTIONS, is_index_action

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
ALIASES_ACTION = "indices:admin/aliases"
DELETE_INDEX_ACTION = "indices:admin/delete"


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
            if action in SELF_ACTIONS and self.authorizer.same_user_allowed(
                subject, action, params.get("username")
            ):
                return subject, params
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
            if not remote and not self.authorizer.grants_anywhere(subject, action):
                # Nothing to narrow to because nothing is granted at all: ES's 403, not an
                # empty answer that hides the missing privilege.
                raise self.authorizer.denied(subject, action, parts)
            chosen = NOTHING.split(",")
        return ",".join(dict.fromkeys(chosen + remote))

    def authorize_alias_actions(
        self, subject: Subject | None, actions: list[AliasAction]
    ) -> list[AliasAction]:
        """Alias actions narrowed to what ``subject`` may do, or ES's 403/400.

        As in ES: ``add`` and ``remove`` need ``indices:admin/aliases`` on every index and
        every alias they name (wildcards expand to the authorized names only), ``remove_index``
        needs ``indices:admin/delete`` on the index; an added alias may not grant more than its
        index does, and a caller with document- or field-level security on an index may not
        add aliases to it (an alias would be a way around the restriction)."""
        if subject is None:
            return actions
        state = self.cluster.state
        out: list[AliasAction] = []
        for item in actions:
            action = DELETE_INDEX_ACTION if item.kind == "remove_index" else ALIASES_ACTION
            expression = ",".join(item.indices)
            narrowed = self.narrow(subject, action, expression)
            if narrowed == NOTHING:
                raise self.authorizer.denied(subject, action, list(item.indices))
            indices = tuple(narrowed.split(","))
            if item.kind == "remove_index":
                out.append(replace(item, indices=indices))
                continue
            named = [a for a in item.aliases if "*" not in a and a != "_all"]
            self.authorizer.check_indices(subject, ALIASES_ACTION, named)
            allowed = None
            if item.kind == "remove" and len(named) < len(item.aliases):
                allowed = frozenset(
                    a
                    for a in state.aliases()
                    if self.authorizer.index_access(subject, ALIASES_ACTION, a).granted
                )
            if item.kind == "add":
                self._check_new_aliases(subject, indices, item.aliases)
            out.append(replace(item, indices=indices, allowed_aliases=allowed))
        return out

    def authorize_new_aliases(self, subject: Subject | None, index: str, body: object) -> None:
        """Index creation with ``aliases`` in its body: the aliases are authorized as ES does."""
        if subject is None or not isinstance(body, dict) or not body.get("aliases"):
            return
        aliases = body["aliases"]
        names = list(aliases) if isinstance(aliases, dict) else []
        self.authorizer.check_indices(subject, ALIASES_ACTION, names)

    def _check_new_aliases(
        self, subject: Subject, indices: tuple[str, ...], aliases: tuple[str, ...]
    ) -> None:
        for index in indices:
            access = self.authorizer.index_access(subject, ALIASES_ACTION, index)
            restricted = (access.queries, access.fields, access.limited_queries)
            if any(r is not None for r in (*restricted, access.limited_fields)):
                raise SecurityError(
                    "Alias requests are not allowed for users who have field or document level "
                    "security enabled on one of the indices",
                    status=400,
                )
            for alias in aliases:
                if not self.authorizer.grants_no_more(subject, alias, index):
                    raise SecurityError(
                        "Adding an alias is not allowed when the alias has more permissions than "
                        "any of the indices"
                    )

    def item_allowed(
        self, subject: Subject | None, action: str, index: str
    ) -> SecurityError | None:
        if subject is None:
            return None
        if self.authorizer.index_access(subject, action, index).granted:
            return None
        return self.authorizer.denied(subject, action, [index])
