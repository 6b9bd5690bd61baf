"""Running tasks, as ``GET /_tasks`` shows them: REST actions and the transport requests they
send to other clusters, with parent/child links.

A task is registered for the lifetime of one action (a REST request, or a transport request
another cluster sent); it records the asyncio task running it so ``POST /_tasks/<id>/_cancel``
can cancel it. A cross-cluster request carries its parent task id in a transport header
(``_isthmus_parent_task``), so the remote cluster's task names its parent on the coordinator.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from isthmus.cluster.patterns import simple_match
from isthmus.errors import ResourceNotFoundError

PARENT_TASK_HEADER = "_isthmus_parent_task"

# The task the current coroutine runs for ("node:id"), for the requests it sends onwards.
CURRENT_TASK: ContextVar[str | None] = ContextVar("isthmus_current_task", default=None)


@dataclass
class TaskRecord:
    node: str
    id: int
    type: str  # "transport" (ES calls REST-started tasks transport tasks too)
    action: str
    description: str
    start_ms: int
    start_ns: int
    parent: str | None
    runner: asyncio.Task[Any] | None
    cancelled: bool = False

    @property
    def task_id(self) -> str:
        return f"{self.node}:{self.id}"

    def to_json(self, detailed: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "node": self.node,
            "id": self.id,
            "type": self.type,
            "action": self.action,
        }
        if detailed:
            out["description"] = self.description
        out.update(
            {
                "start_time_in_millis": self.start_ms,
                "running_time_in_nanos": time.monotonic_ns() - self.start_ns,
                "cancellable": True,
                "cancelled": self.cancelled,
            }
        )
        if self.parent is not None:
            out["parent_task_id"] = self.parent
        out["headers"] = {}
        return out


class TaskManager:
    def __init__(self, node_id: str, clock: Callable[[], float] = time.time) -> None:
        self.node_id = node_id
        self.clock = clock
        self._ids = itertools.count(1)
        self._tasks: dict[int, TaskRecord] = {}

    def running(self, action: str, description: str = "", parent: str | None = None) -> _Running:
        """Register the current asyncio task as ``action`` until the ``with`` block ends."""
        record = TaskRecord(
            node=self.node_id,
            id=next(self._ids),
            type="transport",
            action=action,
            description=description,
            start_ms=int(self.clock() * 1000),
            start_ns=time.monotonic_ns(),
            parent=parent,
            runner=asyncio.current_task(),
        )
        return _Running(self._tasks, record)

    def list(self, actions: str | None = None, parent: str | None = None) -> list[TaskRecord]:
        patterns = [p for p in (actions or "").split(",") if p]
        out = []
        for record in self._tasks.values():
            if patterns and not any(simple_match(record.action, p) for p in patterns):
                continue
            if parent is not None and record.parent != parent:
                continue
            out.append(record)
        return out

    def get(self, task_id: str) -> TaskRecord:
        node, _, number = task_id.partition(":")
        record = self._tasks.get(int(number)) if number.isdigit() and node == self.node_id else None
        if record is None:
            raise ResourceNotFoundError(
                f"task [{task_id}] isn't running and hasn't stored its results"
            )
        return record

    def cancel(self, task_id: str) -> TaskRecord:
        record = self.get(task_id)
        record.cancelled = True
        if record.runner is not None:
            record.runner.cancel()
        return record


class _Running:
    """The ``with`` block of :meth:`TaskManager.running` (a plain class: every request enters
    one, and a generator-based context manager costs several times more)."""

    __slots__ = ("_record", "_tasks", "_token")

    def __init__(self, tasks: dict[int, TaskRecord], record: TaskRecord) -> None:
        self._tasks = tasks
        self._record = record
        self._token: Token[str | None] | None = None

    def __enter__(self) -> TaskRecord:
        record = self._record
        self._tasks[record.id] = record
        self._token = CURRENT_TASK.set(record.task_id)
        return record

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            CURRENT_TASK.reset(self._token)
        self._tasks.pop(self._record.id, None)


def parent_header() -> dict[str, str]:
    """The header naming the current task as the parent of a request sent to another cluster."""
    current = CURRENT_TASK.get()
    return {} if current is None else {PARENT_TASK_HEADER: current}
