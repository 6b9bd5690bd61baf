"""Cross-cluster API keys: request parsing, the ``cross_cluster`` role descriptor, validation.  [no I/O]

A cross-cluster API key is not given privileges: its ``access`` (``search`` and/or
``replication`` entries naming indices) is turned into one role descriptor named
``cross_cluster`` with fixed privileges, as Elasticsearch's ``CrossClusterApiKeyRoleDescriptorBuilder``
does (ES 8.14+ / 9.x):

* cluster ``["cross_cluster_search", "monitor_enrich"]`` for search, ``["cross_cluster_replication"]``
  for replication, ``["cross_cluster_search", "monitor_enrich", "cross_cluster_replication"]`` for both;
* every search entry gets the index privileges ``read, read_cross_cluster, view_index_metadata``,
  every replication entry ``cross_cluster_replication, cross_cluster_replication_internal``.

Request bodies are parsed the way ES's object parsers read them, field by field in body order,
so the first problem found is the one ES reports, with ES's error types, nesting and texts
(``x_content_parse_exception`` wrapping ``parse_exception``/``illegal_argument_exception``).
ES prefixes its ``x_content_parse_exception`` reasons with the JSON position (``[1:23] ``);
Isthmus works on the decoded body and leaves that prefix out, as its other parsers do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.errors import (
    ActionRequestValidationError,
    ElasticsearchParseError,
    IllegalArgumentError,
    IsthmusError,
    XContentParseError,
)
from isthmus.security.roles import FieldSecurity, IndicesPrivileges, RoleDescriptor
from isthmus.settings.values import parse_time
from isthmus.xcontent import unknown_field

ROLE_DESCRIPTOR_NAME = "cross_cluster"
CCS_CLUSTER_PRIVILEGES = ("cross_cluster_search", "monitor_enrich")
CCR_CLUSTER_PRIVILEGES = ("cross_cluster_replication",)
CCS_AND_CCR_CLUSTER_PRIVILEGES = CCS_CLUSTER_PRIVILEGES + CCR_CLUSTER_PRIVILEGES
CCS_INDEX_PRIVILEGES = ("read", "read_cross_cluster", "view_index_metadata")
CCR_INDEX_PRIVILEGES = ("cross_cluster_replication", "cross_cluster_replication_internal")
# The secret of a cross-cluster credential is exactly this long (ES's API key secret length).
SECRET_LENGTH = 22
CREDENTIALS_HEADER = "_cross_cluster_access_credentials"

_CREATE_PARSER = "cross_cluster_api_key_request"
_UPDATE_PARSER = "update_cross_cluster_api_key_request_payload"
_ACCESS_PARSER = "cross_cluster_api_key_request_access"
_CREATE_FIELDS = ("name", "access", "expiration", "metadata")
_UPDATE_FIELDS = ("access", "metadata", "expiration")
_ACCESS_FIELDS = ("search", "replication")
_NAME_LIMIT = 256


# --- small parsing helpers -------------------------------------------------------------------


def token(value: Any) -> str:
    """The Jackson token ES names for a JSON value in its messages."""
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def _unknown_field(parser: str, key: str, candidates: Sequence[str]) -> IsthmusError:
    return unknown_field(parser, key, candidates)


def _unsupported(parser: str, key: str, value: Any) -> XContentParseError:
    return XContentParseError(f"[{parser}] {key} doesn't support values of type: {token(value)}")


# --- access entries ----------------------------------------------------------------------------


def _role_error(message: str) -> ElasticsearchParseError:
    return ElasticsearchParseError(
        f"failed to parse indices privileges for role [{ROLE_DESCRIPTOR_NAME}]. {message}"
    )


def _string_array(field: str, value: Any, *, allow_null: bool) -> tuple[str, ...] | None:
    """``XContentUtils.readStringArray`` with the role descriptor's re-wrap."""
    inner: str | None = None
    if value is None:
        if allow_null:
            return None
        inner = (
            f"could not parse [{field}] field. expected a string array but found null value instead"
        )
    elif not isinstance(value, list):
        inner = (
            f"could not parse [{field}] field. expected a string array but found "
            f"[{token(value)}] value instead"
        )
    else:
        for item in value:
            if not isinstance(item, str):
                # Inside an array the JSON parser has no current field name.
                inner = (
                    "could not parse [null] field. expected a string array but one of the value "
                    f"in the array is [{token(item)}]"
                )
                break
    if inner is not None:
        raise ElasticsearchParseError(
            f"failed to parse role [{ROLE_DESCRIPTOR_NAME}]",
            caused_by=ElasticsearchParseError(inner),
        )
    assert isinstance(value, list)
    return tuple(value)


def _field_security(raw: Any) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if not isinstance(raw, Mapping):
        raise _role_error(f'expected START_OBJECT but got {token(raw)} in "field_security".')
    if not raw:
        raise _role_error('"field_security" must not be empty.')
    grant: tuple[str, ...] | None = None
    except_: tuple[str, ...] | None = None
    for key, value in raw.items():
        if key == "grant":
            grant = _string_array("grant", value, allow_null=True)
            if grant is None:
                raise _role_error("grant must not be null.")
        elif key == "except":
            except_ = _string_array("except", value, allow_null=True)
            if except_ is None:
                raise _role_error("except must not be null.")
        else:
            raise _role_error(
                f'"field_security" only accepts options grant and except, but got: {key}'
            )
    return grant, except_


def parse_entry(raw: Any, privileges: tuple[str, ...]) -> IndicesPrivileges:
    """One ``search``/``replication`` entry (ES's ``parseIndexWithPredefinedPrivileges``)."""
    if not isinstance(raw, Mapping):
        # An element of an array: ES's JSON parser reports no field name there.
        raise _role_error(
            "expected field [null] value to be an array of objects, but found an array element "
            f"of type [{token(raw)}]"
        )
    names: tuple[str, ...] | None = None
    query: str | None = None
    grant: tuple[str, ...] | None = None
    except_: tuple[str, ...] | None = None
    restricted = False
    for key, value in raw.items():
        if key == "names":
            if isinstance(value, str):
                names = (value,)
            elif isinstance(value, list):
                names = _string_array("names", value, allow_null=False)
                if not names:
                    raise _role_error("[names] cannot be an empty array")
            else:
                raise _role_error(
                    "expected field [names] value to be a string or an array of strings, but "
                    f"found [{token(value)}] instead"
                )
        elif key == "allow_restricted_indices":
            if not isinstance(value, bool):
                raise _role_error(
                    "expected field [allow_restricted_indices] value to be a boolean, but found "
                    f"[{token(value)}] instead"
                )
            restricted = value
        elif key == "query":
            if isinstance(value, Mapping):
                query = orjson.dumps(value).decode()
            elif isinstance(value, str):
                query = value or None
            elif value is not None:
                raise _role_error(
                    "expected field [query] value to be null, a string, an array, or an object, "
                    f"but found [{token(value)}] instead"
                )
        elif key == "field_security":
            grant, except_ = _field_security(value)
        elif key == "privileges":
            raise _role_error("field [privileges] must not present")
        elif key == "fields":
            raise ElasticsearchParseError(
                '["fields": [...]] format has changed for field permissions in role '
                f'[{ROLE_DESCRIPTOR_NAME}], use ["field_security": {{"grant":[...],"except":[...]}}] '
                "instead"
            )
        elif key == "transient_metadata":
            if not isinstance(value, Mapping):
                raise ElasticsearchParseError(
                    f"failed to parse transient metadata for role [{ROLE_DESCRIPTOR_NAME}]. "
                    f'expected START_OBJECT but got {token(value)} in "transient_metadata".'
                )
        else:
            raise _role_error(f"unexpected field [{key}]")
    if names is None:
        raise _role_error("missing required [names] field")
    if except_ is not None and grant is None:
        raise _role_error("field_security requires grant if except is given")
    field_security = None
    if grant is not None or except_ is not None:
        field_security = FieldSecurity(grant or (), except_ or ())
    return IndicesPrivileges(
        names=names,
        privileges=privileges,
        query=query,
        field_security=field_security,
        allow_restricted_indices=restricted,
    )


@dataclass(frozen=True)
class CrossClusterAccess:
    """A parsed ``access`` object, before it becomes a role descriptor."""

    search: tuple[IndicesPrivileges, ...] = ()
    replication: tuple[IndicesPrivileges, ...] = ()

    def build(self) -> RoleDescriptor:
        """The ``cross_cluster`` role descriptor (ES's ``build()``, with its messages)."""
        if not self.search and not self.replication:
            raise IllegalArgumentError(
                "must specify non-empty access for either [search] or [replication]"
            )
        cluster: tuple[str, ...]
        if not self.search:
            cluster = CCR_CLUSTER_PRIVILEGES
        elif not self.replication:
            cluster = CCS_CLUSTER_PRIVILEGES
        else:
            cluster = CCS_AND_CCR_CLUSTER_PRIVILEGES
            if any(uses_dls_or_fls(e) for e in self.search):
                raise IllegalArgumentError(
                    "search does not support document or field level security if replication "
                    "is assigned"
                )
        if any(uses_dls_or_fls(e) for e in self.replication):
            raise IllegalArgumentError(
                "replication does not support document or field level security"
            )
        return RoleDescriptor(
            name=ROLE_DESCRIPTOR_NAME,
            cluster=cluster,
            indices=self.search + self.replication,
        )


def uses_dls_or_fls(entry: IndicesPrivileges) -> bool:
    if entry.query is not None:
        return True
    fs = entry.field_security
    # ES: field security restricts unless it is exactly ``grant: ["*"]`` with no exceptions.
    return fs is not None and (fs.grant != ("*",) or bool(fs.except_))


def parse_access(raw: Mapping[str, Any]) -> CrossClusterAccess:
    """The ``access`` object; raises ES's ``x_content_parse_exception`` chain."""
    parsed: dict[str, tuple[IndicesPrivileges, ...]] = {}
    for key, value in raw.items():
        if key not in _ACCESS_FIELDS:
            raise _unknown_field(_ACCESS_PARSER, key, _ACCESS_FIELDS)
        if not isinstance(value, list | Mapping):
            raise _unsupported(_ACCESS_PARSER, key, value)
        items = value if isinstance(value, list) else [value]  # one object counts as a list
        privileges = CCS_INDEX_PRIVILEGES if key == "search" else CCR_INDEX_PRIVILEGES
        try:
            parsed[key] = tuple(parse_entry(item, privileges) for item in items)
        except IsthmusError as exc:
            raise XContentParseError(
                f"[{_ACCESS_PARSER}] failed to parse field [{key}]", caused_by=exc
            ) from None
    return CrossClusterAccess(parsed.get("search", ()), parsed.get("replication", ()))


def _parse_expiration(value: str | None) -> int | None:
    """Milliseconds, or None; ES's ``TimeValue.parseTimeValue(value, null, "expiration")``."""
    if value is None:
        return None
    try:
        return parse_time(value).millis
    except ValueError:
        raise ElasticsearchParseError(
            f"failed to parse setting [expiration] with value [{value}] as a time value: "
            "unit is missing or unrecognized"
        ) from None


# --- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequest:
    name: str
    descriptor: RoleDescriptor
    expiration_ms: int | None
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class UpdateRequest:
    descriptor: RoleDescriptor | None
    metadata: dict[str, Any] | None
    expiration_ms: int | None


def _read_fields(
    parser: str,
    body: Mapping[str, Any],
    fields: Sequence[str],
    build: Any,
) -> tuple[dict[str, Any], Any]:
    """Read ``body`` as ES's constructing object parser does: in body order, each value checked
    for its type; once every declared field has arrived the target is built on the spot, and
    a failure then is reported as a failure of that last field."""
    args: dict[str, Any] = {}
    built: Any = None
    for key, value in body.items():
        if key not in fields:
            raise _unknown_field(parser, key, fields)
        if key in ("name", "expiration"):
            if not isinstance(value, str):
                raise _unsupported(parser, key, value)
        elif not isinstance(value, Mapping):
            raise _unsupported(parser, key, value)
        if key == "access":
            try:
                value = parse_access(value)
            except IsthmusError as exc:
                raise XContentParseError(
                    f"[{parser}] failed to parse field [access]", caused_by=exc
                ) from None
        args[key] = value
        if len(args) == len(fields):
            try:
                built = _build_target(parser, build, args)
            except IsthmusError as exc:
                raise XContentParseError(
                    f"[{parser}] failed to parse field [{key}]", caused_by=exc
                ) from None
    return args, built


def _build_target(parser: str, build: Any, args: Mapping[str, Any]) -> Any:
    try:
        return build(args)
    except XContentParseError as exc:
        raise XContentParseError(
            f"failed to build [{parser}] after last required field arrived", caused_by=exc
        ) from None
    except IsthmusError as exc:
        raise XContentParseError(
            f"Failed to build [{parser}] after last required field arrived", caused_by=exc
        ) from None


def _build_create(args: Mapping[str, Any]) -> CreateRequest:
    # Java evaluates the expiration argument before the request's constructor builds access.
    expiration = _parse_expiration(args.get("expiration"))
    access = args["access"]
    assert isinstance(access, CrossClusterAccess)
    metadata = args.get("metadata")
    return CreateRequest(
        args["name"], access.build(), expiration, dict(metadata) if metadata is not None else None
    )


@dataclass(frozen=True)
class _UpdatePayload:
    access: CrossClusterAccess | None
    metadata: dict[str, Any] | None
    expiration_ms: int | None


def _build_update_payload(args: Mapping[str, Any]) -> _UpdatePayload:
    metadata = args.get("metadata")
    return _UpdatePayload(
        args.get("access"),
        dict(metadata) if metadata is not None else None,
        _parse_expiration(args.get("expiration")),
    )


def parse_create(body: Mapping[str, Any]) -> CreateRequest:
    """``POST /_security/cross_cluster/api_key``'s body, then the request's validation."""
    args, built = _read_fields(_CREATE_PARSER, body, _CREATE_FIELDS, _build_create)
    if built is None:
        missing = [f for f in ("name", "access") if f not in args]
        if missing:
            raise IllegalArgumentError(f"Required [{', '.join(missing)}]")
        built = _build_target(_CREATE_PARSER, _build_create, args)
    assert isinstance(built, CreateRequest)
    validate_create(built)
    return built


def parse_update(body: Mapping[str, Any]) -> UpdateRequest:
    """``PUT /_security/cross_cluster/api_key/<id>``'s body, then the request's validation."""
    args, built = _read_fields(_UPDATE_PARSER, body, _UPDATE_FIELDS, _build_update_payload)
    if built is None:
        built = _build_target(_UPDATE_PARSER, _build_update_payload, args)
    assert isinstance(built, _UpdatePayload)
    # The request is made from the payload outside the parser: access is built unwrapped.
    descriptor = built.access.build() if built.access is not None else None
    request = UpdateRequest(descriptor, built.metadata, built.expiration_ms)
    errors = _metadata_errors(request.metadata)
    if request.descriptor is None and request.metadata is None:
        errors.append("must update either [access] or [metadata] for cross-cluster API keys")
    _raise_validation(errors)
    return request


def _metadata_errors(metadata: Mapping[str, Any] | None) -> list[str]:
    if metadata is not None and any(str(k).startswith("_") for k in metadata):
        return ["API key metadata keys may not start with [_]"]
    return []


def _raise_validation(errors: list[str]) -> None:
    if errors:
        listed = "".join(f"{i}: {e};" for i, e in enumerate(errors, 1))
        raise ActionRequestValidationError(f"Validation Failed: {listed}")


def validate_create(request: CreateRequest) -> None:
    """ES's ``AbstractCreateApiKeyRequest.validate``."""
    errors: list[str] = []
    name = request.name
    if not name:
        errors.append("api key name is required")
    else:
        if len(name) > _NAME_LIMIT:
            errors.append(f"api key name may not be more than {_NAME_LIMIT} characters long")
        if name != name.strip():
            errors.append("api key name may not begin or end with whitespace")
        if name.startswith("_"):
            errors.append("api key name may not begin with an underscore")
    errors += _metadata_errors(request.metadata)
    _raise_validation(errors)


# --- stored descriptors ------------------------------------------------------------------------


def validate_descriptor(descriptor: RoleDescriptor) -> None:
    """ES's check of a stored ``cross_cluster`` descriptor (``validate``)."""
    if descriptor.name != ROLE_DESCRIPTOR_NAME:
        raise IllegalArgumentError(f"invalid role descriptor name [{descriptor.name}]")
    if descriptor.run_as:
        raise IllegalArgumentError("run_as privilege must be empty")
    if descriptor.remote_indices:
        raise IllegalArgumentError("remote indices privileges must be empty")
    if descriptor.remote_cluster:
        raise IllegalArgumentError("remote cluster permissions must be empty")
    cluster = descriptor.cluster
    if "cross_cluster_search" not in cluster and "cross_cluster_replication" not in cluster:
        raise IllegalArgumentError(f"invalid cluster privileges: [{','.join(cluster)}]")
    if not descriptor.indices:
        raise IllegalArgumentError("indices privileges must not be empty")
    for entry in descriptor.indices:
        if entry.privileges == CCR_INDEX_PRIVILEGES:
            if uses_dls_or_fls(entry):
                raise IllegalArgumentError(
                    "replication does not support document or field level security"
                )
        elif entry.privileges != CCS_INDEX_PRIVILEGES:
            # ES's text has no closing bracket.
            raise IllegalArgumentError(f"invalid indices privileges: [{','.join(entry.privileges)}")


def access_json(descriptor: RoleDescriptor) -> dict[str, Any]:
    """The ``access`` object ``GET /_security/api_key`` shows, derived from the descriptor: the
    entries without their (fixed) privileges, in ES's field order."""
    search: list[dict[str, Any]] = []
    replication: list[dict[str, Any]] = []
    for entry in descriptor.indices:
        rendered = {k: v for k, v in entry.to_json().items() if k != "privileges"}
        (search if entry.privileges == CCS_INDEX_PRIVILEGES else replication).append(rendered)
    out: dict[str, Any] = {}
    if search:
        out["search"] = search
    if replication:
        out["replication"] = replication
    return out


def parse_credential(header_value: str) -> tuple[str, str]:
    """``(id, secret)`` from a ``_cross_cluster_access_credentials`` value (``ApiKey <base64>``).

    Raises ES's ``cross cluster access header [...] value must be a valid API key credential``,
    caused by ``invalid ApiKey value`` (no colon) or ``invalid cross-cluster API key value``
    (a secret that is not 22 characters long)."""
    cause: IsthmusError | None = None
    valid = False
    key_id = secret = ""
    scheme, _, encoded = header_value.partition(" ")
    if scheme.lower() == "apikey" and encoded.strip():
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = None
        if decoded is not None:
            colon = decoded.find(":")
            if colon < 1:
                cause = IllegalArgumentError("invalid ApiKey value")
            else:
                key_id, secret = decoded[:colon], decoded[colon + 1 :]
                if len(secret) != SECRET_LENGTH:
                    cause = IllegalArgumentError("invalid cross-cluster API key value")
                else:
                    valid = True
    if not valid:
        raise IllegalArgumentError(
            f"cross cluster access header [{CREDENTIALS_HEADER}] value must be a valid API key "
            "credential",
            caused_by=cause,
        )
    return key_id, secret


__all__ = [
    "CCR_CLUSTER_PRIVILEGES",
    "CCR_INDEX_PRIVILEGES",
    "CCS_AND_CCR_CLUSTER_PRIVILEGES",
    "CCS_CLUSTER_PRIVILEGES",
    "CCS_INDEX_PRIVILEGES",
    "CREDENTIALS_HEADER",
    "ROLE_DESCRIPTOR_NAME",
    "CreateRequest",
    "CrossClusterAccess",
    "ElasticsearchParseError",
    "UpdateRequest",
    "access_json",
    "parse_access",
    "parse_create",
    "parse_credential",
    "parse_entry",
    "parse_update",
    "validate_create",
    "validate_descriptor",
]
