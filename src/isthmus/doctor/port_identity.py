"""What answers at an address, read from the bytes it sent back, and whether the alias's
security model can use it.  [no I/O]

The probe (:mod:`isthmus.doctor.probe`) sends a few harmless messages and hands what came back to
:func:`classify_reply`; :func:`port_finding` then compares the port it found with what the
alias's model needs. The messages and what each kind of server does with them:

* a TLS ClientHello: a TLS server answers with a handshake record (or an alert); an HTTP server
  answers ``HTTP/1.x 400``; Elasticsearch's plaintext transport closes the connection (the bytes
  are not its ``'E' 'S'`` header), as an Isthmus transport port does;
* a transport ping (``'E' 'S'`` and length -1): an Isthmus transport port echoes it; an
  Elasticsearch transport port accepts it silently; an HTTP server answers ``400``;
* ``GET / HTTP/1.1``: Elasticsearch's transport answers ``This is not an HTTP port`` and closes
  (its ``HttpRequestOnTransportException``); an HTTP server answers ``HTTP/1.x``;
* the transport handshake without credentials (Isthmus's framing only): the transport profile
  answers it, the remote cluster server (profile ``_remote_cluster``) refuses it because the
  cross-cluster credentials header is missing.

A server that speaks first (SSH, SMTP banners) is not Elasticsearch. Nothing here looks at
message text to decide anything but the identity of the peer; errors are classified elsewhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from isthmus.doctor.model import Confidence

PING = b"ES\xff\xff\xff\xff"
HTTP_PORT_REPLY = b"This is not an HTTP port"  # ES's HttpRequestOnTransportException message
_TLS_RECORD_TYPES = frozenset({0x14, 0x15, 0x16, 0x17})  # ccs, alert, handshake, data


class PortKind(enum.StrEnum):
    TRANSPORT = "transport"  # Elasticsearch/Isthmus transport framing
    HTTP = "http"
    OTHER = "other"  # something answered, not in a way Elasticsearch does
    SILENT = "silent"  # the connection stays open and nothing answers
    CLOSED = "closed"  # closed on every message without a byte
    # A TLS server that refused to go on without a client certificate: the service behind it
    # is not seen until the client's own certificate opens it.
    TLS_UNIDENTIFIED = "tls_unidentified"


class Reply(enum.StrEnum):
    """What one message got back."""

    TLS = "tls"  # a TLS record
    HTTP = "http"  # an HTTP status line
    PING_ECHO = "ping_echo"  # our ping, echoed (an Isthmus transport port)
    ES_FRAME = "es_frame"  # another 'E' 'S' frame
    NOT_HTTP_PORT = "not_http_port"  # ES's answer to HTTP on its transport port
    OTHER = "other"
    NOTHING = "nothing"  # no byte within the wait
    CLOSED = "closed"  # end of stream or reset without a byte


def classify_reply(data: bytes | None) -> Reply:
    """``data``: the first bytes received (``None``: nothing within the wait; ``b""``: the peer
    closed or reset the connection without sending a byte)."""
    if data is None:
        return Reply.NOTHING
    if not data:
        return Reply.CLOSED
    if len(data) >= 3 and data[0] in _TLS_RECORD_TYPES and data[1] == 0x03 and data[2] <= 0x04:
        return Reply.TLS
    if data.startswith(b"HTTP/"):
        return Reply.HTTP
    if data.startswith(PING):
        return Reply.PING_ECHO
    if data.startswith(b"ES"):
        return Reply.ES_FRAME
    if data.startswith(HTTP_PORT_REPLY):
        return Reply.NOT_HTTP_PORT
    return Reply.OTHER


class HttpFlavour(enum.StrEnum):
    """Whose HTTP server answered."""

    ELASTICSEARCH = "elasticsearch"  # ES (7.14+) and Isthmus send x-elastic-product
    PROXY = "proxy"  # a forward proxy: 407, Proxy-Authenticate, or CONNECT as its only method
    UNKNOWN = "unknown"


def http_flavour(data: bytes) -> HttpFlavour:
    """Read an HTTP response head (possibly cut short) for who sent it."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    lines = head.split("\r\n")
    status = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    if headers.get("x-elastic-product") == "elasticsearch":
        return HttpFlavour.ELASTICSEARCH
    allow = {m.strip() for m in headers.get("allow", "").split(",") if m.strip()}
    if status == "407" or "proxy-authenticate" in headers or allow == {"connect"}:
        return HttpFlavour.PROXY
    return HttpFlavour.UNKNOWN


@dataclass(frozen=True)
class PortIdentity:
    """What answers: its kind, whether it speaks TLS, and (when the handshake told) its profile.

    ``isthmus`` is true when the peer echoed a transport ping (Isthmus does, Elasticsearch does
    not), so that the probe can go on with Isthmus's handshake; a real Elasticsearch port is
    identified by its ``This is not an HTTP port`` answer instead.
    """

    kind: PortKind
    tls: bool
    isthmus: bool = False
    profile: str | None = None  # "default" / "_remote_cluster", when the handshake told
    client_certificate_required: bool = False
    detail: str = ""
    http: HttpFlavour | None = None  # for an HTTP port: whose
    sni: str | None = None  # the server_name our TLS hello carried (None: none)

    def describe(self) -> str:
        if self.kind is PortKind.TRANSPORT:
            what = "Isthmus transport" if self.isthmus else "Elasticsearch transport"
            if self.profile is not None:
                what += f" (profile [{self.profile}])"
        else:
            what = {
                PortKind.HTTP: {
                    HttpFlavour.ELASTICSEARCH: "Elasticsearch's HTTP server",
                    HttpFlavour.PROXY: "an HTTP proxy",
                }.get(
                    self.http or HttpFlavour.UNKNOWN,
                    "an HTTP server (not saying it is Elasticsearch)",
                ),
                PortKind.OTHER: "a service that is not Elasticsearch",
                PortKind.SILENT: "nothing (the connection opens, nothing answers)",
                PortKind.CLOSED: "a service that closes every connection without a byte",
                PortKind.TLS_UNIDENTIFIED: "a service that requires a client certificate",
            }[self.kind]
        return f"{what} over {'TLS' if self.tls else 'plaintext'}"


def identify(first: Reply, second: Reply | None, *, tls: bool) -> PortKind:
    """The port's kind from the replies to the ping (``first``) and, when the ping got nothing,
    to ``GET /`` (``second``)."""
    for reply in (first, second):
        if reply in (Reply.PING_ECHO, Reply.ES_FRAME, Reply.NOT_HTTP_PORT):
            return PortKind.TRANSPORT
        if reply is Reply.HTTP:
            return PortKind.HTTP
        if reply in (Reply.OTHER, Reply.TLS):
            return PortKind.OTHER
    if Reply.CLOSED in (first, second):
        return PortKind.CLOSED
    return PortKind.SILENT


# The causes that say what answers at an address (each rules the others out once the probe saw
# the answer for certain).
PORT_READINGS = (
    "http_port",
    "http_proxy",
    "not_elasticsearch",
    "tls_to_plaintext",
    "plaintext_to_tls",
    "transport_port_with_credentials",
    "remote_cluster_port_without_credentials",
)


@dataclass(frozen=True)
class PortVerdict:
    """The protocol stage's answer: no cause when the port suits the model."""

    cause: str | None
    message: str
    confidence: Confidence = Confidence.CERTAIN


def port_verdict(identity: PortIdentity, *, api_key_model: bool, client_tls: bool) -> PortVerdict:
    """Compare the port with what the alias needs: the remote cluster server (API-key model) or
    the transport port (certificate model), with TLS exactly when the client is configured for
    it."""
    where = identity.describe()
    needs = "the remote cluster server" if api_key_model else "the transport port"
    if identity.kind is PortKind.HTTP and identity.http is HttpFlavour.PROXY:
        return PortVerdict(
            "http_proxy",
            f"the address answers as {where}: remote cluster connections do not go through an "
            f"HTTP proxy; {needs} must be reached directly or through a TCP/SNI proxy",
        )
    if identity.kind is PortKind.HTTP:
        return PortVerdict(
            "http_port",
            f"the address answers as {where}: it is an HTTP port, not {needs}",
            Confidence.CERTAIN if identity.http is HttpFlavour.ELASTICSEARCH else Confidence.LIKELY,
        )
    if identity.kind is PortKind.SILENT:
        return PortVerdict(
            "no_answer",
            "the connection opens but nothing answers a TLS hello, a transport ping or an HTTP "
            "request: something (a proxy or relay, a hung process) holds it",
            Confidence.LIKELY,
        )
    if identity.kind is PortKind.CLOSED and client_tls:
        # A TLS hello closed at once, and every other message too: what an SNI-routing proxy
        # does with a server_name it has no route for (or none at all).
        sent = f"server_name [{identity.sni}]" if identity.sni else "no server_name"
        return PortVerdict(
            "proxy_no_route",
            f"the address closes every connection without a byte, the TLS hello included (it "
            f"carried {sent}): an SNI-routing proxy with no route for it, or a service that is "
            "not Elasticsearch",
            Confidence.LIKELY,
        )
    if identity.kind in (PortKind.OTHER, PortKind.CLOSED):
        return PortVerdict(
            "not_elasticsearch",
            f"the address answers as {where}",
            Confidence.CERTAIN if identity.kind is PortKind.OTHER else Confidence.LIKELY,
        )
    if identity.kind is PortKind.TLS_UNIDENTIFIED and not client_tls:
        return PortVerdict(
            "plaintext_to_tls",
            f"the address is {where} but the client is not configured for TLS there",
        )
    if identity.kind is PortKind.TLS_UNIDENTIFIED:
        return PortVerdict(None, f"the address is {where}", Confidence.LIKELY)
    if identity.tls and not client_tls:
        return PortVerdict(
            "plaintext_to_tls",
            f"the address is {where} but the client is not configured for TLS there",
        )
    if not identity.tls and client_tls:
        return PortVerdict(
            "tls_to_plaintext", f"the address is {where} but the client is configured for TLS"
        )
    if api_key_model and identity.profile == "default":
        return PortVerdict(
            "transport_port_with_credentials",
            f"the address is {where}: the API-key model needs the remote cluster server "
            "(remote_cluster.port, 9443 by default)",
        )
    if not api_key_model and identity.profile == "_remote_cluster":
        return PortVerdict(
            "remote_cluster_port_without_credentials",
            f"the address is {where}: the certificate model needs the transport port "
            "(transport.port, 9300 by default), or the alias needs cross-cluster credentials",
        )
    return PortVerdict(None, f"the address is {where}")
