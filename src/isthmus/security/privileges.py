"""Named privileges and the action patterns they grant, as Elasticsearch defines them.  [no I/O]

Every REST handler (and later every transport action) is named by its ES action name
(``indices:data/read/search``); a privilege is a set of action patterns. Authorization asks which
privileges grant an action, both to decide and to say, in a denial, which privileges would have.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping

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
    "manage_index_templates": (
        "indices:admin/template/*",
        "indices:admin/index_template/*",
        "cluster:admin/component_template/*",
    ),
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
    "manage": ("indices:monitor/*", "indices:admin/*", "indices:data/read/field_caps*"),
    "monitor": ("indices:monitor/*",),
    "view_index_metadata": (
        "indices:admin/aliases/get",
        "indices:admin/get",
        "indices:admin/mappings/get",
        "indices:admin/mappings/fields/get*",
        "indices:monitor/settings/get",
        "indices:admin/resolve/*",
        "indices:admin/shards/search_shards",
        "indices:admin/search/search_shards",
        "indices:admin/validate/query*",
        "indices:admin/data_stream/get",
        "indices:data/read/field_caps*",
    ),
    "create_index": (
        "indices:admin/create",
        "indices:admin/auto_create",
        "indices:admin/data_stream/create",
    ),
    "auto_configure": ("indices:admin/auto_create", "indices:admin/mapping/auto_put"),
    "delete_index": ("indices:admin/delete", "indices:admin/data_stream/delete"),
    # ES's: follow, unfollow and close (reopening the unfollowed index needs `manage`).
    "manage_follow_index": (
        "indices:admin/xpack/ccr/put_follow",
        "indices:admin/xpack/ccr/unfollow",
        "indices:admin/close*",
        "indices:admin/data_stream/promote",
        "indices:admin/rollover",
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


# Template actions carry ``indices:`` names but name no index: ES authorizes them as cluster
# actions (``manage_index_templates``), never against index patterns.
_TEMPLATE_ACTIONS = ("indices:admin/template/", "indices:admin/index_template/")


def is_index_action(action: str) -> bool:
    if action.startswith(_TEMPLATE_ACTIONS):
        return False
    return action.startswith("indices:") or action.startswith("internal:transport/proxy/indices:")


def granting_cluster_privileges(action: str) -> list[str]:
    """The named cluster privileges that grant ``action`` (for denial messages), ES's order."""
    names = [n for n in CLUSTER_PRIVILEGES if n != "none" and cluster_grants(n, action)]
    return _by_access_level(names, CLUSTER_PRIVILEGES, cluster_grants)


def granting_index_privileges(action: str) -> list[str]:
    """The named index privileges that grant ``action`` (for denial messages), ES's order."""
    names = [n for n in INDEX_PRIVILEGES if n != "none" and index_grants(n, action)]
    return _by_access_level(names, INDEX_PRIVILEGES, index_grants)


def _by_access_level(
    names: list[str],
    table: Mapping[str, tuple[str, ...]],
    grants: Callable[[str, str], bool],
) -> list[str]:
    """ES's order, least privilege first: by how many other named privileges include this one
    (more is narrower), then by name (``[view_index_metadata,manage,read,all]``)."""

    def included_by(narrow: str) -> int:
        if narrow == "all":  # everything; no other privilege includes it
            return 0
        patterns = table[narrow]
        return sum(
            1
            for wide in table
            if wide not in (narrow, "none")
            and (wide == "all" or all(grants(wide, p) for p in patterns))
        )

    return sorted(names, key=lambda n: (-included_by(n), n))


def valid_cluster_privilege(name: str) -> bool:
    return name in CLUSTER_PRIVILEGES or name.startswith("cluster:")


def valid_index_privilege(name: str) -> bool:
    return name in INDEX_PRIVILEGES or name.startswith("indices:")
