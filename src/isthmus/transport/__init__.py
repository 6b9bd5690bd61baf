"""The asyncio shell around :mod:`isthmus.wire`: channels, TLS driving, server, client, actions.

This package moves bytes and awaits; every protocol decision (framing, handshake negotiation,
error encoding) belongs to ``wire/``. The errors it raises (``ConnectTransportError`` ...) are
in :mod:`isthmus.errors` with every other.

Import from the modules themselves (``isthmus.transport.channel``, ``.server``, ``.client`` ...):
this file re-exports nothing, so that importing one of the pure modules here
(``channel_info``) does not load the server, asyncio and ssl with it.
"""
