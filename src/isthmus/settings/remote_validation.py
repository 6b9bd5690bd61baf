"""Validation of remote-cluster settings, with ES's messages.  [no I/O]

Where ES raises a settings error decides the REST error's shape, so validation has ES's three steps:

1. Each key alone (parse plus the key's own check, e.g. every seed's port): the registry's
   ``coerce``, for each key of ``isthmus.yml``/``-E`` and of a ``PUT _cluster/settings`` body.
2. One layer with its dependencies (mode restrictions, "remote cluster is not enabled"):
   :func:`validate_remote_settings` on the yml settings at startup and on each of the new
   persistent and transient maps (ES ``validate(settings, true)``). Top-level, like step 1.
3. Across layers, changed keys only: :func:`validate_remote_update` (ES ``validateUpdate``, the dry
   run of the update consumers): ``illegal value can't update [<key>] from [<old>] to [<new>]``
   with the step-2 error as ``caused_by``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from isthmus.errors import IllegalArgumentError, SettingsError
from isthmus.settings.remote_keys import (
    _SUFFIXES,
    _UPDATE_ORDER,
    PREFIX,
    _alias_keys,
    _alias_value,
    _seed_items,
    _text,
)
from isthmus.settings.remote_records import Mode

# --- validation ------------------------------------------------------------------------------------


def _check_key(key: str, alias: str, suffix: str, flat: Mapping[str, Any]) -> None:
    """ES ``Setting.get(settings)`` for one per-alias key, dependencies included.

    Same order as ES: parse the value, read the settings it depends on, run the key's own check,
    then the cross-setting rules (which apply only to a key that is present).
    """
    spec = _SUFFIXES[suffix]
    raw = flat.get(key)
    value = None if raw is None else spec.parse(key, raw)
    mode: Mode = _alias_value(flat, alias, "mode", Mode.SNIFF)
    enablement = "seeds" if mode is Mode.SNIFF else "proxy_address"
    enabled = not spec.enabled_only or bool(_alias_value(flat, alias, enablement, ""))
    if raw is None:
        return
    if spec.check is not None:
        spec.check(key, value)
    if spec.mode is not None and mode is not spec.mode:
        raise SettingsError(
            f'Setting "{key}" cannot be used with the configured "{PREFIX}{alias}.mode" '
            f"[required={spec.mode.name}, configured={mode.name}]"
        )
    if not enabled:
        raise SettingsError(f"Cannot configure setting [{key}] if remote cluster is not enabled.")


def validate_remote_settings(flat: Mapping[str, Any]) -> None:
    """Check one settings layer the way ES validates it (step 2 in the module docstring).

    Keys are checked in sorted order and the first failure is raised, top-level. (ES collects one
    error per key and adds the others as ``suppressed``; Isthmus reports the first only.)
    """
    for key, alias, suffix in _alias_keys(flat):
        if alias == "":
            raise SettingsError("remote clusters must not have the empty string as its key")
        _check_key(key, alias, suffix, flat)


def _raw(flat: Mapping[str, Any], key: str, suffix: str) -> str:
    """The text ES prints for a setting's value (``Setting.getRaw``), default included."""
    spec = _SUFFIXES[suffix]
    value = flat.get(key)
    if value is None and spec.fallback is not None:
        key, value = spec.fallback, flat.get(spec.fallback)
    if value is None:
        return spec.raw_default
    if suffix == "seeds" or isinstance(value, list | tuple):  # a list prints as a JSON array
        items = _seed_items(key, value)
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return _text(key, value)


def validate_remote_update(previous: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """ES's dry run of its remote-cluster update consumers (step 3 in the module docstring).

    ``previous``: yml settings overlaid by the persistent and transient settings last applied;
    ``current``: yml settings overlaid by the new persistent and transient settings. Only keys whose
    printed value changed are checked, against ``current``.
    """
    for suffix in _UPDATE_ORDER:
        keys = {
            k: a for flat in (current, previous) for k, a, x in _alias_keys(flat) if x == suffix
        }
        for key, alias in keys.items():
            before, after = _raw(previous, key, suffix), _raw(current, key, suffix)
            if not alias or before == after:
                continue
            try:
                _check_key(key, alias, suffix, current)
            except IllegalArgumentError as exc:
                raise SettingsError(
                    f"illegal value can't update [{key}] from [{before}] to [{after}]",
                    caused_by=exc,
                ) from None


def validate_remote_change(
    previous: Mapping[str, Any], current: Mapping[str, Any], layers: Sequence[Mapping[str, Any]]
) -> None:
    """A ``cluster.remote.*`` update in ES's order: each layer with its dependencies (transient
    first), then the update as a whole."""
    for layer in layers:
        validate_remote_settings(layer)
    validate_remote_update(previous, current)
