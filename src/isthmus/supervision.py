"""Background tasks owned by a component: spawned by it, cancelled and awaited by its close.

Long-lived components (connection managers, remote-cluster strategies) start tasks whose lifetime
is their own, not their caller's, so an ``async with TaskGroup`` around a call does not fit. A
:class:`TaskSet` gives them the same guarantees: every task has an owner, :meth:`close` cancels
and awaits all of them, and a task that fails is logged once with its cause — never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class TaskSet:
    """The tasks of one owner."""

    def __init__(self, owner: str, log: logging.Logger) -> None:
        self.owner = owner
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Start ``coro``. A task's own code logs what its failure means; this only makes sure
        the exception is retrieved (and kept at DEBUG) even when nobody awaits the task."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.owner} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so asyncio never warns about it
        if exc is None:
            return
        from isthmus.errors import IsthmusError

        if isinstance(exc, IsthmusError):
            # Expected failures (a remote that cannot be reached): their meaning was logged by
            # the task's own code.
            self._log.debug("task [%s] failed", task.get_name(), exc_info=exc)
        else:
            self._log.error("task [%s] failed unexpectedly", task.get_name(), exc_info=exc)

    async def close(self) -> None:
        """Cancel every task and wait until all have finished."""
        self._closed = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"<TaskSet {self.owner} running={len(self._tasks)} closed={self._closed}>"
