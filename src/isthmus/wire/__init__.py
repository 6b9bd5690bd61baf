"""[no I/O] The transport wire protocol: framing, messages, handshake, connection state.

Nothing in this package reads a socket, awaits, or looks at a clock; ``isthmus.transport`` is the
asyncio shell that moves the bytes. See ``docs/wire-protocol.md`` for the byte layout.
"""

from isthmus.wire.compression import SCHEMES as COMPRESSION_SCHEMES
from isthmus.wire.compression import should_compress
from isthmus.wire.connection import NEED_DATA, Connection, ConnectionInfo, State
from isthmus.wire.frames import (
    DEFAULT_LIMITS,
    Flags,
    Frame,
    FrameLimits,
    ProtocolError,
    RemoteProtocolError,
    WireProtocolError,
)
from isthmus.wire.handshake import (
    HandshakeRequest,
    HandshakeResponse,
    NodeIdentity,
)
from isthmus.wire.messages import (
    ConnectionClosed,
    ErrorResponse,
    Event,
    Ping,
    RemoteError,
    Request,
    Response,
    WireError,
)
from isthmus.wire.names import HANDSHAKE_ACTION

__all__ = [
    "COMPRESSION_SCHEMES",
    "DEFAULT_LIMITS",
    "HANDSHAKE_ACTION",
    "NEED_DATA",
    "Connection",
    "ConnectionClosed",
    "ConnectionInfo",
    "ErrorResponse",
    "Event",
    "Flags",
    "Frame",
    "FrameLimits",
    "HandshakeRequest",
    "HandshakeResponse",
    "NodeIdentity",
    "Ping",
    "ProtocolError",
    "RemoteError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "State",
    "WireError",
    "WireProtocolError",
    "should_compress",
]
