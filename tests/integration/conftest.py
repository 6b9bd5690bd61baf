"""Fixtures: real ``isthmus node`` processes on loopback, and official clients for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


# --- the secret scan: no password or key may reach any node's log files ---------------------

_SECRETS: set[str] = set()


@pytest.fixture(scope="session")
def record_secret() -> Callable[[str], None]:
    """Register a secret the suite used; the scan at the end fails the run if a log has it."""
    return _SECRETS.add


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _SECRETS:
        return
    base = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    leaks = []
    for path in Path(base).rglob("*"):
        # Node logs (plain and JSON). The console (stderr.log) is where ES-style first-start
        # output deliberately shows the generated password once, and is not a log.
        if not path.is_file() or path.parent.name != "logs":
            continue
        text = path.read_text(errors="replace")
        leaks += [(str(path), s[:3] + "…") for s in _SECRETS if s and s in text]
    if leaks:
        session.exitstatus = 1
        print(f"\nSECRET SCAN: secrets found in node logs: {leaks}")
    else:
        print(f"\nsecret scan: {len(_SECRETS)} secrets, none in any node log")
