"""Reading Elasticsearch's and Isthmus's logs back: plain pattern with continuations, ECS JSON
(8.x/9.x), ES 7 JSON, Isthmus's own JSON, and whole log directories."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from isthmus import logs as isthmus_logs
from isthmus.doctor.log_lines import (
    json_record,
    parse_chain,
    parse_json_lines,
    parse_plain,
    parse_time,
)
from isthmus.doctor.logs import read_log_dir

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "doctor" / "logs"

GUIDE_PROXY = (
    "[2023-06-28T16:36:47,264][WARN ][o.e.t.ProxyConnectionStrategy] [local-node] failed to "
    "open any proxy connections to cluster [my]\n"
    "org.elasticsearch.transport.ConnectTransportException: [][192.168.0.42:9443] "
    "connect_exception\n"
)
WITH_TRACE = (
    "[2026-03-02T10:00:00,123][WARN ][o.e.t.RemoteClusterService] [qc-node-1] project [default] "
    "failed to update remote cluster connection [my]\n"
    "org.elasticsearch.transport.NoSeedNodeLeftException: Unable to open any proxy connections "
    "to cluster [my] at address [10.0.0.5:9443]\n"
    "\tat org.elasticsearch.transport.ProxyConnectionStrategy.lambda$openConnections$4"
    "(ProxyConnectionStrategy.java:282)\n"
    "\t... 12 more\n"
    "\tSuppressed: org.elasticsearch.transport.ConnectTransportException: [][10.0.0.5:9443] "
    "connect_timeout[30s]\n"
    "\t\tat org.elasticsearch.transport.TcpTransport.onTimeout(TcpTransport.java:1146)\n"
    "Caused by: io.netty.handler.codec.DecoderException: javax.net.ssl.SSLHandshakeException: "
    "Received fatal alert: bad_certificate\n"
    "\tand a second line of that message\n"
    "[2026-03-02T10:00:01,000][INFO ][o.e.t.ClusterConnectionManager] [qc-node-1] next record\n"
)


def test_plain_record_and_chain() -> None:
    (line,) = parse_plain(GUIDE_PROXY, source="local.log")
    assert line.time == datetime(2023, 6, 28, 16, 36, 47, 264000, tzinfo=UTC)
    assert (line.level, line.logger, line.node) == (
        "WARN",
        "o.e.t.ProxyConnectionStrategy",
        "local-node",
    )
    assert line.logger_class == "ProxyConnectionStrategy"
    assert line.message == "failed to open any proxy connections to cluster [my]"
    (exc,) = line.exceptions
    assert exc.type == "org.elasticsearch.transport.ConnectTransportException"
    assert exc.message == "[][192.168.0.42:9443] connect_exception"
    assert line.raw == GUIDE_PROXY.rstrip("\n")
    assert line.source == "local.log:1"


def test_frames_suppressed_wrapped_and_wrapping_exceptions() -> None:
    first, second = parse_plain(WITH_TRACE)
    assert [e.simple_type for e in first.exceptions] == [
        "NoSeedNodeLeftException",
        "ConnectTransportException",
        "DecoderException",
        "SSLHandshakeException",  # the exception Netty's DecoderException names in its message
    ]
    assert first.exceptions[1].suppressed and not first.exceptions[0].suppressed
    assert first.exceptions[1].message == "[][10.0.0.5:9443] connect_timeout[30s]"
    # A continuation line belongs to the innermost exception named so far.
    assert first.exceptions[3].message == (
        "Received fatal alert: bad_certificate\nand a second line of that message"
    )
    assert "at org.elasticsearch" not in first.text  # stack frames are dropped
    assert second.message == "next record" and second.exceptions == ()


def test_fragment_without_header_is_kept_without_time() -> None:
    text = (
        "Caused by: java.lang.IllegalArgumentException: Cross cluster requests through the "
        "dedicated remote cluster server port require transport header "
        "[_cross_cluster_access_credentials] but none found.\n"
    )
    (line,) = parse_plain(text)
    assert line.time is None and line.node == "" and line.level == ""
    assert line.exceptions[0].type == "java.lang.IllegalArgumentException"


def test_parse_is_the_same_whole_and_split_into_records() -> None:
    """Each record parses the same alone as inside the file (no state leaks between them)."""
    whole = parse_plain(WITH_TRACE + GUIDE_PROXY)
    alone = parse_plain(WITH_TRACE) + parse_plain(GUIDE_PROXY)
    assert [(x.time, x.message, x.exceptions) for x in whole] == [
        (x.time, x.message, x.exceptions) for x in alone
    ]


def test_trailing_partial_line_and_blank_lines() -> None:
    """A torn last header is not a header: it continues the record before it (never a crash)."""
    (line,) = parse_plain(GUIDE_PROXY + "\n\n[2026-03-02T10:00:0")
    assert line.exceptions[0].message.startswith("[][192.168.0.42:9443] connect_exception")


def test_prose_is_not_an_exception() -> None:
    _, chain = parse_chain(["This message will also be logged if the node is restarted."])
    assert chain == ()
    extra, chain = parse_chain(["org.elasticsearch: not a class", "plain words: here"])
    assert chain == () and "plain words" in extra


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-06-28T16:36:47,264", datetime(2023, 6, 28, 16, 36, 47, 264000, tzinfo=UTC)),
        ("2023-06-28T16:36:47.264Z", datetime(2023, 6, 28, 16, 36, 47, 264000, tzinfo=UTC)),
        (
            "2023-08-16T23:40:55.464275123Z",  # Java's Instant: nine fraction digits
            datetime(2023, 8, 16, 23, 40, 55, 464275, tzinfo=UTC),
        ),
        (
            "2019-02-04T12:38:13,123+0100",
            datetime(2019, 2, 4, 11, 38, 13, 123000, tzinfo=UTC),
        ),
        ("not a time", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text, UTC) == expected


def test_plain_time_is_read_in_the_given_zone() -> None:
    cet = timezone(timedelta(hours=1))
    (line,) = parse_plain(GUIDE_PROXY, tz=cet)
    assert line.time == datetime(2023, 6, 28, 15, 36, 47, 264000, tzinfo=UTC)


# --- JSON ---------------------------------------------------------------------------------------

ES8 = {
    "@timestamp": "2026-03-02T10:00:00.123Z",
    "log.level": "WARN",
    "message": "failed to open any proxy connections to cluster [my]",
    "ecs.version": "1.2.0",
    "service.name": "ES_ECS",
    "event.dataset": "elasticsearch.server",
    "log.logger": "org.elasticsearch.transport.ProxyConnectionStrategy",
    "elasticsearch.node.name": "qc-node-1",
    "elasticsearch.cluster.name": "qc",
    "error.type": "org.elasticsearch.transport.ConnectTransportException",
    "error.message": "[][10.0.0.5:9443] connect_exception",
    "error.stack_trace": "org.elasticsearch.transport.ConnectTransportException: [][10.0.0.5:9443] "
    "connect_exception\n\tat a.b.C.d(C.java:1)\nCaused by: java.net.ConnectException: Connection "
    "refused\n\t... 7 more\n",
}


def test_ecs_json_flat() -> None:
    line = json_record(ES8)
    assert line is not None
    assert line.time == datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)
    assert (line.level, line.node, line.cluster) == ("WARN", "qc-node-1", "qc")
    assert line.logger_class == "ProxyConnectionStrategy"
    assert [e.simple_type for e in line.exceptions] == [
        "ConnectTransportException",
        "ConnectException",
    ]


def test_ecs_json_nested_objects_read_the_same() -> None:
    nested = {
        "@timestamp": ES8["@timestamp"],
        "log": {"level": "WARN", "logger": ES8["log.logger"]},
        "message": ES8["message"],
        "elasticsearch": {"node": {"name": "qc-node-1"}, "cluster": {"name": "qc"}},
        "error": {"type": ES8["error.type"], "message": ES8["error.message"]},
    }
    line = json_record(nested)
    assert line is not None
    assert (line.level, line.node, line.cluster) == ("WARN", "qc-node-1", "qc")
    assert line.exceptions[0].message == "[][10.0.0.5:9443] connect_exception"


def test_es7_json() -> None:
    doc = {
        "type": "server",
        "timestamp": "2021-05-02T10:00:00,126Z",
        "level": "WARN",
        "component": "o.e.t.SniffConnectionStrategy",
        "cluster.name": "fc",
        "node.name": "fc-node-1",
        "message": "fetching nodes from external cluster [my] failed",
        "stacktrace": [
            "org.elasticsearch.transport.ConnectTransportException: [][10.0.0.5:9300] connect_exception",
            "at org.elasticsearch.transport.TcpTransport.x(TcpTransport.java:1)",
        ],
    }
    line = json_record(doc)
    assert line is not None
    assert line.time == datetime(2021, 5, 2, 10, 0, 0, 126000, tzinfo=UTC)
    assert (line.logger, line.node) == ("o.e.t.SniffConnectionStrategy", "fc-node-1")
    assert line.exceptions[0].simple_type == "ConnectTransportException"


def test_json_file_skips_what_is_not_a_record() -> None:
    text = orjson.dumps(ES8).decode() + '\nnot json\n[1,2]\n{"a": \n{}\n'
    (line,) = parse_json_lines(text, source="x.json")
    assert line.source == "x.json:1"


def test_isthmus_json_and_plain_say_the_same(tmp_path: Path) -> None:
    """Isthmus writes both formats; the doctor reads the same records from either."""
    formatter_plain = isthmus_logs.PlainFormatter("n1")
    formatter_json = isthmus_logs.EcsJsonFormatter("n1", "c1")
    try:
        raise ConnectionRefusedError("Connection refused")
    except ConnectionRefusedError:
        record = logging.LogRecord(
            "org.elasticsearch.transport.ProxyConnectionStrategy",
            logging.WARNING,
            __file__,
            1,
            "failed to open any proxy connections to cluster [%s]",
            ("my",),
            sys.exc_info(),
        )
    (from_json,) = parse_json_lines(formatter_json.format(record))
    (from_plain,) = parse_plain(
        formatter_plain.format(record), tz=datetime.now().astimezone().tzinfo or UTC
    )
    assert (
        from_json.message
        == from_plain.message
        == "failed to open any proxy connections to cluster [my]"
    )
    assert (
        from_json.exceptions[-1].message
        == from_plain.exceptions[-1].message
        == "Connection refused"
    )
    assert from_json.time is not None and from_plain.time is not None
    assert abs(from_json.time - from_plain.time) < timedelta(milliseconds=2)


# --- directories --------------------------------------------------------------------------------


def test_read_log_dir_prefers_json_and_leaves_other_logs_out(tmp_path: Path) -> None:
    (tmp_path / "qc.log").write_text(GUIDE_PROXY)
    (tmp_path / "qc_server.json").write_text(orjson.dumps(ES8).decode() + "\n")
    (tmp_path / "qc_deprecation.json").write_text(orjson.dumps(ES8).decode() + "\n")
    (tmp_path / "qc-2026-03-01-1.log").write_text(GUIDE_PROXY)  # rolled: same cluster, JSON wins
    (tmp_path / "qc-2026-03-01-1.json.gz").write_bytes(b"\x1f\x8b")
    lines = read_log_dir(tmp_path, tz=UTC)
    assert [x.source for x in lines] == ["qc_server.json:1"]
    assert lines[0].cluster == "qc"


def test_read_log_dir_plain_only_sorted_by_time(tmp_path: Path) -> None:
    later = GUIDE_PROXY.replace("16:36:47,264", "16:40:00,000")
    (tmp_path / "b.log").write_text(later)
    (tmp_path / "a.log").write_text(GUIDE_PROXY + "Caused by: x.y.Z: fragment\n")
    lines = read_log_dir(tmp_path, tz=UTC)
    assert [x.cluster for x in lines] == ["a", "b"]
    assert lines[0].time is not None and lines[1].time is not None and lines[0].time < lines[1].time


def test_read_log_dir_of_a_single_file() -> None:
    path = FIXTURES / "guide" / "invalid-api-key" / "local" / "local.log"
    lines = read_log_dir(path, tz=UTC)
    assert len(lines) == 1 and lines[0].node == "local-node"


def test_lab_fixture_json_and_plain_hold_the_same_records() -> None:
    """The recorded lab logs: Isthmus's plain file and its JSON twin parse to the same records."""
    for side in sorted((FIXTURES).glob("*-*/local")):
        plain = next(side.glob("*.log"), None)
        js = next(side.glob("*_server.json"), None)
        if plain is None or js is None:
            continue
        a = parse_plain(plain.read_text(), tz=UTC)
        b = parse_json_lines(js.read_text())
        assert [(x.time, x.message, [e.message for e in x.exceptions]) for x in a] == [
            (x.time, x.message, [e.message for e in x.exceptions]) for x in b
        ], side


def test_a_cut_record_at_the_head_of_a_tail_is_dated_by_the_next_one() -> None:
    """``tail -n`` cuts a record: its lines are no later than the first full record."""
    tail = "Caused by: java.net.ConnectException: Connection refused\n" + GUIDE_PROXY
    cut, full = parse_plain(tail)
    assert cut.time == full.time and cut.node == "local-node" and cut.level == ""
    assert cut.exceptions[0].simple_type == "ConnectException"
