"""A real full disk: ``path.data`` on an 8 MiB tmpfs in a private mount namespace.

A holder process owns the namespace and the tmpfs (so the files survive node restarts); the
node runs inside it through ``nsenter``, and the test fills and frees the disk there too. It
needs root (CI runs as root); elsewhere it is skipped with the reason.

What must hold on a full disk: no 5xx carries a database message (a write that cannot be made
durable answers ES's ``i_o_exception`` "No space left on device" and is not acknowledged); every
acknowledged write is searchable once the disk has room again; the node restarts on the full
disk, with its indices read-only (429 ``cluster_block_exception``), and the block is released
by itself once space is freed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import ApiError, Elasticsearch

from isthmus.testing.process import NodeProcess
from tests.integration.test_disk_watermarks import blocked_reason, read_only, wait_until

NO_SPACE = {
    "error": {
        "root_cause": [{"type": "i_o_exception", "reason": "No space left on device"}],
        "type": "i_o_exception",
        "reason": "No space left on device",
    },
    "status": 500,
}


class Tmpfs:
    """An 8 MiB tmpfs at ``mount`` in a mount namespace held open by a sleeping process."""

    def __init__(self, mount: Path) -> None:
        mount.mkdir(parents=True)
        self.mount = mount
        self.holder = subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"mount -t tmpfs -o size=8m tmpfs {mount} && echo mounted && exec sleep 3600",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != b"mounted":
            self.holder.wait()
            assert self.holder.stderr is not None
            reason = self.holder.stderr.read().decode(errors="replace").strip()
            pytest.skip(f"cannot mount a tmpfs in a private mount namespace: {reason}")

    @property
    def enter(self) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--"]

    def sh(self, command: str) -> str:
        done = subprocess.run(
            [*self.enter, "sh", "-c", command], capture_output=True, text=True, check=False
        )
        return done.stdout

    def fill(self, leave_kb: int = 0) -> None:
        """Fill the disk, then give back ``leave_kb`` KiB."""
        self.sh(f"dd if=/dev/zero of={self.mount}/filler bs=4k 2>/dev/null; true")
        if leave_kb:
            self.sh(f"truncate -s -{leave_kb}K {self.mount}/filler")

    def free(self) -> None:
        self.sh(f"rm -f {self.mount}/filler")

    def available_kb(self) -> int:
        return int(self.sh(f"df -k --output=avail {self.mount} | tail -1").strip())

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs in a private mount namespace needs root")
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("unshare/nsenter (util-linux) are not installed")
    fs = Tmpfs(tmp_path / "data")
    yield fs
    fs.close()


def _no_database_text(body: object) -> None:
    text = json.dumps(body).lower()
    for word in ("sqlite", "database", "operationalerror", "valueerror", "os error"):
        assert word not in text, body


def test_full_disk_loses_no_acknowledged_write_and_restarts_read_only(
    tmp_path: Path, tmpfs: Tmpfs
) -> None:
    node = NodeProcess(
        tmp_path / "home",
        # First without watermarks, to meet the full disk itself rather than the block.
        {"path.data": str(tmpfs.mount), "cluster.routing.allocation.disk.threshold_enabled": False},
        wrap=tmpfs.enter,
    )
    node.start()
    try:
        es = Elasticsearch(node.url, request_timeout=30)
        es.indices.create(index="full", settings={"number_of_replicas": 0})
        for i in range(20):
            es.index(index="full", id=f"before-{i}", document={"n": i})
        es.indices.refresh(index="full")

        # Leave a few hundred KiB: the store accepts some writes, then nothing fits.
        tmpfs.fill(leave_kb=400)
        acked: list[str] = []
        refused = 0
        for i in range(300):
            try:
                es.index(index="full", id=f"full-{i}", document={"n": i, "text": "x " * 400})
                acked.append(f"full-{i}")
            except ApiError as exc:
                assert (exc.meta.status, exc.body) == (500, NO_SPACE)
                refused += 1
        assert acked and refused, (len(acked), refused)
        try:  # the search index cannot commit either; its error is ES-shaped too
            es.indices.refresh(index="full")
        except ApiError as exc:
            assert exc.meta.status == 500
            _no_database_text(exc.body)
        assert node.stop() == 0  # a clean stop on a full disk

        # The node restarts on the full disk, its indices read-only (watermarks back on).
        tmpfs.fill()
        assert tmpfs.available_kb() == 0
        node.settings.pop("cluster.routing.allocation.disk.threshold_enabled")
        node.start()
        es = Elasticsearch(node.url, request_timeout=30)
        wait_until(lambda: read_only(es, "full"))
        for attempt in (
            lambda: es.index(index="full", id="late", document={"n": 0}),
            lambda: es.delete(index="full", id="before-0"),
        ):
            with pytest.raises(ApiError) as info:
                attempt()
            assert info.value.meta.status == 429
            assert info.value.body["error"]["reason"] == blocked_reason("full")
        assert es.get(index="full", id="before-3")["_source"] == {"n": 3}
        assert "flood stage disk watermark [95%] exceeded on [" in node.log_text()

        # Space comes back: the block goes by itself (a settings change makes the monitor look
        # now rather than in 30 s), and every acknowledged write is searchable after a refresh.
        tmpfs.free()
        es.cluster.put_settings(persistent={"cluster.info.update.interval": "10s"})
        wait_until(lambda: not read_only(es, "full"))
        es.indices.refresh(index="full")
        expected = {f"before-{i}" for i in range(20)} | set(acked)
        hits = es.search(index="full", size=1000, source=False)["hits"]["hits"]
        assert {hit["_id"] for hit in hits} == expected
        assert es.index(index="full", id="after", document={"n": 1})["result"] == "created"
    finally:
        node.kill()
    log = node.log_text()
    assert "OperationalError" not in log and "database or disk is full" not in log


def test_restart_writes_nothing_when_nothing_changed(tmp_path: Path, tmpfs: Tmpfs) -> None:
    """Opening a shard on a completely full disk must not need a single byte."""
    node = NodeProcess(tmp_path / "home", {"path.data": str(tmpfs.mount)}, wrap=tmpfs.enter)
    node.start()
    try:
        es = Elasticsearch(node.url, request_timeout=30)
        for name in ("one", "two"):
            es.indices.create(index=name, settings={"number_of_replicas": 0})
            es.index(index=name, id="1", document={"n": 1}, refresh=True)
        node.stop()
        tmpfs.fill()
        started = time.monotonic()
        node.start()
        es = Elasticsearch(node.url, request_timeout=30)
        assert es.count(index="one")["count"] == 1
        assert es.get(index="two", id="1")["found"] is True
        assert time.monotonic() - started < 20
    finally:
        node.kill()


def test_secured_node_starts_on_a_full_disk(tmp_path: Path, tmpfs: Tmpfs) -> None:
    """The security store needs no shared-memory file when the disk has no room for one: the
    node starts, users authenticate, and the reset tool says why it must wait."""
    node = NodeProcess(
        tmp_path / "home",
        {
            "path.data": str(tmpfs.mount),
            "xpack.security.enabled": True,
            "xpack.security.authc.anonymous.roles": [],
        },
        wrap=tmpfs.enter,
    )
    node.start()
    try:
        text = (node.home / "stderr.log").read_text()
        password = next(li for li in text.splitlines() if "[elastic] user" in li).rsplit(" ", 1)[1]
        es = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
        es.security.put_user(username="kept", password="kept-password-1", roles=["viewer"])
        node.stop()
        tmpfs.fill()
        assert tmpfs.available_kb() == 0
        node.start()
        es = Elasticsearch(node.url, basic_auth=("kept", "kept-password-1"), request_timeout=30)
        assert es.security.authenticate()["username"] == "kept"
        assert "the security store [" in node.log_text()
        admin = Elasticsearch(node.url, basic_auth=("elastic", password), request_timeout=30)
        with pytest.raises(ApiError) as info:  # no room to store a new user: ES-shaped
            admin.security.put_user(username="new", password="new-password-1", roles=[])
        _no_database_text(info.value.body)
        reset = subprocess.run(
            [
                *tmpfs.enter,
                sys.executable,
                "-m",
                "isthmus",
                "reset-password",
                "-u",
                "kept",
                "-b",
                "--config-dir",
                str(node.config_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert reset.returncode != 0
        assert "locked by a running node" in reset.stderr, reset.stderr
        assert "Traceback" not in reset.stderr
    finally:
        node.kill()
