"""The commands a fix prints, spelled so that they run as printed.  [no I/O]

A fix's steps are pasted into a shell or a console. Elasticsearch's tools are printed as ES ships
them, with Isthmus's equivalent in a trailing shell comment (the doctor cannot always tell which
one it is talking to, and the comment keeps the line runnable on either).
"""

from __future__ import annotations


def keystore_add(setting: str, *, force: bool = False, note: str = "") -> str:
    flag = " -f" if force else ""
    where = f"{note}; " if note else ""
    return (
        f"bin/elasticsearch-keystore add{flag} {setting}   # {where}on Isthmus: "
        f"isthmus keystore add{flag} --config-dir <config dir> {setting}"
    )


def certutil_cert(names: str = "--dns <host> --ip <address>") -> str:
    return (
        f"bin/elasticsearch-certutil cert --ca <ca.p12> {names}   # on Isthmus: "
        f"isthmus certutil cert --ca <ca.p12> {names}"
    )


# No body: a body with a placeholder password fails on a keystore that has none.
RELOAD = (
    "POST /_nodes/reload_secure_settings   # body "
    '{"secure_settings_password": "..."} only if the keystore has a password'
)
