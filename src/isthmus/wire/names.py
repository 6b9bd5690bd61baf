"""The names that cross a transport connection: action names and transport profile names.

One copy of each. A peer (another Isthmus node or an Elasticsearch node) dispatches a request by
its action name and a server tells its ports apart by profile name, so these strings are part of
the protocol: they are Elasticsearch's own, spelt exactly as ES spells them, and every module
that sends, registers, allows or compares one imports it from here. Privilege names that only
name a REST route for authorization live with their routes and privileges, not here.

[no I/O] Constants only; this module imports nothing.
"""

from __future__ import annotations

from typing import Final

# --- transport profiles (``transport.profiles.<name>``) ------------------------------------------

# The profile of the transport port (``transport.port``): node-to-node and certificate-model
# remote clusters.
DEFAULT_PROFILE: Final = "default"
# The remote cluster server's port (``remote_cluster.port``): the API-key model's fulfilling side.
REMOTE_CLUSTER_PROFILE: Final = "_remote_cluster"

# --- connection-level actions -------------------------------------------------------------------

# The first request on every transport connection (both models).
HANDSHAKE_ACTION: Final = "internal:transport/handshake"
# The API-key model's handshake: sent before the transport handshake, to a remote cluster server.
REMOTE_CLUSTER_HANDSHAKE_ACTION: Final = "cluster:internal/remote_cluster/handshake"
HANDSHAKE_ACTIONS: Final = frozenset({HANDSHAKE_ACTION, REMOTE_CLUSTER_HANDSHAKE_ACTION})
# Sent when a caller abandons a request: the receiver cancels the work that request started.
CANCEL_ACTION: Final = "internal:transport/cancel"
# A request sent through a gateway node travels as this prefix + the action it wraps.
PROXY_ACTION_PREFIX: Final = "internal:transport/proxy/"

# --- remote-cluster discovery -------------------------------------------------------------------

# How a sniff strategy learns a remote cluster's nodes over a certificate-model connection.
CLUSTER_STATE_ACTION: Final = "cluster:monitor/state"
# The same question on a remote cluster server (the API-key model).
REMOTE_CLUSTER_NODES_ACTION: Final = "cluster:internal/remote_cluster/nodes"

# --- cluster formation (nodes of one multi-node cluster) ----------------------------------------

# How a node learns, from a seed host, how that node's etcd member is reached (Isthmus's own,
# in the place of ES's internal:discovery/request_peers).
PEER_INFO_ACTION: Final = "internal:isthmus/coordination/peer_info"
# A node's change of the cluster state, computed on the state it applied, handed to the elected
# master to publish (Isthmus's own: ES forwards the request itself to the master).
PUBLISH_CHANGE_ACTION: Final = "internal:isthmus/cluster/publish_change"
# What only nodes of one cluster send each other (as the system; each handler also checks the
# cluster name): the transport filter lets the system identity run them.
# The master's check that it can reach each node (ES's FollowersChecker).
FOLLOWER_CHECK_ACTION: Final = "internal:coordination/fault_detection/follower_check"
INTRA_CLUSTER_ACTIONS: Final = frozenset({PUBLISH_CHANGE_ACTION, FOLLOWER_CHECK_ACTION})

# --- node-level requests of one cluster (ES's TransportNodesAction: the REST action + "[n]") -----

# What the coordinating node of ``POST _nodes/reload_secure_settings`` asks each node it names.
RELOAD_SECURE_SETTINGS_NODE_ACTION: Final = "cluster:admin/nodes/reload_secure_settings[n]"
# What the coordinating node of ``GET _nodes/stats`` asks each node it names.
NODES_STATS_NODE_ACTION: Final = "cluster:monitor/nodes/stats[n]"
NODES_INFO_NODE_ACTION: Final = "cluster:monitor/nodes/info[n]"

# --- cross-cluster APIs (what a querying cluster asks of a remote one) --------------------------

SEARCH_ACTION: Final = "indices:data/read/search"
SEARCH_SHARDS_ACTION: Final = "indices:admin/search/search_shards"
QUERY_PHASE_ACTION: Final = "indices:data/read/search[phase/query]"
FIELD_CAPS_ACTION: Final = "indices:data/read/field_caps"
# Point in time: the REST actions, and what a coordinator asks of another cluster for a PIT that
# names its indices (ES's shard-level names: open the readers, query them, free them).
OPEN_PIT_ACTION: Final = "indices:data/read/open_point_in_time"
CLOSE_PIT_ACTION: Final = "indices:data/read/close_point_in_time"
OPEN_READER_CONTEXT_ACTION: Final = "indices:data/read/open_reader_context"
READER_QUERY_ACTION: Final = "indices:data/read/search[phase/query/id]"
FREE_CONTEXT_ACTION: Final = "indices:data/read/search[free_context]"
RESOLVE_CLUSTER_ACTION: Final = "indices:admin/resolve/cluster"
RESOLVE_INDEX_ACTION: Final = "indices:admin/resolve/index"

# --- cross-cluster replication (what a follower cluster asks of its leader) ---------------------

SHARD_CHANGES_ACTION: Final = "indices:data/read/xpack/ccr/shard_changes"
# Before following, the follower asks which of these the user has on the leader index (ES's
# has_privileges on the remote, as the user: any user may ask about itself).
HAS_PRIVILEGES_ACTION: Final = "cluster:admin/xpack/security/user/has_privileges"
INDICES_STATS_ACTION: Final = "indices:monitor/stats"
ADD_RETENTION_LEASE_ACTION: Final = "indices:admin/seq_no/add_retention_lease"
RENEW_RETENTION_LEASE_ACTION: Final = "indices:admin/seq_no/renew_retention_lease"
REMOVE_RETENTION_LEASE_ACTION: Final = "indices:admin/seq_no/remove_retention_lease"
# A follower's bootstrap from a copy of the leader shard's store (ES's restore session).
RESTORE_SESSION_PUT_ACTION: Final = "indices:internal/admin/ccr/restore/session/put"
RESTORE_FILE_CHUNK_ACTION: Final = "indices:internal/admin/ccr/restore/file_chunk/get"
RESTORE_SESSION_CLEAR_ACTION: Final = "indices:internal/admin/ccr/restore/session/clear"
# The same three as the certificate model sends them (as the system user, over the transport
# port); the API-key model sends the names above instead.
INTERNAL_RESTORE_SESSION_PUT_ACTION: Final = "internal:admin/ccr/restore/session/put"
INTERNAL_RESTORE_FILE_CHUNK_ACTION: Final = "internal:admin/ccr/restore/file_chunk/get"
INTERNAL_RESTORE_SESSION_CLEAR_ACTION: Final = "internal:admin/ccr/restore/session/clear"
INTERNAL_RESTORE_ACTIONS: Final = frozenset(
    {
        INTERNAL_RESTORE_SESSION_PUT_ACTION,
        INTERNAL_RESTORE_FILE_CHUNK_ACTION,
        INTERNAL_RESTORE_SESSION_CLEAR_ACTION,
    }
)
# A leader node that does not hold a shard's primary hands the follower's request to the node
# that does (ES's single-shard actions run on the primary under the action's "[s]" name; the
# restore session's chunk and clear follow their session). A follower's node asks the nodes
# running its follow tasks for their counters (ES's tasks action "[n]").
SHARD_CHANGES_SHARD_ACTION: Final = SHARD_CHANGES_ACTION + "[s]"
ADD_RETENTION_LEASE_SHARD_ACTION: Final = ADD_RETENTION_LEASE_ACTION + "[s]"
RENEW_RETENTION_LEASE_SHARD_ACTION: Final = RENEW_RETENTION_LEASE_ACTION + "[s]"
REMOVE_RETENTION_LEASE_SHARD_ACTION: Final = REMOVE_RETENTION_LEASE_ACTION + "[s]"
RESTORE_SESSION_PUT_SHARD_ACTION: Final = INTERNAL_RESTORE_SESSION_PUT_ACTION + "[s]"
RESTORE_FILE_CHUNK_SHARD_ACTION: Final = INTERNAL_RESTORE_FILE_CHUNK_ACTION + "[s]"
RESTORE_SESSION_CLEAR_SHARD_ACTION: Final = INTERNAL_RESTORE_SESSION_CLEAR_ACTION + "[s]"
# A leader shard's history uuid as its primary holds it (Isthmus's own: ES reads it from the
# index's stats on the primaries).
SHARD_HISTORY_UUID_ACTION: Final = "internal:isthmus/ccr/leader/history_uuid[s]"
FOLLOW_STATS_NODE_ACTION: Final = "cluster:monitor/ccr/follow_stats[n]"
# The auto-follow coordinator's counters, asked of the elected master that runs it (ES's ccr
# stats action is a master-node read; Isthmus's own name for the forwarded part).
AUTO_FOLLOW_STATS_ACTION: Final = "internal:isthmus/ccr/auto_follow_stats"
CCR_INTRA_CLUSTER_ACTIONS: Final = frozenset(
    {
        SHARD_CHANGES_SHARD_ACTION,
        ADD_RETENTION_LEASE_SHARD_ACTION,
        RENEW_RETENTION_LEASE_SHARD_ACTION,
        REMOVE_RETENTION_LEASE_SHARD_ACTION,
        RESTORE_SESSION_PUT_SHARD_ACTION,
        RESTORE_FILE_CHUNK_SHARD_ACTION,
        RESTORE_SESSION_CLEAR_SHARD_ACTION,
        SHARD_HISTORY_UUID_ACTION,
        FOLLOW_STATS_NODE_ACTION,
        AUTO_FOLLOW_STATS_ACTION,
    }
)

# --- shard copies of one multi-node cluster (ES's replication and peer recovery) ----------------

# A write batch sent to the node of the shard's primary (ES's TransportShardBulkAction), and the
# operations the primary sends to each replica with their _seq_no (its "[r]" action).
BULK_SHARD_ACTION: Final = "indices:data/write/bulk[s]"
BULK_REPLICA_ACTION: Final = "indices:data/write/bulk[s][r]"
# A partial update run where the primary is (its read-modify-write must read the primary).
UPDATE_SHARD_ACTION: Final = "indices:data/write/update[s]"
# A realtime get answered by the primary's node (ES's shard-level get action).
GET_SHARD_ACTION: Final = "indices:data/read/get[s]"
# A replica asks the primary's node to recover it (ES's name); it then reads the primary's
# history up to the recovery's snapshot (Isthmus's own: ES's primary pushes operations instead).
START_RECOVERY_ACTION: Final = "internal:index/shard/recovery/start_recovery"
RECOVERY_HISTORY_ACTION: Final = "internal:isthmus/index/shard/recovery/history"
SHARD_COPY_ACTIONS: Final = frozenset(
    {
        BULK_SHARD_ACTION,
        BULK_REPLICA_ACTION,
        UPDATE_SHARD_ACTION,
        GET_SHARD_ACTION,
        START_RECOVERY_ACTION,
        RECOVERY_HISTORY_ACTION,
    }
)

# --- reads of shards on other nodes of one cluster ----------------------------------------------

# Every shard of one search a node is asked for, in one request (ES's batched query phase).
NODE_QUERY_ACTION: Final = "indices:data/read/search[query][n]"
# The DFS phase of those shards (global term statistics, knn nearest): Isthmus's own batch.
NODE_DFS_ACTION: Final = "indices:data/read/search[phase/dfs][n]"
# A refresh of the copies a node holds (ES's broadcast shard-level refresh).
NODE_REFRESH_ACTION: Final = "indices:admin/refresh[s]"
# A document's explanation, and a query's validation, on a node holding a copy (ES's names).
NODE_EXPLAIN_ACTION: Final = "indices:data/read/explain[s]"
NODE_VALIDATE_ACTION: Final = "indices:admin/validate/query[s]"
# The suggestions of each shard a node is asked for (Isthmus's own: ES's query phase carries
# them; here they are asked only of the shards held elsewhere, and reduced as ES reduces them).
NODE_SUGGEST_ACTION: Final = "indices:data/read/search[suggest][n]"
# A point in time's reader contexts on the nodes holding the shards: opened, searched, freed.
NODE_OPEN_READERS_ACTION: Final = "indices:data/read/open_reader_context[n]"
NODE_READER_QUERY_ACTION: Final = "indices:data/read/search[phase/query/id][n]"
NODE_FREE_CONTEXT_ACTION: Final = "indices:data/read/search[free_context][n]"
# The statistics of the copies a node holds (ES's broadcast-by-node index statistics).
NODE_STATS_ACTION: Final = "indices:monitor/stats[n]"
NODE_READ_ACTIONS: Final = frozenset(
    {
        NODE_QUERY_ACTION,
        NODE_DFS_ACTION,
        NODE_REFRESH_ACTION,
        NODE_EXPLAIN_ACTION,
        NODE_VALIDATE_ACTION,
        NODE_STATS_ACTION,
        NODE_SUGGEST_ACTION,
        NODE_OPEN_READERS_ACTION,
        NODE_READER_QUERY_ACTION,
        NODE_FREE_CONTEXT_ACTION,
    }
)
