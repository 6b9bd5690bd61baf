"""The ASGI application: read the request, route it, render ES's response shape.

Cross-cutting rules live here and nowhere else: every response carries
``X-Elastic-Product: Elasticsearch``; a request whose ``Accept`` asks for
``application/vnd.elasticsearch+json`` gets that media type back, others get plain JSON (older
clients cannot parse the vendor type); errors become ``{"error": {...}, "status": N}``;
``pretty``, ``filter_path``, ``format=yaml`` apply to every JSON body. An unexpected exception is
logged once with its cause and answered with a 500, never allowed to take the node down.

Resources: a body declared (``Content-Length``) or found to be over ``http.max_content_length``
is answered as ES (Netty's aggregator) answers it, 413 with no body, at once and without reading
it, and the connection is closed; the body's bytes are reserved in the node's in-flight breaker
(``<http_request>``) as they arrive, until the answer is sent, 429
``circuit_breaking_exception`` when they do not fit. Secret-looking URL parameter values (:mod:`isthmus.http.redaction`) never appear
in an error answer or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

import orjson
import yaml

from isthmus import xcontent
from isthmus.errors import (
    AuthenticationError,
    CircuitBreakingError,
    IllegalArgumentError,
    IsthmusError,
    TaskCancelledError,
    UnsupportedMediaTypeError,
)
from isthmus.http.filter_path import apply_filter_path
from isthmus.http.guard import Guard
from isthmus.http.redaction import (
    redact_bytes,
    redact_params,
    redact_text,
    redact_uri,
    secret_values,
)
from isthmus.http.router import NoHandler, Request, Response, Router, check_params
from isthmus.rawjson import RawJson, expand
from isthmus.search.index_name_math import resolve_index_expression
from isthmus.tasks import TaskManager
from isthmus.transport.limits import InFlightBreaker

log = logging.getLogger("org.elasticsearch.rest.RestController")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_JSON_TYPES = (
    "application/json",
    "application/vnd.elasticsearch+json",
    "application/x-ndjson",
    "application/vnd.elasticsearch+x-ndjson",
)
_VND = re.compile(
    r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with\s*=\s*(\d+)"
)
PRODUCT_HEADER = (b"x-elastic-product", b"Elasticsearch")


class RestApp:
    def __init__(
        self,
        router: Router,
        max_content_length: int,
        guard: Guard | None = None,
        *,
        tasks: TaskManager | None = None,
        breaker: InFlightBreaker | None = None,
    ) -> None:
        self.router = router
        self.max_content_length = max_content_length
        self.guard = guard  # None: security disabled, every request runs unauthenticated
        self.in_flight = 0
        self.tasks = tasks  # REST actions become tasks of the node's task manager
        self.breaker = breaker  # ES's in_flight_requests, shared with the transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            return
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        params = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        method = scope["method"]
        # Route on the raw path: an id such as "a/b" arrives as "a%2Fb" and must stay one
        # segment; the router decodes each segment after splitting.
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        path = path.split("?", 1)[0]
        accept = _VND.search(headers.get("accept", ""))
        vendor = accept.group(2) if accept is not None else None
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = 0
        if length > self.max_content_length:
            await _too_large(send)  # declared too large: refused before a byte of it is read
            return
        if self.guard is not None and (
            length > 0 or "chunked" in headers.get("transfer-encoding", "").lower()
        ):
            # As ES does, a request's credentials are checked before its body is read: an
            # unauthenticated upload never holds bytes of the in-flight breaker.
            try:
                self.guard.security.authenticate(
                    headers.get("authorization"), f"REST request [{path}]"
                )
            except AuthenticationError as exc:
                refusal = Response(
                    exc.http_status, exc.to_body(), headers={**exc.headers, "connection": "close"}
                )
                await self._send(send, refusal, params, vendor, method)
                return
        held = _Held(self.breaker)
        try:
            try:
                body = await self._read(receive, held)
            except CircuitBreakingError as err:
                # The rest of the body stays unread: the connection cannot carry another request.
                refusal = Response(err.http_status, err.to_body(), headers={"connection": "close"})
                await self._send(send, refusal, params, vendor, method)
                return
            if body is None:
                await _too_large(send)
                return
            query = scope.get("query_string", b"").decode("latin-1")
            uri = f"{path}?{query}" if query else path
            request = Request(method, path, params, headers, body, uri=uri)
            response = await self._dispatch_until_disconnect(request, receive)
            if response is None:
                return  # the client went away: its work was cancelled, nobody reads an answer
            await self._send(send, response, params, vendor, method)
        finally:
            held.release()

    async def _dispatch_until_disconnect(
        self, request: Request, receive: Receive
    ) -> Response | None:
        """Run the request; a client that disconnects first cancels it (and, through the
        transport, any work it started on remote clusters)."""
        work = asyncio.ensure_future(self.dispatch(request))
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((work, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            return None
        if work.cancelled():
            # Cancelled through POST /_tasks/<id>/_cancel: the client is still there.
            err = TaskCancelledError("task cancelled [by user request]")
            return Response(err.http_status, err.to_body())
        return work.result()

    async def _read(self, receive: Receive, held: _Held) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_content_length:
                return None  # answered 413 and closed: the rest is never read
            held.add(len(chunk))
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    async def dispatch(self, request: Request) -> Response:
        try:
            route_, path_params = self.router.resolve(request.method, request.path)
        except NoHandler as exc:
            if exc.allowed:
                return Response(
                    405,
                    headers={"Allow": ",".join(exc.allowed)},
                    body={
                        "error": f"Incorrect HTTP method for uri [{redact_uri(request.uri or request.path)}] and method "
                        f"[{request.method}], allowed: [{', '.join(exc.allowed)}]",
                        "status": 405,
                    },
                )
            return Response(
                400,
                {
                    "error": f"no handler found for uri [{redact_uri(request.uri or request.path)}] and method [{request.method}]"
                },
            )
        try:
            check_params(route_, request.params, request.path)
            if "<" in path_params.get("index", ""):  # date math names, resolved before all else
                path_params = {
                    **path_params,
                    "index": resolve_index_expression(
                        path_params["index"], int(time.time() * 1000)
                    ),
                }
            if request.has_body and not route_.accepts_body:
                raise IllegalArgumentError(
                    f"request [{request.method} {request.path}] does not support having a body"
                )
            self._check_content_type(request)
            subject = None
            if self.guard is not None:
                subject, path_params = self.guard.admit(
                    route_, replace(request, path_params=path_params)
                )
            req = Request(
                request.method,
                request.path,
                request.params,
                request.headers,
                request.body,
                path_params,
                uri=request.uri,
                subject=subject,
            )
            if self.tasks is not None and route_.action:
                index = path_params.get("index")
                description = f"indices[{index}]" if index else ""
                with self.tasks.running(route_.action, description):
                    result = await route_.handler(req)
            else:
                result = await route_.handler(req)
            if isinstance(result, Response):
                return result
            return Response(200, result)
        except UnsupportedMediaTypeError as exc:
            return Response(exc.http_status, {"error": exc.reason, "status": exc.http_status})
        except IsthmusError as exc:
            # A parse error shows where in the body it arose, as ES's parsers show it.
            xcontent.locate_in_body(exc, request.body)
            body = exc.to_body()
            if request.params.get("error_trace") == "true":
                body["error"]["stack_trace"] = "".join(traceback.format_exception(exc))
            return Response(exc.http_status, body, headers=dict(exc.headers))
        except Exception as exc:
            # ES's line (RestResponse), without the values a client must not find in a log:
            # when the request carries one, the trace is written as redacted text.
            secrets = secret_values(request.params)
            params = _java_map(redact_params(request.params))
            if not secrets:
                log.warning("path: %s, params: %s, status: 500", request.path, params, exc_info=exc)
            else:
                trace = redact_text("".join(traceback.format_exception(exc)).rstrip(), secrets)
                log.warning("path: %s, params: %s, status: 500\n%s", request.path, params, trace)
            wrapped = IsthmusError(redact_text(f"{type(exc).__name__}: {exc}", secrets))
            return Response(500, wrapped.to_body())

    @staticmethod
    def _check_content_type(request: Request) -> None:
        if not request.has_body:
            return
        ctype = request.headers.get("content-type")
        if ctype is None:
            return
        base = ctype.split(";")[0].strip().lower()
        if base not in _JSON_TYPES and base not in (
            "application/yaml",
            "text/plain",
            "application/x-www-form-urlencoded",
        ):
            raise UnsupportedMediaTypeError(f"Content-Type header [{ctype}] is not supported")
        if base in ("text/plain", "application/x-www-form-urlencoded"):
            raise UnsupportedMediaTypeError(
                f"Content-Type header [{ctype}] is not supported", status=406
            )
        m = _VND.search(ctype)
        if m is not None and m.group(2) not in ("7", "8", "9"):
            raise IllegalArgumentError(
                f"A compatible version is required on both Content-Type and Accept headers if "
                f"either one has requested a compatible version and the compatible versions must "
                f"match. Accept=null, Content-Type={m.group(2)}"
            )

    async def _send(
        self,
        send: Send,
        response: Response,
        params: dict[str, str],
        vendor: str | None,
        method: str,
    ) -> None:
        try:
            payload, ctype = self._render(response, params, vendor)
        except Exception as exc:
            # A body we cannot encode is our bug: logged once, answered as ES answers an
            # internal error (never the server's plain-text 500).
            log.error("failed to render a [%s] response", response.status, exc_info=exc)
            response = Response(500, IsthmusError("failed to render the response").to_body())
            payload, ctype = self._render(response, {}, vendor)
        if response.status >= 400:
            # An error may quote what the client sent; a secret it put in the URL is not
            # given back (nor to whatever logs or proxies the answer).
            secrets = secret_values(params)
            if secrets:
                payload = redact_bytes(payload, secrets)
        headers = [PRODUCT_HEADER, (b"content-type", ctype.encode())]
        for k, v in response.headers.items():
            for one in v if isinstance(v, list) else [v]:
                headers.append((k.lower().encode(), one.encode()))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})

    @staticmethod
    def _render(
        response: Response, params: dict[str, str], vendor: str | None
    ) -> tuple[bytes, str]:
        body = response.body
        if body is None:
            return b"", response.content_type or "text/plain; charset=UTF-8"
        if isinstance(body, bytes | str):
            data = body.encode() if isinstance(body, str) else body
            return data, response.content_type or "text/plain; charset=UTF-8"
        walked = "filter_path" in params or params.get("format") == "yaml"
        if walked or ("pretty" in params and params["pretty"] != "false"):
            body = expand(body)  # documents' raw sources are parsed only when walked
        if "filter_path" in params:
            body = apply_filter_path(body, params["filter_path"])
        if params.get("format") == "yaml":
            return (b"---\n" + yaml.safe_dump(body, sort_keys=False).encode(), "application/yaml")
        if "pretty" in params and params["pretty"] != "false":
            data = (pretty_json(body) + "\n").encode()
        else:
            data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS, default=_default)
        ctype = (
            f"application/vnd.elasticsearch+json;compatible-with={vendor}"
            if vendor
            else "application/json"
        )
        return data, ctype


class _Held:
    """The bytes of one request body held in the in-flight breaker, reserved as they arrive
    (not as announced: a client that announces a large body and trickles it holds only what it
    sent) and released once the answer is sent."""

    def __init__(self, breaker: InFlightBreaker | None) -> None:
        self._breaker = breaker
        self._cost = 0

    def add(self, size: int) -> None:
        if self._breaker is not None and size:
            self._cost += self._breaker.reserve(size, "<http_request>")

    def release(self) -> None:
        if self._breaker is not None and self._cost:
            self._breaker.release(self._cost)
            self._cost = 0


async def _too_large(send: Send) -> None:
    """ES's answer to a body over ``http.max_content_length`` (Netty's aggregator): 413, no body,
    and the connection closed (uvicorn closes it after a ``connection: close`` answer), so the
    rest of the body is never read."""
    headers = [PRODUCT_HEADER, (b"content-length", b"0"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _java_map(params: dict[str, str]) -> str:
    """A map as ES's log line prints one (``Map.toString``): ``{a=1, b=2}``."""
    return "{" + ", ".join(f"{k}={v}" for k, v in params.items()) + "}"


def _default(value: Any) -> Any:
    if type(value) is RawJson:
        return value.fragment()
    if isinstance(value, float):
        return None
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def pretty_json(value: Any, indent: int = 0) -> str:
    """``?pretty`` as ES prints it (Jackson's pretty printer): ``"key" : value``, two-space
    indents, arrays one element per line, empty containers as ``{ }`` and ``[ ]``."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        items = [
            f"{pad}{orjson.dumps(str(k)).decode()} : {pretty_json(v, indent + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[ ]"
        items = [pad + pretty_json(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return orjson.dumps(value, default=_default).decode()


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
