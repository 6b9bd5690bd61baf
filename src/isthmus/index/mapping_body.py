"""A ``mappings`` body parsed and validated: field parameters, aliases, nesting.  [no I/O]

``parse_properties`` walks a ``properties`` object into its normalised JSON form (what
``GET _mapping`` shows) and the flat table of leaf fields that ``Mapping`` builds its
``FieldSpec``s from, raising ES's ``mapper_parsing_exception`` texts for unknown types, unknown
or invalid parameters. A fault found while parsing is reported by ``Mapping`` as "Failed to
parse mapping: <fault>" (an invalid parameter value's cause is its
``illegal_argument_exception``, as in ES). ``check_aliases`` runs once the whole mapping is
known, as ES validates field aliases.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from collections.abc import Mapping as AbcMapping
from typing import Any

from isthmus.errors import IllegalArgumentError, MapperParsingError
from isthmus.index.completion import COMPLETION_DEFAULTS
from isthmus.index.field_types import (
    ALIAS,
    COMPLETION,
    CONSTANT_KEYWORD,
    DATE,
    DENSE_VECTOR,
    LEAF_PARAMS,
    LEAF_TYPES,
    NUMBER_PARAMS,
    NUMERIC_TYPES,
    OBJECT,
    SCALED_FLOAT,
    FieldSpec,
)
from isthmus.index.mapping_params import check_param_values
from isthmus.index.vectors import check_vector_params

# ES's ``index.mapping.depth.limit`` default: how many objects may enclose a field, the root
# included. A mapping or a dynamically mapped document deeper than this is refused.
MAX_MAPPING_DEPTH = 20


def mapper_error(reason: str) -> MapperParsingError:
    return MapperParsingError(reason)


def _unknown_type(ftype: Any, name: str) -> MapperParsingError:
    return MapperParsingError(
        f"The mapper type [{ftype}] declared on field [{name}] does not exist. It might have been "
        "created within a future version or requires a plugin to be installed. Check the "
        "documentation."
    )


def check_depth(object_path: str) -> None:
    """``object_path`` (``a.b``) is an object field: refuse it past the depth limit."""
    if object_path.count(".") + 2 > MAX_MAPPING_DEPTH:
        raise IllegalArgumentError(
            f"Limit of mapping depth [{MAX_MAPPING_DEPTH}] has been exceeded due to object "
            f"field [{object_path}]"
        )


def parse_properties(
    props: AbcMapping[str, Any],
    prefix: str,
    out: dict[str, dict[str, Any]],
    check_values: bool = True,
) -> dict[str, Any]:
    """Validate a ``properties`` object; returns its normalised JSON form. ``check_values``
    False skips ``mapping_params``' value checks (a stored mapping, accepted when it was put)."""
    if not isinstance(props, AbcMapping):
        raise mapper_error("Expected map for property [properties] on field [" + prefix + "]")
    norm: dict[str, Any] = {}
    for name, spec in props.items():
        full = f"{prefix}{name}"
        if not name or name.strip() != name or name.endswith("."):
            raise mapper_error(
                f"field name cannot be an empty string or contain only whitespace [{full}]"
            )
        if not isinstance(spec, AbcMapping):
            raise mapper_error(
                f"Expected map for property [fields] on field [{full}] but got a class java.lang.String"
            )
        ftype = spec.get("type", OBJECT if "properties" in spec or "type" not in spec else None)
        if not isinstance(ftype, str):
            raise _unknown_type(ftype, name)
        if "." in name:
            # ES expands dotted names into objects.
            head, rest = name.split(".", 1)
            expanded = {head: {"properties": {rest: spec}}}
            sub = parse_properties(expanded, prefix, out, check_values)
            deep_merge(norm, sub)
            continue
        if ftype in (OBJECT, "nested"):
            check_depth(full)
            inner = parse_properties(spec.get("properties", {}), full + ".", out, check_values)
            entry: dict[str, Any] = {"properties": inner} if inner or "properties" in spec else {}
            if ftype == "nested":
                entry["type"] = "nested"
            for key in ("dynamic", "enabled"):
                if key in spec:
                    entry[key] = spec[key]
            norm[name] = entry
            continue
        if ftype == ALIAS:
            norm[name] = _parse_alias(name, full, spec, out)
            continue
        if ftype not in LEAF_TYPES:
            raise _unknown_type(ftype, name)
        allowed = NUMBER_PARAMS if ftype in NUMERIC_TYPES else LEAF_PARAMS[ftype]
        if ftype in NUMERIC_TYPES and ftype != SCALED_FLOAT:
            allowed = allowed - {"scaling_factor"}  # scaled_float's own parameter
        for key in spec:
            if key != "type" and key not in allowed:
                raise mapper_error(
                    f"unknown parameter [{key}] on mapper [{name}] of type [{ftype}]"
                )
        leaf = dict(spec)
        _check_type_params(ftype, leaf)
        if check_values:
            check_param_values(ftype, name, leaf)
        if ftype == DATE and "format" in leaf:
            leaf["format"] = str(leaf["format"])
        out[full] = leaf
        subfields = spec.get("fields")
        if subfields is not None:
            if not isinstance(subfields, AbcMapping):
                raise mapper_error(f"Expected map for property [fields] on field [{name}]")
            for sub_name, sub_spec in subfields.items():
                sub_type = sub_spec.get("type") if isinstance(sub_spec, AbcMapping) else None
                if not isinstance(sub_type, str) or sub_type not in LEAF_TYPES:
                    raise _unknown_type(sub_type, sub_name)
                out[f"{full}.{sub_name}"] = {**sub_spec, "_source_path": full}
        norm[name] = leaf
    return norm


def _parameter_error(reason: str) -> MapperParsingError:
    """A parameter value ES refuses: its cause is the parameter's illegal_argument_exception
    (``Mapping`` reports it as "Failed to parse mapping: <reason>" caused by that)."""
    return MapperParsingError(reason, caused_by=IllegalArgumentError(reason))


def _check_type_params(ftype: str, leaf: dict[str, Any]) -> None:
    """Parameters a type requires or constrains, with ES's messages."""
    if ftype == SCALED_FLOAT:
        factor = leaf.get("scaling_factor")
        if factor is None:
            raise _parameter_error("Field [scaling_factor] is required")
        try:
            number = float(factor)
        except (TypeError, ValueError):
            raise _parameter_error(
                f"[scaling_factor] must be a positive number, got [{factor}]"
            ) from None
        if not math.isfinite(number) or number <= 0:
            raise _parameter_error(f"[scaling_factor] must be a positive number, got [{number}]")
    elif ftype == DENSE_VECTOR:
        check_vector_params(leaf)
    elif ftype == COMPLETION:
        for key, default in COMPLETION_DEFAULTS.items():  # ES shows these in the mapping
            leaf.setdefault(key, default)
    elif ftype == CONSTANT_KEYWORD and "value" in leaf:
        value = leaf["value"]
        if isinstance(value, AbcMapping | list):
            raise mapper_error(f"Property [value] on field [{leaf.get('type')}] must be a string")
        if value is not None:
            leaf["value"] = value if isinstance(value, str) else str(value)


def _parse_alias(
    name: str, full: str, spec: AbcMapping[str, Any], out: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    for key in spec:
        if key not in ("type", "path"):
            raise mapper_error(f"unknown parameter [{key}] on mapper [{name}] of type [alias]")
    path = spec.get("path")
    if not isinstance(path, str) or not path:
        raise mapper_error(f"The [path] property must be specified for field [{name}].")
    out[full] = {"type": ALIAS, "path": path}
    return {"type": ALIAS, "path": path}


def check_aliases(aliases: AbcMapping[str, str], fields: AbcMapping[str, FieldSpec]) -> None:
    """Each alias names a concrete field (ES validates this once the whole mapping is known)."""
    for alias, target in aliases.items():
        problem = None
        if target == alias:
            problem = "an alias cannot refer to itself."
        elif target in aliases:
            problem = "an alias cannot refer to another alias."
        elif target not in fields:
            problem = "an alias must refer to an existing field in the mappings."
        if problem is not None:
            raise MapperParsingError(
                f"Invalid [path] value [{target}] for field alias [{alias}]: {problem}"
            )


def deep_merge(into: dict[str, Any], new: AbcMapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, AbcMapping) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value


def nested_paths(props: AbcMapping[str, Any], prefix: str) -> Iterator[str]:
    for name, entry in props.items():
        if not isinstance(entry, AbcMapping):
            continue
        if entry.get("type") == "nested":
            yield prefix + name
        inner = entry.get("properties")
        if isinstance(inner, AbcMapping):
            yield from nested_paths(inner, prefix + name + ".")


def object_paths(props: AbcMapping[str, Any], prefix: str) -> Iterator[tuple[str, bool]]:
    """Every ``object`` and ``nested`` path (an entry without a type is an object), also one
    without fields yet, with whether it is enabled (a disabled object's value is kept in
    ``_source`` only, whatever it is)."""
    for name, entry in props.items():
        if not isinstance(entry, AbcMapping):
            continue
        if entry.get("type", "object") in ("object", "nested"):
            yield prefix + name, entry.get("enabled") not in (False, "false")
        inner = entry.get("properties")
        if isinstance(inner, AbcMapping):
            yield from object_paths(inner, prefix + name + ".")


def nested_parent(path: str, nested_paths: frozenset[str]) -> str | None:
    """The innermost nested object path enclosing field ``path`` (None: a root field)."""
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in nested_paths:
            return candidate
    return None


def sorted_properties(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("properties", "fields") and isinstance(value, dict):
                out[key] = {k: sorted_properties(value[k]) for k in sorted(value)}
            else:
                out[key] = sorted_properties(value)
        return out
    return node


def copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value
