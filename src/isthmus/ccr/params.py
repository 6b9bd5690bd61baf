"""Follow parameters and the follow request bodies, read as Elasticsearch reads them.  [no I/O]

``PUT /<follower>/_ccr/follow`` and ``POST /<follower>/_ccr/resume_follow`` share ES's
``FollowParameters``: ten tuning values, each optional in a request and filled with ES's default
when the follow task is built. What a body may hold, the x-content errors for a wrong type or an
unknown field, and the validation messages (``Validation Failed: 1: ...;``) follow ES's object
parser and ``FollowParameters.validate``. Values are kept with the text the user wrote (ES's
``getStringRep``), so ``_ccr/info`` shows ``"32mb"`` and ``"500ms"`` back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from isthmus.errors import (
    ActionRequestValidationError,
    ElasticsearchParseError,
    IllegalArgumentError,
    XContentParseError,
)
from isthmus.settings.values import TimeValue, parse_time
from isthmus.xcontent import as_int, as_object, as_str, unknown_field

PUT_FOLLOW_PARSER = "indices:admin/xpack/ccr/put_follow"
RESUME_FOLLOW_PARSER = "resume_follow"

# The longest max_retry_delay ES accepts (FollowParameters.RETRY_DELAY_MAX).
RETRY_DELAY_MAX = TimeValue(300_000, "5m")
_LONG_MAX = 2**63 - 1
# ES's put-follow answers once the shard copies it waits for are active or after its
# acknowledgement timeout: 30 s, which its REST layer does not let a caller change; Isthmus
# also takes ``?timeout`` (the route's common parameter) to shorten it.
DEFAULT_WAIT_TIMEOUT = TimeValue(30_000, "30s")
_BYTE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


@dataclass(frozen=True, slots=True)
class ByteSize:
    """A byte size as ES keeps it: the value and the text it was written with."""

    bytes: int
    text: str


def parse_byte_size(raw: str, name: str) -> ByteSize:
    """ES's ``ByteSizeValue.parseBytesSizeValue``: a unit is required (except for 0 and -1)."""
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("0", "-1"):
        return ByteSize(int(lowered), text)
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb|k|m|g|t|p)", lowered)
    if m is None:
        raise ElasticsearchParseError(
            f"failed to parse setting [{name}] with value [{text}] as a size in bytes: unit is "
            "missing or unrecognized"
        )
    unit = m.group(2)
    unit = unit if unit == "b" or len(unit) == 2 else unit + "b"
    value = float(m.group(1)) * _BYTE_UNITS[unit]
    if value > _LONG_MAX:
        raise ElasticsearchParseError(
            f"Values greater than {_LONG_MAX} bytes are not supported: {text}"
        )
    return ByteSize(int(value), text)


@dataclass(frozen=True)
class FollowParameters:
    """ES's ``FollowParameters``: ``None`` means "not given" (the default applies)."""

    max_read_request_operation_count: int | None = None
    max_write_request_operation_count: int | None = None
    max_outstanding_read_requests: int | None = None
    max_outstanding_write_requests: int | None = None
    max_read_request_size: ByteSize | None = None
    max_write_request_size: ByteSize | None = None
    max_write_buffer_count: int | None = None
    max_write_buffer_size: ByteSize | None = None
    max_retry_delay: TimeValue | None = None
    read_poll_timeout: TimeValue | None = None

    def validate(self) -> list[str]:
        """ES's validation messages, in its order."""
        errors: list[str] = []
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if value is not None and value < 1:
                errors.append(f"{name} must be larger than 0")
            if name == "max_read_request_operation_count":
                size = self.max_read_request_size
                if size is not None and size.bytes <= 0:
                    errors.append("max_read_request_size must be larger than 0")
            if name == "max_write_request_operation_count":
                size = self.max_write_request_size
                if size is not None and size.bytes <= 0:
                    errors.append("max_write_request_size must be larger than 0")
        if self.max_write_buffer_size is not None and self.max_write_buffer_size.bytes <= 0:
            errors.append("max_write_buffer_size must be larger than 0")
        delay = self.max_retry_delay
        if delay is not None and delay.millis <= 0:
            errors.append(f"[max_retry_delay] must be positive but was [{delay.text}]")
        if delay is not None and delay.millis > RETRY_DELAY_MAX.millis:
            errors.append(
                f"[max_retry_delay] must be less than [{RETRY_DELAY_MAX.text}] but was "
                f"[{delay.text}]"
            )
        return errors

    def resolved(self) -> ResolvedParameters:
        """Every value, ES's default where none was given."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(
            DEFAULTS, **{name: value for name, value in values.items() if value is not None}
        )

    def to_store(self) -> dict[str, str]:
        """The given values as text (the follower's persisted task parameters)."""
        return {name: _text(value) for name, value in _given(self).items()}

    @classmethod
    def from_store(cls, stored: Mapping[str, str]) -> FollowParameters:
        return parse_parameters(RESUME_FOLLOW_PARSER, stored, consumed=set())[0]


# The order ES checks the count fields in (size checks come after their count).
_INT_FIELDS = (
    "max_read_request_operation_count",
    "max_outstanding_read_requests",
    "max_write_request_operation_count",
    "max_outstanding_write_requests",
    "max_write_buffer_count",
)
_SIZE_FIELDS = ("max_read_request_size", "max_write_request_size", "max_write_buffer_size")
_TIME_FIELDS = ("max_retry_delay", "read_poll_timeout")
# ES's toXContentFragment order (``_ccr/info`` parameters).
_RENDER_ORDER = (
    "max_read_request_operation_count",
    "max_write_request_operation_count",
    "max_outstanding_read_requests",
    "max_outstanding_write_requests",
    "max_read_request_size",
    "max_write_request_size",
    "max_write_buffer_count",
    "max_write_buffer_size",
    "max_retry_delay",
    "read_poll_timeout",
)


def _text(value: int | ByteSize | TimeValue) -> str:
    return value.text if isinstance(value, ByteSize | TimeValue) else str(value)


def _given(params: FollowParameters) -> dict[str, int | ByteSize | TimeValue]:
    return {n: getattr(params, n) for n in _RENDER_ORDER if getattr(params, n) is not None}


@dataclass(frozen=True)
class ResolvedParameters:
    """The parameters a follow task runs with (every value set)."""

    max_read_request_operation_count: int
    max_write_request_operation_count: int
    max_outstanding_read_requests: int
    max_outstanding_write_requests: int
    max_read_request_size: ByteSize
    max_write_request_size: ByteSize
    max_write_buffer_count: int
    max_write_buffer_size: ByteSize
    max_retry_delay: TimeValue
    read_poll_timeout: TimeValue

    def to_json(self) -> dict[str, Any]:
        """``_ccr/info``'s ``parameters`` (numbers as numbers, sizes and times as text)."""
        out: dict[str, Any] = {}
        for name in _RENDER_ORDER:
            value = getattr(self, name)
            out[name] = value.text if isinstance(value, ByteSize | TimeValue) else value
        return out


# ES's defaults (TransportResumeFollowAction).
DEFAULTS = ResolvedParameters(
    max_read_request_operation_count=5120,
    max_write_request_operation_count=5120,
    max_outstanding_read_requests=12,
    max_outstanding_write_requests=9,
    max_read_request_size=ByteSize(32 * 1024**2, "32mb"),
    max_write_request_size=ByteSize(_LONG_MAX, f"{_LONG_MAX}b"),
    max_write_buffer_count=2**31 - 1,
    max_write_buffer_size=ByteSize(512 * 1024**2, "512mb"),
    max_retry_delay=TimeValue(500, "500ms"),
    read_poll_timeout=TimeValue(60_000, "1m"),
)


def parse_parameters(
    parser: str, body: Mapping[str, Any], consumed: set[str]
) -> tuple[FollowParameters, set[str]]:
    values: dict[str, Any] = {}
    for name in _INT_FIELDS:
        if name in body:
            values[name] = as_int(parser, name, body[name])
    for name in _SIZE_FIELDS:
        if name in body:
            text = as_str(parser, name, body[name])
            try:
                values[name] = parse_byte_size(text, name)
            except ElasticsearchParseError as exc:
                raise XContentParseError(
                    f"[{parser}] failed to parse field [{name}]", caused_by=exc
                ) from None
    for name in _TIME_FIELDS:
        if name in body:
            text = as_str(parser, name, body[name])
            try:
                values[name] = parse_time(text, name)
            except ValueError as exc:
                raise XContentParseError(
                    f"[{parser}] failed to parse field [{name}]",
                    caused_by=ElasticsearchParseError(str(exc)),
                ) from None
    return FollowParameters(**values), consumed | set(values)


def check_unknown(parser: str, body: Mapping[str, Any], known: set[str]) -> None:
    """ES's object parser refuses an undeclared key, suggesting the declared ones."""
    for key in body:
        if key not in known:
            raise unknown_field(parser, key, known)


def raise_validation(errors: list[str]) -> None:
    if errors:
        numbered = "".join(f"{i}: {msg};" for i, msg in enumerate(errors, 1))
        raise ActionRequestValidationError(f"Validation Failed: {numbered}")


_KNOWN_PARAMETERS = set(_RENDER_ORDER)


def parse_resume_body(body: Mapping[str, Any] | None) -> FollowParameters:
    """``resume_follow``'s optional body: only the tuning parameters."""
    if not body:
        return FollowParameters()
    check_unknown(RESUME_FOLLOW_PARSER, body, _KNOWN_PARAMETERS)
    params, _ = parse_parameters(RESUME_FOLLOW_PARSER, body, set())
    raise_validation(params.validate())
    return params


@dataclass(frozen=True)
class PutFollowRequest:
    follower_index: str
    remote_cluster: str
    leader_index: str
    parameters: FollowParameters
    settings: dict[str, str] = field(default_factory=dict)
    data_stream_name: str | None = None
    wait_for_active_shards: str = "0"
    # How long the call waits for those shard copies (ES's acknowledgement timeout, 30 s).
    wait_timeout: TimeValue = DEFAULT_WAIT_TIMEOUT


def parse_put_follow(
    follower_index: str,
    body: Mapping[str, Any] | None,
    wait_for_active_shards: str | None,
    timeout: str | None = None,
) -> PutFollowRequest:
    """``PUT /<follower>/_ccr/follow``: ES's parser, then its validation (all messages at once);
    ``wait_for_active_shards`` and ``timeout`` are the URL's parameters."""
    body = body or {}
    parser = PUT_FOLLOW_PARSER
    known = _KNOWN_PARAMETERS | {"remote_cluster", "leader_index", "settings", "data_stream_name"}
    check_unknown(parser, body, known)
    remote = (
        as_str(parser, "remote_cluster", body["remote_cluster"])
        if "remote_cluster" in body
        else None
    )
    leader = (
        as_str(parser, "leader_index", body["leader_index"]) if "leader_index" in body else None
    )
    stream = (
        as_str(parser, "data_stream_name", body["data_stream_name"])
        if body.get("data_stream_name") is not None
        else None
    )
    settings: dict[str, str] = {}
    if body.get("settings") is not None:
        settings = flat_settings(as_object(parser, "settings", body["settings"]))
    params, _ = parse_parameters(parser, body, set())
    errors = params.validate()
    if remote is None:
        errors.append("remote_cluster is missing")
    if leader is None:
        errors.append("leader_index is missing")
    if stream is not None and not stream.strip():
        errors.append("data stream name must contain text if present")
    raise_validation(errors)
    assert remote is not None and leader is not None
    return PutFollowRequest(
        follower_index,
        remote,
        leader,
        params,
        settings,
        stream,
        _active_shards(wait_for_active_shards),
        parse_time(timeout, "timeout") if timeout is not None else DEFAULT_WAIT_TIMEOUT,
    )


def _active_shards(raw: str | None) -> str:
    """``wait_for_active_shards``: ES's values (a count, ``all``); no value means none, as ES's
    put-follow request turns its ``DEFAULT`` into ``NONE``. The errors are ES's
    ``ActiveShardCount.parseString`` and ``from`` (which know no ``default`` word either)."""
    if raw is None:
        return "0"
    if raw == "all":
        return raw
    try:
        count = int(raw)
    except ValueError:
        raise IllegalArgumentError(f"cannot parse ActiveShardCount[{raw}]") from None
    if count < 0:
        raise IllegalArgumentError("shard count cannot be a negative value")
    return str(count)


def enough_shards_active(wanted: str, active: Sequence[int], replicas: int) -> bool:
    """ES's ``ActiveShardCount.enoughShardsActive`` for one index: ``active`` holds each
    shard's active copies; ``all`` wants the primary and every replica of each shard, a count
    wants at least that many copies of each (more than a shard has is never met)."""
    if wanted == "0":
        return True
    needed = replicas + 1 if wanted == "all" else int(wanted)
    return all(copies >= needed for copies in active)


def flat_settings(raw: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as flat ``index.*`` keys with string values (ES's ``Settings``)."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_settings(value, name + "."))
        elif isinstance(value, list):
            out[name] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is None:
            continue
        else:
            out[name] = str(value)
    return {k if k.startswith("index.") else f"index.{k}": v for k, v in out.items()}
