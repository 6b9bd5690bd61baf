"""``isthmus certutil``: make a CA, node and HTTP certificates, and inspect certificate files.

Modelled on ``elasticsearch-certutil``: the modes ``ca``, ``cert`` and ``http``, its option names,
its ``instances.yml`` format, its output names and its zip layout (``ca/ca.crt``, ``ca/ca.key``,
``<instance>/<instance>.crt|.key|.p12``), with Isthmus names for the defaults. ``inspect`` is
ours: it prints the facts that TLS failure messages quote, so a file can be checked against them.

This module owns the command line: options, prompts, file names and layout, writing files. The
certificates come from :mod:`isthmus.security.certs`, which does no I/O. It prompts only when
stdin is a terminal; otherwise missing input is an error (or, for passwords, no password).

What certutil reads and writes (``instances.yml``, file names, the zip layout, what it
prints) is :mod:`isthmus.cli.certutil_files`; its public names stay importable from here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from isthmus.cli.certutil_files import (
    DEFAULT_CA_P12,
    DEFAULT_CA_ZIP,
    DEFAULT_CERT_P12,
    DEFAULT_CERT_ZIP,
    DEFAULT_HTTP_DAYS,
    DEFAULT_HTTP_OUT,
    DEFAULT_INSTANCE,
    EXIT_CONFIG,
    EXIT_DATA_ERROR,
    EXIT_IO_ERROR,
    Instance,
    _fail,
    _instances,
    _sample_http_settings,
    _split_commas,
    _summary,
    _write_bundle,
    _write_file,
    parse_instances,
    render_facts,
    zip_bytes,
)
from isthmus.errors import IllegalArgumentError
from isthmus.security import certs
from isthmus.security.certs import CertificateAndKey, KeySpec

_PROMPT = "\0prompt"  # the value of a --pass / --ca-pass given without a value: ask for it

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


# --- prompts, errors, shared options --------------------------------------------------------------


def _interactive() -> bool:
    return sys.stdin.isatty()


def _reporting_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn invalid input from the certificate helpers into ES's data-error exit."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except IllegalArgumentError as exc:
            _fail(exc.reason, EXIT_DATA_ERROR)

    return run


def _password(value: str | None, what: str, *, ask: bool, confirm: bool = False) -> str | None:
    """A password: as given, asked for (the option without a value, or ``ask`` on a terminal),
    or none. An empty answer means no password."""
    if value == _PROMPT or (value is None and ask and _interactive()):
        if not _interactive():
            raise click.UsageError("a password option without a value needs a terminal to ask on")
        answer: str = click.prompt(
            f"Enter password for {what}",
            default="",
            hide_input=True,
            confirmation_prompt=confirm,
            show_default=False,
        )
        return answer or None
    return value or None


def _pass_option(help_text: str, name: str = "--pass", dest: str = "password") -> Callable[[F], F]:
    return click.option(name, dest, is_flag=False, flag_value=_PROMPT, default=None, help=help_text)


def _key_options(command: Callable[P, R]) -> Callable[P, R]:
    command = click.option(
        "--keysize",
        type=int,
        default=None,
        help="Key size in bits: 256 or 384 for EC, 2048 or more for RSA (alone, it picks the type).",
    )(command)
    return click.option(
        "--key-type",
        type=click.Choice(["ec", "rsa"]),
        default=None,
        help="Key algorithm  [default: ec (P-256)]",
    )(command)


def _ca_options(command: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(
        [
            click.option("--ca", "ca_p12", type=_in_file(), help="CA key pair in PKCS#12."),
            click.option("--ca-cert", type=_in_file(), help="CA certificate in PEM."),
            click.option("--ca-key", type=_in_file(), help="CA private key in PEM."),
            _pass_option("Password of the CA file or key (no value: ask).", "--ca-pass", "ca_pass"),
        ]
    ):
        command = option(command)
    return command


def _in_file() -> click.Path:
    return click.Path(exists=True, dir_okay=False, path_type=Path)


def _load_ca(
    ca_p12: Path | None, ca_cert: Path | None, ca_key: Path | None, ca_pass: str | None
) -> CertificateAndKey:
    if ca_p12 is not None:
        data = ca_p12.read_bytes()
        password = _password(ca_pass, f"CA ({ca_p12})", ask=certs.needs_password(data))
        bundle = certs.decode_pkcs12(data, password)
        return bundle.certificate_and_key()
    assert ca_cert is not None and ca_key is not None
    cert_bundle = certs.decode_pem(ca_cert.read_bytes())
    if len(cert_bundle.certificates) != 1:
        raise IllegalArgumentError(
            f"expected a single certificate in file [{ca_cert}] but found "
            f"[{len(cert_bundle.certificates)}]"
        )
    key_data = ca_key.read_bytes()
    password = _password(
        ca_pass, f"CA private key ({ca_key.name})", ask=certs.needs_password(key_data)
    )
    key = certs.decode_pem(key_data, password).key
    if key is None:
        raise IllegalArgumentError(f"no private key in file [{ca_key}]")
    return CertificateAndKey(cert_bundle.certificates[0], key)


def _check_ca_choice(
    ca_p12: Path | None, ca_cert: Path | None, ca_key: Path | None, *, self_signed: bool = False
) -> bool:
    """Validate the CA options; return True when a CA was given."""
    if ca_p12 is not None and (ca_cert is not None or ca_key is not None):
        raise click.UsageError("--ca cannot be used with --ca-cert or --ca-key")
    if (ca_cert is None) != (ca_key is None):
        raise click.UsageError("--ca-cert and --ca-key must be given together")
    given = ca_p12 is not None or ca_cert is not None
    if self_signed and given:
        raise click.UsageError("--self-signed cannot be used with --ca or --ca-cert")
    return given


# --- commands -------------------------------------------------------------------------------------


@click.group("certutil", context_settings={"help_option_names": ["-h", "--help"]})
def certutil_cli() -> None:
    """Make TLS certificates for Isthmus nodes (like elasticsearch-certutil), inspect them."""


@certutil_cli.command("ca")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output file (or directory for --pem)."
)
@click.option("--pem", is_flag=True, help=f"Write ca/ca.crt and ca/ca.key (zip: {DEFAULT_CA_ZIP}).")
@_pass_option("Password for the PKCS#12 file or the PEM key (no value: ask).")
@click.option("--days", type=click.IntRange(min=1), default=certs.DEFAULT_DAYS, show_default=True)
@click.option("--dn", "--ca-dn", "dn", default=certs.DEFAULT_CA_DN, show_default=True,
              help="Distinguished name of the CA.")  # fmt: skip
@_key_options
@_reporting_errors
def ca_command(
    out: Path | None,
    pem: bool,
    password: str | None,
    days: int,
    dn: str,
    key_type: str | None,
    keysize: int | None,
) -> None:
    """Generate a new certificate authority (PKCS#12 by default)."""
    ca = certs.generate_ca(dn, days=days, key_spec=KeySpec.parse(key_type, keysize))
    if pem:
        target = out or Path(DEFAULT_CA_ZIP)
        key_pass = _password(password, "the CA private key", ask=False, confirm=True)
        _write_bundle(
            target,
            {
                "ca/ca.crt": certs.encode_pem_certificates(ca.certificate),
                "ca/ca.key": certs.encode_pem_key(ca.key, key_pass),
            },
        )
    else:
        target = out or Path(DEFAULT_CA_P12)
        p12_pass = _password(password, target.name, ask=True, confirm=True)
        _write_file(target, certs.encode_pkcs12(ca, alias="ca", password=p12_pass), secret=True)
    _summary("CA certificate and key", target, ca)


@certutil_cli.command("cert")
@_ca_options
@click.option("--self-signed", is_flag=True, help="Sign each certificate with its own key.")
@click.option("--name", default=None, help=f"Instance name or DN  [default: {DEFAULT_INSTANCE}]")
@click.option("--dns", multiple=True, help="DNS names (comma separated, repeatable).")
@click.option("--ip", multiple=True, help="IP addresses (comma separated, repeatable).")
@click.option("--in", "in_file", type=_in_file(), help="instances.yml describing many instances.")
@click.option("--days", type=click.IntRange(min=1), default=certs.DEFAULT_DAYS, show_default=True)
@click.option("--pem", is_flag=True, help="Write PEM .crt/.key files instead of PKCS#12.")
@click.option("--out", type=click.Path(path_type=Path), help="Output file, zip or directory.")
@_pass_option("Password for the PKCS#12 files or the PEM keys (no value: ask).")
@_key_options
@_reporting_errors
def cert_command(
    ca_p12: Path | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    ca_pass: str | None,
    self_signed: bool,
    name: str | None,
    dns: tuple[str, ...],
    ip: tuple[str, ...],
    in_file: Path | None,
    days: int,
    pem: bool,
    out: Path | None,
    password: str | None,
    key_type: str | None,
    keysize: int | None,
) -> None:
    """Generate node certificates for mutual TLS (serverAuth + clientAuth), signed by a CA."""
    if not _check_ca_choice(ca_p12, ca_cert, ca_key, self_signed=self_signed) and not self_signed:
        raise click.UsageError("one of --ca, --ca-cert/--ca-key or --self-signed is required")
    if in_file is not None and (name or dns or ip):
        raise click.UsageError("--in cannot be used with --name, --dns or --ip")
    key_spec = KeySpec.parse(key_type, keysize)
    instances = _instances(in_file, name, dns, ip)
    issuer = None if self_signed else _load_ca(ca_p12, ca_cert, ca_key, ca_pass)
    issued = [
        (
            instance,
            certs.issue_certificate(
                instance.name,
                issuer=issuer,
                dns_names=instance.dns,
                ip_addresses=instance.ip,
                common_names=instance.cn,
                days=days,
                key_spec=key_spec,
            ),
        )
        for instance in instances
    ]
    if not pem and in_file is None:
        instance, cert_and_key = issued[0]
        target = out or Path(f"{name}.p12" if name else DEFAULT_CERT_P12)
        p12_pass = _password(password, target.name, ask=True, confirm=True)
        data = certs.encode_pkcs12(cert_and_key, alias=instance.name, password=p12_pass)
        _write_file(target, data, secret=True)
        _summary("Certificate and key", target, cert_and_key)
        return
    target = out or Path(DEFAULT_CERT_ZIP)
    what = "the private keys" if pem else "the PKCS#12 files"
    secret = _password(password, what, ask=not pem, confirm=True)
    files: dict[str, bytes] = {}
    for instance, cert_and_key in issued:
        base = f"{instance.filename}/{instance.filename}"
        if pem:
            files[f"{base}.crt"] = certs.encode_pem_certificates(cert_and_key.certificate)
            files[f"{base}.key"] = certs.encode_pem_key(cert_and_key.key, secret)
        else:
            files[f"{base}.p12"] = certs.encode_pkcs12(
                cert_and_key, alias=instance.name, password=secret
            )
    _write_bundle(target, files)
    click.echo(f"Certificates written to {target}")
    for instance, cert_and_key in issued:
        facts = certs.describe(cert_and_key.certificate)
        click.echo(f"  {instance.filename}: subject [{facts.subject}], SHA-256 [{facts.sha256}]")


@certutil_cli.command("http")
@_ca_options
@click.option("--dns", multiple=True, help="Host names clients use (comma separated, repeatable).")
@click.option("--ip", multiple=True, help="IP addresses clients use (comma separated, repeatable).")
@click.option(
    "--name", default=None, help="Subject of the HTTP certificate  [default: CN=<first name>]"
)
@click.option("--ca-dn", default=certs.DEFAULT_CA_DN, show_default=True,
              help="DN of the new CA made when no CA is given.")  # fmt: skip
@click.option("--days", type=click.IntRange(min=1), default=DEFAULT_HTTP_DAYS, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path(DEFAULT_HTTP_OUT),
              show_default=True, help="Output directory (or a .zip file).")  # fmt: skip
@_pass_option("Password for the HTTP private key (no value: ask).")
@_key_options
@_reporting_errors
def http_command(
    ca_p12: Path | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    ca_pass: str | None,
    dns: tuple[str, ...],
    ip: tuple[str, ...],
    name: str | None,
    ca_dn: str,
    days: int,
    out: Path,
    password: str | None,
    key_type: str | None,
    keysize: int | None,
) -> None:
    """Generate an HTTP (REST) certificate and key in PEM, plus the CA certificate clients trust.

    Without --ca/--ca-cert a new CA is made and written to ca/. Missing answers are asked for
    when stdin is a terminal.
    """
    key_spec = KeySpec.parse(key_type, keysize)
    if not _check_ca_choice(ca_p12, ca_cert, ca_key) and _interactive():
        ca_p12, ca_cert, ca_key = _ask_for_ca()
    dns_names, ip_addresses = _split_commas(dns), _split_commas(ip)
    if not dns_names and not ip_addresses and _interactive():
        dns_names = _ask_lines("Enter all the hostnames that you need, one per line.")
        ip_addresses = _ask_lines("Enter all the IP addresses that you need, one per line.")
    if not dns_names and not ip_addresses:
        raise click.UsageError("the HTTP certificate needs at least one --dns name or --ip address")
    files: dict[str, bytes] = {}
    if ca_p12 is not None or ca_cert is not None:
        ca = _load_ca(ca_p12, ca_cert, ca_key, ca_pass)
    else:
        ca = certs.generate_ca(ca_dn, days=days, key_spec=key_spec)
        files["ca/ca.crt"] = certs.encode_pem_certificates(ca.certificate)
        files["ca/ca.key"] = certs.encode_pem_key(ca.key)
    subject = name or f"CN={(dns_names or ip_addresses)[0]}"
    http = certs.issue_certificate(
        subject, issuer=ca, dns_names=dns_names, ip_addresses=ip_addresses, days=days,
        key_spec=key_spec,
    )  # fmt: skip
    key_pass = _password(password, "the HTTP private key", ask=False, confirm=True)
    files["isthmus/http.crt"] = certs.encode_pem_certificates(http.certificate)
    files["isthmus/http.key"] = certs.encode_pem_key(http.key, key_pass)
    files["isthmus/http_ca.crt"] = certs.encode_pem_certificates(ca.certificate)
    files["isthmus/sample-isthmus.yml"] = _sample_http_settings(encrypted=key_pass is not None)
    _write_bundle(out, files)
    _summary("HTTP certificate and key", out, http)
    click.echo(
        f"  clients must trust isthmus/http_ca.crt (the CA [{certs.format_dn(ca.certificate.subject)}])"
    )


def _ask_for_ca() -> tuple[Path | None, Path | None, Path | None]:
    if not click.confirm("Use an existing CA?", default=False):
        return None, None, None
    path_type = click.Path(exists=True, dir_okay=False, path_type=Path)
    ca_path: Path = click.prompt("CA file (PKCS#12 .p12, or the PEM certificate)", type=path_type)
    if ca_path.suffix.lower() in (".p12", ".pfx"):
        return ca_path, None, None
    key_path: Path = click.prompt("CA private key (PEM)", type=path_type)
    return None, ca_path, key_path


def _ask_lines(question: str) -> tuple[str, ...]:
    click.echo(f"{question} When you are done, press <ENTER> once more.")
    lines: list[str] = []
    while line := click.prompt("", default="", show_default=False, prompt_suffix="").strip():
        lines.append(line)
    return _split_commas(lines)


@certutil_cli.command("inspect")
@click.argument("file", type=_in_file())
@_pass_option("Password of the PKCS#12 file or the PEM key (no value: ask).")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@_reporting_errors
def inspect_command(file: Path, password: str | None, as_json: bool) -> None:
    """Print the facts of the certificates in FILE (PEM, PKCS#12 or DER) that TLS errors quote."""
    data = file.read_bytes()
    bundle = certs.decode_bundle(
        data, _password(password, str(file), ask=certs.needs_password(data))
    )
    facts = certs.describe_bundle(bundle)
    if as_json:
        certificates = [f.to_dict() for f in facts]
        body = {"file": str(file), "format": bundle.format, "certificates": certificates}
        click.echo(json.dumps(body, indent=2))
        return
    key = (
        "no private key"
        if bundle.key is None
        else f"a private key ({certs.describe_key(bundle.key)})"
    )
    click.echo(f"{file}: {bundle.format}, {len(facts)} certificate(s), {key}")
    for index, fact in enumerate(facts, start=1):
        alias = f" (alias [{fact.alias}])" if fact.alias else ""
        click.echo(f"\nCertificate {index}/{len(facts)}{alias}")
        for label, value in render_facts(fact):
            click.echo(f"  {label + ':':<21}{value}")


__all__ = [
    "DEFAULT_CA_P12",
    "DEFAULT_CA_ZIP",
    "DEFAULT_CERT_P12",
    "DEFAULT_CERT_ZIP",
    "DEFAULT_HTTP_DAYS",
    "DEFAULT_HTTP_OUT",
    "DEFAULT_INSTANCE",
    "EXIT_CONFIG",
    "EXIT_DATA_ERROR",
    "EXIT_IO_ERROR",
    "Instance",
    "ca_command",
    "cert_command",
    "certutil_cli",
    "http_command",
    "inspect_command",
    "parse_instances",
    "render_facts",
    "zip_bytes",
]
