from __future__ import annotations

import asyncio

import pytest

from isthmus.errors import IllegalArgumentError
from isthmus.security.keystore_format import KeystoreContents, new_keystore
from isthmus.security.secure_settings import SecureSettingsHolder
from isthmus.settings.secret import Secret


def _contents(value: str) -> KeystoreContents:
    return new_keystore().with_string("cluster.remote.r1.credentials", Secret(value))


def test_reload_hands_new_contents_to_every_hook() -> None:
    versions = iter([_contents("first"), _contents("second")])
    holder = SecureSettingsHolder(lambda _pw: next(versions), None)
    seen: list[str | None] = []

    async def hook(contents: KeystoreContents | None) -> None:
        secret = contents.get("cluster.remote.r1.credentials") if contents else None
        seen.append(secret.reveal() if secret else None)

    holder.add_hook(hook)
    asyncio.run(holder.reload(None))
    asyncio.run(holder.reload(None))
    assert seen == ["first", "second"]
    assert holder.reloads == 2
    credentials = holder.get("cluster.remote.r1.credentials")
    assert credentials is not None and credentials.reveal() == "second"
    assert "second" not in repr(holder)


def test_a_failing_load_keeps_the_previous_contents() -> None:
    def loader(_pw: Secret | None) -> KeystoreContents | None:
        raise IllegalArgumentError("Provided keystore password was incorrect")

    holder = SecureSettingsHolder(loader, _contents("kept"))
    with pytest.raises(IllegalArgumentError):
        asyncio.run(holder.reload(Secret("wrong")))
    kept = holder.get("cluster.remote.r1.credentials")
    assert kept is not None and kept.reveal() == "kept"


def test_hooks_run_on_the_loop_and_reloads_apply_in_order() -> None:
    """The keystore is read in a worker thread, the hooks run on the event loop's thread, and
    two concurrent reloads do not interleave their hooks."""
    import threading

    values = iter(["a", "b"])
    holder = SecureSettingsHolder(lambda _pw: _contents(next(values)), None)
    events: list[str] = []

    async def hook(contents: KeystoreContents | None) -> None:
        assert threading.current_thread() is threading.main_thread()
        secret = contents.get("cluster.remote.r1.credentials") if contents else None
        events.append(f"start {secret.reveal() if secret else None}")
        await asyncio.sleep(0.01)  # a rebuild takes a while; the other reload must wait
        events.append("end")

    holder.add_hook(hook)

    async def both() -> None:
        await asyncio.gather(holder.reload(None), holder.reload(None))

    asyncio.run(both())
    assert events == ["start a", "end", "start b", "end"]
