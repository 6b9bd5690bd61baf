"""Security: keystore, TLS certificates, users and roles, API keys, authentication, authorization."""
