"""Fixtures of the coordination tests: real etcd members on unix sockets (no mocks).

One 3-member cluster serves every test of this folder that leaves the members running; each
test works under a key prefix of its own (``unique_prefix``). Tests that kill or freeze members
start their own cluster (``EtcdTestCluster``: ~0.2 s).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator

import pytest

from isthmus.testing.etcd import EtcdTestCluster

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _needs_etcd() -> None:  # session scope: set up before the shared cluster below
    if shutil.which("etcd") is None:  # pragma: no cover - CI installs it (scripts/install-etcd)
        pytest.skip("etcd is not installed: run scripts/install-etcd")


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdTestCluster]:
    cluster = EtcdTestCluster(tmp_path_factory.mktemp("etcd"), 3)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def unique_prefix() -> bytes:
    return f"/test-{next(_counter)}/".encode()
