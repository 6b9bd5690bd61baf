"""The only use of CPython's private ``ssl`` internals, quarantined.

A TLS diagnosis quotes the peer's certificate chain also after a *failed* handshake, as ES's
``DiagnosticTrustManager`` does. The public ``ssl`` API of Python 3.11 cannot give it:

* ``SSLObject`` has no public ``get_unverified_chain`` before Python 3.13; the C object under it
  (``SSLObject._sslobj``, a ``_ssl._SSLSocket``) has had it since 3.10. A client reads the
  server's chain there (:func:`unverified_chain_der`).
* A server cannot read the client's chain at all: OpenSSL drops it when verification fails. So a
  server context that asks for client certificates gets an OpenSSL message callback that keeps
  the client's Certificate handshake message (decrypted: the callback sees plaintext handshake
  messages, TLS 1.3 included) until the handshake ends (:func:`capture_client_certificates`,
  :func:`certificate_message`). The callback is the C-level descriptor
  ``_ssl._SSLContext._msg_callback`` (private since Python 3.8), set directly: the Python-level
  ``SSLContext._msg_callback`` property wraps every call in enum conversions, which costs ~10 us
  on every record of the connection; the raw callback costs well under one.

Verified by running on CPython 3.11.7 (OpenSSL 3.0), the version the project ships on, and read
against the ``ssl.py`` of 3.13 (whose public ``get_unverified_chain`` calls the same private
method). What degrades when an interpreter lacks them: every lookup here is ``getattr`` with a
default and nothing raises; without ``_msg_callback`` a server's diagnosis of a client
certificate it rejected lacks the client's chain (ES's text for an unknown chain, with OpenSSL's
verify message); without ``_sslobj.get_unverified_chain`` a client's lacks the server's. The
handshake itself and every other text are unaffected. Nothing else in Isthmus may touch ``_ssl``.
"""

from __future__ import annotations

import _ssl
import ssl
import weakref
from typing import Any

# The C-level descriptor, or None on an interpreter without it (see the module docstring).
_RAW_MSG_CALLBACK: Any = getattr(_ssl._SSLContext, "_msg_callback", None)
_ENCODING_DER: Any = getattr(_ssl, "ENCODING_DER", None)
_CONTENT_HANDSHAKE = 22
_MESSAGE_CERTIFICATE = 11
# (protocol version, the message) per session, until its handshake ends.
_CERTIFICATE_MESSAGES: weakref.WeakKeyDictionary[ssl.SSLObject, tuple[int, bytes]] = (
    weakref.WeakKeyDictionary()
)


def can_capture_client_certificates() -> bool:
    """Whether this interpreter has the private message callback."""
    return _RAW_MSG_CALLBACK is not None


def _keep_certificate_message(
    conn: Any, direction: str, version: int, content_type: int, msg_type: int, data: bytes
) -> None:
    # Called by OpenSSL for every record and message: the first test must be cheap, and nothing
    # may raise (an exception here would surface from the next SSLObject call).
    if content_type != _CONTENT_HANDSHAKE or msg_type != _MESSAGE_CERTIFICATE:
        return
    if direction != "read":
        return
    try:
        _CERTIFICATE_MESSAGES[conn] = (version, bytes(data))
    except TypeError:
        pass


def capture_client_certificates(context: ssl.SSLContext) -> None:
    """Install the callback on a server context that requests client certificates (once; a
    no-op without the private descriptor or when client certificates are not requested)."""
    if _RAW_MSG_CALLBACK is None or context.verify_mode == ssl.CERT_NONE:
        return
    try:
        current = _RAW_MSG_CALLBACK.__get__(context)
        if current is None:
            _RAW_MSG_CALLBACK.__set__(context, _keep_certificate_message)
        # else: ours already, or someone else's (a debugging hook): leave it alone
    except (AttributeError, TypeError):
        return  # a descriptor of another shape: degrade as if it were absent


def certificate_message(obj: ssl.SSLObject) -> tuple[int, bytes] | None:
    """(protocol version, Certificate message) the client sent on ``obj``, if one was kept."""
    return _CERTIFICATE_MESSAGES.get(obj)


def forget(obj: ssl.SSLObject) -> None:
    """Drop what was kept for ``obj`` (its handshake ended: OpenSSL reports the chain now)."""
    _CERTIFICATE_MESSAGES.pop(obj, None)


def unverified_chain_der(obj: ssl.SSLObject) -> tuple[bytes, ...]:
    """The DER certificates the peer sent on ``obj``, verified or not (empty when unknown)."""
    raw: Any = getattr(obj, "_sslobj", None)
    method = getattr(raw, "get_unverified_chain", None)
    if method is None or _ENCODING_DER is None:
        return ()
    chain = method()
    if not chain:
        return ()
    return tuple(c.public_bytes(_ENCODING_DER) for c in chain)
