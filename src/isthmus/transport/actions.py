"""Action name -> async handler, as ES's ``TransportService`` request-handler registry.

A handler takes ``(payload, headers, channel_info)`` and returns the response payload; raising an
:class:`~isthmus.errors.IsthmusError` answers with that error. The registry knows nothing about
channels or handshakes (the server answers the handshake itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from isthmus.errors import IllegalArgumentError
from isthmus.transport.channel import ChannelInfo
from isthmus.transport.errors import ActionNotFoundTransportError

ActionHandler = Callable[[Any, Mapping[str, str], ChannelInfo], Awaitable[Any]]

# Who the request being handled runs as, as the server's request filter decided (None: the
# system identity, or security off). Set per request task; handlers read it to authorize indices.
CURRENT_CALLER: ContextVar[Any] = ContextVar("isthmus_transport_caller", default=None)


class ActionRegistry:
    """The actions this node answers on the transport."""

    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, action: str, handler: ActionHandler) -> None:
        if action in self._handlers:
            raise IllegalArgumentError(
                f"transport handler for action [{action}] is already registered"
            )
        self._handlers[action] = handler

    def handler(self, action: str) -> ActionHandler:
        try:
            return self._handlers[action]
        except KeyError:
            raise ActionNotFoundTransportError(action) from None

    async def dispatch(
        self, action: str, payload: Any, headers: Mapping[str, str], channel: ChannelInfo
    ) -> Any:
        """Run ``action``'s handler; an unknown action raises ActionNotFoundTransportError."""
        return await self.handler(action)(payload, headers, channel)

    def actions(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    def __contains__(self, action: object) -> bool:
        return action in self._handlers

    def __len__(self) -> int:
        return len(self._handlers)

    def __repr__(self) -> str:
        return f"<ActionRegistry actions={len(self._handlers)}>"
