"""The ``[no I/O]`` modules load no asyncio, ssl, socket or subprocess code (STYLE convention 1).

Which modules are no-I/O is read from the modules themselves, never kept here: a module is
no-I/O when its module docstring contains the marker ``[no I/O]``, or when the docstring of a
package ``__init__.py`` above it does (``wire/``, ``search/``: every
module of the package). Mark a new pure module by putting ``[no I/O]`` in its docstring; this
test then holds it to the rules below, and to remove the marker is to say the module does I/O.

The rules, for every marked module:

1. It imports none of :data:`IO_MODULES` itself (anywhere in the file, lazily or not).
2. Importing it in a fresh interpreter loads none of :data:`NEVER_LOADED`, whoever imports them.
3. No Isthmus module that importing it loads (its transitive imports) imports one of
   :data:`IO_MODULES` either. This is how ``socket`` and ``selectors`` are checked: the
   standard library's ``email.utils`` imports ``socket`` (for ``getfqdn``), and the
   ``cryptography`` package imports ``email.utils`` for X.509 names, so a pure certificate
   module may see ``socket`` in ``sys.modules`` without any of our code touching it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "isthmus"
MARKER = "[no I/O]"

# Modules a no-I/O module must not import (rules 1 and 3).
IO_MODULES = frozenset(
    {
        "asyncio",
        "socket",
        "selectors",
        "ssl",
        "subprocess",
        "sqlite3",
        "uvicorn",
        "uvloop",
        "urllib.request",
        "http.client",
    }
)
# Modules that must not be in sys.modules after importing a no-I/O module (rule 2).
NEVER_LOADED = frozenset(
    {
        "asyncio",
        "ssl",
        "_ssl",
        "subprocess",
        "sqlite3",
        "uvicorn",
        "uvloop",
        "urllib.request",
        "http.client",
        "isthmus.transport.server",
        "isthmus.transport.channel",
        "isthmus.http.server",
        "isthmus.node",
    }
)


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(SRC).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _path_of(module: str) -> Path:
    path = SRC.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _marked(path: Path) -> bool:
    """The module's own docstring or one of its packages' ``__init__`` docstrings has the
    marker."""
    if MARKER in _docstring(path):
        return True
    return any(
        MARKER in _docstring(package / "__init__.py")
        for package in path.parents
        if package.is_relative_to(PACKAGE) and (package / "__init__.py").exists()
    )


NO_IO = sorted(
    _module_name(path)
    for path in PACKAGE.rglob("*.py")
    if "__pycache__" not in path.parts and _marked(path)
)


@cache
def _io_imports(module: str) -> frozenset[str]:
    """The I/O modules ``module``'s file imports, at the top or inside a function."""
    path = _path_of(module)
    if not path.exists():  # a namespace package (no __init__.py): no code of its own
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return frozenset(m for m in found if m in IO_MODULES or m.split(".")[0] in IO_MODULES)


# Libraries the probe loads before forking, to import them once rather than once per module. Any
# of them may be loaded by a no-I/O module; the probe checks that none loads a NEVER_LOADED one.
PRELOAD = (
    "collections.abc",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "functools",
    "inspect",
    "logging",
    "re",
    "typing",
    "cryptography.x509",
    "cryptography.hazmat.primitives.serialization",
    "orjson",
    "ormsgpack",
)

# Run in a fresh interpreter: import each module in a forked child of a parent that has loaded
# nothing of Isthmus, and report what the import loaded. (A fork per module, not an interpreter
# per module: the same isolation in a fraction of the time.)
_PROBE = """
import importlib, json, os, sys
watched = json.loads(sys.argv[1])
for name in json.loads(sys.argv[3]):
    importlib.import_module(name)
preloaded = [m for m in watched if m in sys.modules]
assert not preloaded, f"a preloaded library loads {preloaded}"
assert not any(m.split(".")[0] == "isthmus" for m in sys.modules)
report = {}
for name in json.loads(sys.argv[2]):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            importlib.import_module(name)
            out = {
                "loaded": sorted(m for m in watched if m in sys.modules),
                "isthmus": sorted(m for m in sys.modules if m.split(".")[0] == "isthmus"),
            }
        except BaseException as exc:
            out = {"error": repr(exc)}
        os.write(write_end, json.dumps(out).encode())
        os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 1 << 16):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    report[name] = json.loads(data)
print(json.dumps(report))
"""


def _probe(modules: list[str], workers: int = 2) -> dict[str, dict[str, list[str] | str]]:
    """What importing each module loads, from ``workers`` probe processes side by side."""
    never, preload = json.dumps(sorted(NEVER_LOADED)), json.dumps(PRELOAD)
    probes = [
        subprocess.Popen(
            [sys.executable, "-c", _PROBE, never, json.dumps(modules[i::workers]), preload],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=SRC,
        )
        for i in range(workers)
    ]
    report: dict[str, dict[str, list[str] | str]] = {}
    for probe in probes:
        out, err = probe.communicate(timeout=120)
        assert probe.returncode == 0, err
        report.update(json.loads(out))
    return report


def test_the_marker_is_found() -> None:
    # A sample of what must be derived: whole packages by their __init__, single modules by
    # their own docstring.
    for module in (
        "isthmus.wire.frames",
        "isthmus.wire.error_types",
        "isthmus.search.dsl",
        "isthmus.cluster.remote_expressions",
        "isthmus.security.keystore_format",
        "isthmus.settings.registry",
    ):
        assert module in NO_IO


def test_no_io_modules_import_no_io() -> None:
    offenders = {m: sorted(_io_imports(m)) for m in NO_IO if _io_imports(m)}
    assert not offenders


def test_no_io_modules_load_no_io_transitively() -> None:
    report = _probe(NO_IO)
    failures: dict[str, object] = {}
    for module, result in report.items():
        if "error" in result:
            failures[module] = result["error"]
            continue
        loaded = result["loaded"]
        through = {m: sorted(_io_imports(m)) for m in result["isthmus"] if _io_imports(m)}
        if loaded or through:
            failures[module] = {"loaded": loaded, "imported by": through}
    assert not failures
    assert sorted(report) == NO_IO
