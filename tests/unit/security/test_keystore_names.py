"""``settings.secure``: which names the keystore may hold, which the node knows, which reload."""

from __future__ import annotations

import pytest

from isthmus.errors import SettingsError
from isthmus.settings import catalog, secure
from isthmus.settings import registry as r
from isthmus.settings.secure import SecureRegistry, SecureSetting

UNKNOWN_TAIL = (
    "please check that any required plugins are installed, or check the breaking changes "
    "documentation for removed settings"
)


@pytest.mark.parametrize(
    ("name", "reloadable"),
    [
        ("keystore.seed", False),
        ("bootstrap.password", False),
        ("cluster.remote.my_remote.credentials", True),
        ("cluster.remote.my-remote_2.credentials", True),
        ("cluster.remote.dotted.alias.credentials", True),
        ("xpack.security.transport.ssl.keystore.secure_password", False),
        ("xpack.security.http.ssl.keystore.secure_key_password", False),
        ("xpack.security.remote_cluster_server.ssl.secure_key_passphrase", False),
        ("xpack.security.remote_cluster_client.ssl.truststore.secure_password", False),
        ("xpack.security.authc.realms.ldap.ldap1.ssl.truststore.secure_password", False),
    ],
)
def test_builtin_secure_settings(name: str, reloadable: bool) -> None:
    assert secure.find_secure(name) is not None
    assert secure.is_reloadable(name) is reloadable
    secure.validate_known([name])


@pytest.mark.parametrize(
    "name",
    [
        "cluster.remote.credentials",  # no alias
        "cluster.remote..credentials",
        "cluster.remote.a.credentials.extra",
        "xpack.security.ssl.keystore.secure_password",  # no context
        "bootstrap.passwords",
        "s3.client.default.secret_key",
    ],
)
def test_unknown_secure_settings(name: str) -> None:
    assert secure.find_secure(name) is None
    assert not secure.is_reloadable(name)
    with pytest.raises(SettingsError) as info:
        secure.validate_known(["keystore.seed", name])
    assert info.value.reason == f"unknown secure setting [{name}] {UNKNOWN_TAIL}"
    assert info.value.es_type == "illegal_argument_exception"
    assert info.value.http_status == 400


def test_validate_known_reports_the_first_unknown_name_sorted() -> None:
    with pytest.raises(SettingsError, match=r"\[b\.unknown\]"):
        secure.validate_known(["c.unknown", "keystore.seed", "b.unknown"])


def test_registry_instance_register_find_reload() -> None:
    reg = SecureRegistry()
    reg.register(SecureSetting("gcs.client.*.credentials_file", reloadable=True, file=True))
    reg.register(SecureSetting("plain.secret"))
    found = reg.find("gcs.client.default.credentials_file")
    assert found is not None and found.file and found.reloadable
    assert reg.reloadable(["plain.secret", "gcs.client.b.credentials_file", "x"]) == (
        "gcs.client.b.credentials_file",
    )
    assert repr(reg) == "<SecureRegistry 2 settings, 1 reloadable>"
    assert reg.register(SecureSetting("plain.secret")) == SecureSetting("plain.secret")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(SecureSetting("plain.secret", reloadable=True))
    with pytest.raises(SettingsError, match="does not match the allowed setting name pattern"):
        reg.register(SecureSetting("bad name"))


def test_exact_name_beats_affix() -> None:
    reg = SecureRegistry()
    reg.register(SecureSetting("a.*.c", reloadable=True))
    reg.register(SecureSetting("a.b.c"))
    assert not reg.is_reloadable("a.b.c")
    assert reg.is_reloadable("a.x.c")


def test_a_secure_declaration_enters_the_main_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = (SecureSetting("test.only.*.token", reloadable=True),)
    monkeypatch.setattr(secure, "REGISTRY", SecureRegistry(declared * 2))  # twice: one entry
    assert len(secure.REGISTRY.all()) == 1
    main = catalog.build_registry(secure.as_node_settings(declared))
    matches = [s for s in main.all_settings(r.Scope.NODE) if s.key == "test.only.*.token"]
    assert len(matches) == 1
    assert matches[0].secure and matches[0].scope is r.Scope.NODE
    found = main.find("test.only.x.token", [r.Scope.NODE])
    assert found is not None and found.secure
    assert secure.is_reloadable("test.only.x.token")


def test_every_declared_secure_setting_is_in_the_node_registry() -> None:
    for declared in secure.SECURE_SETTINGS:
        found = catalog.find(declared.pattern.replace("*", "x"), [r.Scope.NODE])
        assert found is not None and found.secure, declared.pattern


def test_builtin_settings_are_refused_in_isthmus_yml() -> None:
    found = catalog.find("cluster.remote.my_remote.credentials", [r.Scope.NODE, r.Scope.CLUSTER])
    assert found is not None and found.secure
    found = catalog.find("bootstrap.password", [r.Scope.NODE])
    assert found is not None and found.secure


@pytest.mark.parametrize("name", ["a", "A.b-c_d.9", "keystore.seed"])
def test_keystore_name_pattern_accepts(name: str) -> None:
    secure.validate_setting_name(name)


@pytest.mark.parametrize("name", ["", " ", "a b", "a@b", "a:b", "a/b", "é", "a\tb", "a*"])
def test_keystore_name_pattern_rejects_with_es_message(name: str) -> None:
    with pytest.raises(SettingsError) as info:
        secure.validate_setting_name(name)
    assert info.value.reason == (
        f"Setting name [{name}] does not match the allowed setting name pattern "
        r"[[A-Za-z0-9_\-.]+]"
    )
