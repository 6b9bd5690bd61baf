"""Which indices a subject may name, for every API that names them.  [no I/O]

One home for index authorization, used by the REST guard and by the transport handlers alike
(cross-cluster search and field caps on the remote side): wildcards narrowed to the names the
subject may use for the action (under the request's ``expand_wildcards``), explicit names all
authorized or ES's 403 naming the refused ones, the bodies of alias actions and index creation,
and the per-item decisions of ``_bulk``/``_mget``/``_msearch``. Decisions only: it reads the
cluster state it is handed and raises ES's errors; it performs no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from isthmus.cluster.alias_actions import AliasAction
from isthmus.cluster.data_streams import streams
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import IndicesOptions, is_remote_expression, split_expression
from isthmus.errors import IllegalArgumentError, SecurityError
from isthmus.security.authz import Authorizer, Subject

if TYPE_CHECKING:
    from isthmus.security.field_level import IndexRestrictions

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
    "indices:data/read/open_point_in_time",
}
# Authorized by the search they continue.
UNCHECKED_ACTIONS = {"indices:data/read/scroll", "indices:data/read/scroll/clear"}
ALIASES_ACTION = "indices:admin/aliases"
DELETE_INDEX_ACTION = "indices:admin/delete"


INDEX_ACTION = "indices:data/write/index"
# Wildcards of these actions reach concrete indices only, never an index through an alias.
CONCRETE_ONLY_ACTIONS = frozenset({ALIASES_ACTION, DELETE_INDEX_ACTION})
# A data stream API's wildcard names data streams only (ES resolves it over streams), never
# the indices or aliases it happens to match.
_DATA_STREAM_ACTIONS = ("indices:admin/data_stream/", "indices:monitor/data_stream/")


def index_action(segments: tuple[str, ...], params: Mapping[str, str]) -> str:
    """The action an index request is authorized as, by its operation type (ES's names): a
    create (``_create``, ``op_type=create``, or an id the node generates) needs only what
    ``create_doc`` grants; an index that may overwrite needs ``index``/``write``."""
    create = "_create" in segments or params.get("op_type") == "create" or "{id}" not in segments
    return f"{INDEX_ACTION}:op_type/{'create' if create else 'index'}"


# Actions whose wildcards expand to closed indices unless ``expand_wildcards`` says otherwise
# (ES's defaults: opening targets closed indices; deleting and listing take every state).
_CLOSED_BY_DEFAULT = {
    "indices:admin/open": IndicesOptions(expand_open=False, expand_closed=True),
    "indices:admin/delete": IndicesOptions(expand_closed=True),
    "indices:admin/aliases": IndicesOptions(expand_closed=True),
}


# The `_cat` listings show open and closed indices alike (their handlers resolve so).
_CAT_DEFAULT = IndicesOptions(expand_closed=True)


def _wildcard_default(segments: tuple[str, ...], action: str) -> IndicesOptions:
    if segments[:1] == ("_cat",):
        return _CAT_DEFAULT
    return _CLOSED_BY_DEFAULT.get(action, IndicesOptions())


def _expands_to(
    meta: IndexMetadata, pattern: str, options: IndicesOptions, *, via_alias: bool = False
) -> bool:
    """Whether a wildcard reaches ``meta`` (the resolver's rule, without resolving)."""
    dotted = pattern.startswith(".")
    if (meta.hidden or (meta.name.startswith(".") and not via_alias)) and not (
        dotted or options.expand_hidden
    ):
        return False
    return options.expand_open if meta.is_open else options.expand_closed


@dataclass
class IndexAuthorization:
    """Index-level decisions for one cluster: ``state`` gives the current cluster metadata."""

    state: Callable[[], ClusterMetadata]
    authorizer: Authorizer

    def search_restrictions(self, subject: Subject | None, names: list[str]) -> IndexRestrictions:
        """The DLS/FLS a search by ``subject`` (a remote caller, say) meets on ``names``."""
        from isthmus.security.field_level import index_restrictions

        return index_restrictions(
            self.authorizer, subject, "indices:data/read/search", names, self.state()
        )

    def narrow(
        self,
        subject: Subject,
        action: str,
        expression: str | None,
        params: Mapping[str, str] | None = None,
        *,
        concrete_only: bool = False,
        segments: tuple[str, ...] = (),
    ) -> str:
        """``expression`` with every wildcard replaced by the names ``subject`` may use for
        ``action`` (explicit names must all be authorized: 403 naming the refused ones).

        Wildcards expand as the resolver would under the request's ``expand_wildcards`` (the
        action's default otherwise): closed and hidden indices only when asked for, dot names
        only for a pattern that starts with a dot; ``-name`` exclusions after a wildcard apply
        here, to what it expanded to. ``concrete_only``: indices, never aliases (alias actions).
        """
        state = self.state()
        options = IndicesOptions.from_params(
            params or {}, default=_wildcard_default(segments, action)
        )
        streams_only = action.startswith(_DATA_STREAM_ACTIONS)
        aliases = {} if concrete_only or streams_only else state.aliases()
        indices = {} if streams_only else state.indices
        explicit: list[str] = []
        chosen: list[str] = []
        remote: list[str] = []  # alias:index parts are authorized by the remote cluster
        parts = split_expression(expression) or ["*"]
        seen_wildcard = False
        for part in parts:
            if is_remote_expression(part):
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
                if seen_wildcard:
                    chosen = [n for n in chosen if not simple_match(n, part[1:])]
                else:
                    chosen.append(part)  # before any wildcard ES reads it as a name
                continue
            if "*" in part or "?" in part:
                seen_wildcard = True
                matched = (
                    [
                        name
                        for name, meta in indices.items()
                        if simple_match(name, part) and _expands_to(meta, part, options)
                    ]
                    + [
                        alias
                        for alias, metas in aliases.items()
                        if simple_match(alias, part)
                        and any(_expands_to(m, part, options, via_alias=True) for m in metas)
                    ]
                    + [
                        # A wildcard reaches data streams by their names (ES authorizes the name;
                        # its backing indices follow), never through a concrete-only action.
                        name
                        for name, found in ({} if concrete_only else streams(state)).items()
                        if simple_match(name, part)
                        and (not found.hidden or options.expand_hidden or part.startswith("."))
                    ]
                )
                chosen.extend(
                    n for n in sorted(matched) if self._granted(subject, action, n, state)
                )
                continue
            explicit.append(part)
            chosen.append(part)
        refused = [n for n in explicit if not self._granted(subject, action, n, state)]
        if refused:
            raise self.authorizer.denied(subject, action, refused)
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
        state = self.state()
        out: list[AliasAction] = []
        for item in actions:
            action = DELETE_INDEX_ACTION if item.kind == "remove_index" else ALIASES_ACTION
            expression = ",".join(item.indices)
            narrowed = self.narrow(subject, action, expression, concrete_only=True)
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
        if self._granted(subject, action, index):
            return None
        return self.authorizer.denied(subject, action, [index])

    def _granted(
        self, subject: Subject, action: str, name: str, state: ClusterMetadata | None = None
    ) -> bool:
        """Whether ``name`` is granted, a backing index also through its data stream's name."""
        from isthmus.security.field_level import stream_access

        return stream_access(self.authorizer, subject, action, name, state or self.state()).granted


__all__ = [
    "ALIASES_ACTION",
    "CONCRETE_ONLY_ACTIONS",
    "CROSS_CLUSTER_ACTIONS",
    "DELETE_INDEX_ACTION",
    "INDEX_ACTION",
    "NOTHING",
    "PER_ITEM_ACTIONS",
    "UNCHECKED_ACTIONS",
    "IndexAuthorization",
    "index_action",
]
