"""Index templates: composable, component and legacy, and how a new index takes them.  [no I/O]

ES's model (``MetadataIndexTemplateService``): a *composable* template (``/_index_template``)
names index patterns, a priority and the *component* templates (``/_component_template``) it is
composed of; a new index takes the one composable template of highest priority whose patterns
match its name, and gets, merged in this order, each component's settings, mappings and
aliases, then the template's own, then the create request's. Two composable templates with the
same priority may not have overlapping patterns. Only when no composable template matches do
the *legacy* templates (``/_template``) apply: every matching one, lowest ``order`` first.

Templates live in the cluster metadata's customs (persisted with it), as the JSON that
``GET`` shows; this module turns that JSON into values and back, and decides what a new index
takes. The rules a template must meet to be put are in :mod:`isthmus.cluster.template_rules`;
request bodies are parsed in :mod:`isthmus.actions.template_bodies`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.cluster.patterns import simple_match

COMPOSABLE_KEY = "index_template"
COMPONENT_KEY = "component_template"
LEGACY_KEY = "templates"


@dataclass(frozen=True)
class Template:
    """ES's ``Template``: what a template gives an index (settings flat, ``index.``-prefixed)."""

    settings: dict[str, str] = field(default_factory=dict)
    mappings: dict[str, Any] | None = None
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self, *, flat: bool = False) -> dict[str, Any]:
        from isthmus.settings.registry import nest

        out: dict[str, Any] = {}
        if self.settings:
            out["settings"] = dict(self.settings) if flat else nest(self.settings)
        if self.mappings is not None:
            out["mappings"] = self.mappings
        if self.aliases:
            out["aliases"] = self.aliases
        return out

    @classmethod
    def from_json(cls, body: Mapping[str, Any] | None) -> Template:
        from isthmus.settings.registry import flatten

        body = body or {}
        return cls(
            settings={k: str(v) for k, v in flatten(body.get("settings") or {}).items()},
            mappings=body.get("mappings"),
            aliases=dict(body.get("aliases") or {}),
        )


@dataclass(frozen=True)
class ComponentTemplate:
    name: str
    template: Template
    version: int | None = None
    meta: dict[str, Any] | None = None

    def to_json(self, *, flat: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"template": self.template.to_json(flat=flat)}
        if self.version is not None:
            out["version"] = self.version
        if self.meta is not None:
            out["_meta"] = self.meta
        return out

    @classmethod
    def from_json(cls, name: str, body: Mapping[str, Any]) -> ComponentTemplate:
        return cls(
            name, Template.from_json(body.get("template")), body.get("version"), body.get("_meta")
        )


@dataclass(frozen=True)
class ComposableTemplate:
    name: str
    index_patterns: tuple[str, ...]
    template: Template | None = None
    composed_of: tuple[str, ...] = ()
    priority: int | None = None
    version: int | None = None
    meta: dict[str, Any] | None = None
    data_stream: dict[str, Any] | None = None  # ``{"hidden": bool, "allow_custom_routing": bool}``
    allow_auto_create: bool | None = None
    ignore_missing_component_templates: tuple[str, ...] = ()

    @property
    def priority_or_zero(self) -> int:
        return self.priority or 0

    def matches(self, name: str, *, hidden: bool = False) -> bool:
        """Whether a new index ``name`` takes this template; a hidden index never takes a
        global (``*``) template (ES's rule, so hidden system indices keep their own settings)."""
        if hidden and "*" in self.index_patterns:
            return False
        return any(simple_match(name, p) for p in self.index_patterns)

    def to_json(self, *, flat: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"index_patterns": list(self.index_patterns)}
        if self.template is not None:
            out["template"] = self.template.to_json(flat=flat)
        out["composed_of"] = list(self.composed_of)
        if self.priority is not None:
            out["priority"] = self.priority
        if self.version is not None:
            out["version"] = self.version
        if self.meta is not None:
            out["_meta"] = self.meta
        if self.data_stream is not None:
            out["data_stream"] = self.data_stream
        if self.allow_auto_create is not None:
            out["allow_auto_create"] = self.allow_auto_create
        if self.ignore_missing_component_templates:
            out["ignore_missing_component_templates"] = list(
                self.ignore_missing_component_templates
            )
        return out

    @classmethod
    def from_json(cls, name: str, body: Mapping[str, Any]) -> ComposableTemplate:
        return cls(
            name=name,
            index_patterns=tuple(body["index_patterns"]),
            template=Template.from_json(body["template"]) if "template" in body else None,
            composed_of=tuple(body.get("composed_of") or ()),
            priority=body.get("priority"),
            version=body.get("version"),
            meta=body.get("_meta"),
            data_stream=body.get("data_stream"),
            allow_auto_create=body.get("allow_auto_create"),
            ignore_missing_component_templates=tuple(
                body.get("ignore_missing_component_templates") or ()
            ),
        )


@dataclass(frozen=True)
class LegacyTemplate:
    name: str
    index_patterns: tuple[str, ...]
    order: int = 0
    version: int | None = None
    template: Template = field(default_factory=Template)

    def matches(self, name: str) -> bool:
        return any(simple_match(name, p) for p in self.index_patterns)

    def to_json(self, *, flat: bool = False) -> dict[str, Any]:
        from isthmus.settings.registry import nest

        out: dict[str, Any] = {"order": self.order}
        if self.version is not None:
            out["version"] = self.version
        out["index_patterns"] = list(self.index_patterns)
        settings = self.template.settings
        out["settings"] = dict(settings) if flat else nest(settings)
        out["mappings"] = self.template.mappings or {}
        out["aliases"] = self.template.aliases
        return out

    @classmethod
    def from_json(cls, name: str, body: Mapping[str, Any]) -> LegacyTemplate:
        return cls(
            name,
            tuple(body["index_patterns"]),
            int(body.get("order", 0)),
            body.get("version"),
            Template.from_json(body),
        )


# --- the metadata customs ------------------------------------------------------------------------


def composables(customs: Mapping[str, Any]) -> dict[str, ComposableTemplate]:
    raw = customs.get(COMPOSABLE_KEY) or {}
    return {n: ComposableTemplate.from_json(n, b) for n, b in raw.items()}


def components(customs: Mapping[str, Any]) -> dict[str, ComponentTemplate]:
    raw = customs.get(COMPONENT_KEY) or {}
    return {n: ComponentTemplate.from_json(n, b) for n, b in raw.items()}


def legacies(customs: Mapping[str, Any]) -> dict[str, LegacyTemplate]:
    raw = customs.get(LEGACY_KEY) or {}
    return {n: LegacyTemplate.from_json(n, b) for n, b in raw.items()}


def with_entries(
    customs: Mapping[str, Any], key: str, entries: Mapping[str, Any]
) -> dict[str, Any]:
    """``customs`` with ``key`` holding ``entries`` (values with ``to_json``); empty drops it."""
    out = {k: v for k, v in customs.items() if k != key}
    if entries:
        out[key] = {n: e.to_json() for n, e in sorted(entries.items())}
    return out


# --- which template a new index takes, and the merge --------------------------------------------


def find_composable(
    customs: Mapping[str, Any], name: str, *, hidden: bool = False
) -> ComposableTemplate | None:
    """The composable template a new index ``name`` takes: the matching one of highest
    priority (same-priority overlaps are refused when templates are put)."""
    matching = [t for t in composables(customs).values() if t.matches(name, hidden=hidden)]
    if not matching:
        return None
    return max(matching, key=lambda t: (t.priority_or_zero, t.name))


def find_legacy(customs: Mapping[str, Any], name: str) -> list[LegacyTemplate]:
    """Matching legacy templates, lowest ``order`` first (a higher order wins in the merge)."""
    found = [t for t in legacies(customs).values() if t.matches(name)]
    return sorted(found, key=lambda t: (t.order, t.name))


def merge_mappings(
    base: dict[str, Any] | None, update: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """ES's template merge: object fields merge property by property; a field defined again
    replaces the earlier definition; other root keys are replaced."""
    if update is None:
        return base
    update = _untyped(update)
    if base is None:
        return copy.deepcopy(dict(update))
    out = copy.deepcopy(base)
    for key, value in update.items():
        if key == "properties" and isinstance(value, Mapping):
            out["properties"] = _merge_properties(out.get("properties") or {}, value)
        elif key == "dynamic_templates" and isinstance(value, list):
            out[key] = _merge_dynamic_templates(out.get(key) or [], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_dynamic_templates(base: list[Any], update: list[Any]) -> list[Any]:
    """ES merges dynamic templates by name: a later one replaces the earlier of the same name
    where it stood, new names are appended."""
    out = [copy.deepcopy(t) for t in base]
    names = [next(iter(t)) if isinstance(t, Mapping) and len(t) == 1 else None for t in out]
    for template in update:
        name = (
            next(iter(template)) if isinstance(template, Mapping) and len(template) == 1 else None
        )
        if name is not None and name in names:
            out[names.index(name)] = copy.deepcopy(template)
        else:
            out.append(copy.deepcopy(template))
            names.append(name)
    return out


def _untyped(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    if len(mapping) == 1 and isinstance(mapping.get("_doc"), Mapping):
        inner: Mapping[str, Any] = mapping["_doc"]
        return inner
    return mapping


def _merge_properties(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, spec in update.items():
        old = out.get(name)
        is_object = isinstance(spec, Mapping) and "properties" in spec and "type" not in spec
        if is_object and isinstance(old, dict) and "properties" in old and "type" not in old:
            merged = {**old, **{k: v for k, v in spec.items() if k != "properties"}}
            merged["properties"] = _merge_properties(old["properties"], spec["properties"])
            out[name] = merged
        else:
            out[name] = copy.deepcopy(spec)
    return out


@dataclass(frozen=True)
class Resolved:
    """What a new index takes from templates: merged settings, mappings, aliases."""

    settings: dict[str, str]
    mappings: dict[str, Any] | None
    aliases: dict[str, dict[str, Any]]
    composable: ComposableTemplate | None = None
    legacy: tuple[str, ...] = ()


def resolve_templates(customs: Mapping[str, Any], name: str, *, hidden: bool = False) -> Resolved:
    """The templates' part of a new index ``name`` (the request's part is merged after)."""
    chosen = find_composable(customs, name, hidden=hidden)
    parts: list[Template] = []
    legacy: tuple[str, ...] = ()
    if chosen is not None:
        known = components(customs)
        parts = [known[c].template for c in chosen.composed_of if c in known]
        if chosen.template is not None:
            parts.append(chosen.template)
    else:
        found = find_legacy(customs, name)
        parts = [t.template for t in found]
        legacy = tuple(t.name for t in found)
    settings: dict[str, str] = {}
    mappings: dict[str, Any] | None = None
    aliases: dict[str, dict[str, Any]] = {}
    for part in parts:
        settings.update(part.settings)
        mappings = merge_mappings(mappings, part.mappings)
        aliases.update(part.aliases)
    if legacy:  # legacy templates may name aliases after the index (``{index}-alias``)
        aliases = {a.replace("{index}", name): spec for a, spec in aliases.items()}
    return Resolved(settings, mappings, aliases, chosen, legacy)


def state_sections(customs: Mapping[str, Any]) -> dict[str, Any]:
    """The templates' sections of ``_cluster/state``'s ``metadata``, in ES's shape."""
    out: dict[str, Any] = {"templates": {n: t.to_json() for n, t in legacies(customs).items()}}
    composable = composables(customs)
    if composable:
        out["index_template"] = {"index_template": {n: t.to_json() for n, t in composable.items()}}
    component = components(customs)
    if component:
        out["component_template"] = {
            "component_template": {n: t.to_json() for n, t in component.items()}
        }
    return out
