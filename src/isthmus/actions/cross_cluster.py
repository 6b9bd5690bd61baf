"""What crosses to remote clusters on behalf of a REST request (coordinating side), and what this
node answers when another cluster asks (remote side).

Owns: splitting index expressions between clusters for an action, the caller identity that
travels with each request (certificate model), ``GET /_resolve/cluster`` on both sides. Searches
across clusters build on the same pieces.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isthmus.actions.cluster import version_block
from isthmus.actions.cross_cluster_wire import (
    ResolveClusterRequest,
    ResolveClusterResponse,
    ResolveIndexRequest,
    ResolveIndexResponse,
)
from isthmus.cluster.data_streams import TIMESTAMP_FIELD, streams
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.remote_expressions import (
    LOCAL_CLUSTER,
    LOCAL_DISPLAY,
    ClusterIndices,
    group_indices,
)
from isthmus.cluster.resolve import IndicesOptions, is_remote_expression, resolve, split_expression
from isthmus.cluster.service import ClusterService
from isthmus.errors import IllegalArgumentError, IndexNotFoundError, IsthmusError, SecurityError
from isthmus.security.authz import Authorizer, Subject
from isthmus.settings.values import parse_time
from isthmus.transport.actions import ActionRegistry, TransportRequestContext
from isthmus.wire.names import RESOLVE_CLUSTER_ACTION, RESOLVE_INDEX_ACTION

if TYPE_CHECKING:
    from isthmus.remote.service import RemoteClusterService

LENIENT = IndicesOptions(ignore_unavailable=True, allow_no_indices=True)


def local_names(names: list[str]) -> list[str]:
    """Index names another cluster sent us: they name this cluster's indices only."""
    for name in names:
        if is_remote_expression(name):
            raise IllegalArgumentError(
                "Cross-cluster calls are not supported in this context but remote indices were "
                f"requested: [{name}]"
            )
    return names


def short_version() -> dict[str, Any]:
    full = version_block()
    keys = (
        "number",
        "build_flavor",
        "minimum_wire_compatibility_version",
        "minimum_index_compatibility_version",
    )
    return {k: full[k] for k in keys}


class CrossClusterActions:
    def __init__(
        self,
        cluster: ClusterService,
        remote: RemoteClusterService | None,
        node_name: str,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.cluster = cluster
        self.remote = remote
        self.node_name = node_name
        self.authorizer = authorizer or Authorizer()

    # --- coordinating side ----------------------------------------------------------------------

    def group(self, expression: str | None, *, local_if_empty: bool = True) -> ClusterIndices:
        """The clusters an index expression names (ES's messages for bad ones)."""
        parts = split_expression(expression)
        enabled = self.remote is not None and self.remote.enabled
        if not enabled and any(is_remote_expression(p) for p in parts):
            raise IllegalArgumentError(
                f"node [{self.node_name}] does not have the remote cluster client role enabled"
            )
        aliases = self.remote.aliases() if self.remote is not None else ()
        return _grouped(tuple(parts), aliases, local_if_empty)

    async def resolve_cluster(
        self, expression: str | None, params: Mapping[str, str], subject: Subject | None
    ) -> dict[str, Any]:
        """``GET /_resolve/cluster[/<expr>]``: contacts every named remote now."""
        with_expression = bool(split_expression(expression))
        if with_expression:
            grouped = self.group(expression, local_if_empty=False)
        else:
            aliases = self.remote.aliases() if self.remote is not None else ()
            grouped = ClusterIndices(local=None, remote={a: () for a in aliases})
        timeout = parse_time(params["timeout"]).seconds if "timeout" in params else None
        out: dict[str, Any] = {}
        if grouped.local is not None:
            entry: dict[str, Any] = {"connected": True, "skip_unavailable": False}
            try:
                if with_expression:
                    # The caller's rights on explicit names were checked with the request.
                    self._check_named(list(grouped.local), None)
                    entry["matching_indices"] = self._matches(list(grouped.local), subject)
                entry["version"] = short_version()
            except IndexNotFoundError as exc:
                entry["error"] = exc.reason
            out[LOCAL_DISPLAY] = entry
        answers = await asyncio.gather(
            *(
                self._resolve_remote(alias, names, with_expression, subject, timeout)
                for alias, names in grouped.remote.items()
            )
        )
        out.update(zip(grouped.remote, answers, strict=True))
        return out

    async def _resolve_remote(
        self,
        alias: str,
        names: tuple[str, ...],
        with_expression: bool,
        subject: Subject | None,
        timeout: float | None,
    ) -> dict[str, Any]:
        assert self.remote is not None
        remote = self.remote.get(alias)
        entry: dict[str, Any] = {"connected": False, "skip_unavailable": remote.skip_unavailable}
        try:
            async with asyncio.timeout(timeout):
                channel = await self.remote.channel_for_request(alias, "reconnect")
                payload = await channel.request(
                    RESOLVE_CLUSTER_ACTION,
                    ResolveClusterRequest(names).to_payload(),
                    self.remote.headers(alias, subject, RESOLVE_CLUSTER_ACTION),
                    timeout=timeout or 30.0,
                )
                answer = ResolveClusterResponse.from_payload(payload, cluster=alias)
        except TimeoutError:
            entry["error"] = (
                f"Request timed out before receiving a response from the remote cluster [{alias}]"
            )
            return entry
        except (SecurityError, IndexNotFoundError) as exc:
            # The remote answered: it is connected, and its refusal is the error (ES's order).
            entry["connected"] = True
            entry["error"] = exc.reason
            return entry
        except IsthmusError as exc:
            entry["error"] = exc.reason
            return entry
        entry["connected"] = True
        if with_expression:
            entry["matching_indices"] = answer.matching_indices
        entry["version"] = answer.version
        return entry

    def _check_named(self, names: list[str], subject: Subject | None) -> None:
        """What ES's resolve cluster refuses on the cluster that owns the indices: a name given
        without wildcards that the caller may not use (the 403 text, authorization first) or
        that does not exist (``no such index [x]``); wildcards only narrow, never fail."""
        explicit = [
            n
            for n in names
            if not n.startswith("-") and n != "_all" and "*" not in n and "?" not in n
        ]
        if subject is not None:
            self.authorizer.check_indices(subject, RESOLVE_CLUSTER_ACTION, explicit)
        state = self.cluster.state
        known = {*state.indices, *state.aliases(), *streams(state)}
        for name in explicit:
            if name not in known:
                raise IndexNotFoundError(name)

    def _matches(self, names: list[str], subject: Subject | None) -> bool:
        try:
            found = resolve(self.cluster.state, ",".join(names), LENIENT)
        except IndexNotFoundError:
            return False
        if subject is None:
            return bool(found)
        return any(
            self.authorizer.index_access(subject, RESOLVE_CLUSTER_ACTION, r.index.name).granted
            for r in found
        )

    async def resolve_index(
        self, expression: str | None, params: Mapping[str, str], subject: Subject | None
    ) -> dict[str, Any]:
        """``GET /_resolve/index/<expr>``: indices, aliases and data streams, remote ones named
        ``<alias>:<name>``. An unreachable remote fails the request unless skip_unavailable."""
        grouped = self.group(expression)
        out: dict[str, Any] = {"indices": [], "aliases": [], "data_streams": []}
        if grouped.local is not None:
            local = resolve_names(self.cluster, list(grouped.local) or ["*"], params, subject)
            for key in out:
                out[key] += local[key]

        async def ask(alias: str, names: tuple[str, ...]) -> ResolveIndexResponse | None:
            assert self.remote is not None
            try:
                channel = await self.remote.channel_for_request(alias)
                answer = await channel.request(
                    RESOLVE_INDEX_ACTION,
                    ResolveIndexRequest(names, params).to_payload(),
                    self.remote.headers(alias, subject, RESOLVE_INDEX_ACTION),
                    timeout=None,
                )
                return ResolveIndexResponse.from_payload(answer, cluster=alias)
            except IsthmusError:
                if self.remote.get(alias).skip_unavailable:
                    return None
                raise

        answers = await asyncio.gather(*(ask(a, n) for a, n in grouped.remote.items()))
        for alias, answer in zip(grouped.remote, answers, strict=True):
            if answer is None:
                continue  # skipped: unavailable
            for key, entries in zip(out, answer.kinds(), strict=True):
                for entry in entries:
                    out[key].append({**entry, "name": f"{alias}:{entry['name']}"})
        return out

    # --- remote side ----------------------------------------------------------------------------

    def register(self, registry: ActionRegistry[Subject]) -> None:
        registry.register(RESOLVE_CLUSTER_ACTION, self._on_resolve_cluster)
        registry.register(RESOLVE_INDEX_ACTION, self._on_resolve_index)

    async def _on_resolve_index(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = ResolveIndexRequest.from_payload(payload)
        names = local_names(list(request.indices)) or ["*"]
        resolved = resolve_names(self.cluster, names, request.params, ctx.caller)
        return ResolveIndexResponse(**resolved).to_payload()

    async def _on_resolve_cluster(self, payload: Any, ctx: TransportRequestContext[Subject]) -> Any:
        request = ResolveClusterRequest.from_payload(payload)
        names = local_names(list(request.indices))
        self._check_named(names, ctx.caller)
        matching = bool(names) and self._matches(names, ctx.caller)
        return ResolveClusterResponse(matching, short_version()).to_payload()


def resolve_names(
    cluster: ClusterService,
    names: list[str],
    params: Mapping[str, str],
    subject: Subject | None,
    authorizer: Authorizer | None = None,
) -> dict[str, Any]:
    """The local part of ``_resolve/index``: matching indices (with attributes) and aliases."""
    state = cluster.state
    expand = params.get("expand_wildcards", "open")
    wanted_states = {"open", "closed"} if expand in ("all", "open,closed") else {expand}
    aliases = state.aliases()
    chosen_indices: dict[str, None] = {}
    chosen_aliases: dict[str, None] = {}
    chosen_streams: dict[str, None] = {}
    data_streams = streams(state)
    parents = {i: n for n, found in data_streams.items() for i in found.indices}
    for part in names:
        exclude = part.startswith("-")
        pattern = part[1:] if exclude else part
        if pattern == "_all":
            pattern = "*"
        wildcard = "*" in pattern or "?" in pattern
        for name, meta in state.indices.items():
            if not simple_match(name, pattern):
                continue
            if wildcard and (meta.state not in wanted_states or name.startswith(".")):
                continue
            if exclude:
                chosen_indices.pop(name, None)
            else:
                chosen_indices[name] = None
        for alias in aliases:
            if simple_match(alias, pattern) and not (wildcard and alias.startswith(".")):
                if exclude:
                    chosen_aliases.pop(alias, None)
                else:
                    chosen_aliases[alias] = None
        for name, found in data_streams.items():
            if simple_match(name, pattern) and not (wildcard and found.hidden):
                if exclude:
                    chosen_streams.pop(name, None)
                else:
                    chosen_streams[name] = None
    checker = authorizer or Authorizer()

    def visible(name: str) -> bool:
        return subject is None or checker.index_access(subject, RESOLVE_INDEX_ACTION, name).granted

    indices = []
    for name in sorted(n for n in chosen_indices if visible(n)):
        meta = state.indices[name]
        entry: dict[str, Any] = {"name": name}
        if meta.aliases:
            entry["aliases"] = sorted(meta.aliases)
        attributes = ["open" if meta.is_open else "closed"]
        if meta.hidden:
            attributes.insert(0, "hidden")
        entry["attributes"] = sorted(attributes)
        if name in parents:
            entry["data_stream"] = parents[name]
        indices.append(entry)
    alias_entries = [
        {"name": alias, "indices": sorted(m.name for m in aliases[alias])}
        for alias in sorted(a for a in chosen_aliases if visible(a))
    ]
    stream_entries = [
        {
            "name": name,
            "backing_indices": list(data_streams[name].indices),
            "timestamp_field": TIMESTAMP_FIELD,
        }
        for name in sorted(n for n in chosen_streams if visible(n))
    ]
    return {"indices": indices, "aliases": alias_entries, "data_streams": stream_entries}


__all__ = ["LOCAL_CLUSTER", "CrossClusterActions", "resolve_names"]


@functools.lru_cache(maxsize=512)
def _grouped(
    parts: tuple[str, ...], aliases: tuple[str, ...], local_if_empty: bool
) -> ClusterIndices:
    """:func:`group_indices`, remembered: every cross-cluster request groups its expression,
    and the answer depends only on these arguments (callers only read it). Errors are not
    remembered, so a bad expression is refused with its message every time."""
    return group_indices(parts, aliases, local_if_empty=local_if_empty)
