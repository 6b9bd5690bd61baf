"""Actions: what the node does for a request, named as Elasticsearch names them.

Each module groups the actions of one API family (``indices:data/write/bulk``,
``indices:data/read/search`` …). REST handlers parse HTTP and call these; later the transport
layer calls the same functions for requests that arrive from other nodes or clusters.
"""
