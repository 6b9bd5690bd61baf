"""The lab's fault material without starting a node: the remote server certificates it issues,
and which spec changes a running pair can take."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from isthmus.lab.fault_scenarios import base_spec
from isthmus.lab.faults import CERTIFICATES, SNI_NAME, issue_server_certificate, transition
from isthmus.lab.relay_config import RelayMode
from isthmus.lab.topology import Lab, _Pki


def _read(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(cert: x509.Certificate) -> list[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in sans]


def test_each_server_certificate_variant(tmp_path: Path) -> None:
    pki = _Pki(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    ca = pki.ca("remote-server")
    now = dt.datetime.now(dt.UTC)
    seen = {}
    for kind in CERTIFICATES:
        crt, key = issue_server_certificate(pki, kind, ca)
        assert (crt.name, key.name) == ("remote-server.crt", "remote-server.key")  # same files
        seen[kind] = cert = _read(crt)
        valid = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
        assert valid is (kind not in ("expired", "not_yet_valid")), kind
    assert seen["expired"].not_valid_after_utc < now
    assert seen["not_yet_valid"].not_valid_before_utc > now
    assert _names(seen["valid"]) == ["localhost", SNI_NAME, "127.0.0.1"]
    assert _names(seen["no_dialled_address"]) == [SNI_NAME]
    regenerated = seen["regenerated_ca"]
    new_ca = _read(pki.files["remote-server-regenerated-ca"])
    # The same issuer name as the CA local trusts, but signed by another key.
    assert regenerated.issuer == ca.certificate.subject == new_ca.subject
    regenerated.verify_directly_issued_by(new_ca)
    with pytest.raises(Exception):  # noqa: B017 - any signature failure
        regenerated.verify_directly_issued_by(ca.certificate)
    with pytest.raises(ValueError, match=r"unknown remote certificate \[bogus\]"):
        issue_server_certificate(pki, "bogus", ca)


def test_a_running_pair_refuses_changes_that_need_a_rebuild(tmp_path: Path) -> None:
    lab = Lab(tmp_path, base_spec("proxy"))  # never started: the check comes first
    with pytest.raises(ValueError, match=r"cannot change \['mode', 'shared_ca'\]"):
        transition(lab, replace(lab.spec, mode="sniff", shared_ca=True))
    with pytest.raises(ValueError, match=r"relay presence"):
        transition(lab, replace(lab.spec, relay=None))
    assert lab.spec.relay is RelayMode.PASS  # unchanged
