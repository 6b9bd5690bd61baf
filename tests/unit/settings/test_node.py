"""``NodeSettings.from_flat``: defaults, host fallbacks and path resolution."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from isthmus.errors import SettingsError
from isthmus.settings.node import NodeSettings


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    d = tmp_path / "home" / "config"
    d.mkdir(parents=True)
    return d


def test_defaults(config_dir: Path) -> None:
    s = NodeSettings.from_flat({}, config_dir)
    home = config_dir.resolve().parent
    assert s.cluster_name == "isthmus"
    assert s.node_name == socket.gethostname()
    assert s.roles == ("master", "data", "ingest", "remote_cluster_client")
    assert s.attributes == {}
    assert s.home == home
    assert s.config_dir == config_dir.resolve()
    assert s.path_data == home / "data"
    assert s.path_logs == home / "logs"
    assert s.http_bind_host == "127.0.0.1"
    assert s.http_publish_host == "127.0.0.1"
    assert s.http_ports == (9200, 9300)
    assert s.transport_bind_host == "127.0.0.1"
    assert s.transport_ports == (9300, 9400)
    assert s.max_content_length == 100 * 1024 * 1024
    assert s.security_enabled is True
    assert s.raw == {}


def test_explicit_values_are_coerced(config_dir: Path) -> None:
    flat = {
        "cluster.name": "blue",
        "node.name": "n1",
        "node.roles": "[master]",
        "http.port": "9201",
        "transport.port": 9301,
        "http.max_content_length": "1mb",
        "xpack.security.enabled": "false",
        "node.attr.rack": "r1",
        "node.attr.zone": 3,
    }
    s = NodeSettings.from_flat(flat, config_dir)
    assert s.cluster_name == "blue"
    assert s.node_name == "n1"
    assert s.roles == ("master",)
    assert s.http_ports == (9201, 9201)
    assert s.transport_ports == (9301, 9301)
    assert s.max_content_length == 1024 * 1024
    assert s.security_enabled is False
    assert s.attributes == {"rack": "r1", "zone": "3"}
    assert s.raw == flat
    assert s.raw is not flat


def test_relative_paths_resolve_against_home(config_dir: Path) -> None:
    s = NodeSettings.from_flat({"path.data": "var/d", "path.logs": "l"}, config_dir)
    home = config_dir.resolve().parent
    assert s.path_data == home / "var" / "d"
    assert s.path_logs == home / "l"


def test_absolute_paths_kept(config_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    s = NodeSettings.from_flat({"path.data": str(data)}, config_dir)
    assert s.path_data == data


def test_relative_config_dir_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").mkdir()
    monkeypatch.chdir(tmp_path)
    s = NodeSettings.from_flat({}, Path("config"))
    assert s.home == tmp_path.resolve()
    assert s.path_data == tmp_path.resolve() / "data"


def test_network_host_is_the_fallback_for_everything(config_dir: Path) -> None:
    s = NodeSettings.from_flat({"network.host": "10.0.0.5"}, config_dir)
    assert (s.http_bind_host, s.http_publish_host, s.transport_bind_host) == (
        "10.0.0.5",
        "10.0.0.5",
        "10.0.0.5",
    )


def test_host_precedence(config_dir: Path) -> None:
    flat = {
        "network.host": "1.1.1.1",
        "network.bind_host": "2.2.2.2",
        "network.publish_host": "3.3.3.3",
        "http.host": "4.4.4.4",
    }
    s = NodeSettings.from_flat(flat, config_dir)
    assert s.http_bind_host == "4.4.4.4"
    assert s.http_publish_host == "4.4.4.4"
    assert s.transport_bind_host == "2.2.2.2"
    s = NodeSettings.from_flat(
        {**flat, "http.bind_host": "5.5.5.5", "http.publish_host": "6.6.6.6"}, config_dir
    )
    assert s.http_bind_host == "5.5.5.5"
    assert s.http_publish_host == "6.6.6.6"
    s = NodeSettings.from_flat({**flat, "transport.host": "7.7.7.7"}, config_dir)
    assert s.transport_bind_host == "7.7.7.7"
    s = NodeSettings.from_flat({**flat, "transport.bind_host": "8.8.8.8"}, config_dir)
    assert s.transport_bind_host == "8.8.8.8"


@pytest.mark.parametrize(
    ("special", "address"),
    [("_local_", "127.0.0.1"), ("_site_", "0.0.0.0"), ("_global_", "0.0.0.0")],
)
def test_special_network_values(config_dir: Path, special: str, address: str) -> None:
    s = NodeSettings.from_flat({"network.host": special}, config_dir)
    assert s.http_bind_host == address
    assert s.transport_bind_host == address


def test_invalid_value_raises_settings_error(config_dir: Path) -> None:
    with pytest.raises(SettingsError) as info:
        NodeSettings.from_flat({"http.port": "x"}, config_dir)
    assert info.value.reason == "Failed to parse value [x] for setting [http.port]"


def test_is_frozen(config_dir: Path) -> None:
    s = NodeSettings.from_flat({}, config_dir)
    with pytest.raises(AttributeError):
        s.cluster_name = "other"  # type: ignore[misc]
