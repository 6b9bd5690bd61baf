"""Reader contexts of points in time: what a PIT holds on this node, how many, how long.

A reader context keeps one shard's searcher (with its schema and the index's mapping and alias
filters as they were) from the moment the PIT opened: tantivy's searcher is a snapshot of the
shard's segments, so every search through it sees the documents as of that moment, whatever was
written, deleted or merged since (the files it reads stay mapped while it lives). Scroll
contexts keep the ordered hits of one search instead (:mod:`isthmus.actions.scrolls`); both
share the keep-alive rules (``search.max_keep_alive``, with ES's message).

A PIT's contexts are bound to the subject that opened it, as scroll contexts are (ES binds only
scrolls; the issue asks for PITs too): another subject holding the id meets a missing context,
never "not yours", and every search is also authorized on the PIT's indices. The
number of open contexts is bounded by ``search.max_open_pit_context``; each context lives
``keep_alive`` past its last use. An id of another node session (a restart) or of an expired or
freed context is ES's ``search_context_missing_exception``.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import tantivy

from isthmus.errors import SearchContextMissingError, TooManyPitContextsError
from isthmus.security.ownership import Owner

if TYPE_CHECKING:
    from isthmus.cluster.metadata import IndexMetadata
    from isthmus.index.schema import IndexSchema
    from isthmus.security.authz import Subject

MAX_OPEN_PIT_SETTING = "search.max_open_pit_context"


@dataclass
class ReaderContext:
    """One shard's searcher, held for a PIT."""

    index: IndexMetadata  # as it was when the PIT opened (mapping, settings)
    shard: int
    schema: IndexSchema
    searcher: tantivy.Searcher
    filters: tuple[dict[str, Any], ...] | None  # the alias filters of the expression
    keep_alive_ms: int
    expires_at: float
    context_id: int = 0
    owner: Owner | None = None  # who opened it: only that subject may search or free it
    _doc_bases: list[int] | None = field(default=None, repr=False)
    _bases_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def doc_number(self, address: Any) -> int:
        """A document's number in this reader: its segment's first number plus its place in the
        segment (Lucene's doc base + doc). Computed once, in the search pool."""
        with self._bases_lock:
            if self._doc_bases is None:
                self._doc_bases = _doc_bases(self.searcher)
        bases = self._doc_bases
        ordinal = int(address.segment_ord)
        base = bases[ordinal] if ordinal < len(bases) else bases[-1] if bases else 0
        return base + int(address.doc)


def _doc_bases(searcher: tantivy.Searcher) -> list[int]:
    """Each segment's first document number: live documents show how far each segment reaches
    (deleted ones past a segment's last live document do not matter to the order)."""
    reach: dict[int, int] = {}
    count = max(searcher.num_docs, 1)
    for _score, addr in searcher.search(tantivy.Query.all_query(), count).hits:
        ordinal = int(addr.segment_ord)
        reach[ordinal] = max(reach.get(ordinal, 0), int(addr.doc) + 1)
    bases = []
    running = 0
    for ordinal in range(max(reach, default=-1) + 1):
        bases.append(running)
        running += reach.get(ordinal, 0)
    return bases


class PitStore:
    """The reader contexts open on this node, by number, under this node session."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # A restarted node starts a new session: ids of the old one are missing, never reused.
        self.session = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._contexts: dict[int, ReaderContext] = {}

    def expire(self) -> int:
        """Free the contexts whose keep-alive ran out; how many."""
        if not self._contexts:
            return 0
        now = self.clock()
        expired = [k for k, c in self._contexts.items() if c.expires_at <= now]
        for key in expired:
            del self._contexts[key]
        return len(expired)

    def open(
        self, readers: list[ReaderContext], max_open: int, *, owner: Owner | None
    ) -> list[int]:
        """Keep ``readers`` (all or none: ES's 429 past ``max_open``) as ``owner``'s; their
        numbers."""
        self.expire()
        if len(self._contexts) + len(readers) > max_open:
            raise TooManyPitContextsError(
                "Trying to create too many Point In Time contexts. Must be less than or equal "
                f"to: [{max_open}]. This limit can be set by changing the "
                f"[{MAX_OPEN_PIT_SETTING}] setting."
            )
        ids = []
        for reader in readers:
            reader.owner = owner
            reader.context_id = next(self._ids)
            self._contexts[reader.context_id] = reader
            ids.append(reader.context_id)
        return ids

    def find(
        self, session: str, context_id: int, keep_alive_ms: int | None, subject: Subject | None
    ) -> ReaderContext:
        """The context, its keep-alive renewed from now (``keep_alive_ms``: a new one); ES's
        404 when it expired, was freed, belongs to another node session or to another subject
        (as for a scroll: holding the id is not enough, and "not yours" is never said)."""
        return self.find_for(session, context_id, keep_alive_ms, Owner.of(subject))

    def find_for(
        self, session: str, context_id: int, keep_alive_ms: int | None, owner: Owner | None
    ) -> ReaderContext:
        """:meth:`find` for the subject another node of the cluster authenticated (``owner``)."""
        self.expire()
        reader = self._contexts.get(context_id) if session == self.session else None
        if reader is None or not (reader.owner is None or reader.owner == owner):
            raise SearchContextMissingError(f"No search context found for id [{context_id}]")
        if keep_alive_ms is not None:
            reader.keep_alive_ms = keep_alive_ms
        reader.expires_at = self.clock() + reader.keep_alive_ms / 1000
        return reader

    def free(self, session: str, context_id: int, subject: Subject | None) -> bool:
        """Free the context when ``subject`` owns it."""
        return self.free_for(session, context_id, Owner.of(subject))

    def free_for(self, session: str, context_id: int, owner: Owner | None) -> bool:
        """:meth:`free` for the subject another node of the cluster authenticated."""
        self.expire()
        reader = self._contexts.get(context_id) if session == self.session else None
        if reader is None or not (reader.owner is None or reader.owner == owner):
            return False
        del self._contexts[context_id]
        return True

    def __len__(self) -> int:
        self.expire()
        return len(self._contexts)

    def held_shard_contexts(self) -> int:
        """The reader contexts held, expired or not (nothing is expired by asking)."""
        return len(self._contexts)

    def __repr__(self) -> str:
        return f"<PitStore session={self.session} open={len(self._contexts)}>"


__all__ = ["MAX_OPEN_PIT_SETTING", "PitStore", "ReaderContext"]
