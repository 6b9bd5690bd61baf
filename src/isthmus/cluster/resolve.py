"""Index expressions → concrete indices (comma lists, wildcards, aliases, exclusions).  [no I/O]

Follows ES's ``IndexNameExpressionResolver`` rules: ``_all``/``*``/empty mean every index the
wildcard options admit; ``-pattern`` removes what earlier wildcards added; an alias stands for its
indices (its ``filter`` applies unless the index is also named without the filter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.cluster.data_streams import stream, streams
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.cluster.patterns import simple_match
from isthmus.errors import IllegalArgumentError, IndexClosedError, IndexNotFoundError
from isthmus.settings.values import parse_flag


@dataclass(frozen=True)
class IndicesOptions:
    ignore_unavailable: bool = False
    allow_no_indices: bool = True
    expand_open: bool = True
    expand_closed: bool = False
    expand_hidden: bool = False
    forbid_closed: bool = True  # searching a closed index is an error unless ignore_unavailable
    # Concrete indices only (alias actions, ES's ignoreAliases): wildcards skip aliases and an
    # alias named explicitly is ES's "matches an alias" error.
    ignore_aliases: bool = False

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], *, default: IndicesOptions | None = None
    ) -> IndicesOptions:
        base = default or cls()
        expand = params.get("expand_wildcards")
        opts = base
        if expand is not None:
            words = {w.strip() for w in expand.split(",") if w.strip()}
            for word in words:
                if word not in ("open", "closed", "hidden", "all", "none"):
                    raise IllegalArgumentError(
                        f"No enum constant org.elasticsearch.action.support.IndicesOptions.WildcardStates.{word.upper()}"
                    )
            every = "all" in words
            opts = cls(
                ignore_unavailable=base.ignore_unavailable,
                allow_no_indices=base.allow_no_indices,
                expand_open=every or "open" in words,
                expand_closed=every or "closed" in words,
                expand_hidden=every or "hidden" in words,
                forbid_closed=base.forbid_closed,
                ignore_aliases=base.ignore_aliases,
            )
        return cls(
            ignore_unavailable=_flag(params, "ignore_unavailable", opts.ignore_unavailable),
            allow_no_indices=_flag(params, "allow_no_indices", opts.allow_no_indices),
            expand_open=opts.expand_open,
            expand_closed=opts.expand_closed,
            expand_hidden=opts.expand_hidden,
            forbid_closed=opts.forbid_closed,
            ignore_aliases=opts.ignore_aliases,
        )


def _flag(params: Mapping[str, str], key: str, default: bool) -> bool:
    try:
        return parse_flag(params.get(key), default)
    except ValueError as exc:
        raise IllegalArgumentError(str(exc)) from None


@dataclass(frozen=True)
class Resolved:
    """One concrete index and the alias filters that apply to it (None: no filter)."""

    index: IndexMetadata
    filters: tuple[dict[str, Any], ...] | None = None


def split_expression(expression: str | None) -> list[str]:
    """A comma-separated index expression as its parts, trimmed, empty parts dropped (ES's
    ``Strings.splitStringByCommaToArray``). The one splitter of index expressions."""
    if expression is None:
        return []
    return [p.strip() for p in expression.split(",") if p.strip()]


def is_remote_expression(part: str) -> bool:
    """``alias:index`` (or ``-alias:*``) names another cluster; a date-math name may hold a
    colon (``<logs-{now/d{yyyy.MM.dd|+12:00}}>``) and stays local."""
    return ":" in part and not part.startswith(("<", "-<"))


def resolve(
    meta: ClusterMetadata, expression: str | None, options: IndicesOptions
) -> list[Resolved]:
    """Concrete indices for ``expression`` under ``options``; ES errors when it says so."""
    parts = split_expression(expression)
    if not parts or parts == ["_all"]:
        parts = ["*"]
    aliases = meta.aliases()
    # Each chosen index with the names that brought it in (itself, an alias): an exclusion
    # removes names, as ES's resolver removes resources, and an index goes when none is left.
    # The value is the alias's filter (None: unfiltered, or the index named itself).
    chosen: dict[str, dict[str, dict[str, Any] | None]] = {}
    order: list[str] = []

    def add(index: IndexMetadata, alias_filter: dict[str, Any] | None, via_alias: bool) -> None:
        # Named itself (or as a data stream's backing index): never filtered.
        add_from(index, None, index.name)

    def add_from(index: IndexMetadata, alias_filter: dict[str, Any] | None, source: str) -> None:
        if index.name not in chosen:
            order.append(index.name)
            chosen[index.name] = {}
        current = chosen[index.name]
        if source not in current or current[source] is not None:
            current[source] = None if source == index.name else alias_filter

    seen_wildcard = False
    for part in parts:
        if part.startswith("-") and seen_wildcard:
            # ES applies exclusions only after a wildcard; before one "-x" is just a name.
            pattern = part[1:]
            for name in list(order):
                kept = {
                    source: flt
                    for source, flt in chosen[name].items()
                    if not simple_match(source, pattern)
                }
                if kept:
                    chosen[name] = kept
                else:
                    order.remove(name)
                    chosen.pop(name, None)
            continue
        if part == "_all":
            part = "*"
        if "*" in part or "?" in part:
            seen_wildcard = True
        if "*" in part or "?" in part:
            matched = False
            for name, index in meta.indices.items():
                if simple_match(name, part) and _admitted(index, options, part):
                    add(index, None, via_alias=False)
                    matched = True
            # "*" names every index itself; an alias it would also match adds nothing, and
            # must not keep an index an exclusion removes ("*,-logs-*").
            for alias, indices in aliases.items() if part != "*" else ():
                if simple_match(alias, part) and not options.ignore_aliases:
                    for index in indices:
                        if _admitted(index, options, part, alias=alias):
                            add_from(index, index.aliases[alias].filter, alias)
                            matched = True
            for backing in _stream_indices(meta, part, options):
                add(backing, None, via_alias=False)
                matched = True
            if not matched and not options.allow_no_indices:
                raise IndexNotFoundError(part)
            continue
        index_meta = meta.indices.get(part)
        if index_meta is not None:
            if not index_meta.is_open and options.forbid_closed:
                if options.ignore_unavailable:
                    continue
                raise IndexClosedError(index_meta.name, index_meta.uuid)
            add(index_meta, None, via_alias=False)
            continue
        if part in aliases:
            if options.ignore_aliases:
                raise IllegalArgumentError(
                    f"The provided expression [{part}] matches an alias, specify the "
                    "corresponding concrete indices instead."
                )
            for index in aliases[part]:
                if index.is_open or not options.forbid_closed:
                    add_from(index, index.aliases[part].filter, part)
                elif not options.ignore_unavailable:
                    # ES: an alias named explicitly stands for all its indices; a closed one
                    # among them is index_closed_exception unless ignore_unavailable.
                    raise IndexClosedError(index.name, index.uuid)
            continue
        backing_indices = _stream_indices(meta, part, options)
        if backing_indices:
            for backing in backing_indices:
                add(backing, None, via_alias=False)
            continue
        if not options.ignore_unavailable:
            raise IndexNotFoundError(part)
    if not order and not options.allow_no_indices:
        raise IndexNotFoundError(expression or "_all")
    out = []
    for name in order:
        # Named itself, or through an alias without a filter: unfiltered; else its aliases'.
        found = list(chosen[name].values())
        filters = None if any(f is None for f in found) else tuple(f for f in found if f)
        out.append(Resolved(meta.indices[name], filters or None))
    return out


def _stream_indices(
    meta: ClusterMetadata, part: str, options: IndicesOptions
) -> list[IndexMetadata]:
    """The backing indices of the data streams ``part`` names or matches: a data stream stands
    for them in reads, as an alias does for its indices (ES's ``includeDataStreams``). Not for
    the APIs that take concrete indices only; a wildcard skips hidden streams unless asked."""
    if options.ignore_aliases:
        return []
    out: list[IndexMetadata] = []
    wildcard = "*" in part or "?" in part
    for name, found in streams(meta).items():
        if name != part and not (wildcard and simple_match(name, part)):
            continue
        if wildcard and found.hidden and not (options.expand_hidden or part.startswith(".")):
            continue
        for index in found.indices:
            backing = meta.indices.get(index)
            if backing is not None and (backing.is_open or not options.forbid_closed):
                out.append(backing)
    return out


def _admitted(
    index: IndexMetadata, options: IndicesOptions, pattern: str, alias: str | None = None
) -> bool:
    if index.hidden and not options.expand_hidden and not pattern.startswith("."):
        return False
    if (
        index.name.startswith(".")
        and not pattern.startswith(".")
        and alias is None
        and not options.expand_hidden
    ):
        return False
    return options.expand_open if index.is_open else options.expand_closed


def write_index(meta: ClusterMetadata, name: str) -> IndexMetadata | None:
    """The index a write to ``name`` goes to; ``None`` when neither index nor alias exists."""
    index = meta.indices.get(name)
    if index is not None:
        return index
    found = stream(meta, name)
    if found is not None:  # a data stream writes to its last backing index
        return meta.indices.get(found.write_index)
    targets = meta.aliases().get(name)
    if not targets:
        return None
    if len(targets) == 1 and targets[0].aliases[name].is_write_index is not False:
        return targets[0]
    writers = [t for t in targets if t.aliases[name].is_write_index]
    if len(writers) == 1:
        return writers[0]
    raise IllegalArgumentError(
        f"no write index is defined for alias [{name}]. The write index may be explicitly "
        "disabled using is_write_index=false or the alias points to multiple indices without "
        "one being designated as a write index"
    )


# Actions that ``action.destructive_requires_name`` guards (ES's DestructiveOperations).
DESTRUCTIVE_ACTIONS = frozenset({"indices:admin/delete", "indices:admin/close"})


def check_destructive(meta: ClusterMetadata, expression: str | None) -> None:
    """ES's 400 for a wildcard or ``_all`` in a destructive request while
    ``action.destructive_requires_name`` is true (its default). Checked on the expression as
    the client wrote it, before authorization narrows any wildcard into names."""
    if meta.setting("action.destructive_requires_name") not in (None, True, "true"):
        return
    parts = split_expression(expression) or ["_all"]
    if any(p == "_all" or "*" in p for p in parts if not p.startswith("-")):
        raise IllegalArgumentError("Wildcard expressions or all indices are not allowed")
