"""Logging in Elasticsearch's formats: the plain ``[time][LEVEL][logger] [node] msg`` file and
stderr lines, and an ECS JSON file beside them (``<cluster>_server.json``).

The format is part of the product: users grep it and the doctor parses it, so it follows ES's
log4j pattern ``[%d{ISO8601}][%-5p][%-25c{1.}] [%node_name] %m``. Loggers are named after the
Elasticsearch class that logs the same event (``org.elasticsearch.transport.ProxyConnectionStrategy``)
and printed abbreviated (``o.e.t.ProxyConnectionStrategy``).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson

_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def abbreviate(name: str) -> str:
    """``org.elasticsearch.node.Node`` → ``o.e.n.Node`` (log4j's ``%c{1.}``)."""
    parts = name.split(".")
    return ".".join([p[:1] for p in parts[:-1]] + parts[-1:])


def es_level(record: logging.LogRecord) -> str:
    return _LEVELS.get(record.levelname, record.levelname)


def _timestamp(created: float) -> str:
    local = time.localtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f",{int(created * 1000) % 1000:03d}"


class PlainFormatter(logging.Formatter):
    def __init__(self, node_name: str) -> None:
        super().__init__()
        self.node_name = node_name

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"[{_timestamp(record.created)}][{es_level(record):<5}]"
            f"[{abbreviate(record.name):<25}] [{self.node_name}] {record.getMessage()}"
        )
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


class EcsJsonFormatter(logging.Formatter):
    def __init__(self, node_name: str, cluster_name: str) -> None:
        super().__init__()
        self.node_name = node_name
        self.cluster_name = cluster_name
        self.node_id: str | None = None
        self.cluster_uuid: str | None = None

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "@timestamp": f"{stamp}.{int(record.created * 1000) % 1000:03d}Z",
            "log.level": es_level(record),
            "message": record.getMessage(),
            "ecs.version": "1.2.0",
            "service.name": "ES_ECS",
            "event.dataset": "elasticsearch.server",
            "process.thread.name": record.threadName,
            "log.logger": record.name,
            "elasticsearch.node.name": self.node_name,
            "elasticsearch.cluster.name": self.cluster_name,
        }
        if self.node_id:
            doc["elasticsearch.node.id"] = self.node_id
        if self.cluster_uuid:
            doc["elasticsearch.cluster.uuid"] = self.cluster_uuid
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error.type"] = type(exc).__name__
            doc["error.message"] = str(exc)
            doc["error.stack_trace"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def configure(
    log_dir: Path,
    cluster_name: str,
    node_name: str,
    *,
    stderr: bool = True,
    level: int = logging.INFO,
) -> EcsJsonFormatter:
    """Route all ``org.elasticsearch.*`` and ``isthmus.*`` loggers to the files (and stderr)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    plain = PlainFormatter(node_name)
    ecs = EcsJsonFormatter(node_name, cluster_name)
    handlers: list[logging.Handler] = []
    file_handler = logging.FileHandler(log_dir / f"{cluster_name}.log", encoding="utf-8")
    file_handler.setFormatter(plain)
    handlers.append(file_handler)
    json_handler = logging.FileHandler(log_dir / f"{cluster_name}_server.json", encoding="utf-8")
    json_handler.setFormatter(ecs)
    handlers.append(json_handler)
    if stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(plain)
        handlers.append(err)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays below our lines unless it is a warning.
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return ecs


def set_level(logger_name: str, level_name: str | None) -> None:
    """Apply a dynamic ``logger.<name>`` cluster setting (``null`` resets to inherit)."""
    target = logging.getLogger(logger_name if logger_name != "_root" else "")
    if level_name is None:
        target.setLevel(logging.NOTSET)
        return
    name = level_name.upper()
    mapping = {"WARN": logging.WARNING, "TRACE": logging.DEBUG, "FATAL": logging.CRITICAL}
    target.setLevel(mapping.get(name, logging.getLevelName(name)))
