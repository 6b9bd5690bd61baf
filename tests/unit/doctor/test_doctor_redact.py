"""Secrets in collected configuration never reach a bundle, whatever their type or key name."""

from __future__ import annotations

import orjson

from isthmus.doctor.collect import redact

SECRETS = {
    "xpack.security.http.ssl.keystore.password": 12345678,
    "s3.client.default.secret_key": "AKIAsecretkeyvalue",
    "xpack.security.authc.realms.ldap.ldap1.bind_password": ["pw-in-list-zz"],
    "xpack.notification.slack.account.mon.secure_url": "https://hooks.slack.com/services/XXXX",
    "xpack.security.authc.realms.oidc.o1.rp.client_secret": 987654321,
    "bootstrap.password": "short-pw",
}
KEPT = {
    "cluster.remote.my.proxy_address": "10.0.0.7:9443",
    "index.analysis.tokenizer": "standard",
    "xpack.security.transport.ssl.certificate": "certs/node.crt",
    # ES's reason text for failed credentials is evidence, not a secret.
    "additional_unsuccessful_credentials": "API key: api key is expired",
}


def test_secret_values_of_any_type_are_redacted_and_the_rest_kept() -> None:
    out = redact({**SECRETS, **KEPT, "nested": {"client_secret": 1, "name": "n"}})
    text = orjson.dumps(out).decode()
    for value in SECRETS.values():
        shown = value[0] if isinstance(value, list) else value
        assert str(shown) not in text.replace("::es_redacted::", ""), shown
    for key, value in KEPT.items():
        assert out[key] == value
    assert out["nested"] == {"client_secret": "::es_redacted::", "name": "n"}
