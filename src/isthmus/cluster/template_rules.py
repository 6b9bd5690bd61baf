"""The rules a template must meet to be put, with Elasticsearch's texts.  [no I/O]

ES's ``MetadataIndexTemplateService``: names and index patterns are validated (every problem in
one ``invalid_index_template_exception``); two composable templates with the same priority may
not have overlapping patterns; a component template still in use may not be deleted; and putting
a template that shadows, or is shadowed by, one of the other kind answers a deprecation warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.cluster.patterns import simple_match
from isthmus.cluster.templates import ComposableTemplate, LegacyTemplate
from isthmus.errors import IllegalArgumentError, InvalidIndexTemplateError


def patterns_overlap(a: str, b: str) -> bool:
    """ES's ``Regex.simpleMatch`` both ways: two patterns overlap when either matches the
    other (``logs-*`` and ``logs-app-*`` do; ``a-*`` and ``b-*`` do not)."""
    return simple_match(a, b) or simple_match(b, a)


def _render_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def conflicting_composables(
    existing: Mapping[str, ComposableTemplate], new: ComposableTemplate
) -> dict[str, tuple[str, ...]]:
    """Other composable templates with the same priority whose patterns overlap ``new``'s."""
    out: dict[str, tuple[str, ...]] = {}
    for name, other in existing.items():
        if name == new.name or other.priority_or_zero != new.priority_or_zero:
            continue
        if any(patterns_overlap(a, b) for a in new.index_patterns for b in other.index_patterns):
            out[name] = other.index_patterns
    return out


def check_composable_overlap(
    existing: Mapping[str, ComposableTemplate], new: ComposableTemplate
) -> None:
    overlaps = conflicting_composables(existing, new)
    if overlaps:
        raise IllegalArgumentError(
            f"index template [{new.name}] has index patterns {_render_list(new.index_patterns)} "
            f"matching patterns from existing templates [{','.join(overlaps)}] with patterns "
            f"({','.join(f'{n} => {_render_list(p)}' for n, p in overlaps.items())}) that have "
            f"the same priority [{new.priority_or_zero}], multiple index templates may not match "
            "during index creation, please use a different priority"
        )


def legacy_overlap_warning(
    legacy: Mapping[str, LegacyTemplate], new: ComposableTemplate
) -> str | None:
    """ES's warning when a composable template shadows legacy templates."""
    overlaps = {
        n: t.index_patterns
        for n, t in legacy.items()
        if any(patterns_overlap(a, b) for a in new.index_patterns for b in t.index_patterns)
    }
    if not overlaps:
        return None
    return (
        f"index template [{new.name}] has index patterns {_render_list(new.index_patterns)} "
        f"matching patterns from existing older templates [{','.join(overlaps)}] with patterns "
        f"({','.join(f'{n} => {_render_list(p)}' for n, p in overlaps.items())}); this template "
        f"[{new.name}] will take precedence during new index creation"
    )


def composable_overlap_warning(
    composable: Mapping[str, ComposableTemplate], new: LegacyTemplate
) -> str | None:
    """ES's warning when a legacy template is put under a composable one that wins over it."""
    overlaps = {
        n: t.index_patterns
        for n, t in composable.items()
        if any(patterns_overlap(a, b) for a in new.index_patterns for b in t.index_patterns)
    }
    if not overlaps:
        return None
    return (
        f"legacy template [{new.name}] has index patterns {_render_list(new.index_patterns)} "
        f"matching patterns from existing composable templates [{','.join(overlaps)}] with "
        f"patterns ({','.join(f'{n} => {_render_list(p)}' for n, p in overlaps.items())}); "
        f"this template [{new.name}] may be ignored in favor of a composable template at index "
        "creation time"
    )


_BAD_PATTERN_CHARS = '\\/?"<>| ,'


def validate_template(
    name: str, patterns: tuple[str, ...], settings: Mapping[str, str], aliases: Mapping[str, Any]
) -> None:
    """ES's ``MetadataIndexTemplateService.validate``: every problem of the name and patterns
    in one ``invalid_index_template_exception``, then aliases named like a pattern."""
    problems = []
    for bad, why in ((" ", "contain a space"), (",", "contain a ','"), ("#", "contain a '#'"),
                     ("*", "contain a '*'")):  # fmt: skip
        if bad in name:
            problems.append(f"name must not {why}")
    if name.startswith("_"):
        problems.append("name must not start with '_'")
    if name.lower() != name:
        problems.append("name must be lower cased")
    for pattern in patterns:
        if " " in pattern:
            problems.append(f"index_patterns [{pattern}] must not contain a space")
        for bad in (",", "#", ":"):
            if bad in pattern:
                problems.append(f"index_pattern [{pattern}] must not contain a '{bad}'")
        if pattern.startswith("_"):
            problems.append(f"index_pattern [{pattern}] must not start with '_'")
        if any(c in pattern for c in _BAD_PATTERN_CHARS):
            problems.append(
                f"index_pattern [{pattern}] must not contain the following characters "
                '[ , ", *, \\, <, |, ,, >, /, ?]'
            )
    if "*" in patterns and "index.hidden" in settings:
        problems.append("global templates may not specify the setting index.hidden")
    if problems:
        listed = "".join(f"{i}: {p};" for i, p in enumerate(problems, 1))
        raise InvalidIndexTemplateError(name, f"Validation Failed: {listed}")
    for alias in aliases:
        if alias in patterns:
            raise IllegalArgumentError(
                f"alias [{alias}] cannot be the same as any pattern in [{', '.join(patterns)}]"
            )


def components_in_use(composable: Mapping[str, ComposableTemplate], removing: list[str]) -> None:
    """ES's 400 when a component template to delete is still part of a composable one."""
    users = [n for n, t in composable.items() if any(c in removing for c in t.composed_of)]
    if users:
        used = [c for c in removing if any(c in composable[u].composed_of for u in users)]
        raise IllegalArgumentError(
            f"component templates {_render_list(used)} cannot be removed as they are still in "
            f"use by index templates {_render_list(sorted(users))}"
        )
