"""Cross-cluster API keys as values: the ``cross_cluster`` role descriptor built from ``access``,
request parsing with ES's error chains and texts, stored-descriptor validation, credentials, and
the service's create/update/authenticate paths for these keys."""

from __future__ import annotations

import ast
import base64
from pathlib import Path
from typing import Any

import pytest

from isthmus.errors import (
    ActionRequestValidationError,
    AuthenticationError,
    IllegalArgumentError,
    IsthmusError,
    ResourceNotFoundError,
)
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.privileges import index_grants, valid_index_privilege
from isthmus.security.roles import BUILTIN_ROLES, FieldSecurity, RoleDescriptor, parse_role
from isthmus.security.service import SecurityService
from isthmus.security.store import SecurityStore
from isthmus.xcontent import did_you_mean

SEARCH = ("read", "read_cross_cluster", "view_index_metadata")
REPLICATION = ("cross_cluster_replication", "cross_cluster_replication_internal")


def _build(access: dict[str, Any]) -> RoleDescriptor:
    return ccx.parse_access(access).build()


def _error(call: Any) -> IsthmusError:
    with pytest.raises(IsthmusError) as info:
        call()
    return info.value


def _chain(err: IsthmusError) -> list[tuple[str, str]]:
    out = []
    cur: IsthmusError | None = err
    while cur is not None:
        out.append((cur.es_type, cur.reason))
        cur = cur.caused_by
    return out


# --- the role descriptor ---------------------------------------------------------------------


def test_search_only_gets_ccs_privileges() -> None:
    rd = _build({"search": [{"names": ["metrics"]}]})
    assert rd.name == "cross_cluster"
    assert rd.cluster == ("cross_cluster_search", "monitor_enrich")
    assert [(i.names, i.privileges) for i in rd.indices] == [(("metrics",), SEARCH)]
    ccx.validate_descriptor(rd)


def test_replication_only_gets_ccr_privileges() -> None:
    rd = _build({"replication": [{"names": ["archive"], "allow_restricted_indices": True}]})
    assert rd.cluster == ("cross_cluster_replication",)
    (entry,) = rd.indices
    assert entry.privileges == REPLICATION
    assert entry.allow_restricted_indices is True
    ccx.validate_descriptor(rd)


def test_search_and_replication_concatenate_in_order() -> None:
    rd = _build(
        {
            "replication": [{"names": ["archive"]}],
            "search": [{"names": ["metrics"]}, {"names": "logs"}],
        }
    )
    assert rd.cluster == ("cross_cluster_search", "monitor_enrich", "cross_cluster_replication")
    assert [i.names for i in rd.indices] == [("metrics",), ("logs",), ("archive",)]
    assert [i.privileges for i in rd.indices] == [SEARCH, SEARCH, REPLICATION]


def test_search_keeps_dls_query_as_a_string_and_fls() -> None:
    rd = _build(
        {
            "search": [
                {"names": ["metrics"], "query": {"term": {"tag": 42}}},
                {"names": ["logs"], "field_security": {"grant": ["*"], "except": ["private"]}},
                {"names": ["raw"], "query": '{"match_all":{}}'},
                {"names": ["empty"], "query": ""},
            ]
        }
    )
    assert [i.query for i in rd.indices] == ['{"term":{"tag":42}}', None, '{"match_all":{}}', None]
    assert rd.indices[1].field_security == FieldSecurity(("*",), ("private",))
    assert rd.to_json()["indices"][0] == {
        "names": ["metrics"],
        "privileges": list(SEARCH),
        "query": '{"term":{"tag":42}}',
        "allow_restricted_indices": False,
    }


@pytest.mark.parametrize(
    "access", [{}, {"search": []}, {"replication": []}, {"search": [], "replication": []}]
)
def test_empty_access_is_refused(access: dict[str, Any]) -> None:
    err = _error(lambda: _build(access))
    assert isinstance(err, IllegalArgumentError)
    assert err.reason == "must specify non-empty access for either [search] or [replication]"


@pytest.mark.parametrize(
    "entry",
    [
        {"names": ["logs"], "query": {"term": {"tag": 42}}},
        {"names": ["logs"], "field_security": {"grant": ["*"], "except": ["private"]}},
        {"names": ["logs"], "field_security": {"grant": ["a"]}},
    ],
)
def test_replication_refuses_dls_and_fls(entry: dict[str, Any]) -> None:
    err = _error(lambda: _build({"replication": [entry]}))
    assert err.reason == "replication does not support document or field level security"
    err = _error(lambda: _build({"search": [entry], "replication": [{"names": ["x"]}]}))
    assert err.reason == (
        "search does not support document or field level security if replication is assigned"
    )


def test_grant_star_alone_is_not_field_level_security() -> None:
    rd = _build({"replication": [{"names": ["logs"], "field_security": {"grant": ["*"]}}]})
    assert rd.indices[0].field_security == FieldSecurity(("*",), ())


# --- entry parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "inner"),
    [
        ({"names": ["m"], "privileges": ["read"]}, "field [privileges] must not present"),
        ({"names": ["m"], "clusters": ["*"]}, "unexpected field [clusters]"),
        ({"query": "{}"}, "missing required [names] field"),
        ({"names": []}, "[names] cannot be an empty array"),
        (
            {"names": 3},
            "expected field [names] value to be a string or an array of strings, but found "
            "[VALUE_NUMBER] instead",
        ),
        (
            {"names": ["m"], "allow_restricted_indices": "yes"},
            "expected field [allow_restricted_indices] value to be a boolean, but found "
            "[VALUE_STRING] instead",
        ),
        (
            {"names": ["m"], "query": 1},
            "expected field [query] value to be null, a string, an array, or an object, but "
            "found [VALUE_NUMBER] instead",
        ),
        ({"names": ["m"], "field_security": {}}, '"field_security" must not be empty.'),
        (
            {"names": ["m"], "field_security": []},
            'expected START_OBJECT but got START_ARRAY in "field_security".',
        ),
        (
            {"names": ["m"], "field_security": {"deny": ["x"]}},
            '"field_security" only accepts options grant and except, but got: deny',
        ),
        ({"names": ["m"], "field_security": {"grant": None}}, "grant must not be null."),
        (
            {"names": ["m"], "field_security": {"except": ["x"]}},
            "field_security requires grant if except is given",
        ),
    ],
)
def test_entry_errors_are_wrapped_like_es(entry: dict[str, Any], inner: str) -> None:
    for section in ("search", "replication"):
        err = _error(lambda section=section: ccx.parse_access({section: [entry]}))
        assert _chain(err) == [
            (
                "x_content_parse_exception",
                f"[cross_cluster_api_key_request_access] failed to parse field [{section}]",
            ),
            (
                "parse_exception",
                f"failed to parse indices privileges for role [cross_cluster]. {inner}",
            ),
        ]
        # The REST body shows ES's innermost parse exception as the root cause.
        assert err.to_body()["error"]["root_cause"][0]["type"] == "parse_exception"


def test_non_string_names_use_the_string_array_reader() -> None:
    err = _error(lambda: ccx.parse_access({"search": [{"names": ["a", 1]}]}))
    assert _chain(err)[1:] == [
        ("parse_exception", "failed to parse role [cross_cluster]"),
        (
            "parse_exception",
            "could not parse [null] field. expected a string array but one of the value in the "
            "array is [VALUE_NUMBER]",
        ),
    ]


def test_access_level_errors() -> None:
    err = _error(lambda: ccx.parse_access({"serch": []}))
    assert err.reason == (
        "[cross_cluster_api_key_request_access] unknown field [serch] did you mean [search]?"
    )
    err = _error(lambda: ccx.parse_access({"search": None}))
    assert err.reason == (
        "[cross_cluster_api_key_request_access] search doesn't support values of type: VALUE_NULL"
    )
    # A single object stands for a one-element array, as in ES's object-array fields.
    assert ccx.parse_access({"search": {"names": ["a"]}}).search[0].names == ("a",)


def test_suggestions_follow_es() -> None:
    assert did_you_mean("foo", []) == ""
    assert did_you_mean("foo", ["bar", "baz"]) == ""
    assert did_you_mean("foo", ["bar", "fop"]) == " did you mean [fop]?"
    assert did_you_mean("foo", ["bar", "fop", "fou", "baz"]) == " did you mean any of [fop, fou]?"


# --- create and update bodies ------------------------------------------------------------------


def test_create_parses_everything() -> None:
    req = ccx.parse_create(
        {
            "name": "my-key",
            "access": {"search": [{"names": ["logs-*"]}]},
            "expiration": "7d",
            "metadata": {"tag": "shared"},
        }
    )
    assert req.name == "my-key"
    assert req.expiration_ms == 7 * 86_400_000
    assert req.metadata == {"tag": "shared"}
    assert req.descriptor.cluster == ("cross_cluster_search", "monitor_enrich")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "k"}, "Required [access]"),
        ({"access": {"search": [{"names": ["a"]}]}}, "Required [name]"),
        ({}, "Required [name, access]"),
    ],
)
def test_create_required_fields(body: dict[str, Any], reason: str) -> None:
    err = _error(lambda: ccx.parse_create(body))
    assert isinstance(err, IllegalArgumentError)
    assert err.reason == reason


def test_create_type_and_unknown_field_errors() -> None:
    err = _error(lambda: ccx.parse_create({"name": "k", "access": None}))
    assert err.es_type == "x_content_parse_exception"
    assert err.reason == (
        "[cross_cluster_api_key_request] access doesn't support values of type: VALUE_NULL"
    )
    err = _error(lambda: ccx.parse_create({"name": 5}))
    assert (
        err.reason
        == "[cross_cluster_api_key_request] name doesn't support values of type: VALUE_NUMBER"
    )
    err = _error(lambda: ccx.parse_create({"name": "k", "acces": {}}))
    assert err.reason == (
        "[cross_cluster_api_key_request] unknown field [acces] did you mean [access]?"
    )
    err = _error(lambda: ccx.parse_create({"name": "k", "role_descriptors": {}}))
    assert err.reason == "[cross_cluster_api_key_request] unknown field [role_descriptors]"


def test_create_build_failures_are_wrapped() -> None:
    err = _error(lambda: ccx.parse_create({"name": "k", "access": {}}))
    assert _chain(err) == [
        (
            "x_content_parse_exception",
            "Failed to build [cross_cluster_api_key_request] after last required field arrived",
        ),
        (
            "illegal_argument_exception",
            "must specify non-empty access for either [search] or [replication]",
        ),
    ]
    # An IllegalArgumentException is no root cause in ES: the parse exception is.
    assert err.to_body()["error"]["root_cause"][0]["type"] == "x_content_parse_exception"
    bad_time = (
        "failed to parse setting [expiration] with value [soon] as a time value: unit is "
        "missing or unrecognized"
    )
    access = {"search": [{"names": ["a"]}]}
    err = _error(lambda: ccx.parse_create({"name": "k", "access": access, "expiration": "soon"}))
    assert _chain(err)[1] == ("parse_exception", bad_time)
    # With every field present the target is built as the last one arrives.
    body = {"name": "k", "expiration": "soon", "metadata": {}, "access": access}
    assert _chain(_error(lambda: ccx.parse_create(body))) == [
        (
            "x_content_parse_exception",
            "[cross_cluster_api_key_request] failed to parse field [access]",
        ),
        (
            "x_content_parse_exception",
            "Failed to build [cross_cluster_api_key_request] after last required field arrived",
        ),
        ("parse_exception", bad_time),
    ]


def test_create_validation() -> None:
    access = {"search": [{"names": ["a"]}]}
    err = _error(lambda: ccx.parse_create({"name": "", "access": access}))
    assert isinstance(err, ActionRequestValidationError)
    assert err.reason == "Validation Failed: 1: api key name is required;"
    err = _error(lambda: ccx.parse_create({"name": " _k", "access": access, "metadata": {"_r": 1}}))
    assert err.reason == (
        "Validation Failed: 1: api key name may not begin or end with whitespace;"
        "2: API key metadata keys may not start with [_];"
    )
    err = _error(lambda: ccx.parse_create({"name": "x" * 257, "access": access}))
    assert err.reason == (
        "Validation Failed: 1: api key name may not be more than 256 characters long;"
    )


def test_update_parsing_and_validation() -> None:
    req = ccx.parse_update({"metadata": {"env": "prod"}, "expiration": "1d"})
    assert (req.descriptor, req.metadata, req.expiration_ms) == (None, {"env": "prod"}, 86_400_000)
    req = ccx.parse_update({"access": {"replication": [{"names": ["l"]}]}})
    assert req.descriptor is not None and req.descriptor.cluster == ("cross_cluster_replication",)
    must = "Validation Failed: 1: must update either [access] or [metadata] for cross-cluster API keys;"
    for body in ({}, {"expiration": "1d"}):
        err = _error(lambda body=body: ccx.parse_update(body))
        assert isinstance(err, ActionRequestValidationError)
        assert err.reason == must
    # Access is built outside the parser for updates: a plain illegal argument.
    err = _error(lambda: ccx.parse_update({"access": {}}))
    assert _chain(err) == [
        (
            "illegal_argument_exception",
            "must specify non-empty access for either [search] or [replication]",
        )
    ]
    err = _error(lambda: ccx.parse_update({"name": "x"}))
    assert err.reason == "[update_cross_cluster_api_key_request_payload] unknown field [name]"


# --- stored descriptors, rendering, credentials ------------------------------------------------


def test_validate_descriptor_messages() -> None:
    good = _build({"search": [{"names": ["a"]}]})
    cases = [
        (
            RoleDescriptor("other", good.cluster, good.indices),
            "invalid role descriptor name [other]",
        ),
        (
            RoleDescriptor("cross_cluster", good.cluster, good.indices, run_as=("u",)),
            "run_as privilege must be empty",
        ),
        (
            RoleDescriptor("cross_cluster", ("monitor",), good.indices),
            "invalid cluster privileges: [monitor]",
        ),
        (RoleDescriptor("cross_cluster", good.cluster, ()), "indices privileges must not be empty"),
    ]
    bad_entry = parse_role("cross_cluster", {"indices": [{"names": ["a"], "privileges": ["read"]}]})
    cases.append(
        (
            RoleDescriptor("cross_cluster", good.cluster, bad_entry.indices),
            "invalid indices privileges: [read",
        )
    )
    for descriptor, message in cases:
        err = _error(lambda descriptor=descriptor: ccx.validate_descriptor(descriptor))
        assert err.reason == message


def test_access_is_rendered_from_the_descriptor() -> None:
    rd = _build({"search": [{"names": ["data"], "field_security": {"grant": ["a"]}}]})
    assert ccx.access_json(rd) == {
        "search": [
            {
                "names": ["data"],
                "field_security": {"grant": ["a"]},
                "allow_restricted_indices": False,
            }
        ]
    }
    rd = _build({"search": [{"names": ["d"]}], "replication": [{"names": ["l"]}]})
    assert ccx.access_json(rd) == {
        "search": [{"names": ["d"], "allow_restricted_indices": False}],
        "replication": [{"names": ["l"], "allow_restricted_indices": False}],
    }
    # What GET shows is valid input for an update, and gives the same descriptor.
    assert ccx.parse_access(ccx.access_json(rd)).build() == rd


def _credential(key_id: str, secret: str) -> str:
    return "ApiKey " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def test_credentials() -> None:
    assert ccx.parse_credential(_credential("abc", "s" * 22)) == ("abc", "s" * 22)
    header = (
        "cross cluster access header [_cross_cluster_access_credentials] value must be a valid "
        "API key credential"
    )
    for value, cause in (
        (_credential("abc", "short"), "invalid cross-cluster API key value"),
        ("ApiKey " + base64.b64encode(b"nocolon").decode(), "invalid ApiKey value"),
        ("Basic " + base64.b64encode(b"u:p").decode(), None),
    ):
        err = _error(lambda value=value: ccx.parse_credential(value))
        assert err.reason == header
        assert (err.caused_by.reason if err.caused_by else None) == cause


def test_replication_index_privileges_exist() -> None:
    assert valid_index_privilege("cross_cluster_replication")
    assert valid_index_privilege("cross_cluster_replication_internal")
    assert index_grants("cross_cluster_replication", "indices:data/read/xpack/ccr/shard_changes")
    assert index_grants("cross_cluster_replication", "indices:monitor/stats")
    assert index_grants(
        "cross_cluster_replication_internal", "indices:internal/admin/ccr/restore/session/put"
    )
    assert not index_grants("cross_cluster_replication", "indices:data/read/search")


def test_module_does_no_io() -> None:
    path = Path(ccx.__file__)
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"asyncio", "socket", "ssl", "subprocess", "sqlite3"}


# --- the service -------------------------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> SecurityService:
    return SecurityService(SecurityStore(tmp_path / "state"), clock=lambda: 1_000_000.0)


ELASTIC = Subject(
    "elastic",
    ("superuser",),
    (BUILTIN_ROLES["superuser"],),
    realm="reserved",
    realm_type="reserved",
)


def _create(service: SecurityService, access: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return service.create_cross_cluster_api_key(
        ELASTIC, ccx.parse_create({"name": "cc", "access": access, **extra})
    )


def test_service_create_render_and_authenticate(service: SecurityService) -> None:
    key = _create(service, {"search": [{"names": ["logs-*"]}]}, metadata={"a": 1}, expiration="1d")
    assert list(key) == ["id", "name", "expiration", "api_key", "encoded"]
    assert len(key["api_key"]) == 22
    (record,) = service.find_keys(key_id=key["id"])
    assert "limited_by" not in record and "hash" in record and key["api_key"] not in str(record)
    shown = service.render_key(record, with_limited_by=True)
    assert shown["type"] == "cross_cluster"
    assert "limited_by" not in shown
    assert shown["access"] == {"search": [{"names": ["logs-*"], "allow_restricted_indices": False}]}
    assert shown["role_descriptors"] == {
        "cross_cluster": {
            "cluster": ["cross_cluster_search", "monitor_enrich"],
            "indices": [
                {"names": ["logs-*"], "privileges": list(SEARCH), "allow_restricted_indices": False}
            ],
            "applications": [],
            "run_as": [],
            "metadata": {},
            "transient_metadata": {"enabled": True},
        }
    }
    # On REST it is the wrong type.
    err = _error(lambda: service.authenticate(f"ApiKey {key['encoded']}", "REST request [/]"))
    assert isinstance(err, AuthenticationError) and err.http_status == 401
    assert err.reason == (
        f"authentication expected API key type of [rest], but API key [{key['id']}] has type "
        "[cross_cluster]"
    )
    # Through the remote cluster server it is the key's descriptor alone.
    subject = service.authenticate_cross_cluster_api_key(f"ApiKey {key['encoded']}")
    assert subject.api_key_id == key["id"] and subject.limited_by is None
    assert [d.name for d in subject.descriptors] == ["cross_cluster"]
    authorizer = Authorizer()
    assert authorizer.cluster_allowed(subject, "cluster:internal/remote_cluster/handshake")
    assert not authorizer.cluster_allowed(subject, "cluster:admin/xpack/security/user/put")
    assert authorizer.index_access(subject, "indices:data/read/search", "logs-1").granted
    assert not authorizer.index_access(subject, "indices:data/read/search", "secret").granted


def test_service_refuses_rest_keys_and_bad_secrets_on_the_cross_cluster_path(
    service: SecurityService,
) -> None:
    rest = service.create_api_key(ELASTIC, {"name": "r"})
    err = _error(lambda: service.authenticate_cross_cluster_api_key(f"ApiKey {rest['encoded']}"))
    assert err.reason == (
        f"authentication expected API key type of [cross_cluster], but API key [{rest['id']}] "
        "has type [rest]"
    )
    cc = _create(service, {"search": [{"names": ["a"]}]})
    wrong = _credential(cc["id"], "x" * 22)
    err = _error(lambda: service.authenticate_cross_cluster_api_key(wrong))
    assert err.reason == (
        f"unable to authenticate user [{cc['id']}] for action "
        "[cluster:internal/remote_cluster/handshake]"
    )
    err = _error(lambda: service.authenticate_cross_cluster_api_key(_credential(cc["id"], "x")))
    assert _chain(err) == [
        ("security_exception", "failed to extract credentials from headers"),
        (
            "illegal_argument_exception",
            "cross cluster access header [_cross_cluster_access_credentials] value must be a "
            "valid API key credential",
        ),
        ("illegal_argument_exception", "invalid cross-cluster API key value"),
    ]
    assert err.http_status == 401


def test_service_update_rules(service: SecurityService) -> None:
    cc = _create(service, {"search": [{"names": ["a"]}]}, metadata={"m": 1})
    rest = service.create_api_key(ELASTIC, {"name": "r"})

    def update(key_id: str, expected: str, owner: Subject = ELASTIC, **kw: Any) -> bool:
        return service.update_api_key(owner, key_id, expected_type=expected, **kw)

    same = _build({"search": [{"names": ["a"]}]})
    assert (
        update(cc["id"], "cross_cluster", role_descriptors={"cross_cluster": same.to_json()})
        is False
    )
    assert update(cc["id"], "cross_cluster", metadata={"m": 1}) is False
    assert update(cc["id"], "cross_cluster", metadata={"m": 2}) is True
    new = _build({"replication": [{"names": ["b"]}]})
    assert (
        update(cc["id"], "cross_cluster", role_descriptors={"cross_cluster": new.to_json()}) is True
    )
    (record,) = service.find_keys(key_id=cc["id"])
    assert service.render_key(record)["access"] == {
        "replication": [{"names": ["b"], "allow_restricted_indices": False}]
    }
    err = _error(lambda: update(rest["id"], "cross_cluster", metadata={}))
    assert (
        err.reason == "cannot update API key of type [rest] while expected type is [cross_cluster]"
    )
    err = _error(lambda: update(cc["id"], "rest", metadata={}))
    assert (
        err.reason == "cannot update API key of type [cross_cluster] while expected type is [rest]"
    )
    other = Subject("bob", ("r",), (), realm="default_native")
    err = _error(lambda: update(cc["id"], "cross_cluster", owner=other, metadata={}))
    assert isinstance(err, ResourceNotFoundError)
    assert err.reason == f"no API key owned by requesting user found for ID [{cc['id']}]"
    as_key = Subject("elastic", (), (), realm="_es_api_key", api_key_id="k")
    err = _error(lambda: update(cc["id"], "cross_cluster", owner=as_key, metadata={}))
    assert err.reason == (
        "authentication via API key not supported: only the owner user can update an API key"
    )
    err = _error(
        lambda: service.create_cross_cluster_api_key(
            as_key, ccx.parse_create({"name": "x", "access": {"search": [{"names": ["a"]}]}})
        )
    )
    assert err.reason == (
        "authentication via API key not supported: An API key cannot be used to create a "
        "cross-cluster API key"
    )
    service.invalidate_keys(service.find_keys(key_id=cc["id"]))
    err = _error(lambda: update(cc["id"], "cross_cluster", metadata={}))
    assert err.reason == f"cannot update invalidated API key [{cc['id']}]"


def test_invalidation_refusals_are_reported(service: SecurityService) -> None:
    out = service.invalidate_keys([], refused=["abc"])
    assert out == {
        "invalidated_api_keys": [],
        "previously_invalidated_api_keys": [],
        "error_count": 1,
        "error_details": [
            {
                "type": "security_exception",
                "reason": "Cannot invalidate cross-cluster API key [abc]. This requires "
                "[manage_security] cluster privilege or higher",
            }
        ],
    }
