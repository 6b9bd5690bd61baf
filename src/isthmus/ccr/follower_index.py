"""A follower index's metadata: made from its leader's, and what marks it as following.  [no I/O]

ES keeps three things on a follower index, and so does Isthmus:

* the setting ``index.xpack.ccr.following_index: true`` (the "following engine": client writes
  are refused until ``unfollow`` removes it);
* the custom metadata ``ccr``: the leader's uuid, name, shard history uuids and the remote
  cluster alias (ES's ``Ccr.CCR_CUSTOM_METADATA_*`` keys). ``unfollow`` removes it, after which
  ``resume_follow`` answers ``follow index [<f>] does not have ccr metadata``;
* the follow task (ES's persistent shard-follow tasks): here the custom metadata
  ``ccr_follow_task`` holding the parameters it was started with. It exists while the follower
  is following and is removed by ``pause_follow``: following survives a restart, a pause too.

The follower copies the leader's settings except those ES lets differ
(``NON_REPLICATED_SETTINGS``); ``PUT _ccr/follow``'s ``settings`` may set only those.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from isthmus.ccr.params import FollowParameters
from isthmus.ccr.wire import LeaderIndexMetadataResponse
from isthmus.cluster.metadata import AliasMetadata, IndexMetadata
from isthmus.errors import IllegalArgumentError
from isthmus.index.mapping import Mapping as IndexMapping
from isthmus.settings.ccr import FOLLOWING_INDEX

FOLLOWING_INDEX_SETTING = FOLLOWING_INDEX
CCR_CUSTOM_KEY = "ccr"
TASK_CUSTOM_KEY = "ccr_follow_task"
LEADER_UUID_KEY = "leader_index_uuid"
LEADER_NAME_KEY = "leader_index_name"
REMOTE_CLUSTER_KEY = "remote_cluster_name"
HISTORY_UUIDS_KEY = "leader_index_shard_history_uuids"
# The task custom also records who started following (the follow task reads as that user).
TASK_USER_KEY = "_user"

# Settings a follower may have differently from its leader (ES's NON_REPLICATED_SETTINGS, as
# patterns); everything else is the leader's.
NON_REPLICATED_SETTINGS = (
    "index.number_of_replicas",
    "index.auto_expand_replicas",
    "index.routing.allocation.*",
    "index.routing.rebalance.enable",
    "index.routing.allocation.enable",
    "index.routing.allocation.total_shards_per_node",
    "index.allocation.max_retries",
    "index.unassigned.node_left.delayed_timeout",
    "index.blocks.*",
    "index.priority",
    "index.write.wait_for_active_shards",
    "index.max_result_window",
    "index.warmer.enabled",
    "index.refresh_interval",
    "index.max_rescore_window",
    "index.max_inner_result_window",
    "index.query.default_field",
    "index.query_string.lenient",
    "index.query.query_string.lenient",
    "index.max_script_fields",
    "index.max_regex_length",
    "index.max_terms_count",
    "index.max_analyzed_offset",
    "index.max_docvalue_fields_search",
    "index.max_token_count",
    "index.max_slices_per_scroll",
    "index.max_adjacency_matrix_filters",
    "index.default_pipeline",
    "index.final_pipeline",
    "index.search.idle.after",
    "index.search.throttled",
    "index.soft_deletes.retention.operations",
    "index.soft_deletes.retention_lease.period",
    "index.translog.*",
    "index.gc_deletes",
    "index.max_refresh_listeners",
    "index.requests.cache.enable",
    "index.load_fixed_bitset_filters_eagerly",
    "index.search.slowlog.*",
    "index.indexing.slowlog.*",
    "index.merge.*",
    "index.compound_format",
    "index.codec",
    "index.hidden",
    "index.lifecycle.*",
    "index.xpack.ccr.following_index",
)
# What identifies one index and is never copied (the follower has its own).
_PRIVATE_SETTINGS = (
    "index.uuid",
    "index.creation_date",
    "index.provided_name",
    "index.version.created",
    "index.version.upgraded",
    "index.history.uuid",
    "index.resize.*",
)


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(key == p or fnmatch.fnmatchcase(key, p) for p in patterns)


def check_override_settings(requested: Mapping[str, str]) -> None:
    """ES's rule on ``PUT _ccr/follow``'s ``settings``: only non-replicated settings."""
    replicated = {k: v for k, v in requested.items() if not _matches(k, NON_REPLICATED_SETTINGS)}
    if replicated:
        rendered = json.dumps(replicated, separators=(",", ":"))
        raise IllegalArgumentError(
            f"can not put follower index that could override leader settings {rendered}"
        )


@dataclass(frozen=True)
class CcrMetadata:
    """The ``ccr`` custom metadata of a follower index."""

    leader_index_uuid: str
    leader_index_name: str
    remote_cluster: str
    shard_history_uuids: tuple[str, ...]

    def to_custom(self) -> dict[str, str]:
        return {
            HISTORY_UUIDS_KEY: ",".join(self.shard_history_uuids),
            LEADER_UUID_KEY: self.leader_index_uuid,
            LEADER_NAME_KEY: self.leader_index_name,
            REMOTE_CLUSTER_KEY: self.remote_cluster,
        }

    @classmethod
    def of(cls, meta: IndexMetadata) -> CcrMetadata | None:
        custom = meta.custom.get(CCR_CUSTOM_KEY)
        if custom is None:
            return None
        uuids = custom.get(HISTORY_UUIDS_KEY, "")
        return cls(
            custom[LEADER_UUID_KEY],
            custom[LEADER_NAME_KEY],
            custom[REMOTE_CLUSTER_KEY],
            tuple(uuids.split(",")) if uuids else (),
        )


@dataclass(frozen=True)
class FollowTaskRecord:
    """The persisted follow task of one follower index (present while it follows)."""

    parameters: FollowParameters
    user: str | None = None

    def to_custom(self) -> dict[str, str]:
        out = self.parameters.to_store()
        if self.user is not None:
            out[TASK_USER_KEY] = self.user
        return out

    @classmethod
    def of(cls, meta: IndexMetadata) -> FollowTaskRecord | None:
        custom = meta.custom.get(TASK_CUSTOM_KEY)
        if custom is None:
            return None
        stored = {k: v for k, v in custom.items() if k != TASK_USER_KEY}
        return cls(FollowParameters.from_store(stored), custom.get(TASK_USER_KEY))


def with_task(meta: IndexMetadata, task: FollowTaskRecord | None) -> IndexMetadata:
    custom = {k: v for k, v in meta.custom.items() if k != TASK_CUSTOM_KEY}
    if task is not None:
        custom[TASK_CUSTOM_KEY] = task.to_custom()
    return replace(meta, custom=custom, version=meta.version + 1)


def unfollowed(meta: IndexMetadata) -> IndexMetadata:
    """The follower as a plain index (ES's ``TransportUnfollowAction.unfollow``)."""
    settings = {k: v for k, v in meta.settings.items() if k != FOLLOWING_INDEX_SETTING}
    custom = {k: v for k, v in meta.custom.items() if k not in (CCR_CUSTOM_KEY, TASK_CUSTOM_KEY)}
    return replace(
        meta,
        settings=settings,
        custom=custom,
        version=meta.version + 1,
        settings_version=meta.settings_version + 1,
    )


def is_following_index(meta: IndexMetadata) -> bool:
    return meta.settings.get(FOLLOWING_INDEX_SETTING) == "true"


def follower_metadata(
    *,
    name: str,
    uuid: str,
    now_ms: int,
    version_created: str,
    leader: LeaderIndexMetadataResponse,
    remote_cluster: str,
    overrides: Mapping[str, str],
    task: FollowTaskRecord,
) -> IndexMetadata:
    """The follower index ``PUT _ccr/follow`` creates: the leader's shards, mapping, aliases and
    replicated settings, the request's overrides, and the CCR markers."""
    settings = {
        k: v
        for k, v in leader.settings.items()
        if not _matches(k, _PRIVATE_SETTINGS) and not _matches(k, NON_REPLICATED_SETTINGS)
    }
    # The copy is made as a restore of the leader would make it: its replica count too.
    settings["index.number_of_replicas"] = leader.settings.get("index.number_of_replicas", "1")
    # ES's restore keeps the leader's index.hidden too: a data stream's backing index stays
    # hidden (a follower may still set it otherwise, it is not replicated afterwards).
    if "index.hidden" in leader.settings:
        settings["index.hidden"] = leader.settings["index.hidden"]
    settings.update(overrides)
    settings.update(
        {
            "index.number_of_shards": str(leader.number_of_shards),
            FOLLOWING_INDEX_SETTING: "true",
            "index.uuid": uuid,
            "index.creation_date": str(now_ms),
            "index.provided_name": name,
            "index.version.created": version_created,
        }
    )
    ccr = CcrMetadata(leader.uuid, leader.index, remote_cluster, leader.shard_history_uuids)
    return IndexMetadata(
        name=name,
        uuid=uuid,
        settings=settings,
        mapping=IndexMapping(leader_mapping(leader.mapping)),
        aliases=_aliases(leader.aliases),
        creation_date=now_ms,
        mapping_version=max(1, leader.mapping_version),
        custom={CCR_CUSTOM_KEY: ccr.to_custom(), TASK_CUSTOM_KEY: task.to_custom()},
    )


def synced_settings(follower: Mapping[str, str], leader: Mapping[str, str]) -> dict[str, str]:
    """The follower's settings after a sync: the leader's replicated settings, the follower's
    own non-replicated and identifying ones."""
    own = {
        k: v
        for k, v in follower.items()
        if _matches(k, NON_REPLICATED_SETTINGS) or _matches(k, _PRIVATE_SETTINGS)
    }
    copied = {
        k: v
        for k, v in leader.items()
        if not _matches(k, NON_REPLICATED_SETTINGS) and not _matches(k, _PRIVATE_SETTINGS)
    }
    return {**copied, **own}


def leader_mapping(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The leader's mapping body as a follower's mapping takes it (``_doc`` wrapper removed)."""
    if set(raw) == {"_doc"} and isinstance(raw["_doc"], Mapping):
        return dict(raw["_doc"])
    return dict(raw)


def _aliases(raw: Mapping[str, Any]) -> dict[str, AliasMetadata]:
    return {
        name: AliasMetadata.from_json(name, body if isinstance(body, Mapping) else {})
        for name, body in raw.items()
    }
