"""The remote cluster service: alias → :class:`RemoteClusterConnection`, kept in step with
settings.

:meth:`RemoteClusterService.apply` takes the full set of enabled remote configurations (parsed
from the effective settings by ``settings/remote.py``) and, per alias, removes, adds, rebuilds or
updates in place — ES's ``updateRemoteCluster`` decisions, with its log lines. Each connect
attempt it starts is awaited for at most ``update_wait`` seconds (ES: 10 s); the outcome is
logged, never raised, because a settings update succeeds whether or not the remote answers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from isthmus.clock import SYSTEM_CLOCK, Clock
from isthmus.errors import IsthmusError, NoSuchRemoteClusterError, RemoteClusterClientRoleError
from isthmus.remote.cluster import RemoteClusterConnection
from isthmus.remote.health import RemoteHealth
from isthmus.remote.security_model import ConnectorFactory
from isthmus.transport.channel import TransportChannel

if TYPE_CHECKING:
    from isthmus.security.authz import Subject
    from isthmus.settings.remote import RemoteClusterConfig, RemoteClusterGlobals

log = logging.getLogger("org.elasticsearch.transport.RemoteClusterService")

# How a request treats a disconnected remote: "reconnect" (wait), "fail" (fail fast), or None
# (by skip_unavailable).
DisconnectedPolicy = Literal["reconnect", "fail"] | None

UPDATE_WAIT_SECONDS = 10.0


class UpdateStatus(enum.Enum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    RECONNECTED = "RECONNECTED"
    UNCHANGED = "UNCHANGED"


class RemoteClusterService:
    """Every remote cluster this node is configured to reach."""

    def __init__(
        self,
        security: ConnectorFactory,
        globals_: RemoteClusterGlobals,
        *,
        enabled: bool = True,
        node_name: str = "",
        update_wait: float = UPDATE_WAIT_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        health: RemoteHealth | None = None,
    ) -> None:
        self._security = security
        # Each alias's live health, handed to its strategy when its connection is built.
        self.health = health or RemoteHealth(clock=clock)
        self._clock = clock  # bounds the update and initial-connect waits
        self.globals = globals_
        self.enabled = enabled  # the node has the remote_cluster_client role
        self.node_name = node_name  # named when a node without that role is asked for a remote
        self.update_wait = update_wait
        self._remotes: dict[str, RemoteClusterConnection] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    # --- lookups ---------------------------------------------------------------------------------

    def aliases(self) -> tuple[str, ...]:
        return tuple(self._remotes)

    def get(self, alias: str) -> RemoteClusterConnection:
        if not self.enabled:
            raise RemoteClusterClientRoleError(self.node_name)
        try:
            return self._remotes[alias]
        except KeyError:
            raise NoSuchRemoteClusterError(alias) from None

    async def connection(
        self, alias: str, *, ensure_connected: bool = True
    ) -> RemoteClusterConnection:
        """The alias's connection, connected first (and waited for) if it is not."""
        remote = self.get(alias)
        if ensure_connected:
            await remote.ensure_connected()
        return remote

    async def channel_for_request(
        self, alias: str, policy: DisconnectedPolicy = None
    ) -> TransportChannel:
        """A channel to ``alias`` for one request, ES's ``DisconnectedStrategy`` deciding what
        to do when nothing is connected: wait for a reconnect (bounded by the connect timeout),
        or fail at once with ``Unable to connect to [alias]`` and reconnect in the background.
        ``None`` chooses by ``skip_unavailable`` (true: fail fast)."""
        remote = self.get(alias)
        remote.strategy.health.on_use()
        wait = not remote.skip_unavailable if policy is None else policy == "reconnect"
        if not remote.is_connected():
            if wait:
                await remote.ensure_connected()
            else:
                remote.strategy.connect_in_background("on use")
        return remote.channel()

    def headers(self, alias: str, subject: Subject | None, action: str) -> dict[str, str]:
        """The headers of one ``action`` request to ``alias`` on behalf of ``subject``: its
        identity (certificate model) or the cross-cluster credentials and subject info (API-key
        model), and the parent task. Raises when the caller may not reach the alias at all."""
        return self.get(alias).headers(subject, action)

    def info(self) -> dict[str, Any]:
        """``GET /_remote/info``: every enabled alias, in configuration order."""
        return {alias: remote.info() for alias, remote in self._remotes.items()}

    # --- settings --------------------------------------------------------------------------------

    async def apply(self, configs: Mapping[str, RemoteClusterConfig]) -> dict[str, UpdateStatus]:
        """Bring the connections in line with ``configs`` (only enabled aliases)."""
        from isthmus.settings.remote import must_rebuild

        if not self.enabled or self._closed:
            return {}
        async with self._lock:
            if self._closed:  # closed while this update waited for the lock
                return {}
            statuses: dict[str, UpdateStatus] = {}
            attempts: dict[str, RemoteClusterConnection] = {}
            for alias in list(self._remotes):
                if alias not in configs:
                    await self._remotes.pop(alias).close()
                    self.health.forget(alias)
                    statuses[alias] = UpdateStatus.DISCONNECTED
            for alias, config in configs.items():
                current = self._remotes.get(alias)
                if current is None:
                    attempts[alias] = self._create(config)
                    statuses[alias] = UpdateStatus.CONNECTED
                elif must_rebuild(current.config, config):
                    await current.close()
                    attempts[alias] = self._create(config)
                    statuses[alias] = UpdateStatus.RECONNECTED
                else:
                    if current.config != config:
                        current.update_in_place(config)
                    statuses[alias] = UpdateStatus.UNCHANGED
            outcomes = await asyncio.gather(
                *(self._await_connect(alias, remote) for alias, remote in attempts.items())
            )
            failed = {alias for alias, ok in zip(attempts, outcomes, strict=True) if not ok}
            for alias, status in statuses.items():
                # A failed attempt was logged as such (ES logs one line or the other).
                if status is not UpdateStatus.UNCHANGED and alias not in failed:
                    log.info(
                        "project [default] remote cluster connection [%s] updated: %s",
                        alias,
                        status.value,
                    )
            return statuses

    async def rebuild_changed_models(self) -> dict[str, UpdateStatus]:
        """Rebuild the aliases whose security model changed (a keystore credential was added or
        removed). A changed credential needs nothing: requests read it when they are sent; each
        alias's health notes the reload (what failed before it was about the old credential)."""
        if not self.enabled or self._closed:
            return {}
        for remote in self._remotes.values():
            remote.strategy.health.on_credentials_reloaded()
        async with self._lock:
            if self._closed:
                return {}
            attempts: dict[str, RemoteClusterConnection] = {}
            for alias, current in list(self._remotes.items()):
                if current.model is self._security.model_of(alias):
                    continue
                try:
                    replacement = self._build(current.config)
                except (IsthmusError, OSError, ValueError) as exc:
                    # The new model cannot be set up (its TLS files, say): keep what works.
                    log.warning(
                        "project [default] failed to switch the security model of remote "
                        "cluster connection [%s], keeping the current one: %s",
                        alias,
                        exc,
                    )
                    continue
                await current.close()
                self._remotes[alias] = attempts[alias] = replacement
            outcomes = await asyncio.gather(
                *(self._await_connect(alias, remote) for alias, remote in attempts.items())
            )
            for alias, ok in zip(attempts, outcomes, strict=True):
                if ok:
                    log.info(
                        "project [default] remote cluster connection [%s] updated: %s",
                        alias,
                        UpdateStatus.RECONNECTED.value,
                    )
            return {alias: UpdateStatus.RECONNECTED for alias in attempts}

    def _build(self, config: RemoteClusterConfig) -> RemoteClusterConnection:
        model = self._security.model_of(config.alias)
        return RemoteClusterConnection(
            config,
            self._security.connector(config, model),
            model=model,
            initial_connect_timeout=self.globals.initial_connect_timeout.text,
            node_attr=self.globals.node_attr,
            health=self.health.track(config.alias, model, config.mode.value),
        )

    def _create(self, config: RemoteClusterConfig) -> RemoteClusterConnection:
        remote = self._build(config)
        self._remotes[config.alias] = remote
        return remote

    async def _await_connect(self, alias: str, remote: RemoteClusterConnection) -> bool:
        """Wait (bounded) for ``remote``'s connect attempt; False when it failed (logged)."""
        try:
            async with self._clock.timeout(self.update_wait):
                await remote.ensure_connected()
            return True
        except TimeoutError:
            log.warning(
                "project [default] failed to update remote cluster connection [%s] within %ss",
                alias,
                f"{self.update_wait:g}",
            )
        except IsthmusError as exc:
            log.warning(
                "project [default] failed to update remote cluster connection [%s]\n%s",
                alias,
                exc.log_lines(),
            )
        return False

    async def initialize(self, configs: Mapping[str, RemoteClusterConfig]) -> None:
        """Connect the aliases configured at startup, waiting up to ``initial_connect_timeout``."""
        if not self.enabled or not configs:
            return
        timeout = self.globals.initial_connect_timeout
        for config in configs.values():
            self._create(config)
        try:
            async with self._clock.timeout(timeout.seconds):
                # The rounds belong to the strategies; only these waits end with the timeout.
                outcomes = await asyncio.gather(
                    *(remote.ensure_connected() for remote in self._remotes.values()),
                    return_exceptions=True,
                )
        except TimeoutError:
            log.warning(
                "project [default] failed to connect to remote clusters within %s", timeout.text
            )
            return
        for outcome in outcomes:
            if isinstance(outcome, IsthmusError):
                log.warning(
                    "project [default] failed to connect to remote clusters\n%s",
                    outcome.log_lines(),
                )
                break
            if isinstance(outcome, BaseException):
                log.error("failed to connect to remote clusters", exc_info=outcome)

    async def close(self) -> None:
        self._closed = True
        remotes, self._remotes = list(self._remotes.values()), {}
        for remote in remotes:
            await remote.close()

    def __repr__(self) -> str:
        connected = sum(1 for r in self._remotes.values() if r.is_connected())
        return f"<RemoteClusterService remotes={len(self._remotes)} connected={connected}>"
