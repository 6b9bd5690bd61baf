"""How to spell the ``isthmus`` command in a hint so that it works when pasted.

After ``./scripts/demo`` or ``./scripts/setup`` the command lives in the project's virtualenv,
which is not on the user's PATH: a hint saying ``isthmus lab down`` would fail with "command not
found". Hints use :func:`isthmus_command`: plain ``isthmus`` when that name on PATH is this very
installation, else the absolute path of this installation's script (or ``python -m isthmus``).
Any layer may print a hint (the node prints the password-reset command), so this sits low.
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path


@functools.cache
def isthmus_command() -> str:
    script = Path(sys.executable).parent / "isthmus"  # the venv's bin/, without resolving links
    on_path = shutil.which("isthmus")
    if on_path is not None and script.exists() and Path(on_path).resolve() == script.resolve():
        return "isthmus"
    if script.exists():
        return str(script)
    return f"{sys.executable} -m isthmus"
