"""Cluster-level state: index metadata, mappings, aliases, persistent settings.

Kept apart from any node's shard storage: shards are addressed by :class:`ShardId` and routed
through :mod:`isthmus.cluster.routing`, so nothing assumes one node holds everything.
"""
