"""The commands a fix prints run as printed: the Isthmus equivalent in the comment is a real
command line of the keystore tool, and the reload step has no placeholder body."""

from __future__ import annotations

import shlex
from pathlib import Path

from click.testing import CliRunner

from isthmus.cli.keystore import keystore_cli
from isthmus.doctor.commands import RELOAD, certutil_cert, keystore_add


def test_the_isthmus_keystore_line_runs_with_the_config_dir_filled_in(tmp_path: Path) -> None:
    line = keystore_add("cluster.remote.my.credentials", force=True, note="on every local node")
    assert line.startswith("bin/elasticsearch-keystore add -f cluster.remote.my.credentials")
    isthmus = line.split("on Isthmus: ", 1)[1].replace("<config dir>", str(tmp_path))
    argv = shlex.split(isthmus)
    assert argv[:2] == ["isthmus", "keystore"]
    done = CliRunner().invoke(keystore_cli, [*argv[2:], "-x"], input="c2VjcmV0\n")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "isthmus.keystore").exists()


def test_no_placeholder_body_in_the_reload_step() -> None:
    assert RELOAD.split("#")[0].strip() == "POST /_nodes/reload_secure_settings"


def test_certutil_lines_name_both_tools() -> None:
    line = certutil_cert()
    assert line.startswith("bin/elasticsearch-certutil cert") and "isthmus certutil cert" in line


def test_the_renewal_steps_issue_a_certificate_the_settings_step_names(tmp_path: Path) -> None:
    from isthmus.cli.certutil import certutil_cli
    from isthmus.doctor.commands import SERVER_P12, renew_server_certificate
    from isthmus.security.certs import decode_pkcs12, encode_pkcs12, generate_ca

    ca = tmp_path / "ca.p12"
    ca.write_bytes(encode_pkcs12(generate_ca("CN=Test CA"), alias="ca"))
    prefix = "xpack.security.remote_cluster_server.ssl"
    cert, setting, restart = renew_server_certificate(prefix, ("remote.example",), ("10.0.0.7",))
    assert cert.startswith("bin/elasticsearch-certutil cert --ca <ca.p12>")
    isthmus = cert.split("on Isthmus: ", 1)[1]
    isthmus = isthmus.replace("<config dir>", str(tmp_path)).replace("<ca.p12>", str(ca))
    argv = shlex.split(isthmus)
    assert argv[:3] == ["isthmus", "certutil", "cert"]
    done = CliRunner().invoke(certutil_cli, argv[2:])
    assert done.exit_code == 0, done.output
    bundle = decode_pkcs12((tmp_path / SERVER_P12).read_bytes(), None)
    assert bundle.certificate_and_key() is not None
    assert setting.startswith(f"{prefix}.keystore.path: {SERVER_P12}   # elasticsearch.yml")
    assert f"in place of {prefix}.certificate and .key" in setting
    assert restart.startswith("restart every remote node")


def test_a_new_key_is_a_rest_call_with_a_json_body() -> None:
    import orjson

    from isthmus.doctor.commands import create_key

    call = create_key("my", "logs-*").split("   #")[0]
    method, path, body = call.split(" ", 2)
    assert (method, path) == ("POST", "/_security/cross_cluster/api_key")
    assert orjson.loads(body) == {"name": "my", "access": {"search": [{"names": ["logs-*"]}]}}


def test_trusting_the_current_ca_copies_it_then_names_the_copy() -> None:
    from isthmus.doctor.commands import trust_current_ca

    setting = "xpack.security.remote_cluster_client.ssl.certificate_authorities"
    copy, trust, restart = trust_current_ca(setting, "CN=Lab CA")
    filled = copy.replace("<current remote CA file>", "/ca/new.crt")
    source, target = shlex.split(filled.replace("<config dir>", "/conf").split("   #")[0])[1:]
    assert (source, target) == ("/ca/new.crt", "/conf/" + trust.split('["', 1)[1].split('"')[0])
    assert "CN=Lab CA" in copy and trust.startswith(f"{setting}: [") and "local node" in restart
