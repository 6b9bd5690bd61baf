"""The actions of ``POST /_aliases`` as typed values, and how they apply.  [no I/O]

A body is parsed once, at the edge, into :class:`AliasAction` values: which indices, which alias
names, which options. Authorization narrows them (``indices`` to the names the caller may use,
``allowed_aliases`` to the alias names it may touch) before the cluster-state update applies
them; the update never reads the raw body.

Applying follows ES's TransportIndicesAliasesAction: each action gets a result. A ``remove``
that matched no alias on its indices fails alone (404 ``aliases_not_found_exception`` in
``action_results``, the other actions still apply) unless ``must_exist`` is true, which fails
the whole request; when no action at all had anything to do the request is that 404.
Alias name patterns (``remove``, ``GET _alias/<names>``) take wildcards, ``_all`` and, after a
wildcard, ``-name`` exclusions, as ES's ``findAliases``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from isthmus.cluster import blocks
from isthmus.cluster.metadata import AliasMetadata, ClusterMetadata, validate_alias_name
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import IndicesOptions, resolve
from isthmus.errors import (
    ActionRequestValidationError,
    AliasesNotFoundError,
    InvalidAliasNameError,
    IsthmusError,
    ParsingError,
    XContentParseError,
)
from isthmus.xcontent import unknown_field

AliasKind = Literal["add", "remove", "remove_index"]
_KINDS: tuple[AliasKind, ...] = ("add", "remove", "remove_index")
# What each action's parser declares (ES's AliasActions parsers, deprecated spellings included).
_COMMON = ("index", "indices", "alias", "aliases")
_FIELDS_OF: dict[str, tuple[str, ...]] = {
    "add": (
        *_COMMON,
        "filter",
        "routing",
        "index_routing",
        "indexRouting",
        "index-routing",
        "search_routing",
        "searchRouting",
        "search-routing",
        "is_write_index",
        "is_hidden",
    ),
    "remove": (*_COMMON, "must_exist"),
    "remove_index": _COMMON,
}


_CANONICAL = {
    "indexRouting": "index_routing",
    "index-routing": "index_routing",
    "searchRouting": "search_routing",
    "search-routing": "search_routing",
}


def _nested_unknown(kind: str, key: str) -> XContentParseError:
    """ES's error for an unknown field in an action: the failure of each enclosing parser,
    with the unknown field (and its "did you mean") as the root cause."""
    inner = unknown_field(kind, key, _FIELDS_OF[kind])
    middle = XContentParseError(f"[alias_action] failed to parse field [{kind}]", caused_by=inner)
    return XContentParseError("[aliases] failed to parse field [actions]", caused_by=middle)


def check_aliases_body(body: Mapping[str, Any]) -> None:
    """The ``_aliases`` body declares ``actions`` only (ES's ``aliases`` parser)."""
    for key in body:
        if key != "actions":
            raise unknown_field("aliases", key, ("actions",))


@dataclass(frozen=True)
class AliasAction:
    kind: AliasKind
    indices: tuple[str, ...]
    aliases: tuple[str, ...]
    spec: Mapping[str, Any] = field(default_factory=dict)
    # Set by authorization: the existing alias names a ``remove`` may match (None: any).
    allowed_aliases: frozenset[str] | None = None

    @property
    def must_exist(self) -> bool:
        return self.spec.get("must_exist", True) is not False


def _names(spec: Mapping[str, Any], one: str, many: str) -> tuple[str, ...]:
    value = spec.get(many, spec.get(one))
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ParsingError(f"[aliases] failed to parse field [{many if many in spec else one}]")


def parse_alias_actions(raw: Any) -> list[AliasAction]:
    """``{"actions": [...]}``'s list → typed actions, with ES's validation texts."""
    if raw is not None and not isinstance(raw, list):
        raise ParsingError("[aliases] failed to parse field [actions]")
    if not raw:
        raise ActionRequestValidationError("Validation Failed: 1: no actions specified;")
    out: list[AliasAction] = []
    for item in raw:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError("[aliases] failed to parse field [actions]")
        ((kind, spec),) = item.items()
        if kind not in _KINDS:
            # ES's alias_action parser declares the three kinds; the aliases parser wraps it.
            raise XContentParseError(
                "[aliases] failed to parse field [actions]",
                caused_by=unknown_field("alias_action", kind, _KINDS),
            )
        if not isinstance(spec, Mapping):
            raise ParsingError(f"[{kind}] failed to parse, expected an object but found [{spec}]")
        for key in spec:
            if key not in _FIELDS_OF[kind]:
                raise _nested_unknown(kind, key)
        spec = {_CANONICAL.get(key, key): value for key, value in spec.items()}
        for flag in ("must_exist", "is_write_index", "is_hidden"):
            if flag in spec and spec[flag] is not None and not isinstance(spec[flag], bool):
                raise ParsingError(f"[{kind}] failed to parse field [{flag}]")
        indices = _names(spec, "index", "indices")
        aliases = _names(spec, "alias", "aliases")
        if not indices:
            raise ActionRequestValidationError(
                "Validation Failed: 1: One of [index] or [indices] is required;"
            )
        if kind != "remove_index" and not aliases:
            raise ActionRequestValidationError(
                "Validation Failed: 1: One of [alias] or [aliases] is required;"
            )
        out.append(AliasAction(kind, indices, aliases, dict(spec)))
    return out


def _is_pattern(name: str) -> bool:
    return name == "_all" or "*" in name or "?" in name


def alias_matcher(patterns: Sequence[str]) -> Any:
    """A predicate over alias names for ES's alias patterns, read in order: a name, a
    wildcard or ``_all`` includes; ``-pattern`` after a wildcard excludes what it matches
    (before any wildcard ``-x`` is just a name)."""
    steps: list[tuple[bool, str]] = []
    seen_wildcard = False
    for pattern in patterns:
        if pattern.startswith("-") and seen_wildcard:
            steps.append((False, pattern[1:]))
            continue
        seen_wildcard = seen_wildcard or _is_pattern(pattern)
        steps.append((True, "*" if pattern == "_all" else pattern))

    def matches(alias: str) -> bool:
        matched = not steps
        for include, pattern in steps:
            if include and not matched:
                matched = simple_match(alias, pattern)
            elif not include and matched:
                matched = not (pattern == "_all" or simple_match(alias, pattern))
        return matched

    return matches


def missing_aliases(patterns: Sequence[str], found: Iterable[str]) -> list[str]:
    """The explicitly named aliases of a ``GET _alias/<names>`` that nothing returned (ES's
    404 list): wildcards never count as missing, nor a name a later ``-pattern`` excludes."""
    returned = set(found)
    first_wildcard = next((i for i, p in enumerate(patterns) if _is_pattern(p)), len(patterns))
    out: list[str] = []
    for i, name in enumerate(patterns):
        if _is_pattern(name) or (i > first_wildcard and name.startswith("-")):
            continue
        excluded = any(
            later.startswith("-") and (later[1:] == "_all" or simple_match(name, later[1:]))
            for later in patterns[max(i + 1, first_wildcard) :]
        )
        if not excluded and name not in returned:
            out.append(name)
    return out


def aliases_missing(names: Sequence[str]) -> AliasesNotFoundError:
    """ES's AliasesNotFoundException: one name is a string resource id, several a list."""
    return AliasesNotFoundError(
        f"aliases [{', '.join(names)}] missing",
        extra={
            "resource.type": "aliases",
            "resource.id": names[0] if len(names) == 1 else list(names),
        },
    )


@dataclass(frozen=True)
class AliasActionResult:
    """One action's outcome, as ES's ``action_results`` entry."""

    action: AliasAction
    indices: tuple[str, ...]
    error: IsthmusError | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": {
                "type": self.action.kind,
                "indices": sorted(self.indices),
                "aliases": list(self.action.aliases),
            },
            "status": 200 if self.error is None else self.error.http_status,
        }
        if self.error is not None:
            out["error"] = self.error.to_cause()
        return out


# Alias actions name concrete indices: wildcards expand to open and closed ones, never through
# an alias (an alias named as an index is ES's 400).
_ACTION_INDICES = IndicesOptions(
    expand_open=True, expand_closed=True, forbid_closed=False, ignore_aliases=True
)


def apply_alias_actions(
    state: ClusterMetadata, actions: Sequence[AliasAction]
) -> tuple[ClusterMetadata, list[AliasActionResult]]:
    """The metadata after ``actions`` (all or nothing) and each action's result."""
    indices = dict(state.indices)
    results: list[AliasActionResult] = []
    changed = False
    for action in actions:
        current_state = replace(state, indices=indices)
        targets = list(
            dict.fromkeys(
                r.index.name
                for e in action.indices
                for r in resolve(current_state, e, _ACTION_INDICES)
            )
        )
        blocked = blocks.check(state, blocks.Level.METADATA_WRITE, [indices[n] for n in targets])
        if blocked is not None:
            raise blocked
        removed = 0
        matcher = alias_matcher(action.aliases)
        for name in targets:
            meta = indices[name]
            current = dict(meta.aliases)
            if action.kind == "remove_index":
                del indices[name]
                changed = True
                continue
            if action.kind == "add":
                for alias in action.aliases:
                    validate_alias_name(alias)
                    if alias in indices:
                        raise InvalidAliasNameError(
                            f"Invalid alias name [{alias}]: an index or data stream exists "
                            "with the same name as the alias"
                        )
                    current[alias] = AliasMetadata.from_json(alias, action.spec)
            else:
                matched = [
                    a
                    for a in current
                    if matcher(a)
                    and (action.allowed_aliases is None or a in action.allowed_aliases)
                ]
                if not matched and action.spec.get("must_exist") is True:
                    # ES removes the named aliases then, and each absent one fails the request.
                    absent = [a for a in action.aliases if a not in current]
                    raise aliases_missing(absent[:1] or list(action.aliases))
                for alias in matched:
                    del current[alias]
                removed += len(matched)
                if not matched:
                    continue
            changed = True
            indices[name] = replace(
                meta,
                aliases=current,
                version=meta.version + 1,
                aliases_version=meta.aliases_version + 1,
            )
        error = None
        if action.kind == "remove" and removed == 0:
            error = aliases_missing(list(action.aliases))
        results.append(AliasActionResult(action, tuple(targets), error))
    if not changed:  # nothing to apply at all: the request itself is the 404
        names = list(dict.fromkeys(a for r in results for a in r.action.aliases))
        raise aliases_missing(names)
    return replace(state, indices=indices), results


__all__ = [
    "AliasAction",
    "AliasActionResult",
    "AliasKind",
    "alias_matcher",
    "aliases_missing",
    "apply_alias_actions",
    "missing_aliases",
    "parse_alias_actions",
]
