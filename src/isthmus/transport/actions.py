"""Action name -> async handler, as ES's ``TransportService`` request-handler registry.

A handler takes ``(payload, ctx)``: the request's decoded payload and its
:class:`TransportRequestContext` (the action, headers, channel and the caller the server's request
filter decided), and returns the response payload; raising an :class:`~isthmus.errors.IsthmusError`
answers with that error. The registry knows nothing about channels or handshakes (the server
answers the handshake itself).

The caller travels as an argument, never as ambient state: a handler reads who it runs for from
its context. Its type is a parameter (``CallerT``): the transport carries it without knowing what
it is (the security layer's ``Subject`` on a node), so this layer imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from isthmus.errors import ActionNotFoundTransportError, IllegalArgumentError
from isthmus.transport.channel import ChannelInfo

CallerT = TypeVar("CallerT")


@dataclass(frozen=True, slots=True)
class TransportRequestContext(Generic[CallerT]):
    """What a handler knows about the request it answers, besides the payload."""

    action: str
    headers: Mapping[str, str]
    channel: ChannelInfo
    # Who the request runs as, as the server's request filter decided (None: the system
    # identity, or no filter because security is off).
    caller: CallerT | None = None


# A handler of one action: (payload, context) -> the response payload. Payloads are the
# decoded msgpack values the peer sent; each handler validates its own.
ActionHandler = Callable[[Any, TransportRequestContext[CallerT]], Awaitable[Any]]


class ActionRegistry(Generic[CallerT]):
    """The actions this node answers on the transport."""

    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler[CallerT]] = {}

    def register(self, action: str, handler: ActionHandler[CallerT]) -> None:
        if action in self._handlers:
            raise IllegalArgumentError(
                f"transport handler for action [{action}] is already registered"
            )
        self._handlers[action] = handler

    def handler(self, action: str) -> ActionHandler[CallerT]:
        try:
            return self._handlers[action]
        except KeyError:
            raise ActionNotFoundTransportError(action) from None

    async def dispatch(self, payload: Any, ctx: TransportRequestContext[CallerT]) -> Any:
        """Run ``ctx.action``'s handler; an unknown action raises ActionNotFoundTransportError."""
        return await self.handler(ctx.action)(payload, ctx)

    def actions(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    def __contains__(self, action: object) -> bool:
        return action in self._handlers

    def __len__(self) -> int:
        return len(self._handlers)

    def __repr__(self) -> str:
        return f"<ActionRegistry actions={len(self._handlers)}>"
