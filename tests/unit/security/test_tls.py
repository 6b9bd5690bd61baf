from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from isthmus.errors import SettingsError
from isthmus.security.certs import (
    encode_pem_certificates,
    encode_pem_key,
    fingerprint,
    generate_ca,
    issue_certificate,
)
from isthmus.security.tls import ContextHolder, build_context, ssl_config

P = "xpack.security.http.ssl"


def _write_pair(directory: Path, name: str) -> str:
    ca = generate_ca(f"CN={name} CA")
    leaf = issue_certificate("CN=node", issuer=ca, dns_names=["localhost"])
    (directory / "node.crt").write_bytes(encode_pem_certificates(leaf.certificate))
    (directory / "node.key").write_bytes(encode_pem_key(leaf.key))
    (directory / "ca.crt").write_bytes(encode_pem_certificates(ca.certificate))
    return fingerprint(leaf.certificate, "sha256")


def test_server_config_needs_key_and_certificate(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="requires a key and certificate"):
        ssl_config("http", {f"{P}.enabled": True}, tmp_path)
    with pytest.raises(SettingsError, match=r"\[xpack.security.http.ssl.key\] must be set"):
        ssl_config("http", {f"{P}.enabled": True, f"{P}.certificate": "x.crt"}, tmp_path)


def test_defaults_follow_es(tmp_path: Path) -> None:
    http = ssl_config("http", {}, tmp_path)
    transport = ssl_config("transport", {}, tmp_path)
    assert (http.enabled, http.client_authentication) == (False, "none")
    assert transport.client_authentication == "required"
    assert transport.verification_mode == "full"


def test_context_reloads_changed_files(tmp_path: Path) -> None:
    _write_pair(tmp_path, "first")
    raw = {
        f"{P}.enabled": True,
        f"{P}.certificate": "node.crt",
        f"{P}.key": "node.key",
        f"{P}.certificate_authorities": ["ca.crt"],
    }
    holder = ContextHolder(ssl_config("http", raw, tmp_path))
    assert isinstance(holder.context, ssl.SSLContext)
    assert holder.reload_if_changed() is False
    _write_pair(tmp_path, "second")
    later = os.stat(tmp_path / "node.crt").st_mtime + 5
    for name in ("node.crt", "node.key", "ca.crt"):
        os.utime(tmp_path / name, (later, later))
    assert holder.reload_if_changed() is True
    assert holder.reloads == 1


def test_broken_new_files_keep_the_old_context(tmp_path: Path) -> None:
    _write_pair(tmp_path, "first")
    raw = {f"{P}.enabled": True, f"{P}.certificate": "node.crt", f"{P}.key": "node.key"}
    holder = ContextHolder(ssl_config("http", raw, tmp_path))
    (tmp_path / "node.key").write_bytes(b"not a key")
    later = os.stat(tmp_path / "node.crt").st_mtime + 5
    os.utime(tmp_path / "node.key", (later, later))
    with pytest.raises(ssl.SSLError):
        holder.reload_if_changed()
    assert holder.reloads == 0


def test_client_context_verification_modes(tmp_path: Path) -> None:
    _write_pair(tmp_path, "x")
    base = {"xpack.security.transport.ssl.certificate_authorities": ["ca.crt"]}
    full = build_context(ssl_config("transport", base, tmp_path), server=False)
    assert full.check_hostname and full.verify_mode == ssl.CERT_REQUIRED
    cert_only = build_context(
        ssl_config(
            "transport",
            {**base, "xpack.security.transport.ssl.verification_mode": "certificate"},
            tmp_path,
        ),
        server=False,
    )
    assert not cert_only.check_hostname and cert_only.verify_mode == ssl.CERT_REQUIRED
