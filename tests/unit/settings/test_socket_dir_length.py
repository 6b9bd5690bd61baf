"""``isthmus.coordination.etcd.socket_dir`` deep enough that a member's socket path passes the
107 bytes of a unix socket address is refused when the settings are read: the nodes would never
reach their members and no master would ever be elected, with nothing saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.errors import SettingsError
from isthmus.settings.loader import load_raw

SOCKET_DIR = "isthmus.coordination.etcd.socket_dir"


def test_a_socket_folder_too_deep_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 100)
    with pytest.raises(SettingsError) as err:
        load_raw(
            tmp_path,
            {SOCKET_DIR: str(deep), "cluster.initial_master_nodes": "[node-1, node-2]"},
            env={},
        )
    assert err.value.reason.startswith(
        f"setting [{SOCKET_DIR}] is too long for unix sockets: [{deep}] makes socket paths of "
    )
    assert err.value.reason.endswith("bytes, at most 107 are possible")


def test_a_short_one_is_accepted(tmp_path: Path) -> None:
    load_raw(
        tmp_path,
        {SOCKET_DIR: "/tmp/e", "cluster.initial_master_nodes": "[node-1, node-2]"},
        env={},
    )
