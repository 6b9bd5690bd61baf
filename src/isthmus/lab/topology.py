"""Two real clusters, ``local`` and ``remote``, wired for the API-key model the way the guide
sets them up — or with one deliberate fault.

A :class:`LabSpec` says how the pair is built: which CAs exist and who trusts what, whether the
remote cluster server is enabled, which port the local cluster points at, which credential it
holds, what the key and the local user may do. :class:`Lab` builds it from nothing in a
directory (certificates, keystores, ``isthmus.yml``), starts both nodes as processes, creates
the key on ``remote``, puts it in ``local``'s keystore, reloads secure settings, creates the
searching user on ``local``, loads a few documents on ``remote`` and registers the remote.

The integration tests of the troubleshooting guide, the demo and ``isthmus lab`` all build their
clusters here, so a symptom a user summons is the one the tests assert.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import string
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from isthmus.lab.relay_config import RelayMode
from isthmus.lab.relay_control import RelayProcess
from isthmus.testing.process import NodeProcess

ALIAS = "my"
ELASTIC_PASSWORD = "lab-elastic-pw"
USER = "foo"
USER_PASSWORD = "foo-password"
USER_ROLE = "foo-role"
INDEX = "logs"
SAMPLE = (
    {"message": "connection accepted from the local cluster", "level": "info", "secret": "s1"},
    {"message": "search answered across clusters", "level": "info", "secret": "s2"},
    {"message": "remote cluster server started", "level": "warn", "secret": "s3"},
)


@dataclass(frozen=True)
class LabSpec:
    """How the pair is built (the defaults are the working setup of the guide)."""

    mode: str = "proxy"  # "proxy" | "sniff"
    server_enabled: bool = True  # remote_cluster_server.enabled on remote
    # remote_cluster.publish_port on remote ("unused_port": a port nothing listens on, what a
    # gateway behind NAT or in a container advertises; None: the bound port)
    remote_publish_port: str | None = None
    target: str = "remote_cluster"  # "remote_cluster" | "transport" | "unused_port"
    shared_ca: bool = False  # one CA for remote's transport and remote cluster server
    client_trusts_server_ca: bool = True  # local's remote_cluster_client trusts remote's server CA
    client_certificate: bool = False  # local's remote_cluster_client presents a certificate
    # local's *transport* TLS also trusts remote's server CA (certificate model reaching 9443)
    transport_trusts_server_ca: bool = False
    # local's *transport* TLS also trusts remote's transport CA (certificate model, mutual trust)
    transport_trusts_remote_transport_ca: bool = False
    remote_anonymous_role: str | None = None  # anonymous access on remote, with this role
    credential: str | None = (
        "cross_cluster"  # | "rest" | "wrong_secret" | "invalidated" | "expired"
    )
    key_access: dict[str, Any] = field(
        default_factory=lambda: {"search": [{"names": [INDEX, f"{INDEX}-*"]}]}
    )
    # The local user's remote_indices (None: the role has none).
    user_remote_indices: tuple[dict[str, Any], ...] | None = (
        {"clusters": [ALIAS], "names": ["*"], "privileges": ["read", "read_cross_cluster"]},
    )
    # The user is assigned its role, but the role does not exist (the guide's exact wording:
    # "effective roles [] (assigned roles [foo-role] were not found)").
    user_role_missing: bool = False
    # The sample [logs] index on remote (the demo loads its own data instead).
    sample_index: bool = True
    skip_unavailable: bool = False
    # Faults on the path and the certificates (lab/faults.py): a relay in front of remote's
    # remote cluster server (None: local dials the server itself) and its mode, ...
    relay: RelayMode | None = None
    relay_idle_cut: float | None = None  # the relay closes connections idle this long
    # ... the alias's server_name and ping schedule (None: not set) ...
    server_name: str | None = None
    ping_schedule: str | None = None
    connect_timeout: str | None = None  # transport.connect_timeout of local (None: 30s)
    # ... which certificate remote's remote cluster server presents (see faults.CERTIFICATES) ...
    remote_certificate: str = "valid"
    # ... and whether the credential put in local's keystore is reloaded.
    reload_credential: bool = True


@dataclass
class _Pki:
    """PEM files of the lab's CAs and node identities."""

    dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    cas: dict[str, Any] = field(default_factory=dict)  # name -> CertificateAndKey

    def ca(self, name: str, *, file: str | None = None) -> Any:
        """A CA named ``CN=Isthmus Lab <name> CA``, written to ``<file or name>-ca.crt``."""
        from isthmus.security.certs import encode_pem_certificates, generate_ca

        ca = generate_ca(f"CN=Isthmus Lab {name} CA")
        key = f"{file or name}-ca"
        path = self.dir / f"{key}.crt"
        path.write_bytes(encode_pem_certificates(ca.certificate))
        self.files[key] = path
        self.cas[key] = ca
        return ca

    def issue(self, name: str, issuer: Any, **options: Any) -> tuple[Path, Path]:
        """``name``'s certificate and key files; ``options`` go to ``issue_certificate`` (the
        names default to localhost and 127.0.0.1)."""
        from isthmus.security.certs import (
            encode_pem_certificates,
            encode_pem_key,
            issue_certificate,
        )

        options.setdefault("dns_names", ["localhost"])
        options.setdefault("ip_addresses", ["127.0.0.1"])
        cert = issue_certificate(f"CN={name}", issuer=issuer, **options)
        crt, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        crt.write_bytes(encode_pem_certificates(cert.certificate))
        key.write_bytes(encode_pem_key(cert.key))
        key.chmod(0o600)
        return crt, key


StepReporter = Callable[[str, "NodeProcess | None"], AbstractContextManager[object]]


def _quiet_step(name: str, node: NodeProcess | None) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


class Lab:
    """The two clusters of one :class:`LabSpec` under ``root``."""

    def __init__(self, root: Path, spec: LabSpec | None = None, *, detached: bool = False) -> None:
        self.root = root
        self.spec = spec or LabSpec()
        self.detached = detached  # nodes outlive this process (demo --detach, lab up)
        self.local: NodeProcess | None = None
        self.remote: NodeProcess | None = None
        self.relay: RelayProcess | None = None  # in front of remote's server (spec.relay)
        self.key: dict[str, Any] | None = None  # the key created on remote (id, encoded...)
        self.credential: str | None = None  # what local's keystore holds
        self.pki = _Pki(root / "certs")

    # --- building -----------------------------------------------------------------------------

    def build(self) -> Lab:
        """Certificates, keystores and configuration of both nodes (nothing started)."""
        from isthmus.lab import faults

        s = self.spec
        self.pki.dir.mkdir(parents=True, exist_ok=True)
        local_transport_ca = self.pki.ca("local-transport")
        remote_transport_ca = self.pki.ca("remote-transport")
        server_ca = remote_transport_ca if s.shared_ca else self.pki.ca("remote-server")
        if s.shared_ca:
            self.pki.files["remote-server-ca"] = self.pki.files["remote-transport-ca"]
        other_ca = self.pki.ca("unrelated")
        lt_crt, lt_key = self.pki.issue("local-node", local_transport_ca)
        rt_crt, rt_key = self.pki.issue("remote-node", remote_transport_ca)
        rs_crt, rs_key = faults.issue_server_certificate(self.pki, s.remote_certificate, server_ca)
        files = self.pki.files

        local_transport_trust = [str(files["local-transport-ca"])]
        if s.transport_trusts_server_ca:
            local_transport_trust.append(str(files["remote-server-ca"]))
        if s.transport_trusts_remote_transport_ca:
            local_transport_trust.append(str(files["remote-transport-ca"]))
        local: dict[str, Any] = {
            "cluster.name": "local",
            "node.name": "local-node",
            "xpack.security.enabled": True,
            "xpack.security.transport.ssl.enabled": True,
            "xpack.security.transport.ssl.key": str(lt_key),
            "xpack.security.transport.ssl.certificate": str(lt_crt),
            "xpack.security.transport.ssl.certificate_authorities": local_transport_trust,
            "xpack.security.remote_cluster_client.ssl.certificate_authorities": [
                str(
                    files["remote-server-ca"]
                    if s.client_trusts_server_ca
                    else files["unrelated-ca"]
                )
            ],
        }
        del other_ca
        if s.connect_timeout is not None:
            local["transport.connect_timeout"] = s.connect_timeout
        if s.client_certificate:
            # Issued by the CA remote's transport trusts (the guide's mTLS-configured client).
            cc_crt, cc_key = self.pki.issue("local-client", remote_transport_ca)
            local["xpack.security.remote_cluster_client.ssl.certificate"] = str(cc_crt)
            local["xpack.security.remote_cluster_client.ssl.key"] = str(cc_key)
        remote_transport_trust = [
            str(files["remote-transport-ca"]),
            str(files["local-transport-ca"]),
        ]
        remote: dict[str, Any] = {
            "cluster.name": "remote",
            "node.name": "remote-node",
            "xpack.security.enabled": True,
            "xpack.security.transport.ssl.enabled": True,
            "xpack.security.transport.ssl.key": str(rt_key),
            "xpack.security.transport.ssl.certificate": str(rt_crt),
            "xpack.security.transport.ssl.certificate_authorities": remote_transport_trust,
        }
        if s.server_enabled:
            remote.update(
                {
                    "remote_cluster_server.enabled": True,
                    "remote_cluster.host": "127.0.0.1",
                    "remote_cluster.port": 0,
                    "xpack.security.remote_cluster_server.ssl.key": str(rs_key),
                    "xpack.security.remote_cluster_server.ssl.certificate": str(rs_crt),
                }
            )
            if s.remote_publish_port == "unused_port":
                remote["remote_cluster.publish_port"] = _unused_port()
        if s.remote_anonymous_role is not None:
            remote["xpack.security.authc.anonymous.username"] = "anonymous_foo"
            remote["xpack.security.authc.anonymous.roles"] = [s.remote_anonymous_role]
        self.local = NodeProcess(self.root / "local", local, detached=self.detached)
        self.remote = NodeProcess(self.root / "remote", remote, detached=self.detached)
        for node in (self.local, self.remote):
            _keystore(node.config_dir, {"bootstrap.password": ELASTIC_PASSWORD})
        return self

    def start(self, *, register: bool = True, step: StepReporter | None = None) -> Lab:
        """Start both nodes and set up what the spec says (see the module docstring).

        ``step(name, node)`` wraps each step (the demo shows progress with it and names the
        node whose log explains a failure)."""
        from isthmus.lab import faults

        run = step or _quiet_step
        if self.local is None or self.remote is None:
            with run("create CAs, certificates and keystores", None):
                self.build()
        assert self.local is not None and self.remote is not None
        with run("start the remote and the local cluster", self.remote):
            for node in (self.remote, self.local):
                node.launch()
            for node in (self.remote, self.local):
                node.wait_started()
        if self.spec.relay is not None and self.spec.server_enabled:
            with run(f"start a relay in front of remote ({self.spec.relay} mode)", None):
                self.relay = RelayProcess(
                    self.root / "relay", faults.relay_config(self), detached=self.detached
                ).start()
        if self.spec.sample_index:
            with run(f"create the [{INDEX}] index on remote", self.remote):
                self._load_sample()
        if self.spec.credential is not None:
            with run("create a cross-cluster API key on remote", self.remote):
                self.create_key()
        with run("create the local user with remote_indices", self.local):
            self.create_user()
        if self.credential is not None:
            with run("store the key in local's keystore, reload secure settings", self.local):
                self.set_credential(self.credential, reload=self.spec.reload_credential)
        if register:
            with run(f"register remote cluster [{ALIAS}] on local", self.local):
                self.register()
        return self

    def prepare_remote(self) -> None:
        """What ``start`` does on an already running remote: the [logs] index and the key."""
        self._load_sample()
        if self.spec.credential is not None:
            self.create_key()

    def _load_sample(self) -> None:
        self.load_documents(INDEX, list(SAMPLE))

    def load_documents(self, index: str, docs: list[dict[str, Any]]) -> None:
        """Create ``index`` on remote (one shard) and bulk-load ``docs`` with ids 1..n."""
        _call(self.remote_url, "PUT", f"/{index}", {"settings": {"number_of_shards": 1}})
        bulk = b"".join(
            orjson.dumps({"index": {"_index": index, "_id": str(i)}})
            + b"\n"
            + orjson.dumps(doc)
            + b"\n"
            for i, doc in enumerate(docs, 1)
        )
        _call(self.remote_url, "POST", "/_bulk?refresh=true", bulk, ndjson=True)

    def create_key(self) -> None:
        """Create the key the spec's ``credential`` says on remote; ``self.credential`` becomes
        what local's keystore should hold (not stored yet: see :meth:`set_credential`)."""
        s = self.spec
        if s.credential == "rest":
            key = _call(self.remote_url, "POST", "/_security/api_key", {"name": "rest-key"})
        else:
            body: dict[str, Any] = {"name": "lab-key", "access": s.key_access}
            if s.credential == "expired":
                body["expiration"] = "1ms"
            key = _call(self.remote_url, "POST", "/_security/cross_cluster/api_key", body)
        self.key = key
        encoded = str(key["encoded"])
        if s.credential == "wrong_secret":
            wrong = "".join(secrets.choice(string.ascii_letters) for _ in range(22))
            encoded = base64.b64encode(f"{key['id']}:{wrong}".encode()).decode()
        if s.credential == "invalidated":
            _call(self.remote_url, "DELETE", "/_security/api_key", {"ids": [key["id"]]})
        self.credential = encoded

    def create_user(self) -> None:
        """Create (or update) the lab user and its role with the spec's ``remote_indices``."""
        s = self.spec
        role: dict[str, Any] = {"cluster": ["monitor"], "indices": []}
        if s.user_remote_indices is not None:
            role["remote_indices"] = list(s.user_remote_indices)
        if not s.user_role_missing:
            _call(self.local_url, "PUT", f"/_security/role/{USER_ROLE}", role)
        _call(
            self.local_url,
            "PUT",
            f"/_security/user/{USER}",
            {"password": USER_PASSWORD, "roles": [USER_ROLE]},
        )

    def set_credential(self, value: str | None, *, reload: bool = True) -> dict[str, Any]:
        """Put ``value`` in local's keystore as the alias's credential (None: remove it), then
        ``POST _nodes/reload_secure_settings``, as the guide's resolutions say (unless
        ``reload`` is false: the step users forget)."""
        assert self.local is not None
        name = f"cluster.remote.{ALIAS}.credentials"
        if value is None:
            _keystore_remove(self.local.config_dir, name)
        else:
            _keystore(self.local.config_dir, {name: value})
        self.credential = value
        if not reload:
            return {}
        return _call(self.local_url, "POST", "/_nodes/reload_secure_settings", {})

    def register(self) -> dict[str, Any]:
        """``PUT _cluster/settings`` for the alias, pointed where the spec says."""
        s = self.spec
        address = self.target_address()
        prefix = f"cluster.remote.{ALIAS}"
        settings: dict[str, Any] = {
            f"{prefix}.skip_unavailable": s.skip_unavailable,
            f"{prefix}.transport.ping_schedule": s.ping_schedule,
        }
        if s.mode == "proxy":
            settings[f"{prefix}.mode"] = "proxy"
            settings[f"{prefix}.proxy_address"] = address
            settings[f"{prefix}.server_name"] = s.server_name
        else:
            settings[f"{prefix}.mode"] = "sniff"
            settings[f"{prefix}.seeds"] = [address]
        return _call(self.local_url, "PUT", "/_cluster/settings", {"persistent": settings})

    def target_address(self) -> str:
        """Where local points: remote's server, its transport port, or a port nobody uses."""
        assert self.remote is not None
        if self.spec.target == "transport":
            (node,) = _call(self.remote_url, "GET", "/_nodes")["nodes"].values()
            return str(node["transport_address"])
        if self.spec.target == "unused_port" or not self.spec.server_enabled:
            return f"127.0.0.1:{_unused_port()}"
        if self.relay is not None:
            assert self.relay.address is not None
            return self.relay.address
        return self.remote_cluster_address()

    def remote_cluster_address(self) -> str:
        info = _call(self.remote_url, "GET", "/_nodes")
        (node,) = info["nodes"].values()
        server = node["remote_cluster_server"]
        if self.spec.remote_publish_port is not None:  # it advertises what does not answer
            return str(server["bound_address"][0])
        return str(server["publish_address"])

    # --- using -------------------------------------------------------------------------------

    @property
    def local_url(self) -> str:
        assert self.local is not None
        return _with_user(self.local.url, "elastic", ELASTIC_PASSWORD)

    @property
    def remote_url(self) -> str:
        assert self.remote is not None
        return _with_user(self.remote.url, "elastic", ELASTIC_PASSWORD)

    @property
    def user_url(self) -> str:
        assert self.local is not None
        return _with_user(self.local.url, USER, USER_PASSWORD)

    def where(self) -> list[str]:
        """How to reach the pair: URLs, log files, users (for the demo's and the lab's output)."""
        assert self.local is not None and self.remote is not None
        relay = []
        if self.relay is not None:
            relay = [
                f"relay ({self.spec.relay}): {self.relay.address}   log: {self.relay.log_file}"
            ]
        return [
            f"local  cluster: {self.local.url}   log: {self.local.log_file}",
            f"remote cluster: {self.remote.url}   log: {self.remote.log_file}",
            *relay,
            f"user [elastic] password [{ELASTIC_PASSWORD}] (both clusters, superuser)",
            f"user [{USER}] password [{USER_PASSWORD}] (local; remote_indices on [{ALIAS}])",
        ]

    def remote_info(self) -> dict[str, Any]:
        return _call(self.local_url, "GET", "/_remote/info")

    def wait_connected(self, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            info: dict[str, Any] = self.remote_info().get(ALIAS, {})
            if info.get("connected") or time.monotonic() > deadline:
                return info
            time.sleep(0.1)

    def stop(self) -> None:
        nodes = [n for n in (self.local, self.remote) if n is not None and n.proc is not None]
        for node in nodes:
            node.request_stop()
        for node in nodes:
            node.stop()
        if self.relay is not None:
            self.relay.stop()

    def nodes(self) -> list[NodeProcess]:
        """Every node of both clusters (one each here; several in a multi-node lab)."""
        return [n for n in (self.local, self.remote) if n is not None]

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _with_user(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def _call(
    url: str, method: str, path: str, body: Any = None, *, ndjson: bool = False
) -> dict[str, Any]:
    """One REST call as the user in ``url``; raises :class:`LabError` on an error status."""
    import urllib.error
    import urllib.request

    scheme, rest = url.split("://", 1)
    creds, host = rest.split("@", 1)
    data = body if isinstance(body, bytes) else None if body is None else orjson.dumps(body)
    request = urllib.request.Request(f"{scheme}://{host}{path}", data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(creds.encode()).decode())
    request.add_header("Content-Type", "application/x-ndjson" if ndjson else "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            out: dict[str, Any] = orjson.loads(response.read() or b"{}")
            return out
    except urllib.error.HTTPError as exc:
        raise LabError(method, path, exc.code, exc.read().decode(errors="replace")) from None


class LabError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body


# The lab's keystores have no password, so PBKDF2 rounds protect nothing in them (the key derives
# from the empty password and the salt in the file's header): they are written with 10 000 rounds
# (ES 7's keystore) instead of the CLI's 210 000, which cost ~0.1 s of CPU at each of the ~7 reads
# and writes of a lab's start (the nodes read the count from the header). `isthmus keystore add`
# in a lab directory writes the full count again.
KDF_ITERATIONS = 10_000


def _keystore(config_dir: Path, values: dict[str, str]) -> None:
    """Add ``values`` to the node's keystore (created if missing), as the keystore CLI does."""
    from isthmus.security.keystore import keystore_exists, locked, save_keystore, update_keystore
    from isthmus.security.keystore_format import new_keystore

    def change(contents: Any) -> Any:
        for name, value in values.items():
            contents = contents.with_string(name, value)
        return contents

    if keystore_exists(config_dir):
        update_keystore(config_dir, None, change, iterations=KDF_ITERATIONS)
        return
    config_dir.mkdir(parents=True, exist_ok=True)
    with locked(config_dir):
        save_keystore(config_dir, change(new_keystore()), None, iterations=KDF_ITERATIONS)


def _keystore_remove(config_dir: Path, name: str) -> None:
    from isthmus.security.keystore import update_keystore

    update_keystore(
        config_dir, None, lambda contents: contents.without(name), iterations=KDF_ITERATIONS
    )


def _unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
