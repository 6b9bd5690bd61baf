"""A shard's tantivy generations: build one from documents, reopen one, replay operations into it.

A generation is one tantivy index directory (``<shard>/tantivy/<n>``) whose schema is fixed;
``schema.2.json`` beside it records the schema's signature, so a reopened shard knows whether the
generation still fits its mapping. :class:`~isthmus.index.engine.ShardEngine` decides when a
generation is built or replayed into and keeps the checkpoints; these functions only move
documents into tantivy, and never touch the SQLite store. Blocking: run in worker threads.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import tantivy

from isthmus.index.mapping import Mapping
from isthmus.index.operations import StoredDoc
from isthmus.index.schema import IndexSchema
from isthmus.storage import search_index_error

WRITER_HEAP_BYTES = 48_000_000
# Named for the layout of the documents too: a generation from before documents kept their
# ``_routing`` has only ``schema.json`` and is rebuilt from the store once.
_SIGNATURE = "schema.2.json"


def open_generation(gen_dir: Path, schema: IndexSchema) -> tantivy.Index | None:
    """The generation in ``gen_dir`` if it exists and was built for ``schema``, else None."""
    sig_file = gen_dir / _SIGNATURE
    if not (gen_dir.exists() and sig_file.exists()):
        return None
    stored = tuple(tuple(x) for x in orjson.loads(sig_file.read_bytes()))
    if stored != schema.signature:
        return None
    return tantivy.Index(schema.schema, path=str(gen_dir), reuse=True)


def build_generation(
    gen_dir: Path, mapping: Mapping, schema: IndexSchema, docs: Iterable[StoredDoc]
) -> tuple[tantivy.Index, int]:
    """A fresh generation in ``gen_dir`` holding ``docs``; returns it and how many it holds.
    The signature is written last: a generation interrupted before it is never reopened."""
    if gen_dir.exists():
        shutil.rmtree(gen_dir)
    gen_dir.mkdir(parents=True)
    index = tantivy.Index(schema.schema, path=str(gen_dir), reuse=False)
    writer = index.writer(WRITER_HEAP_BYTES, 1)
    count = 0
    for doc in docs:
        values = mapping.parse_document(orjson.loads(doc.source), doc.id, stored=True).values
        writer.add_document(
            schema.document(
                doc.id, doc.source, values, doc.seq_no, doc.version, doc.primary_term, doc.routing
            )
        )
        count += 1
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    (gen_dir / _SIGNATURE).write_bytes(orjson.dumps(list(schema.signature)))
    return index, count


def drop_other_generations(root: Path, keep: int) -> None:
    """Remove every generation directory under ``root`` but ``keep``'s."""
    for stale in root.iterdir():
        if stale.name != str(keep):
            shutil.rmtree(stale, ignore_errors=True)


def replay(
    index: tantivy.Index, schema: IndexSchema, mapping: Mapping, ops: Sequence[Sequence[Any]]
) -> None:
    """Apply stored operations ``(seq_no, primary_term, version, op, id, source, routing)`` in
    ``_seq_no`` order and commit (delete-by-id then add: replaying twice is harmless). A
    tantivy failure is raised as the storage error it stands for."""
    writer: tantivy.IndexWriter | None = None
    try:
        writer = index.writer(WRITER_HEAP_BYTES, 1)
        for seq_no, term, version, op, doc_id, source, routing in ops:
            if op == "noop":
                continue
            writer.delete_documents_by_term("_id", doc_id)
            if op == "index":
                values = mapping.parse_document(orjson.loads(source), doc_id, stored=True).values
                doc = schema.document(doc_id, source, values, seq_no, version, term, routing)
                writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
    except ValueError as exc:  # tantivy's errors
        raise search_index_error(exc) from exc
    finally:
        writer = None  # releases tantivy's writer lock, whatever happened
    index.reload()


def disk_size(path: Path) -> int:
    """Bytes of the files under ``path``. tantivy creates and deletes files as it works (its
    temp and merged segment files), so a file listed a moment ago may be gone: it counts 0."""
    total = 0
    for file in path.rglob("*"):
        try:
            info = file.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            total += info.st_size
    return total
