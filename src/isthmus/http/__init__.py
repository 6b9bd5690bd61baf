"""The REST layer: an ASGI app, its router, and one handler module per API family."""
