"""Security: the keystore (and later TLS, users and roles, API keys, authn/authz)."""
