from __future__ import annotations

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

    def hook(contents: KeystoreContents | None) -> None:
        secret = contents.get("cluster.remote.r1.credentials") if contents else None
        seen.append(secret.reveal() if secret else None)

    holder.add_hook(hook)
    holder.reload(None)
    holder.reload(None)
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
        holder.reload(Secret("wrong"))
    kept = holder.get("cluster.remote.r1.credentials")
    assert kept is not None and kept.reveal() == "kept"
