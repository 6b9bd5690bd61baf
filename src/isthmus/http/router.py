"""Routes: ``matches()`` + ``handle()``, ES path patterns, and parameter allow-lists.  [no I/O]

A pattern is a path of literal segments and ``{name}`` placeholders. Literal segments win over
placeholders (``/_search`` is never an index called ``_search``), and a placeholder never takes a
segment starting with ``_`` unless the route says so (``{index:_}``), as ES's path trie does.
When no route matches a path at all, ES's trie falls back to its wildcards: an id after the first
segment may then start with ``_`` (API key, document and task ids are base64url and often do).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from isthmus.errors import IllegalArgumentError
from isthmus.xcontent import did_you_mean

# Accepted on every route (ES's common options).
COMMON_PARAMS = frozenset(
    {"pretty", "human", "error_trace", "filter_path", "format", "source", "source_content_type"}
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    uri: str = ""  # path and query string as sent (ES quotes it in routing errors)
    subject: Any = None  # the authenticated subject when security is on (security.authz.Subject)

    @property
    def has_body(self) -> bool:
        return bool(self.body.strip())


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-able value, or str/bytes for text
    content_type: str | None = None
    headers: dict[str, str | list[str]] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response | Any]]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: str
    handler: Handler
    params: frozenset[str]
    action: str  # the ES action name, for authorization and task listings
    segments: tuple[str, ...] = ()
    accepts_body: bool = True

    def match(self, parts: list[str], *, fallback: bool = False) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        out: dict[str, str] = {}
        for position, (seg, part) in enumerate(zip(self.segments, parts, strict=True)):
            if seg.startswith("{"):
                name, _, flag = seg[1:-1].partition(":")
                underscore_ok = flag == "_" or part == "_all" or (fallback and position > 0)
                if not part or (part.startswith("_") and not underscore_ok):
                    return None
                out[name] = part
            elif seg != part:
                return None
        return out

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))


def route(
    methods: str | Iterable[str],
    pattern: str,
    handler: Handler,
    *,
    params: Iterable[str] = (),
    action: str = "",
    body: bool | None = None,
) -> Route:
    ms = frozenset([methods] if isinstance(methods, str) else methods)
    segments = tuple(p for p in pattern.strip("/").split("/") if p)
    # ES rejects bodies on endpoints that take none; those that take one say so by POST/PUT.
    accepts = body if body is not None else bool(ms & {"POST", "PUT"})
    return Route(ms, pattern, handler, frozenset(params), action, segments, accepts)


class NoHandler(Exception):
    def __init__(self, path: str, method: str, allowed: list[str]) -> None:
        super().__init__(path)
        self.path = path
        self.method = method
        self.allowed = allowed


# ES lists allowed methods in the order of its method enum.
_METHOD_ORDER = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT"]


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: -r.literal_count)
        # Only routes with as many segments as the path can match: look those up directly.
        self._by_length: dict[int, list[Route]] = {}
        for r in self.routes:
            self._by_length.setdefault(len(r.segments), []).append(r)
        # Clients repeat the same few paths: remember recent answers (bounded).
        self._recent: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        key = (method, path)
        hit = self._recent.get(key)
        if hit is not None:
            return hit[0], dict(hit[1])
        found = self._resolve(method, path)
        if len(self._recent) >= 4096:
            self._recent.clear()
        self._recent[key] = found
        return found[0], dict(found[1])

    def _resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        parts = [unquote(p) if "%" in p else p for p in path.strip("/").split("/") if p]
        try:
            return self._best(method, path, parts, fallback=False)
        except NoHandler as strict:
            if strict.allowed:
                raise
            return self._best(method, path, parts, fallback=True)

    def _best(
        self, method: str, path: str, parts: list[str], *, fallback: bool
    ) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        best: tuple[Route, dict[str, str]] | None = None
        best_rank: tuple[bool, int] = (False, -1)
        for candidate in self._by_length.get(len(parts), ()):
            found = candidate.match(parts, fallback=fallback)
            if found is None:
                continue
            explicit = method in candidate.methods
            if explicit or (method == "HEAD" and "GET" in candidate.methods):
                # An explicit method beats HEAD answered by a GET route; then literals win.
                rank = (explicit, candidate.literal_count)
                if best is None or rank > best_rank:
                    best, best_rank = (candidate, found), rank
                continue
            allowed.extend(candidate.methods)
        if best is None:
            raise NoHandler(path, method, sorted(set(allowed), key=_METHOD_ORDER.index))
        return best


def check_params(route_: Route, params: Mapping[str, str], path: str) -> None:
    """ES rejects unknown URL parameters, suggesting what was probably meant."""
    allowed = route_.params | COMMON_PARAMS
    unknown = sorted(p for p in params if p not in allowed)
    if not unknown:
        return
    pieces = []
    for name in unknown:
        hint = did_you_mean(name, allowed)  # ES's BaseRestHandler: " -> did you mean [x]?"
        pieces.append(f"[{name}] ->{hint}" if hint else f"[{name}]")
    noun = "parameter" if len(unknown) == 1 else "parameters"
    raise IllegalArgumentError(
        f"request [{path}] contains unrecognized {noun}: " + ", ".join(pieces)
    )
