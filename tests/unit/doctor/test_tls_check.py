"""``tls_check.verify_chain`` on certificates made for each case, without sockets: the path to a
trusted CA, a regenerated CA, an untrusted root, a missing intermediate, dates along the path,
names (IP, DNS, wildcard), and which candidate file would make a chain trusted."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from isthmus.doctor.tls_check import TrustSource, matches_name, verify_chain
from isthmus.security.certs import CertificateAndKey, generate_ca, issue_certificate
from tests.unit.doctor.conftest import Pki

NOW = dt.datetime.now(dt.UTC)


def _verify(
    chain: tuple[x509.Certificate, ...],
    trusted: tuple[x509.Certificate, ...],
    *,
    host: str = "127.0.0.1",
    server_name: str | None = None,
    candidates: tuple[TrustSource, ...] = (),
    now: dt.datetime = NOW,
) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    verdict = verify_chain(
        chain,
        trusted,
        host=host,
        server_name=server_name,
        check_hostname=True,
        now=now,
        candidates=candidates,
    )
    return verdict.cause, verdict.candidates, verdict.trusted_by


def _ca(dn: str) -> CertificateAndKey:
    return generate_ca(dn, now=NOW - dt.timedelta(hours=1))


def _leaf(issuer: CertificateAndKey, **kw: object) -> x509.Certificate:
    kw.setdefault("dns_names", ["localhost"])
    kw.setdefault("ip_addresses", ["127.0.0.1"])
    kw.setdefault("now", NOW - dt.timedelta(hours=1))  # valid at NOW, however late it is made
    return issue_certificate("CN=leaf", issuer=issuer, **kw).certificate  # type: ignore[arg-type]


def test_trusted_direct_and_through_a_sent_intermediate(pki: Pki) -> None:
    ca = _ca("CN=Root")
    assert _verify((_leaf(ca),), (ca.certificate,)) == (None, (), ())
    inter = pki.intermediate("inter", ca)
    assert _verify((_leaf(inter), inter.certificate), (ca.certificate,))[0] is None


def test_regenerated_ca_is_told_from_an_untrusted_one(pki: Pki) -> None:
    old, new = _ca("CN=Same"), _ca("CN=Same")
    other = _ca("CN=Other")
    leaf = _leaf(new)
    source = TrustSource("new-ca.crt", (new.certificate,))
    assert _verify((leaf,), (old.certificate,), candidates=(source,)) == (
        "tls_ca_regenerated",
        (),
        ("new-ca.crt",),
    )
    # The server sends its (untrusted) root too: the path ends at a self-issued CA.
    assert _verify((leaf, new.certificate), (other.certificate,))[0] == "tls_untrusted_ca"


def test_missing_issuer_is_undecided_until_a_candidate_shows_it(pki: Pki) -> None:
    root = _ca("CN=Root")
    inter = pki.intermediate("inter", root)
    leaf = _leaf(inter)
    cause, candidates, _ = _verify((leaf,), (root.certificate,))
    assert cause is None and set(candidates) == {"tls_untrusted_ca", "tls_missing_intermediate"}
    shown = TrustSource("inter.crt", (inter.certificate,))
    assert _verify((leaf,), (root.certificate,), candidates=(shown,))[0] == (
        "tls_missing_intermediate"
    )
    stranger = _ca("CN=Stranger")
    ca_file = TrustSource("stranger.crt", (stranger.certificate,))
    assert _verify((_leaf(stranger),), (root.certificate,), candidates=(ca_file,)) == (
        "tls_untrusted_ca",
        (),
        ("stranger.crt",),
    )


def test_dates_along_the_path_after_trust() -> None:
    ca = _ca("CN=Root")
    expired = _leaf(ca, now=NOW - dt.timedelta(days=5), days=1)
    assert _verify((expired,), (ca.certificate,))[0] == "tls_expired"
    future = _leaf(ca, now=NOW + dt.timedelta(hours=3), days=5)
    assert _verify((future,), (ca.certificate,))[0] == "tls_not_yet_valid"
    # Seen from a clock 4 hours ahead, the same certificate is fine.
    assert _verify((future,), (ca.certificate,), now=NOW + dt.timedelta(hours=4))[0] is None
    # Trust comes first, as in Java: an expired certificate from an unknown CA is untrusted.
    stranger = _ca("CN=Stranger")
    old = _leaf(stranger, now=NOW - dt.timedelta(days=5), days=1)
    assert _verify((old, stranger.certificate), (ca.certificate,))[0] == "tls_untrusted_ca"


def test_names() -> None:
    ca = _ca("CN=Root")
    leaf = _leaf(ca, dns_names=["*.remote.example", "node.example"], ip_addresses=["10.0.0.1"])
    assert matches_name(leaf, "a.remote.example")
    assert not matches_name(leaf, "a.b.remote.example")
    assert not matches_name(leaf, "remote.example")
    assert matches_name(leaf, "NODE.example.")
    assert matches_name(leaf, "10.0.0.1")
    assert not matches_name(leaf, "10.0.0.2")
    assert not matches_name(leaf, "node.example.org")
    trusted = (ca.certificate,)
    assert _verify((leaf,), trusted, host="10.0.0.1")[0] is None
    assert _verify((leaf,), trusted, host="127.0.0.1")[0] == "tls_hostname_mismatch"
    # server_name is the name checked when set (the address is only dialled).
    assert _verify((leaf,), trusted, host="127.0.0.1", server_name="x.remote.example")[0] is None


def test_no_certificate_at_all() -> None:
    assert _verify((), ())[0] == "tls_untrusted_ca"


def test_both_clocks() -> None:
    ca = _ca("CN=Root")
    future = _leaf(ca, now=NOW + dt.timedelta(hours=3), days=5)
    ahead = verify_chain(
        (future,),
        (ca.certificate,),
        host="127.0.0.1",
        server_name=None,
        check_hostname=True,
        now=NOW,
        clock="the local cluster's clock",
        remote_now=NOW + dt.timedelta(hours=4),
    )
    assert ahead.cause == "tls_not_yet_valid"
    assert "3h after the local cluster's clock" in ahead.message
    assert "(4h ahead of) it is valid: the clocks disagree" in ahead.message
    expired = _leaf(ca, now=NOW - dt.timedelta(days=5), days=1)
    agreed = verify_chain(
        (expired,),
        (ca.certificate,),
        host="127.0.0.1",
        server_name=None,
        check_hostname=True,
        now=NOW,
        remote_now=NOW - dt.timedelta(seconds=30),
    )
    assert agreed.cause == "tls_expired"
    assert "(30s behind) it is not valid either" in agreed.message
