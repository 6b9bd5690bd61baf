"""Fixtures: real ``isthmus node`` processes on loopback, and official clients for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from isthmus.testing.process import NodeProcess


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node shared by tests that only need a running node (use unique index names)."""
    proc = NodeProcess(tmp_path_factory.mktemp("shared-node"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A node of the test's own (restarts, crashes, settings)."""
    proc = NodeProcess(tmp_path / "node")
    yield proc
    proc.kill()


@pytest.fixture(scope="session")
def es(node: NodeProcess) -> Iterator[Elasticsearch]:
    client = Elasticsearch(node.url, request_timeout=30)
    yield client
    client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
