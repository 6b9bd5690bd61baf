"""Index template request bodies → template values, with Elasticsearch's parse errors.

Composable (``_index_template``), component (``_component_template``) and legacy (``_template``)
bodies; their ``template`` sections are checked as index creation would check them (unknown
settings refused by the settings registry, mappings by building them), so a template that could
never apply is refused when it is put.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from isthmus.actions.indices import normalize_index_settings
from isthmus.cluster.metadata import validate_alias_name
from isthmus.cluster.templates import (
    ComponentTemplate,
    ComposableTemplate,
    LegacyTemplate,
    Template,
    merge_mappings,
)
from isthmus.errors import (
    ActionRequestValidationError,
    IllegalArgumentError,
    NotImplementedYet,
    XContentParseError,
)
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.xcontent import as_bool, as_int, as_list, as_object, as_str, unknown_field

_T = TypeVar("_T")
# The fields ES's template parsers declare (each one's "did you mean" candidates).
_TEMPLATE_FIELDS = ("settings", "mappings", "aliases", "lifecycle", "data_stream_options")
_DATA_STREAM_FIELDS = ("hidden", "allow_custom_routing", "failure_store")
_COMPONENT_FIELDS = ("template", "version", "_meta", "deprecated")


def _field(parser: str, name: str, parse: Callable[[], _T]) -> _T:
    """ES's object parser wraps what a field's own parser refused (its x-content errors):
    ``[<parser>] failed to parse field [<name>]`` with that failure as the cause."""
    try:
        return parse()
    except XContentParseError as exc:
        raise XContentParseError(
            f"[{parser}] failed to parse field [{name}]", caused_by=exc
        ) from None


def parse_template_section(raw: Any, parser: str = "template") -> Template:
    """ES's ``Template``: ``settings``, ``mappings``, ``aliases`` (each checked as at index
    creation: unknown settings and bad mappings are refused when the template is put)."""
    body = as_object(parser, "template", raw)
    for key in body:
        if key in ("lifecycle", "data_stream_options") and body[key] is not None:
            # Known to ES, not run here: refused plainly rather than stored and ignored.
            raise NotImplementedYet(f"[{key}] in index templates is not supported")
        if key not in _TEMPLATE_FIELDS:
            raise unknown_field(parser, key, _TEMPLATE_FIELDS)
    settings: dict[str, str] = {}
    if body.get("settings") is not None:
        raw_settings = as_object(parser, "settings", body["settings"])
        settings = {
            k: v for k, v in normalize_index_settings(raw_settings, creating=True).items() if v
        }
    mappings = None
    if body.get("mappings") is not None:
        mappings = dict(as_object(parser, "mappings", body["mappings"]))
        IndexMapping(merge_mappings(None, mappings))  # refused here if it could never apply
    aliases: dict[str, dict[str, Any]] = {}
    for name, spec in dict(as_object(parser, "aliases", body.get("aliases") or {})).items():
        validate_alias_name(name)
        aliases[name] = dict(as_object(parser, name, spec or {}))
    return Template(settings, mappings, aliases)


def parse_composable(name: str, raw: Mapping[str, Any] | None) -> ComposableTemplate:
    body = dict(raw or {})
    parser = "index_template"
    known = (
        "index_patterns", "template", "composed_of", "priority", "version", "_meta",
        "data_stream", "allow_auto_create", "ignore_missing_component_templates", "deprecated",
    )  # fmt: skip
    for key in body:
        if key not in known:
            raise unknown_field(parser, key, known)
    if body.get("index_patterns") is None:
        raise IllegalArgumentError("Required [index_patterns]")
    patterns = tuple(
        as_str(parser, "index_patterns", p)
        for p in as_list(parser, "index_patterns", body["index_patterns"])
    )
    data_stream = None
    if body.get("data_stream") is not None:
        ds = as_object(parser, "data_stream", body["data_stream"])
        data_stream = _field(parser, "data_stream", lambda: _data_stream(ds))
    template = None
    if body.get("template") is not None:
        section = as_object(parser, "template", body["template"])
        template = _field(parser, "template", lambda: parse_template_section(section))
    priority = None
    if body.get("priority") is not None:
        priority = as_int(parser, "priority", body["priority"], lo=-(2**63), hi=2**63 - 1)
        if priority < 0:
            raise ActionRequestValidationError(
                "Validation Failed: 1: index template priority must be >= 0;"
            )
    return ComposableTemplate(
        name=name,
        index_patterns=patterns,
        template=template,
        composed_of=tuple(as_str(parser, "composed_of", c) for c in as_list(parser, "composed_of", body.get("composed_of") or [])),
        priority=priority,
        version=as_int(parser, "version", body["version"], lo=-(2**63), hi=2**63 - 1)
        if body.get("version") is not None
        else None,
        meta=dict(as_object(parser, "_meta", body["_meta"])) if body.get("_meta") is not None else None,
        data_stream=data_stream,
        allow_auto_create=as_bool(parser, "allow_auto_create", body["allow_auto_create"])
        if body.get("allow_auto_create") is not None
        else None,
        ignore_missing_component_templates=tuple(
            as_str(parser, "ignore_missing_component_templates", c)
            for c in as_list(parser, "ignore_missing_component_templates", body.get("ignore_missing_component_templates") or [])
        ),
    )  # fmt: skip


def _data_stream(ds: Mapping[str, Any]) -> dict[str, bool]:
    """ES's ``data_stream_template`` object."""
    for key in ds:
        if key == "failure_store" and ds[key]:
            raise NotImplementedYet("the data stream failure store is not supported")
        if key not in _DATA_STREAM_FIELDS:
            raise unknown_field("data_stream_template", key, _DATA_STREAM_FIELDS)
    return {
        "hidden": as_bool("data_stream_template", "hidden", ds.get("hidden", False)),
        "allow_custom_routing": as_bool(
            "data_stream_template", "allow_custom_routing", ds.get("allow_custom_routing", False)
        ),
    }


def parse_component(name: str, raw: Mapping[str, Any] | None) -> ComponentTemplate:
    body = dict(raw or {})
    parser = "component_template"
    for key in body:
        if key not in _COMPONENT_FIELDS:
            raise unknown_field(parser, key, _COMPONENT_FIELDS)
    if body.get("template") is None:
        raise IllegalArgumentError("Required [template]")
    version = body.get("version")
    section = as_object(parser, "template", body["template"])
    return ComponentTemplate(
        name,
        _field(parser, "template", lambda: parse_template_section(section)),
        as_int(parser, "version", version, lo=-(2**63), hi=2**63 - 1) if version is not None else None,
        dict(as_object(parser, "_meta", body["_meta"])) if body.get("_meta") is not None else None,
    )  # fmt: skip


def parse_legacy(
    name: str, raw: Mapping[str, Any] | None, order_param: str | None
) -> LegacyTemplate:
    body = dict(raw or {})
    patterns_raw = body.pop("index_patterns", None)
    if patterns_raw is None and "template" in body:  # the pre-6.0 single pattern
        patterns_raw = body.pop("template")
    for key in body:
        if key not in ("order", "version", "settings", "mappings", "aliases"):
            raise IllegalArgumentError(f"unknown key [{key}] in the template ")
    if not patterns_raw:
        raise ActionRequestValidationError("Validation Failed: 1: index patterns are missing;")
    patterns = tuple(
        as_str("template", "index_patterns", p)
        for p in as_list("template", "index_patterns", patterns_raw)
    )
    order = body.get("order", order_param if order_param is not None else 0)
    section = parse_template_section(
        {k: body[k] for k in ("settings", "mappings", "aliases") if body.get(k) is not None}
    )
    version = body.get("version")
    return LegacyTemplate(
        name,
        patterns,
        as_int("template", "order", order),
        as_int("template", "version", version) if version is not None else None,
        section,
    )  # fmt: skip
