"""A lease this node holds and keeps alive: the liveness under its master key and its node key.

Owns: the grant, the keep-alive loop (every TTL/3) and the moment the lease counts as lost.

Rules:

- The lease is lost when etcd says so (a keep-alive answered with TTL 0) or when no keep-alive
  succeeded before the local deadline: the send time of the last successful keep-alive plus the
  TTL, minus a margin. etcd restarts the TTL only when it receives the keep-alive, so the
  holder's deadline always falls before etcd's: a node gives up mastership before anyone else
  can be elected (a frozen process cannot, which is why every publication is also fenced).
- ``on_lost`` is called once, with the reason, and never after :meth:`revoke`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from isthmus.coordination.etcd_client import EtcdClient
from isthmus.errors import CoordinationError
from isthmus.supervision import TaskSet

log = logging.getLogger("isthmus.coordination.leases")

LostCallback = Callable[[str], None]


class KeptLease:
    """One lease: ``grant`` → (kept alive in the background) → ``revoke`` or lost."""

    def __init__(
        self,
        client: EtcdClient,
        ttl: int,
        *,
        name: str,
        on_lost: LostCallback | None = None,
        margin: float = 0.1,
    ) -> None:
        if ttl < 1:
            raise CoordinationError(f"a lease TTL must be at least [1s], got [{ttl}s]")
        self._client = client
        self.ttl = ttl
        self.name = name
        self._on_lost = on_lost
        # The part of the TTL kept in reserve for the holder's own reaction and clock drift.
        self._margin = min(margin * ttl, 0.5)
        self.id = 0
        self._deadline = 0.0
        self._tasks = TaskSet(f"lease [{name}]", log)
        self._renewals = 0

    @property
    def alive(self) -> bool:
        return self.id != 0

    def __repr__(self) -> str:
        state = f"id={self.id}" if self.id else "none"
        return f"<KeptLease {self.name} {state} ttl={self.ttl}s renewals={self._renewals}>"

    async def grant(self) -> int:
        """Grant a new lease (revoking nothing) and start keeping it alive."""
        loop = asyncio.get_running_loop()
        sent = loop.time()
        lease = await self._client.lease_grant(self.ttl)
        self.id = lease.id
        self._deadline = sent + lease.ttl - self._margin
        self._tasks.spawn(self._keep_alive(lease.id), name="keep-alive")
        return lease.id

    async def _keep_alive(self, lease_id: int) -> None:
        loop = asyncio.get_running_loop()
        interval = self.ttl / 3
        while self.id == lease_id:
            await asyncio.sleep(max(0.0, min(interval, self._deadline - loop.time())))
            if self.id != lease_id:
                return
            sent = loop.time()
            remaining = self._deadline - sent
            if remaining <= 0:
                self._lost(lease_id, f"no keep-alive succeeded within the TTL [{self.ttl}s]")
                return
            try:
                async with asyncio.timeout(remaining):
                    answer = await self._client.lease_keepalive(lease_id)
            except TimeoutError:
                self._lost(lease_id, f"no keep-alive succeeded within the TTL [{self.ttl}s]")
                return
            except CoordinationError as exc:
                log.debug("keep-alive of lease [%s] failed: %s", self.name, exc.reason)
                await asyncio.sleep(min(0.1, interval))
                continue
            if answer.ttl <= 0:
                self._lost(lease_id, "the lease expired in etcd")
                return
            self._renewals += 1
            self._deadline = sent + answer.ttl - self._margin

    def _lost(self, lease_id: int, reason: str) -> None:
        if self.id != lease_id:
            return
        self.id = 0
        log.warning("lease [%s] lost: %s", self.name, reason)
        if self._on_lost is not None:
            self._on_lost(reason)

    async def revoke(self) -> None:
        """End the lease now: etcd deletes every key on it at once."""
        lease_id, self.id = self.id, 0
        await self._tasks.close()
        self._tasks = TaskSet(f"lease [{self.name}]", log)
        if lease_id:
            await self._client.lease_revoke(lease_id)

    async def close(self) -> None:
        """Stop keeping the lease alive without revoking it (it expires after its TTL)."""
        self.id = 0
        await self._tasks.close()
