"""How to spell the ``isthmus`` command in a hint so that it works when pasted.

After ``./scripts/demo`` or ``./scripts/setup`` the command lives in the project's virtualenv,
which is not on the user's PATH: a hint saying ``isthmus lab down`` would fail with "command not
found". Hints use :func:`isthmus_command`: plain ``isthmus`` when that name on PATH is this very
installation, else the absolute path of this installation's script (or ``python -m isthmus``).
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def isthmus_command() -> str:
    script = Path(sys.executable).parent / "isthmus"  # the venv's bin/, without resolving links
    on_path = shutil.which("isthmus")
    if on_path is not None and script.exists() and Path(on_path).resolve() == script.resolve():
        return "isthmus"
    if script.exists():
        return str(script)
    return f"{sys.executable} -m isthmus"


def console() -> Console:
    """A rich console for command output. On a terminal it wraps as usual; piped to a file or a
    CI log it never wraps (rich would assume 80 columns and split paths and URLs in two)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(soft_wrap=True, width=1000)
