"""The API-key model's life cycle on two real clusters: credentials coming and going through the
keystore and ``reload_secure_settings`` (in either order with the settings), a restarted remote,
both models side by side, and cross-cluster search narrowed by the key and by the local user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.lab.topology import (
    ALIAS,
    ELASTIC_PASSWORD,
    INDEX,
    USER,
    USER_PASSWORD,
    Lab,
    LabSpec,
    _call,
)

CLOSED = "[INFO ][o.e.t.ClusterConnectionManager] [local-node] transport connection to [{"


def _client(lab: Lab, user: str = USER, password: str = USER_PASSWORD) -> Elasticsearch:
    assert lab.local is not None
    return Elasticsearch(lab.local.url, basic_auth=(user, password), request_timeout=30)


def _info(lab: Lab, alias: str = ALIAS) -> dict[str, Any]:
    info: dict[str, Any] = lab.remote_info()[alias]
    return info


def _wait(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _secrets(lab: Lab, record: Callable[[str], None]) -> None:
    record(ELASTIC_PASSWORD)
    record(USER_PASSWORD)
    if lab.key is not None:
        record(str(lab.key["api_key"]))
        record(str(lab.key["encoded"]))


@pytest.mark.parametrize("mode", ["proxy", "sniff"])
def test_settings_first_then_credentials_then_removed(
    mode: str, tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """Settings before the keystore: the alias starts in the certificate model (refused by the
    remote cluster server), switches to the API-key model on reload, and back on removal."""
    spec = LabSpec(mode=mode, credential="cross_cluster", transport_trusts_server_ca=True)
    with Lab(tmp_path, spec) as lab:
        lab.start(register=False)
        key = lab.credential
        assert key is not None
        _secrets(lab, record_secret)
        lab.set_credential(None)
        lab.register()
        info = _info(lab)
        assert info["connected"] is False and "cluster_credentials" not in info
        es = _client(lab)
        with pytest.raises(ApiError) as refused:
            es.search(index=f"{ALIAS}:{INDEX}")
        assert "require transport header [_cross_cluster_access_credentials]" in str(
            refused.value.body
        )

        reloaded = lab.set_credential(key)
        assert all("reload_exception" not in n for n in reloaded["nodes"].values())
        assert _wait(lambda: _info(lab)["connected"])
        assert _info(lab)["cluster_credentials"] == "::es_redacted::"
        hits = es.search(index=f"{ALIAS}:{INDEX}")["hits"]
        assert hits["total"]["value"] == 3
        assert {h["_index"] for h in hits["hits"]} == {f"{ALIAS}:{INDEX}"}
        assert lab.local is not None
        assert f"remote cluster connection [{ALIAS}] updated: RECONNECTED" in lab.local.log_text()

        lab.set_credential(None)  # back to the certificate model: rebuilt, refused again
        info = _info(lab)
        assert "cluster_credentials" not in info and info["connected"] is False


def test_changed_credential_applies_to_the_next_request(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """A changed (not added or removed) credential keeps the connections and is sent with the
    next request: a bad one is refused there, a good one works again, no reconnect."""
    with Lab(tmp_path, LabSpec()) as lab:
        lab.start()
        _secrets(lab, record_secret)
        assert lab.wait_connected()["connected"]
        good = lab.credential
        assert good is not None and lab.key is not None
        es = _client(lab)
        assert es.search(index=f"{ALIAS}:{INDEX}")["hits"]["total"]["value"] == 3
        other = _call(
            lab.remote_url,
            "POST",
            "/_security/cross_cluster/api_key",
            {"name": "other", "access": {"search": [{"names": ["nothing-*"]}]}},
        )
        record_secret(str(other["encoded"]))
        lab.set_credential(str(other["encoded"]))
        assert _info(lab)["connected"] is True  # not rebuilt
        with pytest.raises(ApiError) as denied:
            es.search(index=f"{ALIAS}:{INDEX}")
        assert denied.value.meta.status == 403
        assert f"authenticated by API key id [{other['id']}]" in str(denied.value.body)
        lab.set_credential(good)
        assert es.search(index=f"{ALIAS}:{INDEX}")["hits"]["total"]["value"] == 3
        assert lab.local is not None
        assert "RECONNECTED" not in lab.local.log_text()


def test_remote_defined_in_yml_gets_credentials_later(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """A remote from isthmus.yml, credentials added afterwards: no restart needed."""
    lab = Lab(tmp_path, LabSpec(credential="cross_cluster")).build()
    assert lab.local is not None and lab.remote is not None
    with lab:
        lab.remote.start()
        address = lab.remote_cluster_address()
        lab.local.settings.update(
            {
                f"cluster.remote.{ALIAS}.mode": "proxy",
                f"cluster.remote.{ALIAS}.proxy_address": address,
            }
        )
        lab.local.start()
        lab.prepare_remote()
        key = lab.credential
        assert key is not None
        _secrets(lab, record_secret)
        assert "cluster_credentials" not in _info(lab)
        lab.set_credential(key)
        assert _wait(lambda: _info(lab)["connected"])
        assert _info(lab)["cluster_credentials"] == "::es_redacted::"


def test_restarted_remote_is_closed_by_remote_then_reconnects(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    with Lab(tmp_path, LabSpec()) as lab:
        lab.start()
        _secrets(lab, record_secret)
        assert lab.wait_connected()["connected"]
        assert lab.local is not None and lab.remote is not None
        port = int(lab.remote_cluster_address().rsplit(":", 1)[1])
        lab.remote.settings["remote_cluster.port"] = port  # back on the same port
        lab.remote.stop()
        assert _wait(lambda: CLOSED in lab.local.log_text())  # type: ignore[union-attr]
        line = next(ln for ln in lab.local.log_text().splitlines() if CLOSED in ln)
        assert line.endswith("closed by remote") and f"{{{ALIAS}#127.0.0.1:{port}}}" in line
        assert _info(lab)["connected"] is False
        lab.remote.start()
        # Reconnected on use (skip_unavailable false: the search waits for it).
        es = _client(lab)
        assert es.search(index=f"{ALIAS}:{INDEX}")["hits"]["total"]["value"] == 3
        assert _info(lab)["connected"] is True


def test_both_models_side_by_side(tmp_path: Path, record_secret: Callable[[str], None]) -> None:
    """One local cluster, two aliases to the same remote: ``my`` through the remote cluster
    server with a cross-cluster key, ``legacy`` through the transport port by certificates."""
    spec = LabSpec(transport_trusts_remote_transport_ca=True)
    with Lab(tmp_path, spec) as lab:
        lab.start()
        _secrets(lab, record_secret)
        assert lab.remote is not None
        (node,) = _call(lab.remote_url, "GET", "/_nodes")["nodes"].values()
        # The certificate model authorizes on the remote by role name.
        _call(
            lab.remote_url,
            "PUT",
            "/_security/role/foo-role",
            {"indices": [{"names": ["*"], "privileges": ["read", "read_cross_cluster"]}]},
        )
        _call(
            lab.local_url,
            "PUT",
            "/_cluster/settings",
            {
                "persistent": {
                    "cluster.remote.legacy.mode": "proxy",
                    "cluster.remote.legacy.proxy_address": node["transport_address"],
                    "cluster.remote.legacy.skip_unavailable": False,
                }
            },
        )
        # The user's remote_indices name only "my"; the certificate model does not use them.
        assert lab.wait_connected()["connected"]
        assert _wait(lambda: _info(lab, "legacy")["connected"])
        assert "cluster_credentials" not in _info(lab, "legacy")
        assert _info(lab)["cluster_credentials"] == "::es_redacted::"
        es = _client(lab)
        result = es.search(index=f"{ALIAS}:{INDEX},legacy:{INDEX}", size=10)
        assert result["_clusters"]["successful"] == 2
        assert {h["_index"] for h in result["hits"]["hits"]} == {
            f"{ALIAS}:{INDEX}",
            f"legacy:{INDEX}",
        }


@pytest.mark.parametrize("mode", ["proxy", "sniff"])
def test_dls_and_fls_from_the_key_and_from_the_user(
    mode: str, tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """The key hides field ``secret`` and keeps level info; the user's remote_indices hide
    ``level`` and keep documents mentioning "cluster": both apply."""
    key_access = {
        "search": [
            {
                "names": [INDEX],
                "query": {"term": {"level": "info"}},
                "field_security": {"grant": ["*"], "except": ["secret"]},
            }
        ]
    }
    user = (
        {
            "clusters": [ALIAS],
            "names": [INDEX],
            "privileges": ["read", "read_cross_cluster"],
            "query": {"match": {"message": "cluster"}},
            "field_security": {"grant": ["message", "secret"]},
        },
    )
    spec = LabSpec(mode=mode, key_access=key_access, user_remote_indices=user)
    with Lab(tmp_path, spec) as lab:
        lab.start()
        _secrets(lab, record_secret)
        assert lab.wait_connected()["connected"]
        es = _client(lab)
        for minimize in (True, False):
            hits = es.search(index=f"{ALIAS}:{INDEX}", ccs_minimize_roundtrips=minimize, size=10)[
                "hits"
            ]
            # info-level (key: 1, 2) ∩ mentions "cluster" (user: 1, 3): document 1.
            assert sorted(h["_id"] for h in hits["hits"]) == ["1"], minimize
            for hit in hits["hits"]:
                # key hides "secret", user shows only message/secret: message alone remains.
                assert set(hit["_source"]) == {"message"}, hit
        # Elastic on the local cluster is a superuser: limited by the key alone.
        admin = _client(lab, "elastic", ELASTIC_PASSWORD)
        hits = admin.search(index=f"{ALIAS}:{INDEX}", size=10)["hits"]
        assert sorted(h["_id"] for h in hits["hits"]) == ["1", "2"]
        assert all("secret" not in h["_source"] and "level" in h["_source"] for h in hits["hits"])


def test_remote_anonymous_role_never_applies(
    tmp_path: Path, record_secret: Callable[[str], None]
) -> None:
    """The remote lets anonymous users in as superusers; a cross-cluster request is still held
    to its key (ES never applies the anonymous role on the remote cluster server)."""
    spec = LabSpec(
        remote_anonymous_role="superuser", key_access={"search": [{"names": ["metrics-*"]}]}
    )
    with Lab(tmp_path, spec) as lab:
        lab.start()
        _secrets(lab, record_secret)
        assert lab.wait_connected()["connected"]
        es = _client(lab)
        with pytest.raises(ApiError) as denied:
            es.search(index=f"{ALIAS}:{INDEX}")
        assert denied.value.meta.status == 403
        assert "towards remote cluster is unauthorized" in str(denied.value.body)
        # What the key does cover goes through: resolve, field caps, and the wildcard search
        # that narrows to nothing.
        resolved = es.indices.resolve_cluster(name=f"{ALIAS}:*")
        assert resolved[ALIAS]["connected"] is True
        assert es.search(index=f"{ALIAS}:metrics-*")["hits"]["total"]["value"] == 0
        # _resolve/cluster as ES answers it: a wildcard narrows (no match, no error); a name the
        # key does not cover is the remote's 403 text, and a covered name that does not exist is
        # "no such index", both with connected true and no matching_indices.
        wildcard = es.indices.resolve_cluster(name=f"{ALIAS}:metrics-*")[ALIAS]
        assert (wildcard["matching_indices"], "error" in wildcard) == (False, False)
        uncovered = es.indices.resolve_cluster(name=f"{ALIAS}:{INDEX}")[ALIAS]
        assert uncovered["connected"] is True and "matching_indices" not in uncovered
        assert uncovered["error"].startswith(
            "action [indices:admin/resolve/cluster] towards remote cluster is unauthorized for"
        )
        assert f"on indices [{INDEX}]" in uncovered["error"]
        missing = es.indices.resolve_cluster(name=f"{ALIAS}:metrics-nope")[ALIAS]
        assert missing == {
            "connected": True,
            "skip_unavailable": missing["skip_unavailable"],
            "error": "no such index [metrics-nope]",
        }
        admin = _client(lab, "elastic", ELASTIC_PASSWORD)
        local = admin.indices.resolve_cluster(name="nope-local")["(local)"]
        assert local == {
            "connected": True,
            "skip_unavailable": False,
            "error": "no such index [nope-local]",
        }
