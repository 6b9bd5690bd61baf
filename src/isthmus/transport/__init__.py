"""The asyncio shell around :mod:`isthmus.wire`: channels, TLS driving, server, client, actions.

This package moves bytes and awaits; every protocol decision (framing, handshake negotiation,
error encoding) belongs to ``wire/``.
"""

from isthmus.transport.actions import ActionHandler, ActionRegistry
from isthmus.transport.channel import ChannelInfo, ChannelState, RequestHandler, TransportChannel
from isthmus.transport.client import connect
from isthmus.transport.errors import (
    ActionNotFoundTransportError,
    ConnectTransportError,
    NodeDisconnectedError,
    NodeNotConnectedError,
    ReceiveTimeoutTransportError,
)
from isthmus.transport.local import LocalNode
from isthmus.transport.server import ServerInfo, TransportServer
from isthmus.transport.tls_session import TlsSession

__all__ = [
    "ActionHandler",
    "ActionNotFoundTransportError",
    "ActionRegistry",
    "ChannelInfo",
    "ChannelState",
    "ConnectTransportError",
    "LocalNode",
    "NodeDisconnectedError",
    "NodeNotConnectedError",
    "ReceiveTimeoutTransportError",
    "RequestHandler",
    "ServerInfo",
    "TlsSession",
    "TransportChannel",
    "TransportServer",
    "connect",
]
