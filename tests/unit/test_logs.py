"""Elasticsearch's log formats: the plain pattern line and the ECS JSON document."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from isthmus import logs

# 2024-01-02T03:04:05.250 UTC
CREATED = 1704164645.25


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plain lines use local time (as ES's log4j pattern does); pin the zone to UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def record(
    name: str = "org.elasticsearch.transport.ProxyConnectionStrategy",
    level: int = logging.WARNING,
    msg: str = "hello %s",
    args: tuple[object, ...] = ("world",),
    exc_info: object = None,
) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]
    rec.created = CREATED
    rec.msecs = 250.0
    rec.threadName = "elasticsearch[n1][generic][T#1]"
    return rec


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("org.elasticsearch.transport.ProxyConnectionStrategy", "o.e.t.ProxyConnectionStrategy"),
        ("org.elasticsearch.node.Node", "o.e.n.Node"),
        ("Node", "Node"),
        ("isthmus.http", "i.http"),
        ("", ""),
    ],
)
def test_abbreviate(name: str, short: str) -> None:
    assert logs.abbreviate(name) == short


@pytest.mark.parametrize(
    ("level", "text"),
    [
        (logging.DEBUG, "DEBUG"),
        (logging.INFO, "INFO"),
        (logging.WARNING, "WARN"),
        (logging.ERROR, "ERROR"),
        (logging.CRITICAL, "FATAL"),
    ],
)
def test_es_level(level: int, text: str) -> None:
    assert logs.es_level(record(level=level)) == text


# --- plain format -------------------------------------------------------------------------------


def test_plain_line_exact(utc: None) -> None:
    line = logs.PlainFormatter("node-1").format(record())
    assert line == (
        "[2024-01-02T03:04:05,250][WARN ][o.e.t.ProxyConnectionStrategy] [node-1] hello world"
    )


@pytest.mark.parametrize(
    ("level", "padded"),
    [
        (logging.INFO, "[INFO ]"),
        (logging.WARNING, "[WARN ]"),
        (logging.ERROR, "[ERROR]"),
        (logging.DEBUG, "[DEBUG]"),
        (logging.CRITICAL, "[FATAL]"),
    ],
)
def test_plain_level_is_padded_to_five(utc: None, level: int, padded: str) -> None:
    line = logs.PlainFormatter("n").format(record(level=level))
    assert line[len("[2024-01-02T03:04:05,250]") :].startswith(padded)


def test_plain_logger_is_padded_to_25(utc: None) -> None:
    line = logs.PlainFormatter("n").format(
        record(name="org.elasticsearch.node.Node", msg="x", args=())
    )
    assert line == "[2024-01-02T03:04:05,250][WARN ][o.e.n.Node               ] [n] x"
    assert len("o.e.n.Node               ") == 25


def test_plain_milliseconds_are_zero_padded(utc: None) -> None:
    rec = record()
    rec.created = 1704164645.007
    assert logs.PlainFormatter("n").format(rec).startswith("[2024-01-02T03:04:05,007]")


def test_plain_uses_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # POSIX sign: two hours east of UTC
    time.tzset()
    try:
        line = logs.PlainFormatter("n").format(record())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line.startswith("[2024-01-02T05:04:05,250]")


def test_plain_appends_the_traceback(utc: None) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    line = logs.PlainFormatter("n").format(record(msg="failed", args=(), exc_info=exc_info))
    first, rest = line.split("\n", 1)
    assert first == "[2024-01-02T03:04:05,250][WARN ][o.e.t.ProxyConnectionStrategy] [n] failed"
    assert rest.startswith("Traceback (most recent call last):")
    assert rest.endswith("ValueError: boom")


# --- ECS JSON -----------------------------------------------------------------------------------


def test_ecs_document() -> None:
    fmt = logs.EcsJsonFormatter("node-1", "blue")
    doc = orjson.loads(fmt.format(record()))
    assert doc == {
        "@timestamp": "2024-01-02T03:04:05.250Z",
        "log.level": "WARN",
        "message": "hello world",
        "ecs.version": "1.2.0",
        "service.name": "ES_ECS",
        "event.dataset": "elasticsearch.server",
        "process.thread.name": "elasticsearch[n1][generic][T#1]",
        "log.logger": "org.elasticsearch.transport.ProxyConnectionStrategy",
        "elasticsearch.node.name": "node-1",
        "elasticsearch.cluster.name": "blue",
    }


def test_ecs_ids_once_known() -> None:
    fmt = logs.EcsJsonFormatter("node-1", "blue")
    fmt.node_id = "abc"
    fmt.cluster_uuid = "xyz"
    doc = orjson.loads(fmt.format(record()))
    assert doc["elasticsearch.node.id"] == "abc"
    assert doc["elasticsearch.cluster.uuid"] == "xyz"


def test_ecs_error_fields() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        exc_info = sys.exc_info()
    doc = orjson.loads(
        logs.EcsJsonFormatter("n", "c").format(record(level=logging.ERROR, exc_info=exc_info))
    )
    assert doc["log.level"] == "ERROR"
    assert doc["error.type"] == "KeyError"
    assert doc["error.message"] == "'k'"
    assert doc["error.stack_trace"].startswith("Traceback")
    assert "KeyError: 'k'" in doc["error.stack_trace"]


def test_ecs_is_one_line() -> None:
    doc = logs.EcsJsonFormatter("n", "c").format(record(msg="a\nb", args=()))
    assert "\n" not in doc
    assert orjson.loads(doc)["message"] == "a\nb"


# --- configure and set_level --------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_handlers = list(root.handlers)
    saved_level = root.level
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "org.test.Dyn")
    saved = {n: logging.getLogger(n).level for n in names}
    yield
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in saved_handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(saved_level)
    for n, level in saved.items():
        logging.getLogger(n).setLevel(level)


def test_configure_writes_both_files(tmp_path: Path, restore_logging: None, utc: None) -> None:
    log_dir = tmp_path / "logs"
    ecs = logs.configure(log_dir, "blue", "node-1", stderr=False)
    assert isinstance(ecs, logs.EcsJsonFormatter)
    ecs.node_id = "nid"
    logging.getLogger("org.elasticsearch.node.Node").info("started")
    logging.getLogger("org.elasticsearch.node.Node").debug("hidden at INFO")
    for handler in logging.getLogger().handlers:
        handler.flush()
    plain = (log_dir / "blue.log").read_text().splitlines()
    assert len(plain) == 1
    assert plain[0].endswith("[INFO ][o.e.n.Node               ] [node-1] started")
    json_lines = (log_dir / "blue_server.json").read_text().splitlines()
    assert len(json_lines) == 1
    doc = orjson.loads(json_lines[0])
    assert doc["message"] == "started"
    assert doc["elasticsearch.node.id"] == "nid"
    assert doc["log.logger"] == "org.elasticsearch.node.Node"
    assert logging.getLogger("uvicorn.access").level == logging.WARNING


def test_configure_stderr(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(tmp_path, "c", "n", stderr=True, level=logging.DEBUG)
    logging.getLogger("org.elasticsearch.x.Y").debug("to stderr")
    assert "[DEBUG][o.e.x.Y" in capsys.readouterr().err


def test_configure_replaces_handlers(tmp_path: Path, restore_logging: None) -> None:
    logs.configure(tmp_path / "a", "c", "n", stderr=False)
    logs.configure(tmp_path / "b", "c", "n", stderr=False)
    assert len(logging.getLogger().handlers) == 2


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("warn", logging.WARNING),
        ("TRACE", logging.DEBUG),
        ("fatal", logging.CRITICAL),
        ("info", logging.INFO),
        ("ERROR", logging.ERROR),
    ],
)
def test_set_level(restore_logging: None, name: str, level: int) -> None:
    logs.set_level("org.test.Dyn", name)
    assert logging.getLogger("org.test.Dyn").level == level


def test_set_level_reset_and_root(restore_logging: None) -> None:
    logs.set_level("org.test.Dyn", "debug")
    logs.set_level("org.test.Dyn", None)
    assert logging.getLogger("org.test.Dyn").level == logging.NOTSET
    logs.set_level("_root", "error")
    assert logging.getLogger().level == logging.ERROR
