"""The last operations a primary wrote, kept in memory while followers read the history.

A follower that keeps up asks for what the leader shard has just written: reading it back from
SQLite cost the leader more per operation (fetching each row, which also hands the GIL to the
shard's other threads on every row) than everything else it does to answer. This keeps the rows
of the latest primary writes exactly as they were inserted into ``ops``, so
:meth:`~isthmus.index.history.OperationHistory.changes` can answer from memory.

Rules:

* **Only what the store holds.** Rows are remembered after their transaction committed, only
  from primary writes (plain ``INSERT``: what was given is what is stored). Operations applied
  from elsewhere (``INSERT OR IGNORE``, any order) clear it: those ranges are read from SQLite.
* **A contiguous window.** The rows cover ``first..last`` with no gap; a write that does not
  continue the window starts a new one. A read is answered from here only when its whole range
  lies in the window; anything else goes to the store, which has the same rows.
* **Bounded, and only while wanted.** At most :data:`MAX_OPS` operations and about
  :data:`MAX_BYTES` of memory (sources, ids, the rows themselves; the oldest go first).
  Nothing is kept unless the history was read within :data:`WANTED_FOR_S`: a shard nobody
  follows pays one comparison per write.
* **Trimming wins.** Rows the history trims are dropped here too, so a read of a trimmed range
  fails as it does from the store.

Not thread-safe: the shard's engine calls it under the shard's lock.
"""

from __future__ import annotations

from typing import Any

# Two of ES's default reads (5120 operations each): a follower that keeps up reads well inside.
MAX_OPS = 10_240
MAX_BYTES = 8 * 1024 * 1024
# Kept while the history was read this recently (a follower's long poll asks at least every
# read_poll_timeout, 1 min by default).
WANTED_FOR_S = 300.0

Row = tuple[Any, ...]  # an ``ops`` row: seq_no, primary_term, version, op, id, source, ts, routing


# What one row costs in memory besides its source and id: the tuple and its int objects
# (sys.getsizeof of a primary write's row, ~300 bytes).
_ROW_OVERHEAD = 300


def _row_bytes(row: Row) -> int:
    return len(row[5] or b"") + len(row[4]) + _ROW_OVERHEAD


class RecentOps:
    """See the module docstring."""

    def __init__(self) -> None:
        # ``_rows[_head:]`` is the window; the oldest rows are dropped by moving ``_head`` and
        # compacting now and then (a list slices in O(count), a deque does not index cheaply).
        self._rows: list[Row] = []
        self._head = 0
        self._bytes = 0
        self._wanted_until = float("-inf")

    @property
    def first(self) -> int:
        """The lowest ``_seq_no`` held (-1: none)."""
        return int(self._rows[self._head][0]) if len(self) else -1

    @property
    def last(self) -> int:
        """The highest ``_seq_no`` held (-1: none)."""
        return int(self._rows[-1][0]) if len(self) else -1

    def __len__(self) -> int:
        return len(self._rows) - self._head

    def wanted(self, now: float) -> None:
        """The history was read at ``now``: keep the next writes."""
        self._wanted_until = now + WANTED_FOR_S

    def remember(self, rows: list[Row], now: float) -> None:
        """Rows a primary write has just committed, in ``_seq_no`` order."""
        if not rows:
            return
        if now > self._wanted_until:
            if self._rows:
                self.clear()
            return
        start = int(rows[0][0])
        if int(rows[-1][0]) - start != len(rows) - 1:
            self.clear()  # not one consecutive run: not worth a window
            return
        if len(self) and start != self.last + 1:
            self.clear()
        self._rows.extend(rows)
        # Inlined _row_bytes: this runs on every write of a followed shard.
        self._bytes += sum([len(row[5] or b"") + len(row[4]) for row in rows])
        self._bytes += _ROW_OVERHEAD * len(rows)
        while len(self) > MAX_OPS or self._bytes > MAX_BYTES:
            self._drop_oldest()

    def rows(self, from_seq_no: int, to_seq_no: int) -> list[Row] | None:
        """The rows of ``from_seq_no..to_seq_no``, or None when the window does not hold all."""
        if not len(self) or from_seq_no < self.first or to_seq_no > self.last:
            return None
        offset = self._head + from_seq_no - self.first
        return self._rows[offset : offset + to_seq_no - from_seq_no + 1]

    def drop_through(self, seq_no: int) -> None:
        """Forget the rows at or below ``seq_no`` (the history trimmed them)."""
        while len(self) and self._rows[self._head][0] <= seq_no:
            self._drop_oldest()

    def clear(self) -> None:
        self._rows = []
        self._head = 0
        self._bytes = 0

    def _drop_oldest(self) -> None:
        self._bytes -= _row_bytes(self._rows[self._head])
        self._head += 1
        if not len(self):
            self.clear()
        elif self._head > len(self._rows) // 2:
            del self._rows[: self._head]
            self._head = 0
