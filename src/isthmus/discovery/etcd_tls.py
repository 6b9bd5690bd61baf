"""TLS for the etcd members of a multi-node cluster: the node's transport identity and trust.

etcd holds the cluster's coordination state (and, in a multi-node cluster, what must be the
same on every node), so whoever can reach its ports could rewrite it: over TCP its client and
peer listeners require TLS with client certificates whenever the node's transport uses TLS. The
members use the transport's own key, certificate chain and trusted CAs (the nodes of a cluster
already trust each other's transport certificates), written as the PEM files etcd reads to
``<path.data>/_etcd_tls/`` (the key file readable by the node's user only, and in clear: a
PKCS#12 keystore or an encrypted PEM key is decoded first, because etcd reads neither). The node's client of its store uses
the transport's client context, so it verifies the members' certificates as the transport
verifies other nodes (``xpack.security.transport.ssl.verification_mode``).

On unix sockets (several nodes on one machine) the socket files' permissions are the boundary;
without transport TLS (security off, or a transport bound to loopback) the members speak plain
HTTP and the node says so in its log.
"""

from __future__ import annotations

import os
from pathlib import Path

from isthmus.coordination.etcd_member import EtcdTlsFiles
from isthmus.security.tls import SslConfig


def write_member_tls(cfg: SslConfig, folder: Path) -> EtcdTlsFiles:
    """Write the transport's identity and trust as etcd's three PEM files under ``folder``."""
    from isthmus.security.certs import decode_bundle, encode_pem_certificates, encode_pem_key

    def reveal(secret: object) -> str | None:
        return secret.reveal() if secret is not None else None  # type: ignore[attr-defined]

    if cfg.keystore_path is not None:
        bundle = decode_bundle(cfg.keystore_path.read_bytes(), reveal(cfg.keystore_password))
        pair = bundle.certificate_and_key()
        chain = encode_pem_certificates(pair.certificate, *pair.chain)
        key = encode_pem_key(pair.key)
    else:
        assert cfg.certificate is not None and cfg.key is not None
        chain = cfg.certificate.read_bytes()
        key_bundle = decode_bundle(cfg.key.read_bytes(), reveal(cfg.key_passphrase))
        assert key_bundle.key is not None
        key = encode_pem_key(key_bundle.key)
    if cfg.certificate_authorities:
        trusted = b"".join(p.read_bytes() for p in cfg.certificate_authorities)
    else:
        store = cfg.truststore_path or cfg.keystore_path
        assert store is not None, "a transport with TLS has a trust source"
        password = reveal(cfg.truststore_password or cfg.keystore_password)
        trusted = encode_pem_certificates(*decode_bundle(store.read_bytes(), password).certificates)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    files = EtcdTlsFiles(folder / "node.crt", folder / "node.key", folder / "ca.crt")
    files.cert_file.write_bytes(chain)
    files.trusted_ca_file.write_bytes(trusted)
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return files
