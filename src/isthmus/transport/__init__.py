"""The asyncio shell around :mod:`isthmus.wire`: channels, TLS driving, server, client, actions.

This package moves bytes and awaits; every protocol decision (framing, handshake negotiation,
error encoding) belongs to ``wire/``. The errors it raises (``ConnectTransportError`` ...) are
in :mod:`isthmus.errors` with every other.
"""

from isthmus.transport.actions import ActionHandler, ActionRegistry
from isthmus.transport.channel import ChannelInfo, ChannelState, RequestHandler, TransportChannel
from isthmus.transport.client import connect
from isthmus.transport.local import LocalNode
from isthmus.transport.server import ServerInfo, TransportServer
from isthmus.transport.tls_session import TlsSession

__all__ = [
    "ActionHandler",
    "ActionRegistry",
    "ChannelInfo",
    "ChannelState",
    "LocalNode",
    "RequestHandler",
    "ServerInfo",
    "TlsSession",
    "TransportChannel",
    "TransportServer",
    "connect",
]
