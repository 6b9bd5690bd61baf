"""``isthmus certutil``: files on disk in ES's layouts, checked by openssl and a real TLS handshake.

The commands run in-process through click's runner (stdin is not a terminal there, so nothing
prompts unless a test says so); one test runs the CLI as a real process.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from isthmus.cli import certutil
from isthmus.cli.certutil import certutil_cli
from isthmus.security import certs
from tests.unit.security.test_certs import Files, client_context, handshake, server_context

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed")

INSTANCES = """\
instances:
  - name: node-1
    dns: [node-1.example, localhost]
    ip: [127.0.0.1, "::1"]
  - name: "CN=node-2, OU=search, O=Acme"
    filename: node-2
    dns: node-2.example
    cn: [node-2.cluster]
  - name: node-3
    ip: 10.0.0.3
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str | Path, code: int = 0, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(certutil_cli, [str(a) for a in args], input=stdin)
    assert result.exit_code == code, (result.output, result.exception)
    return result


@pytest.fixture
def pem_ca(workdir: Path) -> tuple[Path, Path]:
    run("ca", "--pem", "--out", "ca-dir")
    return workdir / "ca-dir/ca/ca.crt", workdir / "ca-dir/ca/ca.key"


def load(path: Path, password: str | None = None) -> certs.Bundle:
    return certs.decode_bundle(path.read_bytes(), password)


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return sorted(archive.namelist())


# --- ca -------------------------------------------------------------------------------------------


def test_ca_writes_a_pkcs12_by_default(workdir: Path) -> None:
    result = run("ca", "--pass", "secret")
    p12 = workdir / "isthmus-stack-ca.p12"
    assert f"written to {certutil.DEFAULT_CA_P12}" in result.output
    assert p12.stat().st_mode & 0o777 == 0o600
    bundle = load(p12, "secret")
    assert bundle.aliases == ("ca",)
    facts = certs.describe(bundle.certificates[0], key=bundle.key)
    assert facts.subject == "CN=Isthmus Generated CA" and facts.is_ca and facts.has_private_key
    assert facts.key_usage == ("digitalSignature", "keyCertSign", "cRLSign")
    assert facts.not_after - facts.not_before == dt.timedelta(days=1095)
    assert facts.public_key == "EC secp256r1"


def test_ca_pem_zip_has_es_layout(workdir: Path) -> None:
    run("ca", "--pem", "--ca-dn", "CN=Test CA, O=Acme", "--days", "30", "--key-type", "rsa")
    archive = workdir / "isthmus-stack-ca.zip"
    assert zip_names(archive) == ["ca/", "ca/ca.crt", "ca/ca.key"]
    with zipfile.ZipFile(archive) as opened:
        bundle = certs.decode_pem(opened.read("ca/ca.crt") + opened.read("ca/ca.key"))
    facts = certs.describe(bundle.certificates[0], key=bundle.key)
    assert facts.subject == "CN=Test CA,O=Acme" and facts.has_private_key
    assert facts.public_key == "RSA 2048"
    assert facts.not_after - facts.not_before == dt.timedelta(days=30)


def test_ca_pem_directory_with_encrypted_key(workdir: Path) -> None:
    run("ca", "--pem", "--out", "out", "--pass", "kp", "--keysize", "384")
    key = workdir / "out/ca/ca.key"
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    assert (workdir / "out/ca/ca.crt").stat().st_mode & 0o777 == 0o644
    assert certs.decode_pem(key.read_bytes(), "kp").key is not None
    assert certs.describe(load(workdir / "out/ca/ca.crt").certificates[0]).public_key == (
        "EC secp384r1"
    )


def test_existing_output_is_refused(workdir: Path) -> None:
    run("ca", "--out", "ca.p12")
    result = run("ca", "--out", "ca.p12", code=certutil.EXIT_IO_ERROR)
    assert "Output file 'ca.p12' already exists" in result.output


# --- cert -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, "p12-pass"])
def test_cert_single_pkcs12(pem_ca: tuple[Path, Path], workdir: Path, password: str | None) -> None:
    ca_cert, ca_key = pem_ca
    extra = ["--pass", password] if password else []
    run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--name", "node-1",
        "--dns", "node-1.example,localhost", "--ip", "127.0.0.1", "--ip", "::1", *extra)  # fmt: skip
    bundle = load(workdir / "node-1.p12", password)
    assert bundle.aliases == ("node-1", "ca")
    node, ca = bundle.certificates
    node.verify_directly_issued_by(ca)
    facts = certs.describe(node, key=bundle.key)
    assert facts.subject_alt_names == (
        "DNS:node-1.example",
        "DNS:localhost",
        "IP:127.0.0.1",
        "IP:0:0:0:0:0:0:0:1",
    )
    assert facts.extended_key_usage == ("serverAuth", "clientAuth") and facts.has_private_key


def test_cert_pem_from_pkcs12_ca_is_a_zip(workdir: Path) -> None:
    run("ca", "--pass", "ca-pass")
    run("cert", "--ca", "isthmus-stack-ca.p12", "--ca-pass", "ca-pass", "--pem", "--dns", "h1")
    archive = workdir / "certificate-bundle.zip"
    assert zip_names(archive) == ["instance/", "instance/instance.crt", "instance/instance.key"]


def test_cert_from_instances_file(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "instances.yml").write_text(INSTANCES)
    result = run(
        "cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "instances.yml", "--pem",
        "--out", "nodes",
    )  # fmt: skip
    for name in ("node-1", "node-2", "node-3"):
        assert f"  {name}: subject [" in result.output
    facts = {
        name: certs.describe_bundle(load(workdir / f"nodes/{name}/{name}.crt"))[0]
        for name in ("node-1", "node-2", "node-3")
    }
    assert facts["node-1"].subject_alt_names == (
        "DNS:node-1.example",
        "DNS:localhost",
        "IP:127.0.0.1",
        "IP:0:0:0:0:0:0:0:1",
    )
    assert facts["node-2"].subject == "CN=node-2,OU=search,O=Acme"
    assert facts["node-2"].subject_alt_names == ("DNS:node-2.example",)  # the cn is an otherName
    assert facts["node-3"].subject_alt_names == ("IP:10.0.0.3",)
    ca = load(ca_cert).certificates[0]
    for fact in facts.values():
        assert fact.issuer == "CN=Isthmus Generated CA"
    for name in facts:
        load(workdir / f"nodes/{name}/{name}.crt").certificates[0].verify_directly_issued_by(ca)
        assert certs.decode_pem((workdir / f"nodes/{name}/{name}.key").read_bytes()).key


def test_instances_file_as_pkcs12_zip(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "instances.yml").write_text(INSTANCES)
    run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "instances.yml", "--pass", "pw")
    archive = workdir / "certificate-bundle.zip"
    assert zip_names(archive) == [
        "node-1/", "node-1/node-1.p12", "node-2/", "node-2/node-2.p12", "node-3/",
        "node-3/node-3.p12",
    ]  # fmt: skip
    with zipfile.ZipFile(archive) as opened:
        bundle = certs.decode_pkcs12(opened.read("node-2/node-2.p12"), "pw")
    assert bundle.aliases == ("CN=node-2, OU=search, O=Acme", "ca")


def test_invalid_instances_file_lists_every_problem(
    pem_ca: tuple[Path, Path], workdir: Path
) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "bad.yml").write_text(
        "instances:\n  - name: ca\n  - name: n1\n    ip: [300.1.1.1]\n  - name: .hidden\n"
    )
    result = run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "bad.yml",
                 code=certutil.EXIT_CONFIG)  # fmt: skip
    assert "Configuration for instance ca has invalid details\n * [ca] may not be used" in (
        result.output
    )
    assert " * [300.1.1.1] is not a valid IP address" in result.output
    assert " * [.hidden] is not a valid filename" in result.output
    assert "File bad.yml contains invalid configuration details (see messages above)" in (
        result.output
    )
    assert not (workdir / "certificate-bundle.zip").exists()


def test_instances_file_rejects_unknown_fields(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "bad.yml").write_text("instances:\n  - name: n1\n    hosts: [a]\n")
    result = run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "bad.yml",
                 code=certutil.EXIT_DATA_ERROR)  # fmt: skip
    assert "[instances] unknown field [hosts]" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of --ca, --ca-cert/--ca-key or --self-signed is required"),
        (("--ca", "x.p12", "--ca-cert", "x.crt", "--ca-key", "x.key"), "--ca cannot be used"),
        (("--ca-cert", "x.crt"), "--ca-cert and --ca-key must be given together"),
        (("--self-signed", "--ca", "x.p12"), "--self-signed cannot be used"),
        (("--self-signed", "--in", "x.crt", "--name", "n"), "--in cannot be used with"),
    ],
)
def test_cert_usage_errors(workdir: Path, args: tuple[str, ...], message: str) -> None:
    for name in ("x.p12", "x.crt", "x.key"):
        (workdir / name).write_bytes(b"")
    assert message in run("cert", *args, code=2).output


def test_wrong_ca_password_is_a_data_error(workdir: Path) -> None:
    run("ca", "--pass", "right")
    result = run("cert", "--ca", certutil.DEFAULT_CA_P12, "--ca-pass", "wrong",
                 code=certutil.EXIT_DATA_ERROR)  # fmt: skip
    assert "ERROR: cannot read the PKCS#12 data: the password is wrong" in result.output


def test_cert_self_signed(workdir: Path) -> None:
    run("cert", "--self-signed", "--name", "solo", "--dns", "solo.example")
    bundle = load(workdir / "solo.p12")
    assert len(bundle.certificates) == 1
    facts = certs.describe(bundle.certificates[0], key=bundle.key)
    assert facts.self_issued and not facts.is_ca and facts.has_private_key


# --- http -----------------------------------------------------------------------------------------


def test_http_with_an_existing_ca(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    run("http", "--ca-cert", ca_cert, "--ca-key", ca_key, "--dns", "search.example", "--ip",
        "127.0.0.1")  # fmt: skip
    out = workdir / certutil.DEFAULT_HTTP_OUT
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "isthmus/http.crt",
        "isthmus/http.key",
        "isthmus/http_ca.crt",
        "isthmus/sample-isthmus.yml",
    ]
    assert (out / "isthmus/http_ca.crt").read_bytes() == ca_cert.read_bytes()
    facts = certs.describe_bundle(load(out / "isthmus/http.crt"))[0]
    assert facts.subject == "CN=search.example"
    assert facts.subject_alt_names == ("DNS:search.example", "IP:127.0.0.1")
    assert facts.not_after - facts.not_before == dt.timedelta(days=5 * 365)
    assert (
        "xpack.security.http.ssl.key: http.key" in (out / "isthmus/sample-isthmus.yml").read_text()
    )
    files = Files(out / "isthmus/http_ca.crt", out / "isthmus/http.crt", out / "isthmus/http.key")
    outcome = handshake(server_context(files, mutual=False), client_context(files.ca), "127.0.0.1")
    assert outcome.client_error is None and outcome.server_error is None


def test_http_makes_a_new_ca_when_none_is_given(workdir: Path) -> None:
    run("http", "--dns", "h.example", "--out", "http.zip", "--pass", "kp")
    assert zip_names(workdir / "http.zip") == [
        "ca/", "ca/ca.crt", "ca/ca.key", "isthmus/", "isthmus/http.crt", "isthmus/http.key",
        "isthmus/http_ca.crt", "isthmus/sample-isthmus.yml",
    ]  # fmt: skip
    with zipfile.ZipFile(workdir / "http.zip") as opened:
        assert opened.read("ca/ca.crt") == opened.read("isthmus/http_ca.crt")
        assert b"ENCRYPTED" in opened.read("isthmus/http.key")
        assert b"secure_key_passphrase" in opened.read("isthmus/sample-isthmus.yml")


def test_http_without_names_fails_when_not_interactive(workdir: Path) -> None:
    result = run("http", code=2)
    assert "needs at least one --dns name or --ip address" in result.output


def test_http_asks_what_is_missing_on_a_terminal(
    pem_ca: tuple[Path, Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certutil, "_interactive", lambda: True)
    ca_cert, ca_key = pem_ca
    answers = f"y\n{ca_cert}\n{ca_key}\nhost-a.example\nhost-b.example\n\n10.1.1.1\n\n"
    result = run("http", "--out", "asked", stdin=answers)
    assert "Use an existing CA?" in result.output
    facts = certs.describe_bundle(load(workdir / "asked/isthmus/http.crt"))[0]
    assert facts.subject_alt_names == ("DNS:host-a.example", "DNS:host-b.example", "IP:10.1.1.1")
    assert facts.issuer == "CN=Isthmus Generated CA"
    assert not (workdir / "asked/ca").exists()


# --- inspect --------------------------------------------------------------------------------------


def test_inspect_prints_the_facts(workdir: Path) -> None:
    run("ca", "--pass", "cp")
    run("cert", "--ca", certutil.DEFAULT_CA_P12, "--ca-pass", "cp", "--name", "node-1",
        "--dns", "node-1.example", "--ip", "127.0.0.1", "--pass", "np")  # fmt: skip
    output = run("inspect", "node-1.p12", "--pass", "np").output
    facts = certs.describe_bundle(load(workdir / "node-1.p12", "np"))
    assert output.startswith("node-1.p12: PKCS12, 2 certificate(s), a private key (EC secp256r1)")
    for expected in [
        "Certificate 1/2 (alias [node-1])",
        "  subject:             CN=node-1\n",
        "  issuer:              CN=Isthmus Generated CA\n",
        f"  serial:              {facts[0].serial}\n",
        "  subject alt names:   DNS:node-1.example,IP:127.0.0.1\n",
        "  key usage:           digitalSignature\n",
        "  extended key usage:  serverAuth, clientAuth\n",
        "  basic constraints:   CA:false\n",
        f"  SHA-1 fingerprint:   {facts[0].sha1}\n",
        f"  SHA-256 fingerprint: {facts[0].sha256}\n",
        "  has private key:     true\n",
        f"  as ES describes it:  {facts[0].identity_description()}\n",
        "Certificate 2/2 (alias [ca])",
        "  extended key usage:  (extension absent)\n",
        "  has private key:     false\n",
    ]:
        assert expected in output


def test_inspect_a_key_only_file_and_a_wrong_password(pem_ca: tuple[Path, Path]) -> None:
    _, ca_key = pem_ca
    assert "PEM, 0 certificate(s), a private key (EC secp256r1)" in run("inspect", ca_key).output
    run("ca", "--out", "locked.p12", "--pass", "right")
    result = run("inspect", "locked.p12", "--pass", "wrong", code=certutil.EXIT_DATA_ERROR)
    assert "password is wrong" in result.output


# --- openssl agrees -------------------------------------------------------------------------------

_OPENSSL_KU = {
    "Digital Signature": "digitalSignature",
    "Non Repudiation": "nonRepudiation",
    "Key Encipherment": "keyEncipherment",
    "Data Encipherment": "dataEncipherment",
    "Key Agreement": "keyAgreement",
    "Certificate Sign": "keyCertSign",
    "CRL Sign": "cRLSign",
}
_OPENSSL_EKU = {
    "TLS Web Server Authentication": "serverAuth",
    "TLS Web Client Authentication": "clientAuth",
}


def openssl(*args: str | Path) -> str:
    assert OPENSSL is not None
    done = subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def openssl_facts(pem: Path) -> dict[str, Any]:
    """The facts ``inspect --json`` prints, read from ``openssl x509 -text`` and ``-fingerprint``."""
    text = openssl("x509", "-in", pem, "-noout", "-text", "-nameopt", "RFC2253")

    def field(label: str) -> str:
        found = re.search(rf"^\s*{label} ?: ?(.*)$", text, re.MULTILINE)
        assert found is not None, label
        return found.group(1).strip()

    def extension(label: str) -> list[str] | None:
        found = re.search(rf"X509v3 {label}:.*\n\s+(.+)", text)
        return None if found is None else [v.strip() for v in found.group(1).split(",")]

    def when(value: str) -> str:
        moment = dt.datetime.strptime(value, "%b %d %H:%M:%S %Y %Z")
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def digest(name: str) -> str:
        line = openssl("x509", "-in", pem, "-noout", "-fingerprint", f"-{name}")
        return line.strip().split("=", 1)[1].replace(":", "").lower()

    serial_line = openssl("x509", "-in", pem, "-noout", "-serial").strip()
    sans = extension("Subject Alternative Name") or []
    usage = extension("Key Usage")
    extended = extension("Extended Key Usage")
    return {
        "subject_dn": field("Subject"),
        "issuer_dn": field("Issuer"),
        "serial_number": format(int(serial_line.split("=", 1)[1], 16), "x"),
        "subject_alt_names": [
            s.replace("IP Address:", "IP:").lower()
            for s in sans
            if s.startswith(("DNS:", "IP Address:"))
        ],
        "key_usage": None if usage is None else [_OPENSSL_KU[u] for u in usage],
        "extended_key_usage": None if extended is None else [_OPENSSL_EKU[u] for u in extended],
        "is_ca": extension("Basic Constraints") == ["CA:TRUE"],
        "not_before": when(field("Not Before")),
        "not_after": when(field("Not After")),
        "fingerprint_sha1": digest("sha1"),
        "fingerprint_sha256": digest("sha256"),
    }


@needs_openssl
def test_inspect_facts_match_openssl(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "instances.yml").write_text(INSTANCES)
    run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "instances.yml", "--pem",
        "--out", "nodes", "--key-type", "rsa")  # fmt: skip
    run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--name", "p12-node", "--dns", "p",
        "--pass", "pw")  # fmt: skip
    pems = [ca_cert, *sorted((workdir / "nodes").glob("*/*.crt"))]
    reports = [json.loads(run("inspect", pem, "--json").output) for pem in pems]
    p12_report = json.loads(run("inspect", "p12-node.p12", "--pass", "pw", "--json").output)
    leaf_pem = workdir / "p12-leaf.pem"
    leaf_pem.write_text(openssl("pkcs12", "-in", "p12-node.p12", "-nokeys", "-clcerts",
                                "-passin", "pass:pw"))  # fmt: skip
    pems.append(leaf_pem)
    reports.append({**p12_report, "certificates": p12_report["certificates"][:1]})
    assert p12_report["format"] == "PKCS12"
    for pem, report in zip(pems, reports, strict=True):
        ours = dict(report["certificates"][0])
        ours["subject_alt_names"] = [s.lower() for s in ours["subject_alt_names"]]
        expected = openssl_facts(pem)
        assert {key: ours[key] for key in expected} == expected, pem


@needs_openssl
def test_openssl_verifies_what_the_cli_writes(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "instances.yml").write_text(INSTANCES)
    run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "instances.yml", "--pem",
        "--out", "nodes")  # fmt: skip
    for name in ("node-1", "node-2", "node-3"):
        crt = workdir / f"nodes/{name}/{name}.crt"
        for purpose in ("sslserver", "sslclient"):
            out = openssl("verify", "-x509_strict", "-purpose", purpose, "-CAfile", ca_cert, crt)
            assert out.strip() == f"{crt}: OK"
    crt = workdir / "nodes/node-1/node-1.crt"
    assert openssl("verify", "-CAfile", ca_cert, "-verify_ip", "::1", crt).strip().endswith("OK")


# --- end to end -----------------------------------------------------------------------------------


def test_mutual_tls_between_two_cli_made_nodes(pem_ca: tuple[Path, Path], workdir: Path) -> None:
    ca_cert, ca_key = pem_ca
    (workdir / "instances.yml").write_text(INSTANCES)
    run("cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--in", "instances.yml", "--pem",
        "--out", "nodes", "--pass", "kp")  # fmt: skip

    def files(name: str) -> Files:
        return Files(
            ca_cert, workdir / f"nodes/{name}/{name}.crt", workdir / f"nodes/{name}/{name}.key"
        )

    server = server_context(files("node-1"), password="kp")
    client = client_context(ca_cert)
    client.load_cert_chain(files("node-3").cert, files("node-3").key, "kp")
    outcome = handshake(server, client, "node-1.example")
    assert outcome.client_error is None and outcome.server_error is None
    assert outcome.server_saw is not None
    assert outcome.server_saw["subject"] == ((("commonName", "node-3"),),)


def test_runs_as_a_process_without_a_terminal(tmp_path: Path) -> None:
    code = "from isthmus.cli.certutil import certutil_cli; certutil_cli(prog_name='certutil')"
    done = subprocess.run(
        [sys.executable, "-c", code, "ca", "--out", str(tmp_path / "ca.p12")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert certs.decode_pkcs12((tmp_path / "ca.p12").read_bytes()).aliases == ("ca",)


def test_passwords_are_asked_for_only_on_a_terminal(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run("ca", "--pass", code=2)
    assert "a password option without a value needs a terminal to ask on" in result.output
    monkeypatch.setattr(certutil, "_interactive", lambda: True)
    result = run("ca", stdin="typed\ntyped\n")
    assert "Enter password for isthmus-stack-ca.p12" in result.output
    assert load(workdir / certutil.DEFAULT_CA_P12, "typed").key is not None
    result = run("inspect", certutil.DEFAULT_CA_P12, stdin="typed\n")
    assert "Enter password for isthmus-stack-ca.p12" in result.output
    assert "  has private key:     true" in result.output
