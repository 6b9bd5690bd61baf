"""The actions of ``POST /_aliases`` as typed values.  [no I/O]

A body is parsed once, at the edge, into :class:`AliasAction` values: which indices, which alias
names, which options. Authorization narrows them (``indices`` to the names the caller may use,
``allowed_aliases`` to the alias names it may touch) before the cluster-state update applies
them; the update never reads the raw body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from isthmus.errors import ActionRequestValidationError, ParsingError

AliasKind = Literal["add", "remove", "remove_index"]
_KINDS: tuple[AliasKind, ...] = ("add", "remove", "remove_index")
# Options an alias action may carry (ES's AliasActions parser); anything else is refused.
_FIELDS = frozenset(
    {
        "index",
        "indices",
        "alias",
        "aliases",
        "filter",
        "routing",
        "index_routing",
        "search_routing",
        "is_write_index",
        "is_hidden",
        "must_exist",
    }
)


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
            raise ParsingError(f"[aliases] unknown field [{kind}]")
        if not isinstance(spec, Mapping):
            raise ParsingError(f"[{kind}] failed to parse, expected an object but found [{spec}]")
        for key in spec:
            if key not in _FIELDS:
                raise ParsingError(f"[{kind}] unknown field [{key}]")
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


__all__ = ["AliasAction", "AliasKind", "parse_alias_actions"]
