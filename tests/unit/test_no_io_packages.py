"""The ``[no I/O]`` modules import no asyncio, socket, ssl or subprocess (STYLE convention 1)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "isthmus"
NO_IO = [
    *sorted((SRC / "search").glob("*.py")),
    *sorted((SRC / "wire").glob("*.py")),
    SRC / "index" / "mapping.py",
    SRC / "index" / "field_types.py",
    SRC / "index" / "field_values.py",
    SRC / "index" / "dates.py",
    SRC / "index" / "operations.py",
    SRC / "cluster" / "metadata.py",
    SRC / "cluster" / "blocks.py",
    SRC / "cluster" / "disk.py",
    SRC / "cluster" / "disk_settings.py",
    SRC / "cluster" / "resolve.py",
    SRC / "cluster" / "routing.py",
    SRC / "http" / "router.py",
    SRC / "http" / "filter_path.py",
    SRC / "settings" / "registry.py",
    SRC / "settings" / "values.py",
    SRC / "settings" / "secret.py",
    SRC / "security" / "certs.py",
    SRC / "security" / "dn.py",
    SRC / "security" / "cert_facts.py",
    SRC / "security" / "keystore_format.py",
    SRC / "settings" / "secure.py",
    SRC / "security" / "privileges.py",
    SRC / "security" / "roles.py",
    SRC / "security" / "authz.py",
    SRC / "security" / "field_level.py",
    SRC / "security" / "index_authorization.py",
    SRC / "security" / "api_key_scope.py",
    SRC / "security" / "ownership.py",
    SRC / "cluster" / "alias_actions.py",
    SRC / "rawjson.py",
]
FORBIDDEN = {"asyncio", "socket", "ssl", "subprocess", "sqlite3", "uvicorn", "urllib.request"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_io_modules_import_no_io() -> None:
    offenders = {}
    for path in NO_IO:
        bad = {m for m in _imports(path) if m.split(".")[0] in FORBIDDEN or m in FORBIDDEN}
        if bad:
            offenders[str(path.relative_to(SRC))] = sorted(bad)
    assert not offenders
