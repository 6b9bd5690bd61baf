"""Which leader setting changes make a follower close and reopen (ES's
``ShardFollowTasksExecutor``: a change to a setting that is not dynamic)."""

from __future__ import annotations

from isthmus.ccr.follower_tasks import static_changes


def test_only_changed_static_settings_count() -> None:
    before = {"index.codec": "default", "index.refresh_interval": "1s", "index.unknown": "x"}
    assert static_changes(before, dict(before)) == []
    # Dynamic and unknown settings are updated in place.
    assert static_changes(before, {**before, "index.refresh_interval": "5s"}) == []
    assert static_changes(before, {**before, "index.unknown": "y"}) == []
    # A static setting added, changed or removed needs the close.
    added = {**before, "index.queries.cache.enabled": "false"}
    assert static_changes(before, added) == ["index.queries.cache.enabled"]
    assert static_changes(added, before) == ["index.queries.cache.enabled"]
    assert static_changes(before, {**added, "index.codec": "best_compression"}) == [
        "index.codec",
        "index.queries.cache.enabled",
    ]
