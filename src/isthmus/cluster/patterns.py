"""Index and alias name patterns as Elasticsearch matches them.  [no I/O]

ES's index expressions know one wildcard, ``*`` (Isthmus also accepts ``?``); every other
character is literal. ``fnmatch`` would read ``[...]`` as a character class, letting an
expression such as ``secre*[t:]`` match ``secret`` while looking like something else to
authorization. Index and alias matching goes through :func:`simple_match` only.

Patterns come from requests, so matching must not backtrack: a regex translation (``.*a.*a.*b``)
takes time exponential in the number of ``*`` on a backtracking engine. The matcher below is
ES's own approach for ``Regex.simpleMatch``: literal segments are found left to right, each ``*``
gives up only to the next occurrence of the following segment, never to an earlier choice — time
is O(len(name) x len(pattern)) at worst.
"""

from __future__ import annotations


def simple_match(name: str, pattern: str) -> bool:
    """Whether ``name`` matches ``pattern`` (``*`` any run of characters, ``?`` one)."""
    n = p = 0
    star = -1  # position in the pattern just after the last '*'
    resume = 0  # position in the name where that '*' would take one more character
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p + 1, n
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == name[n]):
            n += 1
            p += 1
        elif star >= 0:
            # A mismatch after a '*': let that '*' swallow one more character and retry. Earlier
            # stars never need to change (a later '*' can absorb whatever they would have).
            resume += 1
            n, p = resume, star
        else:
            return False
    return all(c == "*" for c in pattern[p:])
