"""Loading ``isthmus.yml`` plus ``-E`` overrides into the validated flat map."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.errors import SettingsError
from isthmus.settings import loader

UNKNOWN = (
    "unknown setting [{}] please check that any required plugins are installed, or check the "
    "breaking changes documentation for removed settings"
)


def write_yml(tmp_path: Path, text: str) -> Path:
    (tmp_path / loader.CONFIG_FILE).write_text(text, encoding="utf-8")
    return tmp_path


def test_missing_file_gives_overrides_only(tmp_path: Path) -> None:
    assert loader.load_raw(tmp_path, {}, env={}) == {}
    assert loader.load_raw(tmp_path, {"cluster.name": "c"}, env={}) == {"cluster.name": "c"}


def test_empty_file(tmp_path: Path) -> None:
    write_yml(tmp_path, "# nothing here\n")
    assert loader.load_raw(tmp_path, {}, env={}) == {}


def test_nested_and_dotted_yaml_are_flattened(tmp_path: Path) -> None:
    write_yml(
        tmp_path,
        "cluster:\n  name: blue\nnode.name: n1\nhttp:\n  port: 9201\nnode.roles: [master, data]\n",
    )
    assert loader.load_raw(tmp_path, {}, env={}) == {
        "cluster.name": "blue",
        "node.name": "n1",
        "http.port": 9201,
        "node.roles": ["master", "data"],
    }


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    write_yml(tmp_path, "cluster.name: from-file\nnode.name: n1\n")
    flat = loader.load_raw(tmp_path, {"cluster.name": "from-cli"}, env={})
    assert flat == {"cluster.name": "from-cli", "node.name": "n1"}


def test_env_substitution(tmp_path: Path) -> None:
    write_yml(
        tmp_path,
        "node.name: ${NODE}-x\ncluster.name: ${A}${B}\nnode.roles: ['${ROLE}', ingest]\n",
    )
    env = {"NODE": "n7", "A": "pre", "B": "post", "ROLE": "master"}
    assert loader.load_raw(tmp_path, {}, env=env) == {
        "node.name": "n7-x",
        "cluster.name": "prepost",
        "node.roles": ["master", "ingest"],
    }


def test_env_substitution_missing_variable(tmp_path: Path) -> None:
    write_yml(tmp_path, "node.name: ${NOPE}\n")
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {}, env={})
    assert info.value.reason == "Could not resolve placeholder 'NOPE'"


def test_overrides_are_not_substituted(tmp_path: Path) -> None:
    flat = loader.load_raw(tmp_path, {"node.name": "${X}"}, env={"X": "y"})
    assert flat == {"node.name": "${X}"}


def test_uses_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISTHMUS_TEST_NODE", "from-env")
    write_yml(tmp_path, "node.name: ${ISTHMUS_TEST_NODE}\n")
    assert loader.load_raw(tmp_path, {}) == {"node.name": "from-env"}


@pytest.mark.parametrize("where", ["file", "override"])
def test_unknown_setting(tmp_path: Path, where: str) -> None:
    if where == "file":
        write_yml(tmp_path, "cluster:\n  nmae: oops\n")
        overrides: dict[str, str] = {}
    else:
        overrides = {"cluster.nmae": "oops"}
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, overrides, env={})
    # ES's settings rule suggests the close key (similarity above 0.7).
    assert info.value.reason == "unknown setting [cluster.nmae] did you mean [cluster.name]?"


def test_index_settings_are_unknown_at_node_level(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {"index.number_of_shards": "3"}, env={})
    assert info.value.reason == UNKNOWN.format("index.number_of_shards")


def test_dynamic_cluster_settings_accepted_in_file(tmp_path: Path) -> None:
    write_yml(tmp_path, "search.max_buckets: 100\nlogger.org.elasticsearch.transport: debug\n")
    assert loader.load_raw(tmp_path, {}, env={}) == {
        "search.max_buckets": 100,
        "logger.org.elasticsearch.transport": "debug",
    }


def test_invalid_value_rejected_with_key(tmp_path: Path) -> None:
    write_yml(tmp_path, "http.port: ninety\n")
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {}, env={})
    assert info.value.reason == "Failed to parse value [ninety] for setting [http.port]"


def test_invalid_override_value(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {"xpack.security.enabled": "yes"}, env={})
    assert info.value.reason == "Failed to parse value [yes] as only [true] or [false] are allowed."


def test_values_stay_raw_after_validation(tmp_path: Path) -> None:
    flat = loader.load_raw(tmp_path, {"http.port": "9200-9205"}, env={})
    assert flat == {"http.port": "9200-9205"}


def test_secure_setting_in_file_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from isthmus.settings import catalog
    from isthmus.settings import registry as r
    from isthmus.settings import values as v

    secure = r.Setting("test.only.secret_password", v.parse_str, None, r.Scope.NODE, secure=True)
    monkeypatch.setattr(catalog, "REGISTRY", catalog.build_registry([secure]))
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {"test.only.secret_password": "hunter2"}, env={})
    assert info.value.reason == (
        "setting [test.only.secret_password], which is a secure setting, cannot be set in the "
        "settings file; use the keystore"
    )


def test_malformed_yaml(tmp_path: Path) -> None:
    write_yml(tmp_path, "cluster.name: [unclosed\n")
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {}, env={})
    assert info.value.reason.startswith(
        f"Failed to load settings from [{tmp_path / loader.CONFIG_FILE}]: "
    )


def test_yaml_that_is_not_a_map(tmp_path: Path) -> None:
    write_yml(tmp_path, "- a\n- b\n")
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {}, env={})
    assert info.value.reason == (
        f"Failed to load settings from [{tmp_path / loader.CONFIG_FILE}]: not a map of settings"
    )


# --- -E parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["cluster.name=a"], {"cluster.name": "a"}),
        (["x=k=v"], {"x": "k=v"}),
        (["empty="], {"empty": ""}),
        ([" node.name =b"], {"node.name": "b"}),
        (["a=1", "a=2"], {"a": "2"}),
        ([], {}),
    ],
)
def test_parse_overrides_forms(items: list[str], expected: dict[str, str]) -> None:
    assert loader.parse_overrides(items) == expected


@pytest.mark.parametrize("item", ["cluster.name", "=value", ""])
def test_parse_overrides_rejects(item: str) -> None:
    with pytest.raises(SettingsError) as info:
        loader.parse_overrides([item])
    assert info.value.reason == f"setting [{item}] must be in the form key=value"


def test_default_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISTHMUS_PATH_CONF", raising=False)
    assert loader.default_config_dir() == Path("config")
    monkeypatch.setenv("ISTHMUS_PATH_CONF", "/etc/isthmus")
    assert loader.default_config_dir() == Path("/etc/isthmus")
