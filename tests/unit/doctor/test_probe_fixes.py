"""Each probe finding gets the fix of its own cause (a shared table once handed every cause the
API-key fix)."""

from __future__ import annotations

import pytest

from isthmus.doctor.probe import ProbeTarget
from isthmus.doctor.probe_fixes import fix_for

TARGET = ProbeTarget("my", "10.0.0.5", 9443)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("dns_unresolvable", "resolvable"),
        ("tcp_refused", "listens"),
        ("tcp_timeout", ""),
        ("tls_hostname_mismatch", ""),
        ("tls_expired", ""),
        ("http_port", ""),
    ],
)
def test_a_connection_fault_is_not_given_the_api_key_fix(code: str, words: str) -> None:
    fix = fix_for(code, TARGET)
    assert fix is None or "cross-cluster API key" not in fix.summary, (code, fix)
    if fix is not None and words:
        assert words in fix.summary


def test_every_key_fault_gets_the_key_fix() -> None:
    for code in ("api_key_wrong_type", "api_key_invalid", "api_key_expired"):
        fix = fix_for(code, TARGET)
        assert fix is not None and "cross-cluster API key" in fix.summary
