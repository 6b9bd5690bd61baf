"""Text analysis shared by indexing and querying.  [no I/O]

Analysed (``text``) fields are tokenised by tantivy's ``default`` tokenizer: split on every
character that is not alphanumeric, drop tokens longer than 40 bytes, lower-case. Query text must
be cut the same way, or a ``match`` would look for terms the index never holds; this module is the
Python twin of that tokenizer, used for ``match`` queries, highlighting and test oracles.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TOKEN_BYTES = 40


def analyze(text: str) -> list[str]:
    """Tokens of ``text`` as the index holds them for a ``text`` field."""
    return [t.lower() for t in _TOKEN.findall(text) if len(t.encode()) <= MAX_TOKEN_BYTES]


def analyze_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Tokens with their character offsets in ``text`` (for highlighting)."""
    return [
        (m.group().lower(), m.start(), m.end())
        for m in _TOKEN.finditer(text)
        if len(m.group().encode()) <= MAX_TOKEN_BYTES
    ]
