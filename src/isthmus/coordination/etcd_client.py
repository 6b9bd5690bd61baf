"""An async client for etcd's v3 JSON gateway (``/v3/...``), over unix sockets, TCP or TLS.

Owns: the HTTP connections to the store's endpoints, failing over between them, and turning
every failure into :mod:`isthmus.errors` (no httpx type escapes this module). It does not know
what the keys mean (election, membership and publication do).

Rules:

- A request that was never sent (connection refused, connect timeout, no such socket) moves to
  the next endpoint. A read-only request also moves on when the answer is lost; a request that
  changes the store does not (it may have been applied): it raises
  :class:`CoordinationUnavailableError` with ``maybe_applied=True`` and the caller decides.
- etcd's own errors (``{"error", "code"}`` bodies) become :class:`CoordinationError` with the
  gRPC code; ``UNAVAILABLE`` (14: no leader, a member still starting) counts as "not sent" for
  reads.
- A watch resumes by itself after a broken stream, on the next endpoint, from the revision after
  the last one it delivered, so a consumer sees every revision once and in order. A compacted
  start revision raises :class:`WatchCompactedError` (re-read, then watch on).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from isthmus.coordination.etcd_records import (
    Compare,
    DeleteResult,
    Get,
    Json,
    Lease,
    LeaseTimeToLive,
    Op,
    PutResult,
    RangeResult,
    TxnResult,
    WatchResponse,
    b64,
    lease_from_json,
    prefix_end,
    time_to_live_from_json,
    txn_body,
    watch_create_body,
    watch_response_from_json,
)
from isthmus.errors import CoordinationError, CoordinationUnavailableError, WatchCompactedError

log = logging.getLogger("isthmus.coordination.etcd")

GRPC_NOT_FOUND = 5
GRPC_UNAVAILABLE = 14
# A gateway path common to etcd 3.4 (which also serves /v3beta/), 3.5 and 3.6.
API = "/v3"


@dataclass(frozen=True, slots=True)
class EtcdEndpoint:
    """One client URL of the store: ``http(s)://host:port``, ``unix:///abs/path`` or etcd's
    own ``unix://name:port`` form (a socket file named ``name:port`` in the member's working
    directory, resolved against ``base_dir``)."""

    url: str
    uds: str | None
    base_url: str

    @classmethod
    def parse(cls, url: str, *, base_dir: str | None = None) -> EtcdEndpoint:
        parts = urlsplit(url)
        if parts.scheme in ("unix", "unixs"):
            path = parts.path if parts.path not in ("", "/") else parts.netloc
            if not os.path.isabs(path):
                path = os.path.join(base_dir or os.getcwd(), path)
            scheme = "https" if parts.scheme == "unixs" else "http"
            return cls(url, path, f"{scheme}://localhost")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CoordinationError(
                f"invalid etcd endpoint [{url}]: expected http(s)://host:port or unix://path"
            )
        return cls(url, None, f"{parts.scheme}://{parts.netloc}")


@dataclass(frozen=True, slots=True)
class EtcdClientInfo:
    endpoints: tuple[str, ...]
    current: str
    requests: int
    failovers: int
    watches: int


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    """What happened to a request, in words a log reader understands (no httpx names)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timed out after [{timeout}s]"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within [{timeout}s]"
    if isinstance(exc, httpx.ConnectError):
        cause = exc.__cause__ or exc.__context__
        detail = getattr(cause, "strerror", None) or str(exc) or "connection failed"
        return f"cannot connect: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed before the answer"
    return f"request failed: {exc or type(exc).__name__}"


def _not_sent(exc: httpx.HTTPError) -> bool:
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _etcd_error(body: Any, status: int) -> CoordinationError:
    if isinstance(body, dict) and ("message" in body or "error" in body):
        message = str(body.get("message") or body.get("error"))
        return CoordinationError(message, code=int(body.get("code", 0) or 0))
    return CoordinationError(f"etcd answered with HTTP status [{status}]")


class EtcdClient:
    """The store seen from one node: typed calls over one endpoint at a time."""

    def __init__(
        self,
        endpoints: Sequence[str | EtcdEndpoint],
        *,
        ssl_context: ssl.SSLContext | None = None,
        request_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        base_dir: str | None = None,
    ) -> None:
        if not endpoints:
            raise CoordinationError("no etcd endpoint given")
        self._endpoints = tuple(
            e if isinstance(e, EtcdEndpoint) else EtcdEndpoint.parse(e, base_dir=base_dir)
            for e in endpoints
        )
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self._clients = [self._http_client(e, ssl_context) for e in self._endpoints]
        self._current = 0
        self._requests = 0
        self._failovers = 0
        self._watches = 0
        self._closed = False

    def _http_client(
        self, endpoint: EtcdEndpoint, context: ssl.SSLContext | None
    ) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = context if context is not None else True
        transport = httpx.AsyncHTTPTransport(uds=endpoint.uds, verify=verify, retries=0)
        timeout = httpx.Timeout(self.request_timeout, connect=self.connect_timeout)
        return httpx.AsyncClient(transport=transport, base_url=endpoint.base_url, timeout=timeout)

    async def close(self) -> None:
        self._closed = True
        for client in self._clients:
            await client.aclose()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(e.url for e in self._endpoints)

    def info(self) -> EtcdClientInfo:
        return EtcdClientInfo(
            self.endpoints,
            self._endpoints[self._current].url,
            self._requests,
            self._failovers,
            self._watches,
        )

    def __repr__(self) -> str:
        return (
            f"<EtcdClient current={self._endpoints[self._current].url} "
            f"endpoints={len(self._endpoints)} requests={self._requests} "
            f"failovers={self._failovers}>"
        )

    def _fail_over(self, from_index: int) -> None:
        if self._current == from_index:
            self._current = (from_index + 1) % len(self._endpoints)
            self._failovers += 1

    async def _post(self, path: str, body: Json, *, mutating: bool) -> Json:
        if self._closed:
            raise CoordinationError("the etcd client is closed")
        failures: list[str] = []
        for _ in range(len(self._endpoints)):
            index = self._current
            endpoint = self._endpoints[index]
            self._requests += 1
            try:
                response = await self._clients[index].post(API + path, json=body)
            except httpx.HTTPError as exc:
                what = _describe(exc, self.request_timeout)
                if mutating and not _not_sent(exc):
                    raise CoordinationUnavailableError(
                        f"etcd [{endpoint.url}] {what}; the change may have been applied",
                        maybe_applied=True,
                    ) from None
                failures.append(f"[{endpoint.url}] {what}")
                self._fail_over(index)
                continue
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if response.status_code == 200 and isinstance(answer, dict):
                return answer
            error = _etcd_error(answer, response.status_code)
            if error.code == GRPC_UNAVAILABLE:
                if mutating:
                    raise CoordinationUnavailableError(
                        f"etcd [{endpoint.url}]: {error.reason}", maybe_applied=True
                    )
                failures.append(f"[{endpoint.url}] {error.reason}")
                self._fail_over(index)
                continue
            raise error
        raise CoordinationUnavailableError("no etcd endpoint answered: " + "; ".join(failures))

    # --- key-value ---------------------------------------------------------------------------

    async def get(
        self, key: bytes, *, prefix: bool = False, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """The key (or every key under the prefix) at ``revision`` (0: the latest)."""
        body: Json = {"key": b64(key)}
        if prefix:
            body["range_end"] = b64(prefix_end(key))
        if revision:
            body["revision"] = str(revision)
        if limit:
            body["limit"] = str(limit)
        return RangeResult.from_json(await self._post("/kv/range", body, mutating=False))

    async def put(self, key: bytes, value: bytes, *, lease: int = 0) -> PutResult:
        body: Json = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        answer = await self._post("/kv/put", body, mutating=True)
        return PutResult(int(answer.get("header", {}).get("revision", 0)))

    async def delete(self, key: bytes, *, prefix: bool = False) -> DeleteResult:
        body: Json = {"key": b64(key)}
        if prefix:
            body["range_end"] = b64(prefix_end(key))
        answer = await self._post("/kv/deleterange", body, mutating=True)
        revision = int(answer.get("header", {}).get("revision", 0))
        return DeleteResult(revision, int(answer.get("deleted", 0)))

    async def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        """All of ``success`` if every comparison holds, else all of ``failure``, atomically."""
        mutating = any(not isinstance(op, Get) for op in (*success, *failure))
        body = txn_body(compare, success, failure)
        return TxnResult.from_json(await self._post("/kv/txn", body, mutating=mutating))

    async def compact(self, revision: int) -> None:
        await self._post("/kv/compaction", {"revision": str(revision)}, mutating=True)

    # --- leases ------------------------------------------------------------------------------

    async def lease_grant(self, ttl: int) -> Lease:
        # Not "mutating" for the retry rule: a lost grant only leaves a lease nobody uses,
        # which expires by itself.
        return lease_from_json(await self._post("/lease/grant", {"TTL": ttl}, mutating=False))

    async def lease_keepalive(self, lease_id: int) -> Lease:
        """One renewal. ``ttl <= 0`` in the answer: the lease is gone (expired or revoked)."""
        body = {"ID": str(lease_id)}
        return lease_from_json(await self._post("/lease/keepalive", body, mutating=False))

    async def lease_revoke(self, lease_id: int) -> bool:
        """Revoke the lease and delete its keys; False when it was already gone."""
        try:
            await self._post("/lease/revoke", {"ID": str(lease_id)}, mutating=False)
        except CoordinationError as exc:
            if exc.code == GRPC_NOT_FOUND:
                return False
            raise
        return True

    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseTimeToLive:
        body: Json = {"ID": str(lease_id), "keys": keys}
        return time_to_live_from_json(await self._post("/lease/timetolive", body, mutating=False))

    # --- watches -----------------------------------------------------------------------------

    def watch(
        self,
        key: bytes,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
        reconnect_for: float = 10.0,
        idle_timeout: float | None = None,
    ) -> AsyncGenerator[WatchResponse, None]:
        """Every change of ``key`` (or under the prefix) from ``start_revision`` (0: from now),
        in order, each revision once, across reconnections (a response may hold several
        revisions: :meth:`WatchResponse.by_revision`). The first response of each stream has
        ``created`` set. Gives up with
        :class:`CoordinationUnavailableError` after ``reconnect_for`` seconds without any
        endpoint. ``idle_timeout``: a stream silent that long counts as broken (a frozen
        member sends nothing; with ``progress_notify`` a live one sends progress at the
        member's ``--experimental-watch-progress-notify-interval``). Close it with
        ``aclose()`` (or ``contextlib.aclosing``)."""
        self._watches += 1
        return self._watch(
            key, prefix, start_revision, prev_kv, progress_notify, reconnect_for, idle_timeout
        )

    async def _watch(
        self,
        key: bytes,
        prefix: bool,
        start_revision: int,
        prev_kv: bool,
        progress_notify: bool,
        reconnect_for: float,
        idle_timeout: float | None,
    ) -> AsyncGenerator[WatchResponse, None]:
        next_revision = start_revision
        loop = asyncio.get_running_loop()
        broken_since: float | None = None
        failures: list[str] = []
        delay = 0.05
        while True:
            index = self._current
            endpoint = self._endpoints[index]
            body = watch_create_body(
                key,
                prefix=prefix,
                start_revision=next_revision,
                prev_kv=prev_kv,
                progress_notify=progress_notify,
            )
            timeout = httpx.Timeout(
                self.request_timeout, connect=self.connect_timeout, read=idle_timeout
            )
            try:
                async with self._clients[index].stream(
                    "POST", API + "/watch", json=body, timeout=timeout
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise _etcd_error(_json_or_none(response.content), response.status_code)
                    async for line in response.aiter_lines():
                        if not line.strip():
                            continue
                        answer = watch_response_from_json(json.loads(line))
                        if answer.canceled:
                            if answer.compact_revision:
                                raise WatchCompactedError(
                                    f"revision [{next_revision}] has been compacted "
                                    f"(oldest kept [{answer.compact_revision}])",
                                    compact_revision=answer.compact_revision,
                                )
                            raise CoordinationError(
                                f"etcd canceled the watch: {answer.cancel_reason or 'no reason'}"
                            )
                        if answer.created:
                            if next_revision == 0:
                                next_revision = answer.revision + 1
                            broken_since, failures, delay = None, [], 0.05
                        elif answer.events:
                            next_revision = answer.events[-1].kv.mod_revision + 1
                        else:  # progress: every change up to this revision was sent
                            next_revision = max(next_revision, answer.revision + 1)
                        yield answer
                what = "the watch stream ended"
            except httpx.ReadTimeout:
                what = f"no message within [{idle_timeout}s]"
            except httpx.HTTPError as exc:
                what = _describe(exc, self.request_timeout)
            except CoordinationError as exc:
                if exc.code != GRPC_UNAVAILABLE:
                    raise
                what = exc.reason
            failures.append(f"[{endpoint.url}] {what}")
            log.debug(
                "etcd watch on [%s] broke: %s; resuming at [%d]", endpoint.url, what, next_revision
            )
            self._fail_over(index)
            now = loop.time()
            broken_since = now if broken_since is None else broken_since
            if now - broken_since > reconnect_for:
                raise CoordinationUnavailableError(
                    "no etcd endpoint answered the watch: " + "; ".join(failures[-3:])
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def version(self) -> str:
        """The server's version (``GET /version``), from the first endpoint that answers."""
        failures: list[str] = []
        for _ in range(len(self._endpoints)):
            index = self._current
            try:
                response = await self._clients[index].get("/version")
                answer = response.json()
                return str(answer.get("etcdserver", ""))
            except httpx.HTTPError as exc:
                failures.append(
                    f"[{self._endpoints[index].url}] " + _describe(exc, self.request_timeout)
                )
                self._fail_over(index)
                continue
            except (ValueError, AttributeError):
                what = "not an etcd answer"
                failures.append(f"[{self._endpoints[index].url}] {what}")
                self._fail_over(index)
        raise CoordinationUnavailableError("no etcd endpoint answered: " + "; ".join(failures))


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None
