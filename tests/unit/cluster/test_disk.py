"""Disk watermarks as values: parsing, ES's validation messages, and what a reading decides."""

from __future__ import annotations

import logging

import pytest

from isthmus.cluster.disk import DiskUsage, MonitorState, decide
from isthmus.cluster.metadata import ClusterMetadata, IndexMetadata
from isthmus.errors import SettingsError
from isthmus.index.mapping import Mapping
from isthmus.settings.disk import (
    FLOOD,
    HIGH,
    LOW,
    DiskThresholds,
    Stage,
    format_bytes,
    parse_watermark,
    validate_update,
)

GB = 1024**3
TB = 1024**4


def usage(free: int, total: int = 100 * GB) -> DiskUsage:
    return DiskUsage("nodeid", "node-0", "/data", total, free)


def meta(name: str, **settings: str) -> IndexMetadata:
    return IndexMetadata(name, f"{name}-uuid", dict(settings), Mapping({}))


def cluster(*indices: IndexMetadata) -> ClusterMetadata:
    return ClusterMetadata("c", {m.name: m for m in indices})


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "absolute", "text"),
    [
        ("85%", False, "85%"),
        ("0.85", False, "85%"),
        ("91.2%", False, "91.2%"),
        ("0.912", False, "91.2%"),
        ("83.45%", False, "83.45%"),
        ("100%", False, "100%"),
        ("500m", True, "500mb"),
        ("500MB", True, "500mb"),
        ("1000tb", True, "1000tb"),
        ("100b", True, "100b"),
        ("0", True, "0b"),
        ("-0%", False, "0%"),
        ("0.5gb", True, "536870912b"),
    ],
)
def test_watermark_values(raw: str, absolute: bool, text: str) -> None:
    mark = parse_watermark(raw, LOW)
    assert (mark.is_absolute, mark.text) == (absolute, text)


@pytest.mark.parametrize(
    "raw", ["abc", "101%", "-5%", "1.5", "100", "5xb", "", "-1", "nan%", "1e400"]
)
def test_unparseable_watermarks_name_the_setting(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_watermark(raw, FLOOD)
    assert (
        str(info.value) == f"unable to parse [{FLOOD}={raw.strip()}] as either percentage or bytes"
    )


def test_a_size_over_a_java_long_says_so() -> None:
    with pytest.raises(ValueError, match=r"^Values greater than 9223372036854775807 bytes are not"):
        parse_watermark("9" * 30 + "gb", LOW)


def test_free_thresholds_percent_absolute_and_headroom() -> None:
    defaults = DiskThresholds.from_settings({})
    # 100 GB: the percentages decide (15, 10 and 5 GB must stay free).
    assert defaults.free_thresholds(100 * GB) == (15 * GB, 10 * GB, 5 * GB)
    # 10 TB: 5 % would be 512 GB; the default max headroom caps the flood stage at 100 GB.
    assert defaults.free_thresholds(10 * TB)[2] == 100 * GB
    assert defaults.describe(Stage.FLOOD, 10 * TB) == "max_headroom=100gb"
    assert defaults.describe(Stage.FLOOD, 100 * GB) == "95%"
    # A watermark set explicitly switches the default headrooms off (ES's rule).
    explicit = DiskThresholds.from_settings({FLOOD: "95%"})
    assert explicit.free_thresholds(10 * TB)[2] == 10 * TB - int(0.95 * 10 * TB)
    assert explicit.describe(Stage.FLOOD, 10 * TB) == "95%"
    absolute = DiskThresholds.from_settings({LOW: "3gb", HIGH: "2gb", FLOOD: "1gb"})
    assert absolute.free_thresholds(TB) == (3 * GB, 2 * GB, GB)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({LOW: "90%", HIGH: "80%"}, "low disk watermark [90%] more than high disk watermark [80%]"),
        (
            {LOW: "50.1%", HIGH: "60%", FLOOD: "55%"},
            "high disk watermark [60%] more than flood stage disk watermark [55%]",
        ),
        (
            {LOW: "500m", HIGH: "1000m", FLOOD: "250m"},
            "low disk watermark [500mb] less than high disk watermark [1000mb]",
        ),
        (
            {LOW: "1000m", HIGH: "500m", FLOOD: "750m"},
            "high disk watermark [500mb] less than flood stage disk watermark [750mb]",
        ),
        (
            {LOW: "90%", HIGH: "1000m", FLOOD: "95.2%"},
            f"unable to consistently parse [{LOW}=90%], [{HIGH}=1000mb], and [{FLOOD}=95.2%] as "
            "percentage or bytes",
        ),
    ],
)
def test_watermark_validation_messages(settings: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        DiskThresholds.from_settings(settings)
    assert info.value.reason == message


def test_update_names_the_first_changed_key_and_keeps_the_cause() -> None:
    with pytest.raises(SettingsError) as info:
        validate_update({}, {HIGH: "75%"})
    assert info.value.reason == f"illegal value can't update [{HIGH}] from [90%] to [75%]"
    assert info.value.caused_by is not None
    assert (
        info.value.caused_by.reason
        == "low disk watermark [85%] more than high disk watermark [75%]"
    )
    validate_update({}, {HIGH: "97%", FLOOD: "99%"})  # a consistent update passes


def test_update_interval_has_es_minimum() -> None:
    with pytest.raises(SettingsError, match=r"must be >= \[10s\]"):
        DiskThresholds.from_settings({"cluster.info.update.interval": "5s"})
    assert (
        DiskThresholds.from_settings({"cluster.info.update.interval": "1m"}).update_interval_s == 60
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0b"),
        (512, "512b"),
        (1536, "1.5kb"),
        (int(39.78 * GB), "39.7gb"),
        (int(3.05 * GB), "3gb"),
    ],
)
def test_byte_sizes_render_like_es(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_disk_usage_renders_like_es() -> None:
    assert str(usage(int(4.35 * GB))) == "[nodeid][node-0][/data] free: 4.3gb[4.3%]"
    assert str(usage(0)) == "[nodeid][node-0][/data] free: 0b[0%]"


# --- decisions ----------------------------------------------------------------------------------


def test_a_disk_filling_up_and_draining_logs_and_blocks_like_es() -> None:
    thresholds = DiskThresholds.from_settings({})
    state = MonitorState()
    meta_a, meta_w = meta("a"), meta("w", **{"index.blocks.write": "true"})
    md = cluster(meta_a, meta_w)
    steps: list[
        tuple[int, float, Stage, list[tuple[int, str]], tuple[str, ...], tuple[str, ...]]
    ] = []

    def step(free_gb: float, now: float, md: ClusterMetadata) -> None:
        nonlocal state
        decision, state = decide(usage(int(free_gb * GB)), thresholds, state, md, now)
        steps.append(
            (
                int(free_gb),
                now,
                decision.stage,
                list(decision.logs),
                decision.block,
                decision.release,
            )
        )

    step(50, 0, md)  # plenty of room: nothing
    step(12, 1, md)  # past low: one INFO
    step(12, 2, md)  # still past low: quiet
    step(8, 3, md)  # past high: WARN
    step(8, 30, md)  # again within reroute_interval (60 s): quiet
    step(8, 64, md)  # again after it: WARN
    step(4, 65, md)  # flood: WARN, block what is not write-blocked already
    blocked = cluster(meta("a", **{"index.blocks.read_only_allow_delete": "true"}), meta_w)
    step(4, 66, blocked)  # flood again: WARN each check, nothing left to block
    step(12, 67, blocked)  # back under high: release, and say low still exceeded
    step(50, 68, md)  # all clear

    stages = [s[2] for s in steps]
    assert stages == [
        Stage.NONE,
        Stage.LOW,
        Stage.LOW,
        Stage.HIGH,
        Stage.HIGH,
        Stage.HIGH,
        Stage.FLOOD,
        Stage.FLOOD,
        Stage.LOW,
        Stage.NONE,
    ]
    logs = [s[3] for s in steps]
    assert logs[0] == logs[2] == logs[4] == []
    where = "[nodeid][node-0][/data]"
    assert logs[1] == [
        (
            logging.INFO,
            f"low disk watermark [85%] exceeded on {where} free: 12gb[12%], replicas will not be "
            "assigned to this node",
        )
    ]
    assert logs[3][0][0] == logs[5][0][0] == logging.WARNING
    assert logs[3][0][1].startswith(f"high disk watermark [90%] exceeded on {where} free: 8gb[8%]")
    flood = (
        logging.WARNING,
        f"flood stage disk watermark [95%] exceeded on {where} free: 4gb[4%], all indices on "
        "this node will be marked read-only",
    )
    assert logs[6] == logs[7] == [flood]
    assert steps[6][4] == ("a",) and steps[7][4] == ()
    assert steps[8][5] == ("a",)
    assert logs[8] == [
        (
            logging.INFO,
            f"high disk watermark [90%] no longer exceeded on {where} free: 12gb[12%], but low "
            "disk watermark [85%] is still exceeded",
        ),
        (
            logging.INFO,
            "releasing read-only block on indices [[a/a-uuid]] since they are now allocated to "
            "nodes with sufficient disk space",
        ),
    ]
    assert logs[9] == [
        (logging.INFO, f"low disk watermark [85%] no longer exceeded on {where} free: 50gb[50%]")
    ]


def test_a_block_stays_while_above_the_high_watermark() -> None:
    """ES releases only once the node is below the high watermark, not the flood stage."""
    md = cluster(meta("a", **{"index.blocks.read_only_allow_delete": "true"}))
    decision, _ = decide(usage(8 * GB), DiskThresholds(), MonitorState(Stage.FLOOD), md, 0)
    assert decision.release == ()


def test_disabled_thresholds_release_every_block_once() -> None:
    md = cluster(meta("a", **{"index.blocks.read_only_allow_delete": "true"}), meta("b"))
    off = DiskThresholds.from_settings(
        {"cluster.routing.allocation.disk.threshold_enabled": "false"}
    )
    decision, state = decide(None, off, MonitorState(Stage.FLOOD), md, 0)
    assert (decision.release, decision.block, decision.logs) == (("a",), (), ())
    again, _ = decide(None, off, state, md, 1)
    assert again.release == ()


def test_no_reading_changes_nothing() -> None:
    previous = MonitorState(Stage.FLOOD)
    decision, state = decide(None, DiskThresholds(), previous, cluster(meta("a")), 0)
    assert (decision.block, decision.release, decision.logs, state) == ((), (), (), previous)


def test_an_interval_too_long_to_represent_is_a_settings_error() -> None:
    """Hundreds of digits made the time parser overflow (a 500 on PUT _cluster/settings)."""
    with pytest.raises(SettingsError) as info:
        DiskThresholds.from_settings({"cluster.info.update.interval": "9" * 400 + "d"})
    assert info.value.reason.startswith(
        "failed to parse setting [cluster.info.update.interval] with value [999"
    )
    assert info.value.reason.endswith("] as a time value: value is out of range")
