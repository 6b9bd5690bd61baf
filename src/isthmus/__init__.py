"""Isthmus: an Elasticsearch-compatible search cluster built around remote clusters."""

__version__ = "0.1.0"
# The Elasticsearch version Isthmus answers as (GET /, handshakes): clients check the major.
ES_COMPAT_VERSION = "9.1.0"
LUCENE_VERSION = "10.2.2"
