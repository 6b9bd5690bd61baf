"""The registry is built from declarations, never from what happened to be imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from isthmus.settings import catalog
from isthmus.settings import values as v
from isthmus.settings.registry import Scope, Setting, SettingsRegistry

# One key of each declaring module, each in the scope it is declared in.
DECLARED = {
    "xpack.security.transport.ssl.verification_mode": "node",  # settings/tls.py
    "xpack.security.remote_cluster_server.ssl.handshake_timeout": "node",
    "cluster.remote.my_remote.seeds": "cluster",  # settings/remote.py
    "cluster.remote.connections_per_cluster": "node",
    "transport.tcp.keep_idle": "node",
    "remote_cluster.tcp.keep_idle": "node",  # settings/remote_server.py (falls back to the above)
    "remote_cluster_server.enabled": "node",
    "http.max_connections": "node",  # settings/listener_limits.py
    "network.breaker.inflight_requests.limit": "node",
    "cluster.routing.allocation.disk.watermark.low": "cluster",  # settings/disk.py
    "cluster.blocks.read_only_allow_delete": "cluster",
    "index.max_regex_length": "index",
    "index.blocks.read_only_allow_delete": "index",
    "bootstrap.password": "node",  # settings/secure.py
}
# The modules that used to register these keys as an import side effect.
FEATURE_MODULES = (
    "isthmus.security.tls",
    "isthmus.http.server",
    "isthmus.transport.limits",
    "isthmus.search.term_patterns",
    "isthmus.cluster.blocks",
    "isthmus.remote",
    "isthmus.transport",
    "isthmus.node",
)

_FRESH = """
import json, sys
from isthmus.settings.catalog import build_registry
from isthmus.settings.registry import Scope
registry = build_registry()
keys = json.loads(sys.argv[1])
found = {}
for key, scope in keys.items():
    setting = registry.find(key, [Scope(scope)])
    found[key] = None if setting is None else [setting.key, setting.secure]
loaded = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"found": found, "loaded": loaded, "size": len(registry)}))
"""


def test_a_fresh_process_builds_the_whole_registry_without_the_features() -> None:
    """Only the catalog is imported: every feature's keys are there, no feature module loaded."""
    out = subprocess.run(
        [sys.executable, "-c", _FRESH, json.dumps(DECLARED), json.dumps(FEATURE_MODULES)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    missing = [key for key, hit in result["found"].items() if hit is None]
    assert missing == []
    assert result["found"]["bootstrap.password"] == ["bootstrap.password", True]
    assert result["loaded"] == []
    assert result["size"] == len(catalog.REGISTRY)


def test_importing_the_features_adds_nothing() -> None:
    import isthmus.node  # noqa: F401  (every feature module of a running node)

    before = [s.key for s in catalog.REGISTRY.all_settings(Scope.NODE)]
    rebuilt = catalog.build_registry()
    assert [s.key for s in rebuilt.all_settings(Scope.NODE)] == before
    assert len(rebuilt) == len(catalog.REGISTRY)


def test_a_test_registry_is_its_own() -> None:
    extra = Setting("test.only.knob", v.parse_int, 1, Scope.NODE)
    mine = catalog.build_registry([extra])
    assert mine.find("test.only.knob", [Scope.NODE]) is extra
    assert catalog.find("test.only.knob", [Scope.NODE]) is None
    assert len(mine) == len(catalog.REGISTRY) + 1


def test_a_key_declared_twice_is_refused() -> None:
    one = Setting("a.b", v.parse_str, None, Scope.NODE)
    with pytest.raises(ValueError, match=r"declared more than once: \['a.b'\]"):
        SettingsRegistry([one, Setting("a.b", v.parse_int, 0, Scope.CLUSTER)])


def test_repr_counts_scopes() -> None:
    registry = SettingsRegistry(
        [
            Setting("a", v.parse_str, None, Scope.NODE),
            Setting("b", v.parse_str, None, Scope.NODE, secure=True),
            Setting("c", v.parse_str, None, Scope.INDEX),
        ]
    )
    assert repr(registry) == "<SettingsRegistry 3 settings: node=2, cluster=0, index=1, secure=1>"
