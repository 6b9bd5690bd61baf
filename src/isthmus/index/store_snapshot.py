"""Turning a copy of another shard's store into this node's shard (a CCR follower's bootstrap).

The copy comes from :meth:`ShardEngine.snapshot_store` on the leader, shipped in chunks by a
restore session. It holds the leader's documents and history with their ``_seq_no``,
``_primary_term`` and ``_version``, and the leader's checkpoints; what belongs to the leader's
copy only is dropped before the shard opens: its history uuid (a follower's history is its own),
its retention leases and their version, and which tantivy generation it had (the search index
is derived, so the follower builds its own from the documents). The shard then follows from the
copy's local checkpoint + 1.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

# Meta keys of the leader's copy only.
_LEADER_ONLY = ("history_uuid", "generation", "indexed_checkpoint", "leases_version")
STORE_FILE = "store.sqlite"


def install_snapshot(snapshot: Path, shard_dir: Path) -> None:
    """Make ``snapshot`` the store of the (not yet opened, empty) shard at ``shard_dir``."""
    shard_dir.mkdir(parents=True, exist_ok=True)
    target = shard_dir / STORE_FILE
    if target.exists():
        raise FileExistsError(f"shard [{shard_dir}] already has a store")
    shutil.copyfile(snapshot, target)
    db = sqlite3.connect(target, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("DELETE FROM meta WHERE key = ?", [(key,) for key in _LEADER_ONLY])
        db.execute("DROP TABLE IF EXISTS leases")
        db.execute("COMMIT")
    finally:
        db.close()
