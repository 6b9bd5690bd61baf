"""Every setting Isthmus knows, gathered from its declarations in one place.  [no I/O]

Each feature declares its settings once, as data, next to the parsers that give them ES's
messages: the core node, cluster and index settings (:mod:`isthmus.settings.registry`), TLS
(:mod:`~isthmus.settings.tls`), the listeners' limits (:mod:`~isthmus.settings.listener_limits`),
remote clusters and transport tuning (:mod:`~isthmus.settings.remote`), the remote cluster server
(:mod:`~isthmus.settings.remote_server`), the disk thresholds
(:mod:`isthmus.settings.disk`) and the secure settings (:mod:`~isthmus.settings.secure`).
Nothing registers itself when imported: :func:`declarations` names every one of those tuples, so
the keys that exist never depend on which modules happened to load first, and
:func:`build_registry` gives a test a registry of its own.

:data:`REGISTRY` is the node's (startup validation of ``isthmus.yml`` and ``-E``, ``PUT
_cluster/settings``, index settings); :func:`find` and :func:`all_settings` look it up.
A new setting goes into its feature's declaration tuple; a new tuple is added here.
"""

from __future__ import annotations

from collections.abc import Iterable

from isthmus.settings import listener_limits, registry, remote, remote_server, secure, tls
from isthmus.settings.allocation import ALLOCATION_SETTINGS
from isthmus.settings.ccr import CCR_SETTINGS
from isthmus.settings.discovery import DISCOVERY_SETTINGS
from isthmus.settings.disk import DISK_SETTINGS
from isthmus.settings.registry import Scope, Setting, SettingsRegistry
from isthmus.settings.remote_health import REMOTE_HEALTH_SETTINGS
from isthmus.settings.search_contexts import SEARCH_CONTEXT_SETTINGS


def declarations() -> tuple[Setting, ...]:
    """Every declared setting, in lookup order (core first)."""
    return (
        *registry.NODE_SETTINGS,
        *registry.CLUSTER_SETTINGS,
        *registry.INDEX_SETTINGS,
        *registry.UNLISTED_INDEX_SETTINGS,
        *tls.TLS_SETTINGS,
        *secure.as_node_settings(secure.SECURE_SETTINGS),
        *listener_limits.HTTP_SETTINGS,
        *listener_limits.TRANSPORT_SETTINGS,
        *remote.REMOTE_SETTINGS,
        *remote_server.REMOTE_SERVER_SETTINGS,
        *REMOTE_HEALTH_SETTINGS,
        *DISK_SETTINGS,
        *CCR_SETTINGS,
        *SEARCH_CONTEXT_SETTINGS,
        *DISCOVERY_SETTINGS,
        *ALLOCATION_SETTINGS,
    )


def build_registry(extra: Iterable[Setting] = ()) -> SettingsRegistry:
    """A registry of every declared setting (and ``extra`` ones, for tests)."""
    return SettingsRegistry((*declarations(), *extra))


REGISTRY = build_registry()


def find(key: str, scopes: Iterable[Scope]) -> Setting | None:
    """The node's declaration for ``key`` in one of ``scopes`` (``None``: unknown)."""
    return REGISTRY.find(key, scopes)


def all_settings(scope: Scope) -> list[Setting]:
    return REGISTRY.all_settings(scope)
