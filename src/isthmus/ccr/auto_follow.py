"""Auto-follow patterns: their request bodies, stored form and matching rules.  [no I/O]

ES's ``AutoFollowMetadata.AutoFollowPattern``: a remote cluster alias, leader index patterns
(ES's simple ``*`` wildcards) with exclusions, a follower name template (``{{leader_index}}``
is replaced by the leader's name; default: the leader's name), follower settings and the follow
parameters, and whether it is active. The patterns live in the cluster metadata (a custom of its
own), with, per pattern, the uuids of the leader indices it has already handled: those that
existed when the pattern was created count as handled, so only indices created afterwards are
followed (ES's rule), and an index is never followed twice by one pattern. A data stream's
backing index matches by its own name or by its stream's, so ``logs-*`` follows every new
backing index of the streams it names (each rollover's on the leader included).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from isthmus.ccr.params import (
    FollowParameters,
    check_unknown,
    flat_settings,
    parse_parameters,
    raise_validation,
)
from isthmus.cluster.data_streams import BACKING_PREFIX
from isthmus.errors import IllegalArgumentError, ResourceNotFoundError
from isthmus.xcontent import as_list, as_object, as_str

PARSER = "put_auto_follow_pattern_request"
# ES's DS_BACKING_PATTERN: [prefix up to .ds-][stream]-[date][-generation]
_BACKING_NAME = re.compile(r"^(.*?\.ds-)(.+)-(\d{4}.\d{2}.\d{2})(-\d+)?$")
CUSTOM_KEY = "ccr_auto_follow"
LEADER_INDEX_PLACEHOLDER = "{{leader_index}}"
MAX_NAME_BYTES = 255
_FIELDS = {
    "remote_cluster",
    "leader_index_patterns",
    "leader_index_exclusion_patterns",
    "follow_index_pattern",
    "settings",
}


@dataclass(frozen=True)
class AutoFollowPattern:
    remote_cluster: str
    leader_index_patterns: tuple[str, ...]
    leader_index_exclusion_patterns: tuple[str, ...] = ()
    follow_index_pattern: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    parameters: FollowParameters = field(default_factory=FollowParameters)
    active: bool = True
    # Leader index uuids this pattern has handled (followed, or existing when it was made).
    followed: tuple[str, ...] = ()
    user: str | None = None

    def matches(self, leader_index: str, data_stream: str | None = None) -> bool:
        """ES's ``AutoFollowPattern.match``: some pattern matches, no exclusion does, either
        the index's name or the name of the data stream it backs (``logs-*`` follows the
        backing indices ``.ds-logs-web-...`` of stream ``logs-web``)."""
        return any(
            _any(name, self.leader_index_patterns)
            and not _any(name, self.leader_index_exclusion_patterns)
            for name in (leader_index, data_stream)
            if name is not None
        )

    def names_hidden(self) -> bool:
        """Whether the pattern may pick hidden indices (ES: a pattern starting with '.')."""
        return any(p.startswith(".") for p in self.leader_index_patterns)

    def follower_name(self, leader_index: str) -> str:
        """ES's ``getFollowerIndexName``: the template with the leader's name; for a backing
        index, the template renames the stream's part of its name (``{{leader_index}}_copy``:
        ``.ds-logs-web-2026.12.07-000001`` → ``.ds-logs-web_copy-2026.12.07-000001``)."""
        template = self.follow_index_pattern
        if template is None:
            return leader_index
        if BACKING_PREFIX in leader_index:
            parts = _BACKING_NAME.match(leader_index)
            if parts is None:
                raise IllegalArgumentError(
                    f"unable to determine follower index name from leader index name "
                    f"[{leader_index}] and follow index pattern: [{template}], index appears to "
                    "follow a regular data stream backing pattern, but could not be parsed"
                )
            prefix, stream_part, date, generation = parts.groups()
            renamed = template.replace(LEADER_INDEX_PLACEHOLDER, stream_part)
            return f"{prefix}{renamed}-{date}{generation or ''}"
        return template.replace(LEADER_INDEX_PLACEHOLDER, leader_index)

    def data_stream_name(self, leader_stream: str | None) -> str | None:
        """The local stream's name for a backing index of ``leader_stream`` (ES sends it as the
        put follow's ``data_stream_name`` when the pattern renames: the template applied to
        the stream's name); None: the leader's name."""
        if leader_stream is None or self.follow_index_pattern is None:
            return None
        return self.follow_index_pattern.replace(LEADER_INDEX_PLACEHOLDER, leader_stream)

    def handled(self, uuids: Iterable[str]) -> AutoFollowPattern:
        return replace(self, followed=tuple(dict.fromkeys((*self.followed, *uuids))))

    def to_json(self) -> dict[str, Any]:
        """``GET _ccr/auto_follow``'s ``pattern`` (ES's field order; given parameters only)."""
        out: dict[str, Any] = {
            "active": self.active,
            "remote_cluster": self.remote_cluster,
            "leader_index_patterns": list(self.leader_index_patterns),
            "leader_index_exclusion_patterns": list(self.leader_index_exclusion_patterns),
        }
        if self.follow_index_pattern is not None:
            out["follow_index_pattern"] = self.follow_index_pattern
        if self.settings:
            out["settings"] = dict(self.settings)
        given = self.parameters.resolved().to_json()
        stored = self.parameters.to_store()
        out.update({name: given[name] for name in stored})
        return out

    def to_store(self) -> dict[str, Any]:
        return {
            "remote_cluster": self.remote_cluster,
            "leader_index_patterns": list(self.leader_index_patterns),
            "leader_index_exclusion_patterns": list(self.leader_index_exclusion_patterns),
            "follow_index_pattern": self.follow_index_pattern,
            "settings": dict(self.settings),
            "parameters": self.parameters.to_store(),
            "active": self.active,
            "followed": list(self.followed),
            "user": self.user,
        }

    @classmethod
    def from_store(cls, raw: Mapping[str, Any]) -> AutoFollowPattern:
        return cls(
            remote_cluster=raw["remote_cluster"],
            leader_index_patterns=tuple(raw["leader_index_patterns"]),
            leader_index_exclusion_patterns=tuple(raw.get("leader_index_exclusion_patterns", ())),
            follow_index_pattern=raw.get("follow_index_pattern"),
            settings=dict(raw.get("settings") or {}),
            parameters=FollowParameters.from_store(raw.get("parameters") or {}),
            active=bool(raw.get("active", True)),
            followed=tuple(raw.get("followed", ())),
            user=raw.get("user"),
        )


def _any(name: str, patterns: Iterable[str]) -> bool:
    # ES's Regex.simpleMatch: only '*' is special.
    return any(
        fnmatch.fnmatchcase(name, p.replace("[", "[[]").replace("?", "[?]")) for p in patterns
    )


def parse_put_pattern(name: str, body: Mapping[str, Any] | None) -> AutoFollowPattern:
    """``PUT /_ccr/auto_follow/<name>``: ES's parser and validation (all messages at once)."""
    body = body or {}
    check_unknown(PARSER, body, _FIELDS | _parameter_names())
    remote = (
        as_str(PARSER, "remote_cluster", body["remote_cluster"])
        if "remote_cluster" in body
        else None
    )
    patterns = _strings("leader_index_patterns", body.get("leader_index_patterns"))
    exclusions = _strings(
        "leader_index_exclusion_patterns", body.get("leader_index_exclusion_patterns")
    )
    template = (
        as_str(PARSER, "follow_index_pattern", body["follow_index_pattern"])
        if body.get("follow_index_pattern") is not None
        else None
    )
    settings = (
        flat_settings(as_object(PARSER, "settings", body["settings"]))
        if body.get("settings") is not None
        else {}
    )
    parameters, _ = parse_parameters(PARSER, body, set())
    errors = parameters.validate()
    if "," in name:
        errors.append("[name] name must not contain a ','")
    if name.startswith("_"):
        errors.append("[name] name must not start with '_'")
    size = len(name.encode())
    if size > MAX_NAME_BYTES:
        errors.append(f"[name] name is too long ({size} > {MAX_NAME_BYTES})")
    if remote is None:
        errors.append("[remote_cluster] is missing")
    if not patterns:
        errors.append("[leader_index_patterns] is missing")
    raise_validation(errors)
    assert remote is not None
    return AutoFollowPattern(remote, patterns, exclusions, template, settings, parameters)


def _strings(field_name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(as_str(PARSER, field_name, v) for v in as_list(PARSER, field_name, value))


def _parameter_names() -> set[str]:
    return set(FollowParameters.__dataclass_fields__)


def patterns_of(customs: Mapping[str, Any]) -> dict[str, AutoFollowPattern]:
    raw = customs.get(CUSTOM_KEY) or {}
    return {name: AutoFollowPattern.from_store(body) for name, body in raw.items()}


def with_patterns(
    customs: Mapping[str, Any], patterns: Mapping[str, AutoFollowPattern]
) -> dict[str, Any]:
    out = {k: v for k, v in customs.items() if k != CUSTOM_KEY}
    if patterns:
        out[CUSTOM_KEY] = {name: p.to_store() for name, p in patterns.items()}
    return out


def missing(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"auto-follow pattern [{name}] is missing")
