"""The node's current secure settings and the hooks that react to a keystore reload.

``POST /_nodes/reload_secure_settings`` re-reads the keystore and hands the new contents to every
registered hook (remote cluster credentials register one); a hook that fails is reported in the
API's ``reload_exception`` and the node keeps running with what it had.

Reloading is async end to end: the keystore is read and decrypted in a worker thread (its key
derivation takes tens of milliseconds), then the contents are swapped and the hooks run on the
event loop, where the components they touch live. No thread ever waits on the loop. Reloads are
serialized, so two concurrent calls apply in the order they read the keystore.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from isthmus.settings.secret import Secret

if TYPE_CHECKING:  # the keystore's crypto loads only with a keystore
    from isthmus.security.keystore_format import KeystoreContents

log = logging.getLogger(
    "org.elasticsearch.action.admin.cluster.node.reload.NodesReloadSecureSettingsAction"
)

# How long the hooks of one reload (remote connection rebuilds) may take in all.
HOOKS_TIMEOUT_S = 120.0

Loader = Callable[[Secret | None], "KeystoreContents | None"]
Hook = Callable[["KeystoreContents | None"], Awaitable[None]]


class SecureSettingsHolder:
    def __init__(self, loader: Loader, initial: KeystoreContents | None) -> None:
        self._loader = loader
        self.current = initial
        self._hooks: list[Hook] = []
        self._lock = asyncio.Lock()
        self.reloads = 0

    def add_hook(self, hook: Hook) -> None:
        """``hook`` runs on the event loop after every successful read of the keystore."""
        self._hooks.append(hook)

    async def reload(self, password: Secret | None) -> None:
        """Re-read the keystore off the loop, then swap it in and run the hooks on the loop;
        raises on the first failure (a failed read keeps the previous contents)."""
        async with self._lock:
            contents = await asyncio.to_thread(self._loader, password)
            self.current = contents
            self.reloads += 1
            # Bounded, so one hung rebuild cannot hold every later reload.
            async with asyncio.timeout(HOOKS_TIMEOUT_S):
                for hook in self._hooks:
                    await hook(contents)
        log.info("reloaded secure settings (%s entries)", len(contents.names()) if contents else 0)

    def get(self, name: str) -> Secret | None:
        return self.current.get(name) if self.current is not None else None

    def secrets(self) -> dict[str, Secret]:
        """Every string secure setting held now, by name (TLS passwords are read from here)."""
        if self.current is None:
            return {}
        values = ((name, self.current.get(name)) for name in self.current.names())
        return {name: value for name, value in values if value is not None}

    def __repr__(self) -> str:
        count = len(self.current.names()) if self.current is not None else 0
        return f"<SecureSettingsHolder entries={count} reloads={self.reloads} hooks={len(self._hooks)}>"
