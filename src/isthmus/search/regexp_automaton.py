"""What determinizing a pattern would cost: Lucene's ``max_determinized_states`` limit.  [no I/O]

Lucene runs a regexp or wildcard as a deterministic automaton and refuses one whose powerset
construction would take more than its *work limit* (ES's ``max_determinized_states``, default
10,000): the effort is the total size of the state sets the construction visits, and it gives
up once that reaches ten times the limit. We match with RE2 (which needs no such limit to stay
linear), but a pattern Lucene would refuse must be refused here too, with the same error, so
this module builds a Thompson NFA for the tree of :mod:`isthmus.search.regexp_syntax` and runs
the same bounded powerset construction over it.

The work is bounded by the limit itself: building the NFA stops once it has more states than the
effort allowed, and the construction stops as soon as its effort reaches the limit. The counts
in the message are of our NFA, which is close to, not identical with, Lucene's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field

from isthmus.errors import TooComplexToDeterminizeError
from isthmus.search.regexp_syntax import Chars, Concat, Node, Nothing, Ranges, Repeat, Union

DEFAULT_DETERMINIZE_WORK_LIMIT = 10_000
# Lucene: ``effortLimit = workLimit * 10``.
_EFFORT_PER_UNIT = 10
_STEPS_PER_EFFORT = 20
# The most work a check does (about a second of Python at worst); see check_determinizable.
CHECK_CAP = 2 * DEFAULT_DETERMINIZE_WORK_LIMIT


class _TooBig(Exception):
    """The NFA outgrew the effort budget while being built."""


@dataclass
class _Nfa:
    """States are indices; ``moves[s]`` are (ranges, target), ``eps[s]`` empty-string moves."""

    max_states: int
    accept: int = -1
    moves: list[list[tuple[Ranges, int]]] = field(default_factory=list)
    eps: list[list[int]] = field(default_factory=list)

    def state(self) -> int:
        if len(self.moves) >= self.max_states:
            raise _TooBig
        self.moves.append([])
        self.eps.append([])
        return len(self.moves) - 1

    def build(self, node: Node, start: int) -> int:
        """Add ``node`` after ``start``; return the state reached at its end."""
        if isinstance(node, Chars):
            end = self.state()
            if node.ranges:
                self.moves[start].append((node.ranges, end))
            return end
        if isinstance(node, Nothing):
            return self.state()  # no way in: the end is unreachable
        if isinstance(node, Concat):
            for part in node.parts:
                start = self.build(part, start)
            return start
        if isinstance(node, Union):
            end = self.state()
            for option in node.options:
                entry = self.state()
                self.eps[start].append(entry)
                self.eps[self.build(option, entry)].append(end)
            return end
        return self._repeat(node, start)

    def _repeat(self, node: Repeat, start: int) -> int:
        for _ in range(node.low):
            start = self.build(node.node, start)
        if node.high is None:
            loop = self.state()
            self.eps[start].append(loop)
            self.eps[self.build(node.node, loop)].append(loop)
            return loop
        end = self.state()
        self.eps[start].append(end)
        for _ in range(node.high - node.low):
            start = self.build(node.node, start)
            self.eps[start].append(end)
        return end

    def closure(self, states: set[int]) -> frozenset[int]:
        todo = list(states)
        seen = set(states)
        while todo:
            for nxt in self.eps[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        # Lucene's automata have no empty-string moves: only states that read a character (or
        # accept) exist there, so only those are counted and tell DFA states apart.
        return frozenset(s for s in seen if self.moves[s] or s == self.accept)

    def transition_count(self) -> int:
        return sum(len(m) for m in self.moves) + sum(len(e) for e in self.eps)


def check_determinizable(tree: Node, work_limit: int = DEFAULT_DETERMINIZE_WORK_LIMIT) -> None:
    """Raise ES's ``too_complex_to_determinize_exception`` if determinizing ``tree`` would take
    more than ``work_limit`` units of work (Lucene's ``Operations.determinize`` rule).

    A request may raise its limit far above the default; the powerset construction still stops
    at :data:`CHECK_CAP` units and then accepts the pattern (matching is linear-time whatever
    the pattern, so the cap only spares the search threads a long check). The automaton itself
    may never outgrow ``CHECK_CAP`` times ten states, whatever the limit: the engine text written
    from the tree is proportionate to it, and must stay small.
    """
    checked = min(max(work_limit, 0), CHECK_CAP)
    nfa = _Nfa(max_states=max(checked * _EFFORT_PER_UNIT, 2))
    try:
        start = nfa.state()
        nfa.accept = nfa.build(tree, start)
    except _TooBig:
        raise _too_complex(nfa, work_limit) from None
    try:
        _powerset(nfa, start, checked * _EFFORT_PER_UNIT, work_limit)
    except TooComplexToDeterminizeError:
        if work_limit <= CHECK_CAP:
            raise


def _powerset(nfa: _Nfa, start: int, effort_limit: int, work_limit: int) -> None:
    first = nfa.closure({start})
    seen = {first}
    work: deque[frozenset[int]] = deque([first])
    effort = 0
    # Splitting the alphabet costs time Lucene does not count as effort; it gets a budget of its
    # own, proportional to the limit, so that no pattern makes this check itself slow.
    steps = 0
    step_limit = effort_limit * _STEPS_PER_EFFORT
    while work:
        current = work.popleft()
        effort += len(current)
        if effort >= effort_limit:
            raise _too_complex(nfa, work_limit)
        moves = [move for s in current for move in nfa.moves[s]]
        if not moves:
            continue
        # Split the alphabet at every range edge; each piece leads to one set of NFA states.
        points = sorted({p for ranges, _ in moves for lo, hi in ranges for p in (lo, hi + 1)})
        pieces: dict[int, set[int]] = {}
        for ranges, target in moves:
            for lo, hi in ranges:
                first_piece = bisect_left(points, lo)
                last_piece = bisect_left(points, hi + 1)
                steps += last_piece - first_piece
                for piece in range(first_piece, last_piece):
                    pieces.setdefault(piece, set()).add(target)
        if steps >= step_limit:
            raise _too_complex(nfa, work_limit)
        for targets in pieces.values():
            nxt = nfa.closure(targets)
            if nxt not in seen:
                seen.add(nxt)
                work.append(nxt)


def _too_complex(nfa: _Nfa, work_limit: int) -> TooComplexToDeterminizeError:
    return TooComplexToDeterminizeError(
        f"Determinizing automaton with {len(nfa.moves)} states and {nfa.transition_count()} "
        f"transitions would require more than {work_limit} effort."
    )


__all__ = ["CHECK_CAP", "DEFAULT_DETERMINIZE_WORK_LIMIT", "check_determinizable"]
