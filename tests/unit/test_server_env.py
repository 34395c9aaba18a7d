"""nats-server and PostgreSQL started by `opendeur up` do not carry up's OPENDEUR_* secrets in
their environment (read as an attacker would, from /proc/<pid>/environ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendeur.embedded import NatsServer, free_port

CANARY = "Authorization: Bearer canary-gateway-7731"


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def test_nats_server_gets_no_opendeur_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENDEUR_SMS_AUTH_HEADER", CANARY)
    monkeypatch.setenv("OPENDEUR_SECRET_KEY", "canary-secret-0123456789abcdef0123456789")
    server = NatsServer(tmp_path / "nats", port=free_port()).start()
    try:
        assert server.proc is not None
        env = environ_of(server.proc.pid)
    finally:
        server.stop()
    assert not [k for k in env if k.startswith("OPENDEUR_")], env.keys()
    assert CANARY not in str(env) and "PATH" in env
