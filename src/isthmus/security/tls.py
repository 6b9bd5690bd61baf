"""TLS contexts per profile (``xpack.security.<profile>.ssl.*``), built from settings.

One :class:`SslConfig` per profile — ``http``, ``transport``, ``remote_cluster_server``,
``remote_cluster_client`` — parsed once from the node settings (declared in
:mod:`isthmus.settings.tls`) and the keystore's secure passwords. :class:`ContextHolder` builds
the ``ssl.SSLContext`` and rebuilds it when a certificate or key file changes (ES reloads them
without restart); :func:`describe_certificates` feeds ``GET /_ssl/certificates``.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isthmus.errors import SettingsError
from isthmus.settings import values as v
from isthmus.settings.secret import Secret
from isthmus.settings.tls import (
    CLIENT_AUTH_DEFAULT,
    ENABLED_DEFAULT,
    HANDSHAKE_TIMEOUT,
    SUPPORTED_PROTOCOLS_DEFAULT,
    tls_setting,
)


def handshake_timeout(profile: str, flat: Mapping[str, Any]) -> float | None:
    """Seconds ``xpack.security.<profile>.ssl.handshake_timeout`` allows (None: no deadline)."""
    raw = flat.get(f"xpack.security.{profile}.ssl.handshake_timeout")
    value = HANDSHAKE_TIMEOUT if raw is None else v.parse_time(raw)
    return value.seconds if value.millis > 0 else None


@dataclass(frozen=True)
class SslConfig:
    profile: str
    enabled: bool
    key: Path | None = None
    certificate: Path | None = None
    certificate_authorities: tuple[Path, ...] = ()
    keystore_path: Path | None = None
    keystore_password: Secret | None = None
    key_passphrase: Secret | None = None
    truststore_path: Path | None = None
    truststore_password: Secret | None = None
    verification_mode: str = "full"
    client_authentication: str = "none"
    supported_protocols: tuple[str, ...] = ("TLSv1.3", "TLSv1.2")

    @property
    def prefix(self) -> str:
        return f"xpack.security.{self.profile}.ssl"

    def files(self) -> list[Path]:
        out = [
            p
            for p in (self.key, self.certificate, self.keystore_path, self.truststore_path)
            if p is not None
        ]
        return out + list(self.certificate_authorities)

    def trust_description(self) -> str:
        """As ES names a context's trust in its TLS failure messages."""
        if self.certificate_authorities:
            return "PEM-trust{" + ",".join(str(p) for p in self.certificate_authorities) + "}"
        if self.truststore_path is not None:
            return f"StoreTrustConfig{{path={self.truststore_path}, password=<non-empty>}}"
        if self.keystore_path is not None:
            return f"StoreTrustConfig{{path={self.keystore_path}, password=<non-empty>}}"
        return "JDK-trusted-certs"


def ssl_config(
    profile: str,
    raw: Mapping[str, Any],
    config_dir: Path,
    secrets: Mapping[str, Secret] | None = None,
) -> SslConfig:
    """The ``profile``'s TLS settings, resolved against ``config_dir``; ES's errors."""
    prefix = f"xpack.security.{profile}.ssl"
    secrets = secrets or {}

    def get(key: str, default: Any = None) -> Any:
        full = f"{prefix}.{key}"
        if full not in raw:
            return default
        return tls_setting(full).coerce(full, raw[full])

    def path(value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else config_dir / p

    cfg = SslConfig(
        profile=profile,
        enabled=bool(get("enabled", ENABLED_DEFAULT[profile])),
        key=path(get("key")),
        certificate=path(get("certificate")),
        certificate_authorities=tuple(
            p for p in (path(c) for c in get("certificate_authorities", ())) if p
        ),
        keystore_path=path(get("keystore.path")),
        keystore_password=secrets.get(f"{prefix}.keystore.secure_password"),
        key_passphrase=secrets.get(f"{prefix}.secure_key_passphrase"),
        truststore_path=path(get("truststore.path")),
        truststore_password=secrets.get(f"{prefix}.truststore.secure_password"),
        verification_mode=str(get("verification_mode", "full")),
        client_authentication=str(get("client_authentication", CLIENT_AUTH_DEFAULT[profile])),
        supported_protocols=tuple(get("supported_protocols", SUPPORTED_PROTOCOLS_DEFAULT)),
    )
    if cfg.enabled and cfg.keystore_path is None and (cfg.key is None) != (cfg.certificate is None):
        missing = "key" if cfg.key is None else "certificate"
        raise SettingsError(
            f"invalid SSL configuration for {prefix} - [{prefix}.{missing}] must be set"
        )
    if (
        cfg.enabled
        and profile in ("http", "transport", "remote_cluster_server")
        and cfg.keystore_path is None
        and cfg.key is None
    ):
        raise SettingsError(
            f"invalid SSL configuration for {prefix} - server ssl configuration requires a key "
            "and certificate, but these have not been configured; you must set either "
            f"[{prefix}.keystore.path], or both [{prefix}.key] and [{prefix}.certificate]"
        )
    return cfg


def _protocol_bounds(protocols: tuple[str, ...]) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    versions = {
        "TLSv1.3": ssl.TLSVersion.TLSv1_3,
        "TLSv1.2": ssl.TLSVersion.TLSv1_2,
        "TLSv1.1": ssl.TLSVersion.TLSv1_1,
        "TLSv1": ssl.TLSVersion.TLSv1,
    }
    chosen = sorted((versions[p] for p in protocols if p in versions), key=lambda x: x.value)
    if not chosen:
        raise SettingsError(f"no supported TLS protocol in {list(protocols)}")
    return chosen[0], chosen[-1]


def build_context(cfg: SslConfig, *, server: bool) -> ssl.SSLContext:
    """An ``SSLContext`` for one side of one profile."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version, ctx.maximum_version = _protocol_bounds(cfg.supported_protocols)
    load_material(ctx, cfg)
    if server:
        ctx.verify_mode = {
            "none": ssl.CERT_NONE,
            "optional": ssl.CERT_OPTIONAL,
            "required": ssl.CERT_REQUIRED,
        }[cfg.client_authentication]
    else:
        ctx.check_hostname = cfg.verification_mode == "full"
        ctx.verify_mode = ssl.CERT_NONE if cfg.verification_mode == "none" else ssl.CERT_REQUIRED
    return ctx


def load_material(ctx: ssl.SSLContext, cfg: SslConfig) -> None:
    """Load the identity (key + certificate chain) and the trusted CAs into ``ctx``."""
    # The certificate toolkit (cryptography) loads only when TLS is configured: a node
    # without TLS starts without it.
    from isthmus.security.certs import decode_bundle, encode_pem_certificates

    if cfg.keystore_path is not None:
        _load_store_identity(ctx, cfg)
    elif cfg.certificate is not None and cfg.key is not None:
        password = cfg.key_passphrase.reveal() if cfg.key_passphrase else None
        ctx.load_cert_chain(cfg.certificate, cfg.key, password)
    cas = [str(p) for p in cfg.certificate_authorities]
    for ca in cas:
        ctx.load_verify_locations(ca)
    trust = cfg.truststore_path or cfg.keystore_path
    if trust is not None and not cas:
        bundle = decode_bundle(
            trust.read_bytes(), _reveal(cfg.truststore_password or cfg.keystore_password)
        )
        for cert in bundle.certificates:
            ctx.load_verify_locations(cadata=encode_pem_certificates(cert).decode())


def _reveal(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


def _load_store_identity(ctx: ssl.SSLContext, cfg: SslConfig) -> None:
    """PKCS#12 identity: stdlib ``ssl`` loads PEM files only, so go through private temp files."""
    from isthmus.security.certs import decode_bundle, encode_pem_certificates, encode_pem_key

    assert cfg.keystore_path is not None
    bundle = decode_bundle(cfg.keystore_path.read_bytes(), _reveal(cfg.keystore_password))
    pair = bundle.certificate_and_key()
    with tempfile.TemporaryDirectory() as tmp:
        cert_file = Path(tmp) / "cert.pem"
        key_file = Path(tmp) / "key.pem"
        cert_file.write_bytes(encode_pem_certificates(pair.certificate, *pair.chain))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(encode_pem_key(pair.key))
        ctx.load_cert_chain(cert_file, key_file)


class ContextHolder:
    """A profile's server context, rebuilt when one of its files changes on disk."""

    def __init__(self, cfg: SslConfig, *, server: bool = True) -> None:
        self.cfg = cfg
        self.server = server
        self._stamps = self._read_stamps()
        self.context = build_context(cfg, server=server)
        self.reloads = 0

    def _read_stamps(self) -> dict[Path, float]:
        return {p: p.stat().st_mtime for p in self.cfg.files() if p.exists()}

    def reload_if_changed(self) -> bool:
        """Load changed files into the live context: listeners keep their context object, so
        new connections see the new identity. A broken new file keeps the old one (raises)."""
        stamps = self._read_stamps()
        if stamps == self._stamps:
            return False
        build_context(self.cfg, server=self.server)  # validate first: fail without harm
        load_material(self.context, self.cfg)
        self._stamps = stamps
        self.reloads += 1
        return True

    def __repr__(self) -> str:
        return f"<ContextHolder {self.cfg.prefix} reloads={self.reloads}>"


def describe_certificates(configs: list[SslConfig]) -> list[dict[str, Any]]:
    """``GET /_ssl/certificates``: every certificate a configured context uses."""
    from isthmus.security.certs import decode_bundle, describe

    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for cfg in configs:
        if not cfg.enabled:
            continue
        entries: list[tuple[Path, str, str | None]] = []
        if cfg.certificate is not None:
            entries.append((cfg.certificate, "PEM", None))
        entries += [(p, "PEM", None) for p in cfg.certificate_authorities]
        for store in (cfg.keystore_path, cfg.truststore_path):
            if store is not None:
                entries.append((store, "PKCS12", None))
        for path, fmt, _alias in entries:
            if not path.exists():
                continue
            password = _reveal(
                cfg.keystore_password if path == cfg.keystore_path else cfg.truststore_password
            )
            bundle = decode_bundle(path.read_bytes(), password)
            for i, cert in enumerate(bundle.certificates):
                has_key = bundle.key is not None and i == 0 and path != cfg.truststore_path
                if path == cfg.certificate and cfg.key is not None and i == 0:
                    has_key = True
                facts = describe(cert)
                key = (str(path), facts.serial, facts.subject)
                if key in seen:
                    continue
                seen.add(key)
                alias = bundle.aliases[i] if fmt == "PKCS12" and i < len(bundle.aliases) else None
                out.append(
                    {
                        "path": str(path.name) if path.is_relative_to(path.parent) else str(path),
                        "format": fmt,
                        "alias": alias,
                        "subject_dn": facts.subject,
                        "serial_number": facts.serial,
                        "has_private_key": has_key,
                        "expiry": facts.not_after.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "issuer": facts.issuer,
                    }
                )
    return out
