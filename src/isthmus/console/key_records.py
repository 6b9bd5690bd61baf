"""What the console knows of the keys it created: ``<config>/isthmus.remote_keys.json``.

A cross-cluster key's expiry is known to the remote cluster only (the key's encoded value is
``base64(id:secret)``, nothing more). When the console creates a key it reads the key's id, name
and ``expiration`` from the remote's answer and records them here, one entry per alias (no
secret: the id is the remote's public name for the key). The remote clusters view trusts a
record only while the keystore's credential for the alias is that very key (same id): a key put
in the keystore some other way keeps "known only to the remote".

Honest limits: the record is what the remote said at creation. A key updated on the remote later
(``PUT /_security/cross_cluster/api_key/<id>`` with a new ``expiration``) or invalidated is not
seen here; the live health shows an invalidated or expired key as an authentication failure.
Writes replace the file atomically; the file is small and read only while a page polls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

RECORDS_FILENAME = "isthmus.remote_keys.json"


def records_path(config_dir: Path) -> Path:
    return config_dir / RECORDS_FILENAME


def read_records(config_dir: Path) -> dict[str, dict[str, Any]]:
    """Every alias's record; a missing or unreadable file is no record (the view then says
    "known only to the remote", which is true)."""
    try:
        data = orjson.loads(records_path(config_dir).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def record_key(config_dir: Path, alias: str, key: Mapping[str, Any]) -> None:
    """Record the created key's public facts for ``alias`` (after the keystore was written:
    a record never names a key the keystore did not receive)."""
    records = read_records(config_dir)
    expiration = key.get("expiration")
    records[alias] = {
        "id": str(key.get("id") or ""),
        "name": str(key.get("name") or ""),
        "expiration": int(expiration) if isinstance(expiration, int | float) else None,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _atomic_write(records_path(config_dir), orjson.dumps(records, option=orjson.OPT_INDENT_2))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# A known expiry this close is flagged on the page (ES's own API key expiry warnings are for
# the key's owner; the remote clusters view is where the local side would notice).
EXPIRES_SOON = dt.timedelta(days=7)


def credential_expiry(
    record: Mapping[str, Any] | None, key_id: str | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The view's credential fields: the expiry when the keystore holds the recorded key."""
    if record is None or key_id is None or record.get("id") != key_id:
        return {"expiry": None, "expiry_known": False}
    millis = record.get("expiration")
    try:
        at = dt.datetime.fromtimestamp(millis / 1000, dt.UTC) if isinstance(millis, int) else None
    except (OverflowError, OSError, ValueError):  # a remote's answer out of any date's range
        return {"expiry": None, "expiry_known": False}
    now = now or dt.datetime.now(dt.UTC)
    return {
        "expiry": at.isoformat(timespec="seconds") if at else None,  # None: never expires
        "expiry_known": True,
        "expires_soon": at is not None and at - now < EXPIRES_SOON,
        "expiry_source": "recorded when the console created the key",
        "key_id": key_id,
        "key_name": record.get("name"),
    }
