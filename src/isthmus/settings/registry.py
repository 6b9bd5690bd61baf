"""What a setting is, the registry that finds one by key, and the core declarations.  [no I/O]

A :class:`Setting` names a key (or an affix pattern such as ``node.attr.*``), its scope (node,
cluster-dynamic, index), its parser and default. Startup validates ``isthmus.yml`` and ``-E``
against the node scope; ``PUT _cluster/settings`` validates against the dynamic cluster scope;
index APIs against the index scope.

Settings are declared once, as data: the core ones here (:data:`NODE_SETTINGS`,
:data:`CLUSTER_SETTINGS`, :data:`INDEX_SETTINGS`, :data:`UNLISTED_INDEX_SETTINGS`), the others in
the ``settings`` module of their feature. Nothing registers itself on import:
:mod:`isthmus.settings.catalog` gathers every declaration explicitly and builds the node's
:class:`SettingsRegistry`, so which keys exist never depends on what happened to be imported.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.auto_expand import parse_auto_expand
from isthmus.xcontent import did_you_mean


class Scope(Enum):
    NODE = "node"
    CLUSTER = "cluster"  # dynamic cluster settings, also accepted in isthmus.yml
    INDEX = "index"


@dataclass(frozen=True)
class Setting:
    key: str  # exact key, or a pattern with ``*`` for one path segment (affix settings)
    parse: Callable[[object], Any]
    default: Any
    scope: Scope
    dynamic: bool = False
    secure: bool = False
    validator: Callable[[Any], None] | None = None

    @property
    def is_affix(self) -> bool:
        return "*" in self.key

    def matches(self, key: str) -> bool:
        if not self.is_affix:
            return key == self.key
        if key.count(".") < self.key.count("."):
            return False
        return fnmatch.fnmatchcase(key, self.key)

    def coerce(self, key: str, raw: object) -> Any:
        try:
            value = self.parse(raw)
            if self.validator is not None:
                self.validator(value)
        except ValueError as exc:
            raise SettingsError(str(exc).replace("{key}", key)) from None
        return value

    def default_text(self) -> Any:
        return _render(self.default)


def _render(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return [_render(x) for x in value]
    if value is None:
        return None
    if isinstance(value, v.TimeValue):
        return value.text
    return str(value)


class SettingsRegistry:
    """A fixed set of settings, looked up by key and scope (the first declaration that matches).

    Built from declarations and never added to afterwards; a key declared twice is refused,
    since only one of the two could ever be found.
    """

    def __init__(self, settings: Iterable[Setting]) -> None:
        self._settings = tuple(settings)
        twice = sorted(k for k, n in Counter(s.key for s in self._settings).items() if n > 1)
        if twice:
            raise ValueError(f"settings declared more than once: {twice}")

    def find(self, key: str, scopes: Iterable[Scope]) -> Setting | None:
        wanted = set(scopes)
        for setting in self._settings:
            if setting.scope in wanted and setting.matches(key):
                return setting
        return None

    def all_settings(self, scope: Scope) -> list[Setting]:
        return [s for s in self._settings if s.scope is scope]

    def __len__(self) -> int:
        return len(self._settings)

    def __repr__(self) -> str:
        counts = Counter(s.scope.value for s in self._settings)
        secure = sum(1 for s in self._settings if s.secure)
        per_scope = ", ".join(f"{scope.value}={counts[scope.value]}" for scope in Scope)
        return f"<SettingsRegistry {len(self._settings)} settings: {per_scope}, secure={secure}>"


def unknown(key: str, known: Iterable[Setting] = ()) -> SettingsError:
    """ES's unknown-setting error: the plain keys of ``known`` that are close (similarity
    above 0.7, ES's settings rule; affix patterns are never suggested) or, when none is, the
    hint about plugins and removed settings."""
    hint = did_you_mean(key, (s.key for s in known if not s.is_affix), threshold=0.7)
    return SettingsError(
        f"unknown setting [{key}]{hint}"
        if hint
        else f"unknown setting [{key}] please check that any required plugins are installed, "
        "or check the breaking changes documentation for removed settings"
    )


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay values (``seeds: [..]``)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                out[full] = None
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}`` (ES's non-flat rendering of settings)."""
    out: dict[str, Any] = {}
    for key in sorted(flat):
        node = out
        parts = key.split(".")
        leaf = parts[-1]
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):  # "a": "x" and "a.b": "y" both set: keep "b" flat
                leaf = ".".join(parts[i:])
                break
            node = nxt
        node[leaf] = flat[key]
    return out


# --- node-scope settings -------------------------------------------------------------------------


def _role_validator(roles: tuple[str, ...]) -> None:
    known = {
        "master",
        "data",
        "data_content",
        "data_hot",
        "data_warm",
        "data_cold",
        "data_frozen",
        "ingest",
        "ml",
        "remote_cluster_client",
        "transform",
        "voting_only",
    }
    for role in roles:
        if role not in known:
            raise ValueError(f"unknown role [{role}]")
    # DiscoveryNodeRole.VOTING_ONLY_NODE_ROLE.validateRoles
    if "voting_only" in roles and "master" not in roles:
        raise ValueError("voting-only node must be master-eligible")


def _publish_port(value: int) -> None:
    # ES's intSetting(key, -1, -1): -1 (publish the bound port) or a port
    if value < -1:
        raise ValueError(f"Failed to parse value [{value}] for setting [{{key}}] must be >= -1")


DEFAULT_ROLES = ("master", "data", "ingest", "remote_cluster_client")

NODE_SETTINGS: tuple[Setting, ...] = (
    Setting("cluster.name", v.parse_str, "isthmus", Scope.NODE),
    Setting("node.name", v.parse_str, None, Scope.NODE),
    Setting("node.roles", v.parse_str_list, DEFAULT_ROLES, Scope.NODE, validator=_role_validator),
    Setting("node.attr.*", v.parse_str, None, Scope.NODE),
    Setting("path.data", v.parse_str, "data", Scope.NODE),
    Setting("path.logs", v.parse_str, "logs", Scope.NODE),
    Setting("network.host", v.parse_str, "127.0.0.1", Scope.NODE),
    Setting("network.bind_host", v.parse_str, None, Scope.NODE),
    Setting("network.publish_host", v.parse_str, None, Scope.NODE),
    Setting("http.host", v.parse_str, None, Scope.NODE),
    Setting("http.bind_host", v.parse_str, None, Scope.NODE),
    Setting("http.publish_host", v.parse_str, None, Scope.NODE),
    Setting("http.port", v.parse_port_range, (9200, 9300), Scope.NODE),
    Setting("http.max_content_length", v.parse_bytes, 100 * 1024 * 1024, Scope.NODE),
    Setting("transport.host", v.parse_str, None, Scope.NODE),
    Setting("transport.bind_host", v.parse_str, None, Scope.NODE),
    Setting("transport.publish_host", v.parse_str, None, Scope.NODE),
    Setting("transport.port", v.parse_port_range, (9300, 9400), Scope.NODE),
    Setting("transport.publish_port", v.parse_int, None, Scope.NODE, validator=_publish_port),
    Setting("xpack.security.enabled", v.parse_bool, True, Scope.NODE),
    Setting("xpack.security.authc.anonymous.username", v.parse_str, "_anonymous", Scope.NODE),
    Setting("xpack.security.authc.anonymous.roles", v.parse_str_list, (), Scope.NODE),
    Setting("xpack.security.authc.anonymous.authz_exception", v.parse_bool, True, Scope.NODE),
    Setting("xpack.security.authc.api_key.enabled", v.parse_bool, True, Scope.NODE),
    Setting("bootstrap.memory_lock", v.parse_bool, False, Scope.NODE),
    Setting("node.processors", v.parse_int, None, Scope.NODE),
    Setting("thread_pool.search.size", v.parse_int, 2, Scope.NODE),
    Setting("indices.id_field_data.enabled", v.parse_bool, False, Scope.NODE),
)


# --- dynamic cluster settings (PUT _cluster/settings) --------------------------------------------


def _int_at_least(lo: int) -> Callable[[int], None]:
    def check(value: int) -> None:
        if value < lo:
            raise ValueError(
                f"Failed to parse value [{value}] for setting [{{key}}] must be >= {lo}"
            )

    return check


def _time_not_negative(value: v.TimeValue) -> None:
    if value.millis < 0:
        raise ValueError(
            f"failed to parse value [{value.text}] for setting [{{key}}], must be >= [0ms]"
        )


def _auto_create(raw: object) -> str:
    text = v.parse_str(raw)
    return text


def _max_buckets(value: int) -> None:
    if value < 0:
        raise ValueError(
            f"Failed to parse value [{value}] for setting [search.max_buckets] must be >= 0"
        )


CLUSTER_SETTINGS: tuple[Setting, ...] = (
    Setting("action.auto_create_index", _auto_create, "true", Scope.CLUSTER, dynamic=True),
    Setting("action.destructive_requires_name", v.parse_bool, True, Scope.CLUSTER, dynamic=True),
    Setting(
        "search.max_buckets",
        v.parse_int,
        65536,
        Scope.CLUSTER,
        dynamic=True,
        validator=_max_buckets,  # read by actions.search_query_phase; enforced by aggs_core.AggContext
    ),
    Setting(
        "search.default_search_timeout",
        v.parse_time,
        v.TimeValue(-1, "-1"),
        Scope.CLUSTER,
        dynamic=True,
    ),
    Setting(
        "search.default_keep_alive",
        v.parse_time,
        v.TimeValue(300_000, "5m"),
        Scope.CLUSTER,
        dynamic=True,
    ),
    Setting(
        "search.max_open_scroll_context",
        v.parse_int,
        500,
        Scope.CLUSTER,
        dynamic=True,
        validator=_int_at_least(0),
    ),
    # OpenSearch's limit on point-in-time contexts (ES bounds scroll contexts only).
    Setting(
        "search.max_open_pit_context",
        v.parse_int,
        300,
        Scope.CLUSTER,
        dynamic=True,
        validator=_int_at_least(0),
    ),
    Setting(
        "search.max_keep_alive",
        v.parse_time,
        v.TimeValue(24 * 3_600_000, "24h"),
        Scope.CLUSTER,
        dynamic=True,
        validator=_time_not_negative,
    ),
    Setting(
        "search.max_async_search_response_size",
        v.parse_bytes,
        10 * 1024 * 1024,
        Scope.CLUSTER,
        dynamic=True,
    ),
    Setting("cluster.routing.allocation.enable", v.parse_str, "all", Scope.CLUSTER, dynamic=True),
    Setting("cluster.max_shards_per_node", v.parse_int, 1000, Scope.CLUSTER, dynamic=True),
    Setting("cluster.blocks.read_only", v.parse_bool, False, Scope.CLUSTER, dynamic=True),
    # The block the disk monitor's flood stage lifts and sets on indices (cluster/blocks.py).
    Setting(
        "cluster.blocks.read_only_allow_delete", v.parse_bool, False, Scope.CLUSTER, dynamic=True
    ),
    Setting(
        "indices.recovery.max_bytes_per_sec",
        v.parse_bytes,
        40 * 1024 * 1024,
        Scope.CLUSTER,
        dynamic=True,
    ),
    Setting("logger.*", v.parse_log_level, None, Scope.CLUSTER, dynamic=True),
)


# --- index settings ------------------------------------------------------------------------------


def _positive(lo: int, hi: int, key: str) -> Callable[[int], None]:
    def check(value: int) -> None:
        if not lo <= value <= hi:
            bound = f"<= {hi}" if value > hi else f">= {lo}"
            raise ValueError(f"Failed to parse value [{value}] for setting [{key}] must be {bound}")

    return check


def _active_shard_count(raw: object) -> str:
    """ES's ActiveShardCount.parseString: ``all`` or a number of copies >= 0."""
    text = v.parse_str(raw)
    if text.lower() == "all":
        return text
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"cannot parse ActiveShardCount[{text}]") from None
    if count < 0:
        raise ValueError("shard count cannot be a negative value")
    return text


def _durability(raw: object) -> str:
    text = v.parse_str(raw).lower()
    if text not in ("request", "async"):
        raise ValueError(
            f"No enum constant org.elasticsearch.index.translog.Translog.Durability.{text.upper()}"
        )
    return text


INDEX_SETTINGS = (
    Setting(
        "index.number_of_shards",
        v.parse_int,
        1,
        Scope.INDEX,
        validator=_positive(1, 1024, "index.number_of_shards"),
    ),
    Setting(
        "index.number_of_replicas",
        v.parse_int,
        1,
        Scope.INDEX,
        dynamic=True,
        validator=_positive(0, 1024, "index.number_of_replicas"),
    ),
    Setting(
        "index.refresh_interval", v.parse_time, v.TimeValue(1000, "1s"), Scope.INDEX, dynamic=True
    ),
    Setting(
        "index.max_result_window",
        v.parse_int,
        10000,
        Scope.INDEX,
        dynamic=True,
        validator=_int_at_least(1),
    ),
    Setting(
        "index.max_rescore_window",
        v.parse_int,
        10000,
        Scope.INDEX,
        dynamic=True,
        validator=_int_at_least(1),
    ),
    Setting(
        "index.max_docvalue_fields_search",
        v.parse_int,
        100,
        Scope.INDEX,
        dynamic=True,
        validator=_int_at_least(0),
    ),
    Setting("index.translog.durability", _durability, "request", Scope.INDEX, dynamic=True),
    Setting(
        "index.write.wait_for_active_shards",
        _active_shard_count,
        "1",
        Scope.INDEX,
        dynamic=True,
    ),
    Setting(
        "index.soft_deletes.retention_lease.period",
        v.parse_time,
        v.TimeValue(12 * 3_600_000, "12h"),
        Scope.INDEX,
        dynamic=True,
    ),
    Setting("index.soft_deletes.retention.operations", v.parse_int, 0, Scope.INDEX, dynamic=True),
    Setting("index.blocks.write", v.parse_bool, False, Scope.INDEX, dynamic=True),
    Setting("index.blocks.read_only", v.parse_bool, False, Scope.INDEX, dynamic=True),
    Setting("index.hidden", v.parse_bool, False, Scope.INDEX, dynamic=True),
    Setting("index.auto_expand_replicas", parse_auto_expand, "false", Scope.INDEX, dynamic=True),
    # Static; checked against the shard count when the index is created (cluster/routing.py).
    Setting(
        "index.number_of_routing_shards",
        v.parse_int,
        1,
        Scope.INDEX,
        validator=_int_at_least(1),
    ),
    Setting("index.codec", v.parse_str, "default", Scope.INDEX),
    # Static, and replicated by CCR (a follower closes and reopens to take a new value);
    # accepted and kept, as Isthmus has no query cache to turn off.
    Setting("index.queries.cache.enabled", v.parse_bool, True, Scope.INDEX),
    Setting("index.max_terms_count", v.parse_int, 65536, Scope.INDEX, dynamic=True),
    # ES's index lifecycle settings, which real templates (Beats, Fleet, Logstash) carry:
    # accepted, validated and kept so those templates apply; Isthmus runs no lifecycle policy.
    Setting("index.lifecycle.name", v.parse_str, "", Scope.INDEX, dynamic=True),
    Setting("index.lifecycle.rollover_alias", v.parse_str, "", Scope.INDEX, dynamic=True),
    Setting("index.lifecycle.indexing_complete", v.parse_bool, False, Scope.INDEX, dynamic=True),
    Setting("index.lifecycle.origination_date", v.parse_int, -1, Scope.INDEX, dynamic=True),
    Setting(
        "index.lifecycle.parse_origination_date", v.parse_bool, False, Scope.INDEX, dynamic=True
    ),
)


def _regex_length_not_negative(value: int) -> None:
    if value < 0:
        raise ValueError(
            f"Failed to parse value [{value}] for setting [index.max_regex_length] must be >= 0"
        )


# Read by search (search/term_patterns.py, actions/search_targets.py).
MAX_REGEX_LENGTH = Setting(
    "index.max_regex_length",
    v.parse_int,
    1000,
    Scope.INDEX,
    dynamic=True,
    validator=_regex_length_not_negative,
)
# Index settings that ``GET <index>/_settings?include_defaults`` does not list among the defaults
# (it lists INDEX_SETTINGS): accepted and validated like the others.
UNLISTED_INDEX_SETTINGS: tuple[Setting, ...] = (
    MAX_REGEX_LENGTH,
    # Set by the disk monitor at the flood stage, lifted by hand (cluster/blocks.py).
    Setting("index.blocks.read_only_allow_delete", v.parse_bool, False, Scope.INDEX, dynamic=True),
)
