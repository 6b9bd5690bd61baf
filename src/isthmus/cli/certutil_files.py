"""What ``isthmus certutil`` reads and writes: exit codes and default file names, the
``instances.yml`` format, output files and the zip layout, the summaries it prints, the sample
settings of the ``http`` mode and the rows ``inspect`` prints. The commands, options and
prompts are :mod:`isthmus.cli.certutil`.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from isthmus.errors import IllegalArgumentError
from isthmus.security import certs
from isthmus.security.certs import CertificateAndKey, CertificateFacts
from isthmus.xcontent import unknown_field

# Exit codes of Elasticsearch's CLI tools (org.elasticsearch.cli.ExitCodes).
EXIT_DATA_ERROR = 65
EXIT_IO_ERROR = 74
EXIT_CONFIG = 78

DEFAULT_CA_P12 = "isthmus-stack-ca.p12"
DEFAULT_CA_ZIP = "isthmus-stack-ca.zip"
DEFAULT_CERT_P12 = "isthmus-certificates.p12"
DEFAULT_CERT_ZIP = "certificate-bundle.zip"
DEFAULT_HTTP_OUT = "isthmus-ssl-http"
DEFAULT_INSTANCE = "instance"
DEFAULT_HTTP_DAYS = 5 * 365  # the http mode of elasticsearch-certutil proposes 5y

_FILENAME = re.compile(r"[a-zA-Z0-9!@#$%^&{}\[\]()_+\-=,.~'` ]{1,251}")
_SECRET_SUFFIXES = (".key", ".p12")


# --- instances ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One certificate to make: ES's ``instances.yml`` entry (name, filename, dns, ip, cn)."""

    name: str
    filename: str
    dns: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    cn: tuple[str, ...] = ()

    def errors(self) -> list[str]:
        """What is wrong with this instance, in elasticsearch-certutil's words."""
        if self.name == "ca":
            return ["[ca] may not be used as an instance name"]
        found = []
        try:
            certs.instance_subject(self.name)
        except IllegalArgumentError as exc:
            found.append(exc.reason)
        if not _FILENAME.fullmatch(self.filename) or self.filename.startswith("."):
            found.append(f"[{self.filename}] is not a valid filename")
        try:
            certs.subject_alt_names(self.dns, self.ip, self.cn)
        except IllegalArgumentError as exc:
            found.append(exc.reason)
        return found


_INSTANCE_FIELDS = ("name", "filename", "dns", "ip", "cn")


def parse_instances(text: str) -> list[Instance]:
    """Parse ES's instances file: ``instances: [{name, filename?, dns?, ip?, cn?}, ...]``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IllegalArgumentError(f"cannot parse the instances file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("instances"), list):
        raise IllegalArgumentError("the instances file needs a top-level [instances] list")
    for key in doc:
        if key != "instances":
            raise unknown_field("certgen", key, ("instances",), IllegalArgumentError)
    instances = []
    for entry in doc["instances"]:
        if not isinstance(entry, dict):
            raise IllegalArgumentError("[instances] each instance must be an object")
        for key in entry:
            if key not in _INSTANCE_FIELDS:
                raise unknown_field("instances", key, _INSTANCE_FIELDS, IllegalArgumentError)
        if entry.get("name") is None:
            raise IllegalArgumentError("[instances] Required [name]")
        name = str(entry["name"])
        instances.append(
            Instance(
                name,
                str(entry.get("filename") or name),
                _string_list(entry.get("dns")),
                _string_list(entry.get("ip")),
                _string_list(entry.get("cn")),
            )
        )
    return instances


def _string_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _split_commas(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


# --- output ---------------------------------------------------------------------------------------


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` with a directory entry per top-level folder, as ES's certutil writes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            folder = name.split("/")[0] + "/"
            if "/" in name and folder not in archive.namelist():
                archive.writestr(folder, b"")
            archive.writestr(name, files[name])
    return buffer.getvalue()


def _write_file(path: Path, data: bytes, *, secret: bool) -> None:
    if path.exists():
        _fail(f"Output file '{path}' already exists", EXIT_IO_ERROR)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_bundle(target: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a zip (``target`` ends in ``.zip``) or a directory tree."""
    if target.suffix == ".zip":
        _write_file(target, zip_bytes(files), secret=True)
        return
    for name in files:
        if (target / name).exists():
            _fail(f"Output file '{target / name}' already exists", EXIT_IO_ERROR)
    for name, data in files.items():
        _write_file(target / name, data, secret=name.endswith(_SECRET_SUFFIXES))


# --- errors and summaries ------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"ERROR: {message}", err=True)
    raise click.exceptions.Exit(code)


def _summary(what: str, path: Path, cert_and_key: CertificateAndKey) -> None:
    facts = certs.describe(cert_and_key.certificate)
    click.echo(f"{what} written to {path}")
    click.echo(f"  subject [{facts.subject}], SHA-256 fingerprint [{facts.sha256}]")


def _instances(
    in_file: Path | None, name: str | None, dns: tuple[str, ...], ip: tuple[str, ...]
) -> list[Instance]:
    if in_file is not None:
        instances = parse_instances(in_file.read_text(encoding="utf-8"))
        if not instances:
            raise IllegalArgumentError(f"the instances file [{in_file}] lists no instances")
    else:
        single = name or DEFAULT_INSTANCE
        instances = [Instance(single, single, _split_commas(dns), _split_commas(ip))]
    invalid = False
    for instance in instances:
        if errors := instance.errors():
            invalid = True
            click.echo(f"Configuration for instance {instance.name} has invalid details", err=True)
            for message in errors:
                click.echo(f" * {message}", err=True)
    filenames = [i.filename for i in instances]
    for duplicate in sorted({f for f in filenames if filenames.count(f) > 1}):
        invalid = True
        click.echo(f"More than one instance uses the filename [{duplicate}]", err=True)
    if invalid and in_file is not None:
        _fail(
            f"File {in_file} contains invalid configuration details (see messages above)",
            EXIT_CONFIG,
        )
    if invalid:
        raise click.exceptions.Exit(EXIT_DATA_ERROR)
    return instances


def _sample_http_settings(*, encrypted: bool) -> bytes:
    lines = [
        "# Copy http.crt, http.key and http_ca.crt into the node's config directory, then add:",
        "xpack.security.http.ssl.enabled: true",
        "xpack.security.http.ssl.certificate: http.crt",
        "xpack.security.http.ssl.key: http.key",
        "xpack.security.http.ssl.certificate_authorities: [ http_ca.crt ]",
    ]
    if encrypted:
        lines.append(
            "# http.key is encrypted: put its password in the keystore as "
            "xpack.security.http.ssl.secure_key_passphrase"
        )
    return ("\n".join(lines) + "\n").encode()


def render_facts(facts: CertificateFacts) -> list[tuple[str, str]]:
    """Label/value rows for one certificate, in the order and format ES's messages use."""

    def listed(values: tuple[str, ...] | None) -> str:
        return "(extension absent)" if values is None else ", ".join(values) or "(empty)"

    return [
        ("subject", facts.subject),
        ("issuer", facts.issuer),
        ("serial", facts.serial),
        ("subject alt names", ",".join(facts.subject_alt_names) or "(none)"),
        ("key usage", listed(facts.key_usage)),
        ("extended key usage", listed(facts.extended_key_usage)),
        ("basic constraints", f"CA:{str(facts.is_ca).lower()}"),
        ("public key", facts.public_key),
        ("not before", facts.to_dict()["not_before"]),
        ("not after", facts.to_dict()["not_after"]),
        ("SHA-1 fingerprint", facts.sha1),
        ("SHA-256 fingerprint", facts.sha256),
        ("has private key", str(facts.has_private_key).lower()),
        ("as ES describes it", facts.identity_description()),
    ]
