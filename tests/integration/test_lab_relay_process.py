"""``isthmus lab relay`` as a process: relays, takes control requests from another process,
answers a malformed one with the reason, and stops on SIGTERM."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from isthmus.lab.relay_config import RelayConfig, RelayMode, parse_address
from isthmus.lab.relay_control import RelayError, RelayProcess


def _echo_server() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def _through(address: str, backend: socket.socket) -> bytes:
    with socket.create_connection(parse_address(address), timeout=5) as client:
        client.sendall(b"hello")
        conn, _ = backend.accept()
        with conn:
            conn.settimeout(5)
            return conn.recv(5)


def test_relay_process_is_steered_over_its_control_port(tmp_path: Path) -> None:
    backend = _echo_server()
    with backend:
        backend.settimeout(5)
        host, port = backend.getsockname()
        relay = RelayProcess(tmp_path / "relay", RelayConfig(backend=(host, port))).start()
        try:
            assert relay.address is not None
            assert _through(relay.address, backend) == b"hello"
            assert relay.stats()["bytes_up"] == 5

            relay.configure(RelayConfig(RelayMode.RESET))
            with (
                socket.create_connection(parse_address(relay.address), timeout=5) as client,
                pytest.raises(ConnectionResetError),
            ):
                client.sendall(b"x")
                client.recv(1)
            assert relay.stats()["resets"] == 1

            with pytest.raises(RelayError, match=r"unknown relay mode \[fly\]"):
                relay.request({"op": "configure", "config": {"mode": "fly"}})
            with pytest.raises(RelayError, match=r"unknown control op \[jump\]"):
                relay.request({"op": "jump"})
            assert relay.request({"op": "stats"})["config"]["mode"] == "reset"
            log = relay.log_file.read_text()
            assert "relay reconfigured" in log and '"mode":"reset"' in log
        finally:
            relay.stop()
        assert relay.proc is None
        with socket.socket() as probe:
            assert probe.connect_ex(parse_address(str(relay.address))) != 0
