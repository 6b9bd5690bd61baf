"""The API-key model across clusters: the remote cluster server's request filter (order and ES's
texts), authentication of cross-cluster keys, the subject's effective access (key ∩ subject
info, with DLS/FLS), the subject-info header, and the querying side's headers."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from isthmus.errors import AuthenticationError, IllegalArgumentError, IsthmusError, SecurityError
from isthmus.security import cross_cluster_access as cca
from isthmus.security import cross_cluster_keys as ccx
from isthmus.security.authz import Authorizer, Subject
from isthmus.security.roles import BUILTIN_ROLES, FieldSecurity, parse_role
from isthmus.security.service import SecurityService
from isthmus.security.store import SecurityStore
from isthmus.settings.secret import REDACTED, Secret
from isthmus.transport.channel import ChannelInfo, ChannelState
from isthmus.wire.names import HANDSHAKE_ACTION

SEARCH = "indices:data/read/search"
HANDSHAKE = "cluster:internal/remote_cluster/handshake"
ELASTIC = Subject(
    "elastic",
    ("superuser",),
    (BUILTIN_ROLES["superuser"],),
    realm="reserved",
    realm_type="reserved",
)
CHANNEL = ChannelInfo(
    *(ChannelState.OPEN, True, "_remote_cluster", "127.0.0.1:9443", "127.0.0.1:50000"),
    *(None, None, None, None, None, 8_500_000, 0, 0, 0, 1, 0, None, None),
)


def _error(call: Any) -> IsthmusError:
    with pytest.raises(IsthmusError) as info:
        call()
    return info.value


@pytest.fixture
def service(tmp_path: Path) -> SecurityService:
    return SecurityService(SecurityStore(tmp_path / "state"), clock=lambda: 1_000_000.0)


@pytest.fixture
def gate(service: SecurityService) -> cca.CrossClusterAccessFilter:
    return cca.CrossClusterAccessFilter(service, Authorizer())


def _cc_key(service: SecurityService, search: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    request = ccx.parse_create({"name": "cc", "access": {"search": search}, **extra})
    return service.create_cross_cluster_api_key(ELASTIC, request)


def _info(indices: list[dict[str, Any]], roles: tuple[str, ...] = ("foo-role",)) -> cca.SubjectInfo:
    return cca.SubjectInfo(
        "foo", roles, "default_native", ((parse_role("foo-role", {"indices": indices}),),)
    )


def _headers(key: dict[str, Any], info: cca.SubjectInfo) -> dict[str, str]:
    return cca.outbound_headers(Secret(key["encoded"]), info)


READ_LOGS = [{"names": ["logs-*"], "privileges": ["read"]}]
DLS_FLS = {"query": '{"term":{"s":2}}', "field_security": {"grant": ["b", "c"]}}


# --- 1. the filter's order -------------------------------------------------------------------


def test_action_allowlist_comes_first(
    gate: cca.CrossClusterAccessFilter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=cca.log.name)
    err = _error(lambda: gate.check("cluster:admin/settings/update", {"h": "v"}, CHANNEL))
    assert isinstance(err, IllegalArgumentError)
    assert err.reason == (
        "action [cluster:admin/settings/update] is not allowed as a cross cluster operation on "
        "the dedicated remote cluster server port"
    )
    assert caplog.messages == [
        "Cross cluster access request [TransportRequest] for action "
        "[cluster:admin/settings/update] rejected before authentication"
    ]


def _missing(name: str) -> str:
    return (
        "Cross cluster requests through the dedicated remote cluster server port require "
        f"transport header [{name}] but none found. Please ensure you have configured remote "
        "cluster credentials on the cluster originating the request."
    )


def test_transport_handshake_meets_the_header_check(gate: cca.CrossClusterAccessFilter) -> None:
    # Not on the allowlist, yet refused by the missing header (a certificate-model caller).
    assert HANDSHAKE_ACTION not in cca.ALLOWED_ACTIONS
    err = _error(lambda: gate.check("internal:transport/handshake", {}, CHANNEL))
    assert isinstance(err, IllegalArgumentError)
    assert err.reason == _missing("_cross_cluster_access_credentials")


def test_missing_subject_info_then_extra_headers(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    key = _cc_key(service, [{"names": ["logs-*"]}])
    headers = _headers(key, _info(READ_LOGS))
    only_credentials = {cca.CREDENTIALS_HEADER: headers[cca.CREDENTIALS_HEADER]}
    err = _error(lambda: gate.check(SEARCH, only_credentials, CHANNEL))
    assert err.reason == _missing("_cross_cluster_access_subject_info")
    # A missing header is reported before an unexpected one.
    err = _error(lambda: gate.check(SEARCH, only_credentials | {"h": "v"}, CHANNEL))
    assert err.reason == _missing("_cross_cluster_access_subject_info")
    err = _error(lambda: gate.check(SEARCH, headers | {"h": "v"}, CHANNEL))
    assert isinstance(err, IllegalArgumentError)
    assert err.reason == (
        "Transport request header [h] is not allowed for cross cluster requests through the "
        "dedicated remote cluster server port"
    )
    extras = {"X-Opaque-Id": "abc", "traceparent": "00-1-2-01", "_isthmus_parent_task": "n:1"}
    subject = gate.check(SEARCH, headers | extras, CHANNEL)
    assert subject.username == "foo"


def test_both_headers_are_read_before_the_key_is_authenticated(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    # ES reads the subject info before it authenticates the key: a bad one is reported first,
    # even with a wrong secret.
    key = _cc_key(service, [{"names": ["logs-*"]}])
    headers = _headers(key, _info(READ_LOGS)) | {cca.SUBJECT_INFO_HEADER: "garbage!"}
    wrong = base64.b64encode(f"{key['id']}:{'x' * 22}".encode()).decode()
    for credential in (headers[cca.CREDENTIALS_HEADER], f"ApiKey {wrong}"):
        headers[cca.CREDENTIALS_HEADER] = credential
        err = _error(lambda: gate.check(SEARCH, headers, CHANNEL))
        assert (
            err.reason
            == "cross cluster access header [_cross_cluster_access_subject_info] is not valid"
        )
    headers[cca.SUBJECT_INFO_HEADER] = _info(READ_LOGS).encode()
    assert isinstance(_error(lambda: gate.check(SEARCH, headers, CHANNEL)), AuthenticationError)


# --- 2. authentication -----------------------------------------------------------------------


def test_valid_key_gives_a_cross_cluster_subject(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    key = _cc_key(service, [{"names": ["logs-*"]}])
    info = _info(READ_LOGS)
    subject = gate.check(HANDSHAKE, _headers(key, info), CHANNEL)
    assert subject.cross_cluster is not None
    assert (subject.cross_cluster.key_id, subject.cross_cluster.key_owner) == (key["id"], "elastic")
    assert subject.cross_cluster.extra_limit is None
    assert (subject.username, subject.role_names, subject.realm) == (
        "foo",
        ("foo-role",),
        "default_native",
    )
    assert subject.realm_type == "_es_cross_cluster" and not subject.is_api_key
    assert subject.descriptors == info.descriptor_sets[0]
    (limit,) = subject.limited_by or ()
    assert limit == ccx.parse_access({"search": [{"names": ["logs-*"]}]}).build()


def test_rest_key_has_the_wrong_type(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    rest = service.create_api_key(ELASTIC, {"name": "r"})
    err = _error(lambda: gate.check(SEARCH, _headers(rest, _info(READ_LOGS)), CHANNEL))
    assert isinstance(err, AuthenticationError) and err.http_status == 401
    assert err.reason == (
        f"authentication expected API key type of [cross_cluster], but API key [{rest['id']}] "
        "has type [rest]"
    )


@pytest.mark.parametrize(
    ("how", "logged"),
    [
        ("secret", "invalid credentials for API key [{id}]"),
        ("invalidated", "api key has been invalidated"),
        ("expired", "api key is expired"),
    ],
)
def test_unusable_keys_are_refused_and_logged(
    service: SecurityService,
    gate: cca.CrossClusterAccessFilter,
    caplog: pytest.LogCaptureFixture,
    how: str,
    logged: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = _cc_key(service, [{"names": ["logs-*"]}], expiration="1d")
    gate.check(SEARCH, _headers(key, _info(READ_LOGS)), CHANNEL)  # usable, and cached
    if how == "secret":
        wrong = base64.b64encode(f"{key['id']}:{'x' * 22}".encode()).decode()
        key = key | {"encoded": wrong}
    elif how == "invalidated":
        service.invalidate_keys(service.find_keys(key_id=key["id"]))
    else:
        service.clock = lambda: 1_000_000.0 + 86_400
    err = _error(lambda: gate.check(SEARCH, _headers(key, _info(READ_LOGS)), CHANNEL))
    assert isinstance(err, AuthenticationError)
    assert err.reason == f"unable to authenticate user [{key['id']}] for action [{SEARCH}]"
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "org.elasticsearch.xpack.security.authc.ApiKeyAuthenticator"
        and r.levelno == logging.WARNING
    ]
    assert warnings == ["Authentication using apikey failed - " + logged.format(id=key["id"])]
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        assert key["api_key"] not in text and key["encoded"] not in text


# --- 3. effective access: key ∩ subject info -------------------------------------------------


def test_index_access_is_the_intersection_with_dls_and_fls(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    key = _cc_key(
        service,
        [
            {
                "names": ["logs-*"],
                "query": {"term": {"k": 1}},
                "field_security": {"grant": ["a", "b"]},
            },
            {"names": ["only-key"]},
        ],
    )
    granted = {"names": ["logs-1"], "privileges": ["read"], **DLS_FLS}
    info = _info([granted, {"names": ["only-info"], "privileges": ["read"]}])
    subject = gate.check(SEARCH, _headers(key, info), CHANNEL)
    authorizer = Authorizer()
    access = authorizer.index_access(subject, SEARCH, "logs-1")
    assert access.granted
    assert (access.queries, access.limited_queries) == (
        ('{"term":{"s":2}}',),
        ('{"term":{"k":1}}',),
    )
    assert access.fields == (FieldSecurity(("b", "c")),)
    assert access.limited_fields == (FieldSecurity(("a", "b")),)
    authorizer.check_indices(subject, SEARCH, ["logs-1"])
    for index in ("only-key", "only-info", "logs-2"):
        assert not authorizer.index_access(subject, SEARCH, index).granted
        err = _error(lambda index=index: authorizer.check_indices(subject, SEARCH, [index]))
        assert isinstance(err, SecurityError) and err.http_status == 403
        assert err.reason == (
            "action [indices:data/read/search] towards remote cluster is unauthorized for user "
            f"[foo] with assigned roles [foo-role] authenticated by API key id [{key['id']}] of "
            f"user [elastic] on indices [{index}], this action is granted by the index "
            "privileges [read,all]"
        )
        assert err.reason == authorizer.denied(subject, SEARCH, [index]).reason


def test_cluster_actions_are_the_keys_alone(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    key = _cc_key(service, [{"names": ["logs-*"]}])
    subject = gate.check(HANDSHAKE, _headers(key, _info(READ_LOGS)), CHANNEL)
    authorizer = Authorizer()
    assert authorizer.cluster_allowed(subject, HANDSHAKE)
    assert not authorizer.cluster_allowed(subject, "cluster:admin/settings/update")
    err = _error(lambda: authorizer.check_cluster(subject, "cluster:admin/settings/update"))
    assert err.reason == (
        "action [cluster:admin/settings/update] towards remote cluster is unauthorized for user "
        f"[foo] with assigned roles [foo-role] authenticated by API key id [{key['id']}] of user "
        "[elastic], this action is granted by the cluster privileges [manage,all]"
    )
    # An allowlisted cluster action the search key does not grant is refused by check() itself.
    err = _error(
        lambda: gate.check("cluster:monitor/state", _headers(key, _info(READ_LOGS)), CHANNEL)
    )
    assert err.reason.startswith(
        "action [cluster:monitor/state] towards remote cluster is unauthorized"
    )


# --- 4. the subject-info header ----------------------------------------------------------------


def test_subject_info_round_trip() -> None:
    info = _info([{"names": ["l"], "privileges": ["read"], **DLS_FLS}], ("foo-role", "other"))
    assert cca.SubjectInfo.decode(info.encode()) == info
    two = cca.SubjectInfo("k", (), "_es_api_key", (info.descriptor_sets[0], (parse_role("r", {}),)))
    assert cca.SubjectInfo.decode(two.encode()) == two
    assert cca.SubjectInfo.decode(cca.SYSTEM_SUBJECT_INFO.encode()) == cca.SYSTEM_SUBJECT_INFO


def _b64(value: Any) -> str:
    return base64.b64encode(orjson.dumps(value)).decode()


GOOD = {"username": "u", "roles": ["r"], "realm": "x", "role_descriptors_sets": [{"r": {}}]}


@pytest.mark.parametrize(
    "text",
    [
        "not base64!",
        base64.b64encode(b"{not json").decode(),
        _b64([1, 2]),
        _b64({"roles": []}),
        _b64(GOOD | {"username": 3}),
        _b64(GOOD | {"roles": "r"}),
        _b64(GOOD | {"roles": [1]}),
        _b64(GOOD | {"role_descriptors_sets": {"r": {}}}),
        _b64(GOOD | {"role_descriptors_sets": []}),
        _b64(GOOD | {"role_descriptors_sets": [{"r": {}}] * 3}),
        _b64(GOOD | {"role_descriptors_sets": [{}]}),
        _b64(GOOD | {"role_descriptors_sets": [{"r": {}}, []]}),
        _b64(GOOD | {"role_descriptors_sets": [{"r": 5}]}),
        _b64(GOOD | {"role_descriptors_sets": [{"r": {"cluster": ["bogus"]}}]}),
    ],
)
def test_decode_rejects_garbage(text: str) -> None:
    assert cca.SubjectInfo.decode(_b64(GOOD)).username == "u"
    err = _error(lambda: cca.SubjectInfo.decode(text))
    assert isinstance(err, IllegalArgumentError)
    assert (
        err.reason
        == "cross cluster access header [_cross_cluster_access_subject_info] is not valid"
    )


def _decode_or_illegal(text: str) -> None:
    try:
        cca.SubjectInfo.decode(text)
    except IllegalArgumentError:
        pass


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_decode_of_ascii_text_raises_only_illegal_argument(text: str) -> None:
    _decode_or_illegal(text)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_ROLE_KEYS = st.sampled_from(
    ["cluster", "indices", "remote_indices", "remote_cluster", "run_as", "metadata"]
)


@given(st.dictionaries(_ROLE_KEYS, _JSON, max_size=3), _JSON)
def test_decode_of_odd_descriptors_raises_only_illegal_argument(role: Any, realm: Any) -> None:
    _decode_or_illegal(_b64(GOOD | {"realm": realm, "role_descriptors_sets": [{"r": role}]}))


@example("é")  # non-ASCII: base64 raises a plain ValueError, which must become a 400 too
@given(st.text())
def test_decode_of_arbitrary_text_raises_only_illegal_argument(text: str) -> None:
    _decode_or_illegal(text)


# --- 5. the querying side ----------------------------------------------------------------------

FOO_ROLE = {
    "indices": [{"names": ["local"], "privileges": ["all"]}],
    "remote_indices": [
        {
            "clusters": ["my"],
            "names": ["logs"],
            "privileges": ["read"],
            "query": {"term": {"a": 1}},
        },
        {"clusters": ["m*"], "names": ["metrics"], "privileges": ["read"]},
        {"clusters": ["other"], "names": ["secret"], "privileges": ["read"]},
    ],
}


def _user(service: SecurityService, roles: list[str], role: dict[str, Any] = FOO_ROLE) -> Subject:
    service.put_role("foo-role", role)
    service.put_user("foo", {"password": "secret-pw", "roles": roles})
    subject = service.lookup_user("foo")
    assert subject is not None
    return subject


def test_remote_indices_for_the_alias_become_indices(service: SecurityService) -> None:
    foo = _user(service, ["foo-role"])
    info = cca.subject_info(foo, "my", SEARCH)
    assert (info.username, info.role_names, info.realm) == ("foo", ("foo-role",), "default_native")
    ((descriptor,),) = info.descriptor_sets
    assert descriptor.name == "foo-role" and descriptor.remote_indices == ()
    assert [(i.names, i.query, i.clusters) for i in descriptor.indices] == [
        (("logs",), '{"term":{"a":1}}', ()),
        (("metrics",), None, ()),
    ]
    ((wild,),) = cca.subject_info(foo, "mx", SEARCH).descriptor_sets
    assert [i.names for i in wild.indices] == [("metrics",)]
    assert cca.descriptors_for_alias(foo.descriptors, "nowhere") == ()


def test_user_without_remote_privileges_for_the_alias_is_refused(service: SecurityService) -> None:
    role = {"remote_indices": [{"clusters": ["other"], "names": ["x"], "privileges": ["read"]}]}
    foo = _user(service, ["foo-role"], role)
    tail = "because no remote indices privileges apply for the target cluster"
    err = _error(lambda: cca.subject_info(foo, "my", SEARCH))
    assert isinstance(err, SecurityError) and err.http_status == 403
    assert err.reason == (
        "action [indices:data/read/search] towards remote cluster [my] is unauthorized for user "
        f"[foo] with effective roles [foo-role] {tail}"
    )
    foo = _user(service, ["foo-role", "x"], role)
    err = _error(lambda: cca.subject_info(foo, "my", SEARCH))
    assert err.reason == (
        "action [indices:data/read/search] towards remote cluster [my] is unauthorized for user "
        f"[foo] with effective roles [foo-role] (assigned roles [x] were not found) {tail}"
    )


def test_rest_api_key_callers(service: SecurityService) -> None:
    foo = _user(service, ["foo-role"])
    bare = service.create_api_key(foo, {"name": "bare"})
    key = service.authenticate_api_key(bare["encoded"], "rest")
    assert key.is_api_key and key.descriptors == ()
    info = cca.subject_info(key, "my", SEARCH)
    ((owner,),) = info.descriptor_sets
    assert owner.name == "foo-role" and [i.names for i in owner.indices] == [
        ("logs",),
        ("metrics",),
    ]

    narrow = {"remote_indices": [{"clusters": ["my"], "names": ["logs"], "privileges": ["read"]}]}
    own = service.create_api_key(foo, {"name": "own", "role_descriptors": {"kr": narrow}})
    key = service.authenticate_api_key(own["encoded"], "rest")
    own_set, limit_set = cca.subject_info(key, "my", SEARCH).descriptor_sets
    assert [d.name for d in own_set] == ["kr"] and [d.name for d in limit_set] == ["foo-role"]
    assert [i.names for i in own_set[0].indices] == [("logs",)]

    err = _error(lambda: cca.subject_info(key, "other", SEARCH))
    assert err.reason == (
        "action [indices:data/read/search] towards remote cluster [other] is unauthorized for "
        f"API key id [{own['id']}] of user [foo] because no remote indices privileges apply for "
        "the target cluster"
    )


# --- 6. outbound headers -----------------------------------------------------------------------


def test_outbound_headers_and_secret_redaction(service: SecurityService) -> None:
    key = _cc_key(service, [{"names": ["logs-*"]}])
    secret = Secret(key["encoded"])
    info = _info(READ_LOGS)
    headers = cca.outbound_headers(secret, info)
    assert headers == {
        "_cross_cluster_access_credentials": f"ApiKey {key['encoded']}",
        "_cross_cluster_access_subject_info": info.encode(),
    }
    assert key["api_key"] not in headers[cca.SUBJECT_INFO_HEADER]
    assert key["encoded"] not in headers[cca.SUBJECT_INFO_HEADER]
    assert ccx.parse_credential(headers[cca.CREDENTIALS_HEADER]) == (key["id"], key["api_key"])
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret!r}" == REDACTED
    assert key["encoded"] not in repr([secret, {"c": secret}])


# --- hardening found in review -----------------------------------------------------------------


def test_an_empty_descriptor_set_grants_nothing(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    # Whatever builds the subject, an empty set must never fall through to the key's access.
    key = _cc_key(service, [{"names": ["logs-*"]}])
    subject = service.authenticate_cross_cluster_api_key(f"ApiKey {key['encoded']}")
    empty = gate.subject(subject, cca.SubjectInfo("x", (), "", ((),)))
    assert not Authorizer().index_access(empty, SEARCH, "logs-a").granted


def test_a_plain_transport_handshake_is_not_granted_by_a_key(
    service: SecurityService, gate: cca.CrossClusterAccessFilter
) -> None:
    key = _cc_key(service, [{"names": ["logs-*"]}])
    headers = _headers(key, cca.SYSTEM_SUBJECT_INFO)
    assert gate.check(HANDSHAKE, headers, CHANNEL).cross_cluster is not None
    err = _error(lambda: gate.check("internal:transport/handshake", headers, CHANNEL))
    assert err.reason.startswith(
        "action [internal:transport/handshake] towards remote cluster is unauthorized for user "
        f"[_system] with assigned roles [] authenticated by API key id [{key['id']}]"
    )


def test_the_reason_of_a_refused_key_travels_with_the_error(service: SecurityService) -> None:
    bogus = base64.b64encode(b"nosuchkeyid:" + b"y" * 22).decode()
    err = _error(lambda: service.authenticate_cross_cluster_api_key(f"ApiKey {bogus}"))
    assert err.reason == (
        "unable to authenticate user [nosuchkeyid] for action "
        "[cluster:internal/remote_cluster/handshake]"
    )
    assert err.extra["additional_unsuccessful_credentials"] == (
        "API key: unable to find apikey with id nosuchkeyid"
    )
