"""Remote-cluster and transport-tuning settings: registry entries, records, ES messages, rebuilds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.errors import IllegalArgumentError, SettingsError
from isthmus.settings import catalog, loader
from isthmus.settings import registry as r
from isthmus.settings import remote as rc
from isthmus.settings.values import TimeValue

NOT_ENABLED = "Cannot configure setting [{}] if remote cluster is not enabled."


def wrong_mode(key: str, alias: str, required: str, configured: str) -> str:
    return (
        f'Setting "{key}" cannot be used with the configured "cluster.remote.{alias}.mode" '
        f"[required={required}, configured={configured}]"
    )


def raises(flat: dict[str, Any]) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        rc.validate_remote_settings(flat)
    return info.value


def coerce(key: str, raw: object) -> Any:
    setting = catalog.find(key, (r.Scope.CLUSTER, r.Scope.NODE))
    assert setting is not None, key
    return setting.coerce(key, raw)


def configs(flat: dict[str, Any]) -> dict[str, rc.RemoteClusterConfig]:
    return rc.remote_configs(flat, rc.transport_tuning(flat), rc.remote_globals(flat))


# --- registry ----------------------------------------------------------------------------------------

ALIAS_SUFFIXES = [
    "mode",
    "seeds",
    "proxy",
    "node_connections",
    "proxy_address",
    "proxy_socket_connections",
    "server_name",
    "skip_unavailable",
    "transport.ping_schedule",
    "transport.compress",
    "transport.compression_scheme",
]


@pytest.mark.parametrize("suffix", ALIAS_SUFFIXES)
@pytest.mark.parametrize("alias", ["a", "my-remote_2", "transport", "node"])
def test_per_alias_keys_are_dynamic_cluster_settings(alias: str, suffix: str) -> None:
    key = f"cluster.remote.{alias}.{suffix}"
    for scopes in ((r.Scope.CLUSTER, r.Scope.NODE), (r.Scope.NODE, r.Scope.CLUSTER)):
        setting = catalog.find(key, scopes)
        assert setting is not None
        assert setting.key == f"cluster.remote.*.{suffix}"
        assert setting.scope is r.Scope.CLUSTER and setting.dynamic and setting.is_affix
    assert catalog.find(key, (r.Scope.NODE,)) is None


@pytest.mark.parametrize(
    "key",
    [
        "cluster.remote..seeds",  # ES's alias is one [-\w]+ segment: empty and dotted are unknown
        "cluster.remote.a.b.seeds",
        "cluster.remote.a.b.transport.ping_schedule",
        "cluster.remote.seeds",
        "cluster.remote.a.ping_schedule",
        "cluster.remote.a.seeds.extra",
        "cluster.remote.é.seeds",
    ],
)
def test_malformed_per_alias_keys_are_unknown(key: str) -> None:
    assert catalog.find(key, list(r.Scope)) is None


NODE_KEYS = [
    "cluster.remote.initial_connect_timeout",
    "cluster.remote.connections_per_cluster",
    "cluster.remote.node.attr",
    "transport.connect_timeout",
    "transport.ping_schedule",
    "transport.compress",
    "transport.compression_scheme",
    *(
        f"{prefix}.{name}"
        for prefix in ("network.tcp", "transport.tcp")
        for name in (
            "keep_alive",
            "keep_idle",
            "keep_interval",
            "keep_count",
            "no_delay",
            "reuse_address",
            "user_timeout",
        )
    ),
]


@pytest.mark.parametrize("key", NODE_KEYS)
def test_node_keys_are_static_node_settings(key: str) -> None:
    setting = catalog.find(key, (r.Scope.NODE,))
    assert setting is not None and setting.key == key
    assert not setting.dynamic
    assert catalog.find(key, (r.Scope.CLUSTER,)) is None


def test_registered_once_and_credentials_untouched() -> None:
    keys = [s.key for scope in r.Scope for s in catalog.all_settings(scope)]
    assert len(keys) == len(set(keys))
    found = catalog.find("cluster.remote.a.credentials", (r.Scope.CLUSTER, r.Scope.NODE))
    assert found is not None and found.secure


def test_isthmus_yml_accepts_remote_keys(tmp_path: Path) -> None:
    (tmp_path / loader.CONFIG_FILE).write_text(
        "cluster.remote:\n"
        "  a:\n"
        "    seeds: ['127.0.0.1:9300', '[::1]:9301']\n"
        "    skip_unavailable: false\n"
        "    transport.ping_schedule: 5s\n"
        "  b.mode: proxy\n"
        "  b.proxy_address: 'h:9443'\n"
        "transport.tcp.keep_idle: 10\n",
        encoding="utf-8",
    )
    flat = loader.load_raw(tmp_path, {"cluster.remote.connections_per_cluster": "5"}, env={})
    assert flat["cluster.remote.a.transport.ping_schedule"] == "5s"
    got = configs(flat)
    assert got["a"].strategy == rc.SniffConfig(("127.0.0.1:9300", "[::1]:9301"), 5, "")
    assert got["a"].skip_unavailable is False
    assert got["b"].strategy == rc.ProxyConfig("h:9443", 18, "")
    assert rc.transport_tuning(flat).tcp.keep_idle == 10


def test_isthmus_yml_refuses_a_bad_seed(tmp_path: Path) -> None:
    (tmp_path / loader.CONFIG_FILE).write_text("cluster.remote.a.seeds: [nocolon]\n")
    with pytest.raises(SettingsError) as info:
        loader.load_raw(tmp_path, {}, env={})
    assert info.value.reason == (
        "remote hosts need to be configured as [host:port], found [nocolon] instead"
    )


# --- step 1: each key alone (registry coerce) --------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        (
            "cluster.remote.a.mode",
            "bogus",
            "No enum constant org.elasticsearch.transport.RemoteConnectionStrategy."
            "ConnectionStrategy.BOGUS",
        ),
        (
            "cluster.remote.a.seeds",
            ["h:9300", "nocolon"],
            "remote hosts need to be configured as [host:port], found [nocolon] instead",
        ),
        ("cluster.remote.a.seeds", "h:0", "port number must be > 0 but was: [0]"),
        ("cluster.remote.a.seeds", "h:-5", "port number must be > 0 but was: [-5]"),
        (
            "cluster.remote.a.seeds",
            " ,h:1",
            "remote hosts need to be configured as [host:port], found [] instead",
        ),
        (
            "cluster.remote.a.proxy_address",
            "nocolon",
            "remote hosts need to be configured as [host:port], found [nocolon] instead",
        ),
        (
            "cluster.remote.a.proxy",
            "nocolon",
            "remote hosts need to be configured as [host:port], found [nocolon] instead",
        ),
        (
            "cluster.remote.a.node_connections",
            "0",
            "Failed to parse value [0] for setting [cluster.remote.a.node_connections] must be >= 1",
        ),
        (
            "cluster.remote.a.proxy_socket_connections",
            0,
            "Failed to parse value [0] for setting [cluster.remote.a.proxy_socket_connections] "
            "must be >= 1",
        ),
        (
            "cluster.remote.a.skip_unavailable",
            "yes",
            "Failed to parse value [yes] as only [true] or [false] are allowed.",
        ),
        (
            "cluster.remote.a.transport.ping_schedule",
            "5",
            "failed to parse setting [cluster.remote.a.transport.ping_schedule] with value [5] "
            "as a time value: unit is missing or unrecognized",
        ),
        (
            "cluster.remote.a.transport.compress",
            "maybe",
            "No enum constant org.elasticsearch.transport.Compression.Enabled.MAYBE",
        ),
        (
            "cluster.remote.a.transport.compression_scheme",
            "zstd",
            "No enum constant org.elasticsearch.transport.Compression.Scheme.ZSTD",
        ),
    ],
)
def test_each_key_alone_gives_es_message(key: str, raw: object, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        coerce(key, raw)
    assert info.value.reason == message
    assert info.value.caused_by is None
    assert info.value.to_body()["status"] == 400


@pytest.mark.parametrize("raw", ["three", "", "3.0", " 3", "99999999999"])
def test_int_parse_error_carries_the_java_cause(raw: str) -> None:
    key = "cluster.remote.a.node_connections"
    with pytest.raises(SettingsError) as info:
        coerce(key, raw)
    assert info.value.to_body() == {
        "error": {
            "root_cause": [
                {
                    "type": "illegal_argument_exception",
                    "reason": f"Failed to parse value [{raw}] for setting [{key}]",
                }
            ],
            "type": "illegal_argument_exception",
            "reason": f"Failed to parse value [{raw}] for setting [{key}]",
            "caused_by": {
                "type": "number_format_exception",
                "reason": f'For input string: "{raw}"',
            },
        },
        "status": 400,
    }


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("cluster.remote.a.mode", "PROXY", rc.Mode.PROXY),
        ("cluster.remote.a.mode", "Sniff", rc.Mode.SNIFF),
        ("cluster.remote.a.seeds", ["h:1", "[::1]:2"], ("h:1", "[::1]:2")),
        ("cluster.remote.a.seeds", "h:1, g:2,", ("h:1", "g:2")),  # ES: split, drop trailing, trim
        ("cluster.remote.a.seeds", "", ()),
        ("cluster.remote.a.seeds", [], ()),
        ("cluster.remote.a.proxy_address", "", ""),
        ("cluster.remote.a.node_connections", "+7", 7),  # Java's parseInt takes a sign
        ("cluster.remote.a.skip_unavailable", False, False),
        ("cluster.remote.a.skip_unavailable", "true", True),
        ("cluster.remote.a.transport.compress", True, "true"),
        ("cluster.remote.a.transport.compress", "INDEXING_DATA", "indexing_data"),
        ("cluster.remote.a.transport.compression_scheme", "Deflate", "deflate"),
        ("cluster.remote.a.transport.ping_schedule", "-1", TimeValue(-1, "-1")),
    ],
)
def test_each_key_alone_accepts(key: str, raw: object, value: object) -> None:
    assert coerce(key, raw) == value


# --- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:9300", "127.0.0.1", 9300),
        ("es.example.com:9443", "es.example.com", 9443),
        ("[::1]:9300", "::1", 9300),
        ("[fe80::1%eth0]:9300", "fe80::1%eth0", 9300),
        ("::1:9300", "::1", 9300),  # the port follows the LAST colon
        (":9300", "", 9300),  # ES accepts it too; it resolves at connect time
        ("h:70000", "h", 70000),  # ES checks the range only when it connects
    ],
)
def test_parse_address(text: str, host: str, port: int) -> None:
    assert rc.parse_address(text) == rc.SeedAddress(text, host, port)


@pytest.mark.parametrize("text", ["h:", "h:x", "[::1]", "h:9300 ", "h:1_000", "h:2147483648"])
def test_parse_address_bad_port(text: str) -> None:
    with pytest.raises(SettingsError) as info:
        rc.parse_address(text)
    assert info.value.reason == "failed to parse port"
    assert info.value.caused_by is not None
    port_text = text[text.rfind(":") + 1 :]
    assert info.value.caused_by.to_cause() == {
        "type": "number_format_exception",
        "reason": f'For input string: "{port_text}"',
    }
    # ES reports the IllegalArgumentException itself as the root cause, not Java's exception.
    assert info.value.to_body()["error"]["root_cause"] == [
        {"type": "illegal_argument_exception", "reason": "failed to parse port"}
    ]


def test_parse_address_messages() -> None:
    with pytest.raises(SettingsError) as info:
        rc.parse_address("localhost")
    assert info.value.reason == (
        "remote hosts need to be configured as [host:port], found [localhost] instead"
    )
    with pytest.raises(SettingsError) as info:
        rc.parse_address("h:0")
    assert info.value.reason == "port number must be > 0 but was: [0]"


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_hostname = st.lists(_label, min_size=1, max_size=4).map(".".join)
_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_ipv6 = st.ip_addresses(v=6).map(str)


@given(st.one_of(_hostname, _ipv4, _ipv6), st.integers(1, 65535))
def test_parse_address_round_trip(host: str, port: int) -> None:
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    assert rc.parse_address(text) == rc.SeedAddress(text, host, port)


# --- defaults and fallbacks --------------------------------------------------------------------------


def test_defaults() -> None:
    assert rc.remote_globals({}) == rc.RemoteClusterGlobals(TimeValue(30_000, "30s"), 3, None)
    assert rc.transport_tuning({}) == rc.TransportTuning(
        connect_timeout=TimeValue(30_000, "30s"),
        ping_schedule=TimeValue(1000, "1s"),  # Isthmus; ES: -1
        compress="indexing_data",
        compression_scheme="lz4",
        tcp=rc.TcpOptions(
            keep_alive=True,
            keep_idle=1,
            keep_interval=1,
            keep_count=3,
            no_delay=True,
            user_timeout_ms=3000,
            reuse_address=True,
        ),
    )
    assert configs({}) == {}


def test_globals_parsed() -> None:
    flat = {
        "cluster.remote.initial_connect_timeout": "5s",
        "cluster.remote.connections_per_cluster": 6,
        "cluster.remote.node.attr": "gateway",
    }
    assert rc.remote_globals(flat) == rc.RemoteClusterGlobals(TimeValue(5000, "5s"), 6, "gateway")


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        (
            "cluster.remote.initial_connect_timeout",
            "-1",
            "failed to parse value [-1] for setting [cluster.remote.initial_connect_timeout], "
            "must be >= [0ms]",
        ),
        (
            "cluster.remote.connections_per_cluster",
            "0",
            "Failed to parse value [0] for setting [cluster.remote.connections_per_cluster] "
            "must be >= 1",
        ),
        (
            "network.tcp.keep_idle",
            "301",
            "Failed to parse value [301] for setting [network.tcp.keep_idle] must be <= 300",
        ),
        (
            "transport.tcp.keep_interval",
            "-2",
            "Failed to parse value [-2] for setting [transport.tcp.keep_interval] must be >= -1",
        ),
        (
            "network.tcp.keep_count",
            "0",  # Isthmus: -1 or >= 1 (ES accepts 0, which no kernel takes)
            "Failed to parse value [0] for setting [network.tcp.keep_count] must be -1 or >= 1",
        ),
        (
            "transport.compress",
            "always",
            "No enum constant org.elasticsearch.transport.Compression.Enabled.ALWAYS",
        ),
        (
            "network.tcp.no_delay",
            "on",
            "Failed to parse value [on] as only [true] or [false] are allowed.",
        ),
    ],
)
def test_node_setting_messages(key: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        coerce(key, raw)
    assert info.value.reason == message
    parse_record = rc.remote_globals if key.startswith("cluster.") else rc.transport_tuning
    with pytest.raises(SettingsError) as info:  # the records parse with the same messages
        parse_record({key: raw})
    assert info.value.reason == message


def test_transport_tcp_falls_back_to_network_tcp() -> None:
    tcp = rc.transport_tuning(
        {
            "network.tcp.keep_idle": 30,
            "network.tcp.keep_interval": "20",
            "transport.tcp.keep_interval": "10",
            "network.tcp.keep_count": -1,
            "network.tcp.no_delay": False,
            "transport.tcp.keep_alive": "false",
            "network.tcp.user_timeout": "-1",
            "transport.tcp.reuse_address": None,  # unset
            "network.tcp.reuse_address": False,
        }
    ).tcp
    assert tcp == rc.TcpOptions(
        keep_alive=False,
        keep_idle=30,
        keep_interval=10,
        keep_count=-1,
        no_delay=False,
        user_timeout_ms=-1,
        reuse_address=False,
    )


def test_per_alias_settings_fall_back_to_globals() -> None:
    flat = {
        "transport.ping_schedule": "30s",
        "transport.compress": "false",
        "transport.compression_scheme": "deflate",
        "cluster.remote.connections_per_cluster": "2",
        "cluster.remote.a.seeds": ["h:9300"],
        "cluster.remote.b.seeds": ["h:9301"],
        "cluster.remote.b.node_connections": 4,
        "cluster.remote.b.transport.ping_schedule": "-1",
        "cluster.remote.b.transport.compress": "true",
        "cluster.remote.b.transport.compression_scheme": "lz4",
    }
    a, b = configs(flat)["a"], configs(flat)["b"]
    assert (a.ping_schedule, a.compress, a.compression_scheme) == (
        TimeValue(30_000, "30s"),
        "false",
        "deflate",
    )
    assert isinstance(a.strategy, rc.SniffConfig) and a.strategy.node_connections == 2
    assert (b.ping_schedule, b.compress, b.compression_scheme) == (
        TimeValue(-1, "-1"),
        "true",
        "lz4",
    )
    assert isinstance(b.strategy, rc.SniffConfig) and b.strategy.node_connections == 4


# --- enabled remotes ---------------------------------------------------------------------------------


def test_sniff_remote_from_list_and_string() -> None:
    as_list = configs({"cluster.remote.a.seeds": ["h2:9300", "h1:9300"]})
    as_text = configs({"cluster.remote.a.seeds": "h2:9300, h1:9300"})
    assert as_list == as_text
    cfg = as_list["a"]
    assert cfg.mode is rc.Mode.SNIFF
    assert cfg.strategy == rc.SniffConfig(
        seeds=("h2:9300", "h1:9300"), node_connections=3, proxy=""
    )
    assert cfg.skip_unavailable is True
    assert (cfg.ping_schedule, cfg.compress, cfg.compression_scheme) == (
        TimeValue(1000, "1s"),
        "indexing_data",
        "lz4",
    )


def test_proxy_remote() -> None:
    got = configs(
        {
            "cluster.remote.p.mode": "proxy",
            "cluster.remote.p.proxy_address": "[::1]:9443",
            "cluster.remote.p.proxy_socket_connections": "4",
            "cluster.remote.p.server_name": "fc.example.com",
            "cluster.remote.p.skip_unavailable": False,
        }
    )
    assert got["p"].mode is rc.Mode.PROXY
    assert got["p"].strategy == rc.ProxyConfig("[::1]:9443", 4, "fc.example.com")
    assert got["p"].skip_unavailable is False


@pytest.mark.parametrize(
    "flat",
    [
        {"cluster.remote.a.seeds": []},
        {"cluster.remote.a.seeds": ""},
        {"cluster.remote.a.seeds": None},
        {"cluster.remote.a.skip_unavailable": "true"},
        {"cluster.remote.a.mode": "proxy"},
        {"cluster.remote.a.mode": "proxy", "cluster.remote.a.seeds": ["h:1"]},  # wrong mode's key
        {"cluster.remote.a.proxy_address": "h:1"},  # sniff by default: proxy_address is ignored
        {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": ""},
    ],
)
def test_disabled_remotes_are_left_out(flat: dict[str, Any]) -> None:
    assert configs(flat) == {}


def test_remote_aliases() -> None:
    flat = {
        "cluster.remote.b.seeds": ["h:1"],
        "cluster.remote.a.skip_unavailable": True,
        "cluster.remote.c.transport.compress": "true",
        "cluster.remote.d.seeds": None,  # unset: not mentioned
        "cluster.remote.node.attr": "gateway",  # a global, not an alias
        "cluster.remote.initial_connect_timeout": "1s",
        "cluster.name": "x",
    }
    assert rc.remote_aliases(flat) == ("a", "b", "c")


def test_config_repr_is_one_line() -> None:
    cfg = configs({"cluster.remote.a.seeds": ["h:9300"]})["a"]
    assert repr(cfg) == (
        "<RemoteClusterConfig 'a' sniff seeds=('h:9300',) node_connections=3 proxy='' "
        "skip_unavailable=True ping=1s compress=indexing_data/lz4>"
    )
    proxy = configs({"cluster.remote.p.mode": "proxy", "cluster.remote.p.proxy_address": "h:1"})
    assert "\n" not in repr(proxy["p"]) and "proxy_address='h:1'" in repr(proxy["p"])


# --- step 2: one layer with its dependencies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "value"),
    [("seeds", ["h:9300"]), ("proxy", "h:9300"), ("node_connections", "2")],
)
def test_sniff_only_setting_under_proxy_mode(suffix: str, value: object) -> None:
    key = f"cluster.remote.a.{suffix}"
    err = raises(
        {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": "h:1", key: value}
    )
    assert err.reason == wrong_mode(key, "a", "SNIFF", "PROXY")


@pytest.mark.parametrize(
    ("suffix", "value"),
    [("proxy_address", "h:9443"), ("proxy_socket_connections", "2"), ("server_name", "x")],
)
def test_proxy_only_setting_under_sniff_mode(suffix: str, value: object) -> None:
    key = f"cluster.remote.a.{suffix}"
    err = raises({"cluster.remote.a.seeds": ["h:9300"], key: value})
    assert err.reason == wrong_mode(key, "a", "PROXY", "SNIFF")
    assert isinstance(err, IllegalArgumentError)
    assert err.to_body() == {
        "error": {
            "root_cause": [{"type": "illegal_argument_exception", "reason": err.reason}],
            "type": "illegal_argument_exception",
            "reason": err.reason,
        },
        "status": 400,
    }


def test_reference_example_message() -> None:
    err = raises({"cluster.remote.a.proxy_address": "h:9443"})
    assert err.reason == (
        'Setting "cluster.remote.a.proxy_address" cannot be used with the configured '
        '"cluster.remote.a.mode" [required=PROXY, configured=SNIFF]'
    )


@pytest.mark.parametrize(
    ("suffix", "value"),
    [
        ("skip_unavailable", "true"),
        ("skip_unavailable", False),
        ("transport.ping_schedule", "5s"),
        ("transport.compress", "true"),
        ("transport.compression_scheme", "lz4"),
    ],
)
@pytest.mark.parametrize(
    "others",
    [
        {},
        {"cluster.remote.a.seeds": []},
        {"cluster.remote.a.mode": "proxy"},
        {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": ""},
    ],
)
def test_common_setting_on_a_disabled_remote(
    suffix: str, value: object, others: dict[str, Any]
) -> None:
    key = f"cluster.remote.a.{suffix}"
    assert raises({**others, key: value}).reason == NOT_ENABLED.format(key)


@pytest.mark.parametrize(
    "flat",
    [
        {},
        {"cluster.name": "x", "cluster.remote.a.seeds": None},
        {"cluster.remote.a.seeds": ["h:9300"], "cluster.remote.a.skip_unavailable": True},
        {
            "cluster.remote.a.mode": "sniff",
            "cluster.remote.a.seeds": "h:9300,[::1]:9300",
            "cluster.remote.a.proxy": "p:9300",
            "cluster.remote.a.node_connections": 5,
            "cluster.remote.a.transport.ping_schedule": "-1",
            "cluster.remote.a.transport.compress": "false",
            "cluster.remote.a.transport.compression_scheme": "deflate",
        },
        {
            "cluster.remote.p.mode": "PROXY",
            "cluster.remote.p.proxy_address": "h:9443",
            "cluster.remote.p.proxy_socket_connections": "3",
            "cluster.remote.p.server_name": "sni",
            "cluster.remote.p.skip_unavailable": "false",
        },
        {"cluster.remote.a.mode": "proxy"},  # mode alone is fine
        {"cluster.remote.a.seeds": []},  # an empty enablement setting is fine
        {"cluster.remote.a.skip_unavailable": None},  # unset
    ],
)
def test_valid_layers(flat: dict[str, Any]) -> None:
    rc.validate_remote_settings(flat)


def test_bad_values_are_reported_by_the_layer_check_too() -> None:
    assert raises({"cluster.remote.a.mode": "socks"}).reason == (
        "No enum constant org.elasticsearch.transport.RemoteConnectionStrategy."
        "ConnectionStrategy.SOCKS"
    )
    assert raises({"cluster.remote.a.seeds": ["h"]}).reason == (
        "remote hosts need to be configured as [host:port], found [h] instead"
    )
    err = raises({"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": "h:x"})
    assert err.reason == "failed to parse port"
    assert err.caused_by is not None and err.caused_by.es_type == "number_format_exception"
    assert raises(
        {"cluster.remote.a.seeds": ["h:1"], "cluster.remote.a.node_connections": "0"}
    ).reason == (
        "Failed to parse value [0] for setting [cluster.remote.a.node_connections] must be >= 1"
    )
    assert raises(
        {
            "cluster.remote.a.mode": "proxy",
            "cluster.remote.a.proxy_address": "h:1",
            "cluster.remote.a.proxy_socket_connections": "-3",
        }
    ).reason == (
        "Failed to parse value [-3] for setting [cluster.remote.a.proxy_socket_connections] "
        "must be >= 1"
    )


def test_an_unset_mode_means_sniff() -> None:
    err = raises({"cluster.remote.a.skip_unavailable": "true", "cluster.remote.a.mode": None})
    assert err.reason == NOT_ENABLED.format("cluster.remote.a.skip_unavailable")
    err = raises({"cluster.remote.a.mode": None, "cluster.remote.a.server_name": "x"})
    assert err.reason == wrong_mode("cluster.remote.a.server_name", "a", "PROXY", "SNIFF")


def test_empty_alias() -> None:
    err = raises({"cluster.remote..seeds": ["h:9300"]})
    assert err.reason == "remote clusters must not have the empty string as its key"


def test_first_failing_key_in_key_order_wins() -> None:
    err = raises(
        {
            "cluster.remote.b.server_name": "x",
            "cluster.remote.a.skip_unavailable": "true",
        }
    )
    assert err.reason == NOT_ENABLED.format("cluster.remote.a.skip_unavailable")


# --- step 3: across layers (ES validateUpdate) -------------------------------------------------------


def update_error(previous: dict[str, Any], current: dict[str, Any]) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        rc.validate_remote_update(previous, current)
    return info.value


def test_update_wraps_a_mode_clash_between_layers() -> None:
    # yml says proxy; a PUT adds seeds. Each layer alone is fine; together they clash.
    yml = {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": "p:9443"}
    err = update_error(yml, {**yml, "cluster.remote.a.seeds": ["h:9300", "g:9300"]})
    key = "cluster.remote.a.seeds"
    assert (
        err.reason == f"""illegal value can't update [{key}] from [[]] to [["h:9300","g:9300"]]"""
    )
    assert err.to_body() == {
        "error": {
            "root_cause": [{"type": "illegal_argument_exception", "reason": err.reason}],
            "type": "illegal_argument_exception",
            "reason": err.reason,
            "caused_by": {
                "type": "illegal_argument_exception",
                "reason": wrong_mode(key, "a", "SNIFF", "PROXY"),
            },
        },
        "status": 400,
    }


def test_update_wraps_not_enabled_and_prints_raw_values() -> None:
    yml = {"cluster.remote.a.seeds": "h:9300"}
    previous = {**yml, "cluster.remote.a.skip_unavailable": "false"}
    current = {**yml, "cluster.remote.a.seeds": None, "cluster.remote.a.skip_unavailable": True}
    current = {k: val for k, val in current.items() if val is not None}
    err = update_error(previous, current)
    key = "cluster.remote.a.skip_unavailable"
    assert err.reason == f"illegal value can't update [{key}] from [false] to [true]"
    assert err.caused_by is not None and err.caused_by.reason == NOT_ENABLED.format(key)


def test_update_prints_fallback_defaults() -> None:
    previous = {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": "p:1"}
    err = update_error(previous, {**previous, "cluster.remote.a.node_connections": 4})
    assert err.reason == (
        "illegal value can't update [cluster.remote.a.node_connections] from [3] to [4]"
    )
    err = update_error(
        {**previous, "cluster.remote.connections_per_cluster": "7"},
        {
            **previous,
            "cluster.remote.connections_per_cluster": "7",
            "cluster.remote.a.proxy": "x:1",
        },
    )
    assert err.reason == "illegal value can't update [cluster.remote.a.proxy] from [] to [x:1]"
    global7 = {**previous, "cluster.remote.connections_per_cluster": "7"}
    err = update_error(global7, {**global7, "cluster.remote.a.node_connections": "4"})
    assert err.reason == (
        "illegal value can't update [cluster.remote.a.node_connections] from [7] to [4]"
    )
    # The same printed value as the fallback's is no change at all, so ES checks nothing.
    rc.validate_remote_update(global7, {**global7, "cluster.remote.a.node_connections": "7"})


def test_update_checks_only_changed_keys() -> None:
    # A stale seeds entry that the new mode makes invalid is not re-checked (ES behaves the same).
    previous = {"cluster.remote.a.seeds": ["h:9300"]}
    current = {
        "cluster.remote.a.seeds": ["h:9300"],
        "cluster.remote.a.mode": "proxy",
        "cluster.remote.a.proxy_address": "p:9443",
    }
    rc.validate_remote_update(previous, current)
    # A list and its comma-separated spelling print alike (["h:1","g:2"]): no change, no check.
    stale = {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": "p:1"}
    rc.validate_remote_update(
        {**stale, "cluster.remote.a.seeds": "h:1, g:2"},
        {**stale, "cluster.remote.a.seeds": ["h:1", "g:2"]},
    )
    # Another order prints differently, so it is checked (and refused under proxy mode).
    err = update_error(
        {**stale, "cluster.remote.a.seeds": "h:1,g:2"},
        {**stale, "cluster.remote.a.seeds": ["g:2", "h:1"]},
    )
    assert err.reason == (
        """illegal value can't update [cluster.remote.a.seeds] """
        """from [["h:1","g:2"]] to [["g:2","h:1"]]"""
    )


def test_update_ignores_compression_scheme_and_allows_removal() -> None:
    # ES has no update consumer for compression_scheme.
    yml = {"cluster.remote.a.transport.compression_scheme": "lz4"}
    rc.validate_remote_update({}, yml)
    # Removing a key checks it at its default, which is never "present": no error.
    both = {"cluster.remote.a.seeds": ["h:1"], "cluster.remote.a.skip_unavailable": "false"}
    rc.validate_remote_update(both, {})


def test_update_group_order() -> None:
    # ES checks transport.compress before seeds (group consumer order), whatever the key order.
    yml = {"cluster.remote.a.mode": "proxy", "cluster.remote.a.proxy_address": "p:1"}
    previous = {"cluster.remote.b.mode": "proxy", "cluster.remote.b.proxy_address": "p:1"}
    current = {**previous, **yml, "cluster.remote.a.seeds": ["h:1"]}
    current["cluster.remote.b.proxy_address"] = ""
    current["cluster.remote.b.transport.compress"] = "true"
    err = update_error(previous, current)
    assert err.reason == (
        "illegal value can't update [cluster.remote.b.transport.compress] "
        "from [INDEXING_DATA] to [true]"
    )


# --- must_rebuild ------------------------------------------------------------------------------------

SNIFF = rc.RemoteClusterConfig(
    alias="a",
    mode=rc.Mode.SNIFF,
    strategy=rc.SniffConfig(("h1:9300", "h2:9300"), 3, ""),
    skip_unavailable=True,
    ping_schedule=TimeValue(1000, "1s"),
    compress="indexing_data",
    compression_scheme="lz4",
)
PROXY = replace(SNIFF, mode=rc.Mode.PROXY, strategy=rc.ProxyConfig("p:9443", 18, ""))


def sniff(**changes: Any) -> rc.RemoteClusterConfig:
    assert isinstance(SNIFF.strategy, rc.SniffConfig)
    return replace(SNIFF, strategy=replace(SNIFF.strategy, **changes))


def proxy(**changes: Any) -> rc.RemoteClusterConfig:
    assert isinstance(PROXY.strategy, rc.ProxyConfig)
    return replace(PROXY, strategy=replace(PROXY.strategy, **changes))


@pytest.mark.parametrize(
    ("old", "new", "rebuild"),
    [
        (SNIFF, SNIFF, False),
        (PROXY, PROXY, False),
        (SNIFF, PROXY, True),
        (PROXY, SNIFF, True),
        (SNIFF, replace(SNIFF, skip_unavailable=False), False),
        (PROXY, replace(PROXY, skip_unavailable=False), False),
        (SNIFF, replace(SNIFF, ping_schedule=TimeValue(5000, "5s")), True),
        (SNIFF, replace(SNIFF, ping_schedule=TimeValue(1000, "1000ms")), False),  # same duration
        (SNIFF, replace(SNIFF, compress="true"), True),
        (PROXY, replace(PROXY, compress="false"), True),
        (SNIFF, replace(SNIFF, compression_scheme="deflate"), True),
        (SNIFF, sniff(seeds=("h2:9300", "h1:9300")), False),  # order never matters
        (SNIFF, sniff(seeds=("h1:9300",)), True),
        (SNIFF, sniff(seeds=("h1:9300", "h3:9300")), True),
        (SNIFF, sniff(seeds=("h1:9300", "h1:9300")), True),  # same count, other set
        (sniff(seeds=("h1:9300", "h1:9300")), sniff(seeds=("h1:9300",)), True),  # other count
        (SNIFF, sniff(node_connections=4), True),
        (SNIFF, sniff(proxy="px:9300"), True),
        (PROXY, proxy(proxy_address="q:9443"), True),
        (PROXY, proxy(proxy_socket_connections=2), True),
        (PROXY, proxy(server_name="sni.example"), True),  # ES >= 7.6.2 (#54107)
    ],
)
def test_must_rebuild(
    old: rc.RemoteClusterConfig, new: rc.RemoteClusterConfig, rebuild: bool
) -> None:
    assert rc.must_rebuild(old, new) is rebuild
    assert rc.must_rebuild(new, old) is rebuild
