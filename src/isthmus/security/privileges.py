"""Named privileges and the action patterns they grant, as Elasticsearch defines them.  [no I/O]

Every REST handler (and later every transport action) is named by its ES action name
(``indices:data/read/search``); a privilege is a set of action patterns. Authorization asks which
privileges grant an action, both to decide and to say, in a denial, which privileges would have.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

_SECURITY = "cluster:admin/xpack/security/*"

CLUSTER_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "all": ("cluster:*", "indices:admin/template/*", "indices:admin/index_template/*"),
    "monitor": ("cluster:monitor/*",),
    "manage": ("cluster:*", "indices:admin/template/*", "indices:admin/index_template/*"),
    "manage_security": (_SECURITY, "cluster:monitor/*"),
    "manage_api_key": ("cluster:admin/xpack/security/api_key/*",),
    "manage_own_api_key": ("cluster:admin/xpack/security/api_key/*",),
    "manage_ccr": (
        "cluster:admin/xpack/ccr/*",
        "cluster:monitor/state",
        "cluster:admin/xpack/security/user/has_privileges",
    ),
    # ES's read_ccr: what a leader cluster's role needs to let a follower read its state
    # (the CCR stats and info APIs need `monitor`, as in ES).
    "read_ccr": ("cluster:monitor/state", "cluster:admin/xpack/security/user/has_privileges"),
    "manage_index_templates": ("indices:admin/template/*", "indices:admin/index_template/*"),
    "monitor_enrich": ("cluster:monitor/xpack/enrich/*",),
    "cross_cluster_search": ("cluster:internal/remote_cluster/*",),
    "cross_cluster_replication": ("cluster:internal/remote_cluster/*", "cluster:monitor/state"),
    "none": (),
}
# ``manage`` excludes security administration (ES's ManageClusterPrivilege).
CLUSTER_EXCLUDES: dict[str, tuple[str, ...]] = {"manage": (_SECURITY,)}

INDEX_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "all": ("indices:*",),
    "read": (
        "indices:data/read/*",
        "indices:admin/mappings/fields/get*",
        "indices:admin/resolve/*",
    ),
    "read_cross_cluster": (
        "internal:transport/proxy/indices:data/read/*",
        "indices:admin/shards/search_shards",
        "indices:admin/search/search_shards",
        "indices:admin/resolve/cluster",
    ),
    "write": ("indices:data/write/*", "indices:admin/mapping/auto_put"),
    "index": (
        "indices:data/write/index*",
        "indices:data/write/update*",
        "indices:data/write/bulk*",
        "indices:admin/mapping/auto_put",
    ),
    "create": (
        "indices:data/write/index*",
        "indices:data/write/bulk*",
        "indices:admin/mapping/auto_put",
    ),
    "create_doc": (
        "indices:data/write/index:op_type/create",
        "indices:data/write/bulk*",
        "indices:admin/mapping/auto_put",
    ),
    "delete": ("indices:data/write/delete*", "indices:data/write/bulk*"),
    "manage": ("indices:monitor/*", "indices:admin/*"),
    "monitor": ("indices:monitor/*",),
    "view_index_metadata": (
        "indices:admin/aliases/get",
        "indices:admin/get",
        "indices:admin/mappings/get",
        "indices:admin/mappings/fields/get*",
        "indices:monitor/settings/get",
        "indices:admin/resolve/*",
    ),
    "create_index": ("indices:admin/create", "indices:admin/auto_create"),
    "auto_configure": ("indices:admin/auto_create", "indices:admin/mapping/auto_put"),
    "delete_index": ("indices:admin/delete",),
    "manage_follow_index": (
        "indices:admin/xpack/ccr/put_follow",
        "indices:admin/xpack/ccr/unfollow",
        "indices:admin/close",
        "indices:admin/open",
    ),
    "manage_leader_index": ("indices:admin/xpack/ccr/forget_follower*",),
    "maintenance": ("indices:admin/refresh*", "indices:admin/flush*", "indices:admin/forcemerge*"),
    # The fixed privileges of cross-cluster API keys' replication access (ES's IndexPrivilege).
    "cross_cluster_replication": (
        "indices:data/read/xpack/ccr/shard_changes*",
        "indices:monitor/stats*",
        "indices:admin/seq_no/add_retention_lease*",
        "indices:admin/seq_no/remove_retention_lease*",
        "indices:admin/seq_no/renew_retention_lease*",
    ),
    "cross_cluster_replication_internal": (
        "indices:internal/admin/ccr/restore/session/clear*",
        "indices:internal/admin/ccr/restore/file_chunk/get*",
        "indices:internal/admin/ccr/restore/session/put*",
        "internal:transport/proxy/indices:internal/admin/ccr/restore/session/clear*",
        "internal:transport/proxy/indices:internal/admin/ccr/restore/file_chunk/get*",
    ),
    "none": (),
}

CHANGE_PASSWORD_ACTION = "cluster:admin/xpack/security/user/change_password"
# Actions every authenticated user may run about itself (see Authorizer.same_user_allowed).
SELF_ACTIONS = (
    "cluster:admin/xpack/security/user/authenticate",
    "cluster:admin/xpack/security/user/change_password",
    "cluster:admin/xpack/security/user/has_privileges",
    "cluster:admin/xpack/security/user/list_privileges",
)


def _any(action: str, patterns: Iterable[str]) -> bool:
    return any(action == p or fnmatch.fnmatchcase(action, p) for p in patterns)


def cluster_grants(privilege: str, action: str) -> bool:
    if privilege.startswith("cluster:") or privilege.startswith("indices:"):
        return _any(action, (privilege,))  # an action pattern used as a privilege
    patterns = CLUSTER_PRIVILEGES.get(privilege, ())
    return _any(action, patterns) and not _any(action, CLUSTER_EXCLUDES.get(privilege, ()))


def index_grants(privilege: str, action: str) -> bool:
    if privilege.startswith("indices:") or privilege.startswith("internal:"):
        return _any(action, (privilege,))
    return _any(action, INDEX_PRIVILEGES.get(privilege, ()))


def is_index_action(action: str) -> bool:
    return action.startswith("indices:") or action.startswith("internal:transport/proxy/indices:")


def granting_cluster_privileges(action: str) -> list[str]:
    """The named cluster privileges that grant ``action`` (for denial messages), ES's order."""
    names = [n for n in CLUSTER_PRIVILEGES if n != "none" and cluster_grants(n, action)]

    def includes(wide: str, narrow: str) -> bool:
        return wide != narrow and all(cluster_grants(wide, p) for p in CLUSTER_PRIVILEGES[narrow])

    # ES sorts by access level: a privilege that others include comes before them.
    return sorted(
        names, key=lambda n: (n == "all", sum(includes(n, m) for m in names if m != "all"), n)
    )


def granting_index_privileges(action: str) -> list[str]:
    """The named index privileges that grant ``action`` (for denial messages), ES's order."""
    names = [n for n in INDEX_PRIVILEGES if n != "none" and index_grants(n, action)]

    def includes(wide: str, narrow: str) -> bool:
        return wide != narrow and all(index_grants(wide, p) for p in INDEX_PRIVILEGES[narrow])

    # As for cluster privileges: ES sorts by access level, a privilege that others include
    # first (manage_follow_index before manage; view_index_metadata before manage and read).
    return sorted(
        names, key=lambda n: (n == "all", sum(includes(n, m) for m in names if m != "all"), n)
    )


def valid_cluster_privilege(name: str) -> bool:
    return name in CLUSTER_PRIVILEGES or name.startswith("cluster:")


def valid_index_privilege(name: str) -> bool:
    return name in INDEX_PRIVILEGES or name.startswith("indices:")
