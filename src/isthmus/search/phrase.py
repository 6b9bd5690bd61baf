"""Phrase matching over token positions, with Lucene's sloppy-phrase rule.  [no I/O]

A phrase of terms t0..tn matches when every term can be placed at one of its positions in the
field such that, with each term's *phrase position* defined as ``position - offset`` (its offset
in the phrase), the spread ``max - min`` of the phrase positions is at most ``slop``. An exact
phrase is slop 0 (all phrase positions equal). Moving one term by one position costs 1, so a
swapped pair of adjacent terms costs 2, as in Lucene.

A term that occurs several times in the phrase must use a different position for each
occurrence (Lucene's "repeating terms" rule); otherwise ``"a a"`` with slop 1 would match a
single ``a``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Sequence


def phrase_matches(keys: Sequence[Hashable], positions: Sequence[Sequence[int]], slop: int) -> bool:
    """Whether the phrase matches: ``keys[i]`` names the term at offset ``i`` (equal keys are the
    same term), ``positions[i]`` are its sorted positions in the field."""
    if not keys or any(not p for p in positions):
        return False
    groups: dict[Hashable, list[int]] = {}
    for offset, key in enumerate(keys):
        groups.setdefault(key, []).append(offset)
    # Every feasible placement has a smallest phrase position, which is some term's position
    # minus its offset; trying each such start as the window's low end is exhaustive.
    starts = sorted({p - offset for offset, ps in enumerate(positions) for p in ps})
    return any(_fits(groups, positions, start, start + slop) for start in starts)


def _fits(
    groups: dict[Hashable, list[int]], positions: Sequence[Sequence[int]], low: int, high: int
) -> bool:
    """Can each term take a distinct position with phrase position in ``[low, high]``?

    Occurrences of one term have windows of equal width shifted by their offsets, so assigning
    each, in offset order, the smallest free position inside its window is optimal.
    """
    for offsets in groups.values():
        candidates = positions[offsets[0]]
        last = -(2**62)
        for offset in offsets:
            lo = max(low + offset, last + 1)
            i = bisect_left(candidates, lo)
            if i == len(candidates) or candidates[i] > high + offset:
                return False
            last = candidates[i]
    return True


__all__ = ["phrase_matches"]
