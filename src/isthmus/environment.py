"""A node's environment on disk: the data path lock and the persistent node id.

One node per data path, as in ES: a second node on the same ``path.data`` fails to start with
ES's message instead of corrupting the first one's files.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from isthmus.cluster.metadata import new_uuid
from isthmus.errors import NodeStartupError


class NodeEnvironment:
    def __init__(self, data_path: Path) -> None:
        self.data_path = data_path
        data_path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(data_path / "node.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise NodeStartupError(
                f"failed to obtain node locks, tried [{data_path}]; maybe these locations are "
                "not writable or multiple nodes were started on the same data path?"
            ) from None
        id_file = data_path / "_state" / "node_id"
        id_file.parent.mkdir(parents=True, exist_ok=True)
        if id_file.exists():
            self.node_id = id_file.read_text().strip()
        else:
            self.node_id = new_uuid()
            tmp = id_file.with_suffix(".tmp")
            tmp.write_text(self.node_id)
            os.replace(tmp, id_file)

    @property
    def state_dir(self) -> Path:
        return self.data_path / "_state"

    @property
    def indices_dir(self) -> Path:
        return self.data_path / "indices"

    def close(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
