"""Reading node settings from ``isthmus.yml`` and ``-E`` overrides.

The only I/O here is reading the YAML file; everything else is validation against the node's
registry (:mod:`isthmus.settings.catalog`: every declared setting, whatever was imported).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from isthmus.errors import SettingsError
from isthmus.settings.catalog import all_settings, find
from isthmus.settings.discovery import validate_discovery
from isthmus.settings.registry import Scope, flatten, unknown
from isthmus.settings.remote import validate_remote_settings

CONFIG_FILE = "isthmus.yml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_config_dir() -> Path:
    return Path(os.environ.get("ISTHMUS_PATH_CONF") or "config")


def _substitute(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                raise SettingsError(f"Could not resolve placeholder '{name}'")
            return env[name]

        return _ENV_REF.sub(repl, value)
    if isinstance(value, list):
        return [_substitute(v, env) for v in value]
    return value


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``-E key=value`` pairs, as the ``node`` command receives them."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingsError(f"setting [{item}] must be in the form key=value")
        out[key.strip()] = value
    return out


def load_raw(
    config_dir: Path, overrides: Mapping[str, str], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The validated flat settings map: file, then ``-E`` overrides; unknown keys are fatal."""
    env = os.environ if env is None else env
    path = config_dir / CONFIG_FILE
    tree: Any = {}
    if path.exists():
        try:
            tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"Failed to load settings from [{path}]: {exc}") from None
        if not isinstance(tree, Mapping):
            raise SettingsError(f"Failed to load settings from [{path}]: not a map of settings")
    flat = {k: _substitute(v, env) for k, v in flatten(tree).items()}
    flat.update(overrides)
    validated: dict[str, Any] = {}
    for key, raw in flat.items():
        setting = find(key, (Scope.NODE, Scope.CLUSTER))
        if setting is None:
            raise unknown(key, (*all_settings(Scope.NODE), *all_settings(Scope.CLUSTER)))
        if setting.secure:
            raise SettingsError(
                f"setting [{key}], which is a secure setting, cannot be set in the settings file; "
                "use the keystore"
            )
        setting.coerce(key, raw)
        validated[key] = raw
    # Cross-setting rules of remote clusters (mode-specific keys, keys needing an enabled remote).
    validate_remote_settings(validated)
    # Cluster formation: ES's single-node refusals, the coordination store's timing.
    validate_discovery(validated)
    return validated
