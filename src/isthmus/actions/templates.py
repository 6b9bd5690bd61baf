"""Index template APIs: ``/_index_template``, ``/_component_template``, ``/_template`` and the
simulate APIs.

Request bodies become template values (:mod:`isthmus.actions.template_bodies`), then every
change is a pure function of the metadata submitted to the cluster service, so the rules of
:mod:`isthmus.cluster.template_rules` (overlaps, components in use) meet the latest state. Put answers carry ES's deprecation warnings (legacy
templates shadowed by a composable one, and the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.actions.template_bodies import parse_component, parse_composable, parse_legacy
from isthmus.cluster.data_streams import streams, timestamp_mapping
from isthmus.cluster.metadata import ClusterMetadata
from isthmus.cluster.patterns import simple_match
from isthmus.cluster.resolve import split_expression
from isthmus.cluster.service import ClusterService
from isthmus.cluster.template_rules import (
    check_composable_overlap,
    components_in_use,
    composable_overlap_warning,
    legacy_overlap_warning,
    patterns_overlap,
    validate_template,
)
from isthmus.cluster.templates import (
    COMPONENT_KEY,
    COMPOSABLE_KEY,
    LEGACY_KEY,
    ComponentTemplate,
    ComposableTemplate,
    Template,
    components,
    composables,
    find_composable,
    find_legacy,
    legacies,
    merge_mappings,
    resolve_templates,
    with_entries,
)
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    IndexTemplateMissingError,
    InvalidIndexTemplateError,
    IsthmusError,
    ResourceNotFoundError,
)
from isthmus.index.mapping import Mapping as IndexMapping

LEGACY_DEPRECATION = "Legacy index templates are deprecated in favor of composable templates."


# --- the actions ------------------------------------------------------------------------------


def _named(known: Mapping[str, Any], expression: str | None) -> list[str]:
    """Names in ``known`` that ``expression`` (comma list, wildcards) selects, in order."""
    out: dict[str, None] = {}
    for part in split_expression(expression) or ["*"]:
        if "*" in part:
            out.update({n: None for n in sorted(known) if simple_match(n, part)})
        elif part in known:
            out[part] = None
    return list(out)


class TemplateActions:
    def __init__(self, cluster: ClusterService) -> None:
        self.cluster = cluster

    # composable --------------------------------------------------------------------------

    async def put_composable(
        self, name: str, body: Mapping[str, Any] | None, *, create: bool, cause: str
    ) -> list[str]:
        """Put a composable template; returns the warnings ES would send with the answer."""
        template = parse_composable(name, body)
        own = template.template or Template()
        validate_template(name, template.index_patterns, own.settings, own.aliases)
        warnings: list[str] = []

        def change(state: ClusterMetadata) -> ClusterMetadata:
            existing = composables(state.customs)
            if create and name in existing:
                raise IllegalArgumentError(f"index template [{name}] already exists")
            known = components(state.customs)
            _check_components(name, template, known)
            check_composable_overlap(existing, template)
            _check_composition(template, known)
            warning = legacy_overlap_warning(legacies(state.customs), template)
            warnings[:] = [warning] if warning else []
            entries = {**existing, name: template}
            return _with_customs(state, with_entries(state.customs, COMPOSABLE_KEY, entries))

        await self.cluster.submit(f"create-index-template-v2 [{name}], cause [{cause}]", change)
        return warnings

    def get_composable(self, expression: str | None, *, flat: bool = False) -> dict[str, Any]:
        found = composables(self.cluster.state.customs)
        names = _named(found, expression)
        if expression and not names and "*" not in expression:
            raise ResourceNotFoundError(f"index template matching [{expression}] not found")
        return {
            "index_templates": [
                {"name": n, "index_template": found[n].to_json(flat=flat)} for n in names
            ]
        }

    async def delete_composable(self, expression: str) -> dict[str, Any]:
        def change(state: ClusterMetadata) -> ClusterMetadata:
            found = composables(state.customs)
            names = _named(found, expression)
            for part in split_expression(expression):
                if "*" not in part and part not in found:
                    raise IndexTemplateMissingError(part)
            remaining = {n: t for n, t in found.items() if n not in names}
            _check_streams_keep_templates(state, names, remaining)
            return _with_customs(state, with_entries(state.customs, COMPOSABLE_KEY, remaining))

        await self.cluster.submit(f"remove-index-template-v2 [{expression}]", change)
        return {"acknowledged": True}

    # component ---------------------------------------------------------------------------

    async def put_component(
        self, name: str, body: Mapping[str, Any] | None, *, create: bool, cause: str
    ) -> dict[str, Any]:
        component = parse_component(name, body)

        def change(state: ClusterMetadata) -> ClusterMetadata:
            existing = components(state.customs)
            if create and name in existing:
                raise IllegalArgumentError(f"component template [{name}] already exists")
            updated = {**existing, name: component}
            for template in composables(state.customs).values():  # users must still compose
                if name in template.composed_of:
                    _check_composition(template, updated)
            return _with_customs(state, with_entries(state.customs, COMPONENT_KEY, updated))

        await self.cluster.submit(f"component_template [{name}], cause [{cause}]", change)
        return {"acknowledged": True}

    def get_component(self, expression: str | None, *, flat: bool = False) -> dict[str, Any]:
        found = components(self.cluster.state.customs)
        names = _named(found, expression)
        if expression and not names and "*" not in expression:
            raise ResourceNotFoundError(f"component template matching [{expression}] not found")
        return {
            "component_templates": [
                {"name": n, "component_template": found[n].to_json(flat=flat)} for n in names
            ]
        }

    async def delete_component(self, expression: str) -> dict[str, Any]:
        def change(state: ClusterMetadata) -> ClusterMetadata:
            found = components(state.customs)
            names = _named(found, expression)
            if not names:
                raise ResourceNotFoundError(f"component template matching [{expression}] not found")
            components_in_use(composables(state.customs), names)
            remaining = {n: t for n, t in found.items() if n not in names}
            return _with_customs(state, with_entries(state.customs, COMPONENT_KEY, remaining))

        await self.cluster.submit(f"remove-component-template [{expression}]", change)
        return {"acknowledged": True}

    # legacy ------------------------------------------------------------------------------

    async def put_legacy(
        self, name: str, body: Mapping[str, Any] | None, params: Mapping[str, str]
    ) -> list[str]:
        """Put a legacy template; returns ES's warnings (always its deprecation)."""
        template = parse_legacy(name, body, params.get("order"))
        validate_template(
            name, template.index_patterns, template.template.settings, template.template.aliases
        )
        create = params.get("create") in ("", "true")
        warnings = [LEGACY_DEPRECATION]

        def change(state: ClusterMetadata) -> ClusterMetadata:
            existing = legacies(state.customs)
            if create and name in existing:
                raise IllegalArgumentError(f"index_template [{name}] already exists")
            warning = composable_overlap_warning(composables(state.customs), template)
            warnings[1:] = [warning] if warning else []
            entries = {**existing, name: template}
            return _with_customs(state, with_entries(state.customs, LEGACY_KEY, entries))

        cause = params.get("cause", "api")
        await self.cluster.submit(f"create-index-template [{name}], cause [{cause}]", change)
        return warnings

    def get_legacy(
        self, expression: str | None, *, flat: bool = False
    ) -> tuple[int, dict[str, Any]]:
        found = legacies(self.cluster.state.customs)
        names = _named(found, expression)
        body = {n: found[n].to_json(flat=flat) for n in names}
        explicit = [p for p in split_expression(expression) if "*" not in p]
        status = 404 if explicit and not names else 200
        return status, body

    async def delete_legacy(self, expression: str) -> dict[str, Any]:
        def change(state: ClusterMetadata) -> ClusterMetadata:
            found = legacies(state.customs)
            names = _named(found, expression)
            if not names:
                raise IndexTemplateMissingError(expression)
            remaining = {n: t for n, t in found.items() if n not in names}
            return _with_customs(state, with_entries(state.customs, LEGACY_KEY, remaining))

        await self.cluster.submit(f"remove-index-template [{expression}]", change)
        return {"acknowledged": True}

    def cat_rows(self, expression: str | None) -> list[dict[str, Any]]:
        """``_cat/templates``: legacy and composable templates, one row each (a composable
        template's ``order`` column is its priority), sorted by name."""
        customs = self.cluster.state.customs
        rows: list[dict[str, Any]] = []
        for name, legacy in legacies(customs).items():
            rows.append(
                {"name": name, "index_patterns": legacy.index_patterns, "order": legacy.order,
                 "version": legacy.version, "composed_of": ()}
            )  # fmt: skip
        for name, composable in composables(customs).items():
            rows.append(
                {"name": name, "index_patterns": composable.index_patterns,
                 "order": composable.priority_or_zero, "version": composable.version,
                 "composed_of": composable.composed_of}
            )  # fmt: skip
        wanted = split_expression(expression)
        if wanted:
            rows = [r for r in rows if any(simple_match(r["name"], w) for w in wanted)]
        for row in rows:
            for key in ("index_patterns", "composed_of"):
                row[key] = "[" + ", ".join(row[key]) + "]"
        return sorted(rows, key=lambda r: str(r["name"]))

    # simulate ----------------------------------------------------------------------------

    def simulate_index(self, index: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        """What a new index ``index`` would get now (``body``: a composable template to
        consider as if it were put, as ES allows)."""
        customs = dict(self.cluster.state.customs)
        if body:
            candidate = parse_composable("simulate_index", body)
            customs = with_entries(
                customs, COMPOSABLE_KEY, {**composables(customs), candidate.name: candidate}
            )
        chosen = find_composable(customs, index)
        if chosen is None:
            return {}
        resolved = resolve_templates(customs, index)
        mappings = resolved.mappings
        if chosen.data_stream is not None:
            mappings = timestamp_mapping(mappings)
        overlapping = [
            {"name": t.name, "index_patterns": list(t.index_patterns)}
            for t in composables(customs).values()
            if t.name != chosen.name and t.matches(index)
        ] + [
            {"name": t.name, "index_patterns": list(t.index_patterns)}
            for t in find_legacy(customs, index)
        ]
        return {
            "template": {
                "settings": Template(_with_defaults(resolved.settings)).to_json()["settings"],
                "mappings": mappings or {},
                "aliases": resolved.aliases,
            },
            "overlapping": overlapping,
        }

    def simulate_template(self, name: str | None, body: Mapping[str, Any] | None) -> dict[str, Any]:
        customs = dict(self.cluster.state.customs)
        existing = composables(customs)
        if body:
            template = parse_composable(name or "simulate_template", body)
            known = components(customs)
            # ES simulates by putting the template into a copy of the state: the same checks.
            _check_components(template.name, template, known)
            _check_composition(template, known)
        elif name is not None:
            found = existing.get(name)
            if found is None:
                raise ResourceNotFoundError(
                    f"unable to simulate template [{name}] that does not exist"
                )
            template = found
        else:
            raise ActionRequestValidationError(
                "Validation Failed: 1: an index template name or a template to simulate is required;"
            )
        known = components(customs)
        parts = [known[c].template for c in template.composed_of if c in known]
        if template.template is not None:
            parts.append(template.template)
        settings: dict[str, str] = {}
        mappings: dict[str, Any] | None = None
        aliases: dict[str, dict[str, Any]] = {}
        for part in parts:
            settings.update(part.settings)
            mappings = merge_mappings(mappings, part.mappings)
            aliases.update(part.aliases)
        if template.data_stream is not None:
            mappings = timestamp_mapping(mappings)
        overlapping = [
            {"name": t.name, "index_patterns": list(t.index_patterns)}
            for t in existing.values()
            if t.name != template.name
            and any(
                patterns_overlap(a, b) for a in template.index_patterns for b in t.index_patterns
            )
        ]
        return {
            "template": {
                "settings": Template(_with_defaults(settings)).to_json()["settings"],
                "mappings": mappings or {},
                "aliases": aliases,
            },
            "overlapping": overlapping,
        }  # fmt: skip


def _with_defaults(settings: dict[str, str]) -> dict[str, str]:
    """Settings as the simulate APIs show them (a new index always has these two)."""
    out = dict(settings)
    out.setdefault("index.number_of_shards", "1")
    out.setdefault("index.number_of_replicas", "1")
    return out


def _with_customs(state: ClusterMetadata, customs: dict[str, Any]) -> ClusterMetadata:
    from dataclasses import replace

    return replace(state, customs=customs)


def _check_components(
    name: str, template: ComposableTemplate, known: Mapping[str, ComponentTemplate]
) -> None:
    """Every component template the template names must exist (unless it says to ignore it)."""
    missing = [
        c for c in template.composed_of
        if c not in known and c not in template.ignore_missing_component_templates
    ]  # fmt: skip
    if missing:
        raise InvalidIndexTemplateError(
            name,
            f"index template [{name}] specifies component templates "
            f"[{', '.join(missing)}] that do not exist",
        )


def _check_composition(
    template: ComposableTemplate, known: Mapping[str, ComponentTemplate]
) -> None:
    """The composed mappings must still make a valid index mapping (ES's validation of the
    template after composition)."""
    mappings: dict[str, Any] | None = None
    parts = [known[c].template for c in template.composed_of if c in known]
    if template.template is not None:
        parts.append(template.template)
    try:
        for part in parts:
            mappings = merge_mappings(mappings, part.mappings)
        if template.data_stream is not None:
            mappings = timestamp_mapping(mappings)
        IndexMapping(mappings or {})
    except IsthmusError as exc:
        composed = (
            f"with component templates [{', '.join(template.composed_of)}] "
            if template.composed_of
            else ""
        )
        raise IllegalArgumentError(
            f"composable template [{template.name}] template after composition {composed}is invalid",
            caused_by=exc,
        ) from None


def _check_streams_keep_templates(
    state: ClusterMetadata, removing: list[str], remaining: Mapping[str, ComposableTemplate]
) -> None:
    """ES refuses to delete the template a data stream still depends on."""
    users: dict[str, list[str]] = {}
    for ds in streams(state):
        before = find_composable(state.customs, ds)
        if before is None or before.name not in removing:
            continue
        after = [t for t in remaining.values() if t.matches(ds) and t.data_stream is not None]
        if not after:
            users.setdefault(before.name, []).append(ds)
    if users:
        names = sorted(users)
        used_by = sorted(d for v in users.values() for d in v)
        raise IllegalArgumentError(
            f"unable to remove composable templates [{', '.join(names)}] as they are in use by a "
            f"data streams [{', '.join(used_by)}]"
        )
