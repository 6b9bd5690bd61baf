"""The static table that rebuilds errors from the wire (wire/error_types.py), and the one tree.

What must hold: every class of the isthmus.errors package is either rebuilt as itself or
deliberately left out with a reason; every class lives in that package and is exported by it
(``from isthmus.errors import X``); and the class a remote error becomes does not depend on which
modules the process happened to import.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from isthmus import errors
from isthmus.errors import IsthmusError
from isthmus.wire.error_types import BY_STATUS, BY_TYPE, CLASSES, EXCLUDED, class_for
from isthmus.wire.messages import RemoteError, WireError

SRC = Path(__file__).resolve().parents[3] / "src"


def _in_package(module: str) -> bool:
    return module == errors.__name__ or module.startswith(errors.__name__ + ".")


def _package_classes() -> list[type[IsthmusError]]:
    """Every IsthmusError subclass defined in a module of the package, exported or not."""
    for info in pkgutil.iter_modules(errors.__path__):
        importlib.import_module(f"{errors.__name__}.{info.name}")
    found: list[type[IsthmusError]] = []
    pending: list[type[IsthmusError]] = [IsthmusError]
    while pending:
        cls = pending.pop()
        if _in_package(cls.__module__) and cls not in found:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


TREE = _package_classes()


def test_every_class_of_the_package_is_exported_by_isthmus_errors() -> None:
    hidden = [c.__name__ for c in TREE if getattr(errors, c.__name__, None) is not c]
    assert not hidden, (
        f"import these in isthmus/errors/__init__.py and list them in __all__: {hidden}"
    )
    assert set(errors.__all__) >= {c.__name__ for c in TREE}


def test_every_class_of_the_tree_is_in_the_table_or_excluded_with_a_reason() -> None:
    in_table = set(CLASSES) | set(BY_STATUS.values())
    missing = [c.__name__ for c in TREE if c not in in_table and c not in EXCLUDED]
    assert not missing, f"add these to wire/error_types.py CLASSES or EXCLUDED: {missing}"
    assert not in_table & set(EXCLUDED)
    assert all(reason.strip() for reason in EXCLUDED.values())


def test_one_class_per_type_and_origin() -> None:
    # A duplicate (type, is_es) in CLASSES would silently shadow the earlier class.
    assert len(BY_TYPE) == len(CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_listed_class_comes_back_as_itself(cls: type[IsthmusError]) -> None:
    wire = WireError(type=cls.es_type, reason="r", status=cls.status, is_es=cls.is_es)
    assert type(wire.to_exception()) is cls


def test_status_decides_where_the_type_does_not() -> None:
    assert class_for("security_exception", 401, True) is errors.AuthenticationError
    assert class_for("security_exception", 403, True) is errors.SecurityError


@pytest.mark.parametrize(
    "cls", sorted(EXCLUDED, key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_an_excluded_class_comes_back_as_a_class_of_its_type(cls: type[IsthmusError]) -> None:
    back = class_for(cls.es_type, cls.status, cls.is_es)
    assert back is not None
    assert (back.es_type, back.is_es) == (cls.es_type, cls.is_es)


def test_every_isthmus_error_class_lives_in_the_errors_package() -> None:
    """One tree: importing every module defines no IsthmusError subclass outside the
    isthmus.errors package (RemoteError, the wire's stand-in for types Isthmus lacks, is the one
    exception)."""
    code = """
import importlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
for path in sorted((root / "isthmus").rglob("*.py")):
    parts = path.with_suffix("").relative_to(root).parts
    if parts[-1] == "__main__":
        continue
    importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
from isthmus.errors import IsthmusError
from isthmus.wire.messages import RemoteError
def walk(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from walk(sub)
print(json.dumps(sorted(
    f"{c.__module__}.{c.__qualname__}" for c in walk(IsthmusError)
    if c.__module__.split(".")[:2] != ["isthmus", "errors"] and not issubclass(c, RemoteError)
)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(SRC)],
        capture_output=True,
        text=True,
        check=True,
        cwd=SRC,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# Errors of every kind the table knows, one unknown type, and the status-decided case.
SAMPLES = [
    *((c.es_type, c.status, c.is_es) for c in CLASSES),
    *((c.es_type, c.status, c.is_es) for c in EXCLUDED),
    ("security_exception", 401, True),
    ("no_shard_available_action_exception", 503, True),
]


def _rebuilt(samples: list[tuple[str, int, bool]]) -> list[str]:
    out = []
    for es_type, status, is_es in samples:
        cls = type(WireError(type=es_type, reason="r", status=status, is_es=is_es).to_exception())
        out.append("RemoteError" if issubclass(cls, RemoteError) else cls.__qualname__)
    return out


def test_rebuilt_class_does_not_depend_on_what_was_imported() -> None:
    """A process that imported only isthmus.wire.messages rebuilds the same classes as this
    one, which imported the whole package (reflection over loaded subclasses did not)."""
    code = f"""
import json, sys
from isthmus.wire.messages import RemoteError, WireError
assert "isthmus.remote.strategy" not in sys.modules and "isthmus.node" not in sys.modules
out = []
for es_type, status, is_es in {SAMPLES!r}:
    cls = type(WireError(type=es_type, reason="r", status=status, is_es=is_es).to_exception())
    out.append("RemoteError" if issubclass(cls, RemoteError) else cls.__qualname__)
print(json.dumps(out))
"""
    alone = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SRC
    )
    import isthmus.node  # noqa: F401  (everything a running node has loaded)

    assert json.loads(alone.stdout) == _rebuilt(SAMPLES)
    assert _rebuilt([("index_shard_closed_exception", 500, True)]) == ["RemoteError"]
