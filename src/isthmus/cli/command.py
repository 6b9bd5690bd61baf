"""Console output for commands: a rich console that never wraps piped output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    """A rich console for command output. On a terminal it wraps as usual; piped to a file or a
    CI log it never wraps (rich would assume 80 columns and split paths and URLs in two)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(soft_wrap=True, width=1000)
