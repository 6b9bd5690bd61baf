"""Transport action and profile names live once, in wire/names.py.

A second copy (``SEARCH_ACTION = "indices:data/read/search"`` in some other module) is how two
spellings drift apart; every module imports the constant instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

from isthmus.wire import names

PACKAGE = Path(names.__file__).resolve().parents[1]
# "default" is too common a word to police: the profile name is checked where it is used.
POLICED = {
    value: name
    for name, value in vars(names).items()
    if name.isupper() and isinstance(value, str) and name != "DEFAULT_PROFILE"
}


def test_names_are_elasticsearch_spellings() -> None:
    assert names.HANDSHAKE_ACTION == "internal:transport/handshake"
    assert names.REMOTE_CLUSTER_HANDSHAKE_ACTION == "cluster:internal/remote_cluster/handshake"
    assert names.REMOTE_CLUSTER_NODES_ACTION == "cluster:internal/remote_cluster/nodes"
    assert names.REMOTE_CLUSTER_PROFILE == "_remote_cluster"
    assert names.CLUSTER_STATE_ACTION == "cluster:monitor/state"
    both = {names.HANDSHAKE_ACTION, names.REMOTE_CLUSTER_HANDSHAKE_ACTION}
    assert both == names.HANDSHAKE_ACTIONS


def test_no_module_keeps_its_own_copy_of_a_name() -> None:
    copies: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(names.__file__).resolve():
            continue
        for node in ast.parse(path.read_text()).body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if isinstance(value, ast.Constant) and value.value in POLICED:
                where = path.relative_to(PACKAGE)
                copies.append(f"{where}:{node.lineno} (import wire.names.{POLICED[value.value]})")
    assert not copies
