"""The registry of secure setting names: what may live in the keystore.  [no I/O]

Owns three rules Elasticsearch applies to secure settings:

* the keystore's own name syntax (``[A-Za-z0-9_\\-.]+``), checked when an entry is written;
* which names the node accepts from the keystore (anything else is an ``unknown secure setting``
  at startup, exactly as ES rejects a stray keystore entry);
* which of them ``POST _nodes/reload_secure_settings`` may apply without a restart.

The secure settings Isthmus knows are declared once, as data, in :data:`SECURE_SETTINGS`
(:data:`REGISTRY` is built from them). Each also enters the main registry as a node-scope
``Setting(secure=True)`` (:func:`as_node_settings`, gathered by :mod:`isthmus.settings.catalog`),
so ``isthmus.yml`` rejects it with the "use the keystore" message. A ``*`` in a pattern stands for
one name segment, possibly dotted (ES's affix namespace: ``cluster.remote.<alias>.credentials``,
``...realms.ldap.<name>...``).

This module does not read the keystore; ``isthmus.security.keystore`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting

# ES KeyStoreWrapper.ALLOWED_SETTING_NAME, printed in the error as Java prints the pattern.
NAME_PATTERN = r"[A-Za-z0-9_\-.]+"
_NAME = re.compile(NAME_PATTERN)
# ES AffixSetting: the namespace in place of ``*`` is ``(?:[-\w]+[.])*[-\w]+``.
_AFFIX_PART = r"(?:[-\w]+\.)*[-\w]+"

SEED_SETTING = "keystore.seed"


def validate_setting_name(name: str) -> None:
    """Raise ES's error if ``name`` may not be stored in a keystore at all."""
    if _NAME.fullmatch(name) is None:
        raise SettingsError(
            f"Setting name [{name}] does not match the allowed setting name pattern [{NAME_PATTERN}]"
        )


@dataclass(frozen=True)
class SecureSetting:
    """A secure setting: an exact name or a pattern with ``*`` segments."""

    pattern: str
    reloadable: bool = False
    file: bool = False  # holds a file's bytes (``add-file``) rather than a string
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = [re.escape(p) for p in self.pattern.split("*")]
        object.__setattr__(self, "_regex", re.compile(_AFFIX_PART.join(parts)))

    @property
    def is_affix(self) -> bool:
        return "*" in self.pattern

    def matches(self, name: str) -> bool:
        return self._regex.fullmatch(name) is not None


class SecureRegistry:
    """The known secure settings. One module-level instance serves the node; tests make their own."""

    def __init__(self, settings: Iterable[SecureSetting] = ()) -> None:
        self._settings: dict[str, SecureSetting] = {}
        for setting in settings:
            self.register(setting)

    def register(self, setting: SecureSetting) -> SecureSetting:
        """Add ``setting``; registering the same definition twice is a no-op."""
        validate_setting_name(setting.pattern.replace("*", "x"))
        existing = self._settings.get(setting.pattern)
        if existing is not None:
            if existing != setting:
                raise ValueError(
                    f"secure setting [{setting.pattern}] registered twice, differently"
                )
            return existing
        self._settings[setting.pattern] = setting
        return setting

    def find(self, name: str) -> SecureSetting | None:
        exact = self._settings.get(name)
        if exact is not None:
            return exact
        for setting in self._settings.values():
            if setting.is_affix and setting.matches(name):
                return setting
        return None

    def is_reloadable(self, name: str) -> bool:
        setting = self.find(name)
        return setting is not None and setting.reloadable

    def validate_known(self, names: Iterable[str]) -> None:
        """Raise ES's ``unknown secure setting`` error for the first name nobody registered."""
        for name in sorted(names):
            if self.find(name) is None:
                raise unknown_secure(name)

    def reloadable(self, names: Iterable[str]) -> tuple[str, ...]:
        """The subset of ``names`` a reload may apply, sorted."""
        return tuple(sorted(n for n in names if self.is_reloadable(n)))

    def all(self) -> tuple[SecureSetting, ...]:
        return tuple(self._settings.values())

    def __repr__(self) -> str:
        n_reload = sum(1 for s in self._settings.values() if s.reloadable)
        return f"<SecureRegistry {len(self._settings)} settings, {n_reload} reloadable>"


def unknown_secure(name: str) -> SettingsError:
    return SettingsError(
        f"unknown secure setting [{name}] please check that any required plugins are installed, "
        "or check the breaking changes documentation for removed settings"
    )


def find_secure(name: str) -> SecureSetting | None:
    return REGISTRY.find(name)


def is_reloadable(name: str) -> bool:
    return REGISTRY.is_reloadable(name)


def validate_known(names: Iterable[str]) -> None:
    REGISTRY.validate_known(names)


def as_node_settings(settings: Sequence[SecureSetting]) -> tuple[Setting, ...]:
    """The main registry's entries for ``settings``: node scope, ``secure=True``."""
    return tuple(Setting(s.pattern, v.parse_str, None, Scope.NODE, secure=True) for s in settings)


# --- the secure settings Isthmus knows today -------------------------------------------------------

SECURE_SETTINGS: tuple[SecureSetting, ...] = (
    # Every keystore holds a random seed (ES adds it on create and on upgrade).
    SecureSetting(SEED_SETTING),
    # The elastic user's password on first start.
    SecureSetting("bootstrap.password"),
    # RCS2 API-key credentials for a remote cluster: reloadable, so switching a remote to API-key
    # security (or rotating the key) needs no restart.
    SecureSetting("cluster.remote.*.credentials", reloadable=True),
    # TLS material passwords, per context (transport, http, remote_cluster_server,
    # remote_cluster_client, realms). ES reads them only at startup: not reloadable.
    *(
        SecureSetting(f"xpack.security.*.{suffix}")
        for suffix in (
            "ssl.keystore.secure_password",
            "ssl.keystore.secure_key_password",
            "ssl.truststore.secure_password",
            "ssl.secure_key_passphrase",
        )
    ),
)
REGISTRY = SecureRegistry(SECURE_SETTINGS)
