"""Index and alias name patterns as Elasticsearch matches them.  [no I/O]

ES's index expressions know one wildcard, ``*`` (Isthmus also accepts ``?``); every other
character is literal. ``fnmatch`` would read ``[...]`` as a character class, letting an
expression such as ``secre*[t:]`` match ``secret`` while looking like something else to
authorization. Index and alias matching goes through :func:`simple_match` only.
"""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def simple_match(name: str, pattern: str) -> bool:
    """Whether ``name`` matches ``pattern`` (``*`` any run of characters, ``?`` one)."""
    return _compile(pattern).fullmatch(name) is not None
