"""A whole system on real parts for the bench, chaos and the tests: nats-server, PostgreSQL, an
SMTP sink, `opendeur up` (and more `opendeur serve` instances), started and stopped as a process
manager does: every child leads a process group of its own, dies with its starter (parent-death
signal), and is stopped by SIGTERM, then SIGKILL to whatever is left of its group."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from opendeur.embedded import NatsServer, Postgres, die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "notify", "audit")
STOP_GRACE = 20.0  # seconds a process has to stop on SIGTERM before its whole group is killed


def clean_env() -> dict[str, str]:
    """This process's environment without any OPENDEUR_ setting (each system sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}


def quiet_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999): one the kernel handed out may be
    taken by some client's connection on a busy machine before the service binds it."""
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def spawn(
    argv: list[str],
    env: dict[str, str],
    *,
    log: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    **popen: Any,
) -> subprocess.Popen:
    """A child leading a process group of its own that gets SIGTERM when its starter dies (even
    by SIGKILL), with `preexec_fn` run after that; output to `log` (appended) unless `popen`
    says where. End it with `stop`."""
    tie = die_with_parent(signal.SIGTERM)

    def preexec() -> None:
        for fn in (tie, preexec_fn):
            if fn is not None:
                fn()

    if log is not None:
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,
                **popen,
            )
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, start_new_session=True, preexec_fn=preexec, **popen
    )


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE) -> bool:
    """SIGTERM, `grace` seconds to stop, then SIGKILL to whatever is left of its process group.
    True if it stopped on SIGTERM in time."""
    stopped = proc.poll() is not None
    if not stopped:
        proc.terminate()
        try:
            proc.wait(grace)
            stopped = True
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return stopped


def opendeur_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "opendeur", *args]


def wait_healthy(
    urls: dict[str, str],
    timeout: float = 90,
    proc: subprocess.Popen | None = None,
    why: Callable[[], str] = lambda: "",
) -> None:
    """Until every base URL answers GET /healthz with 200; fails early if `proc` exited."""
    deadline = time.monotonic() + timeout
    pending = set(urls)
    while pending:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited ({proc.returncode}) before it was healthy\n" + why())
        for name in list(pending):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(urls[name] + "/healthz", timeout=1).status_code == 200:
                    pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {sorted(pending)}\n" + why())
        if pending:
            time.sleep(0.2)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port; subclasses define `handle_DATA`."""

    def __init__(self, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.controller.stop()


@dataclass
class System:
    """The four services under `opendeur up` (which restarts a child that dies), on this
    harness's nats-server, PostgreSQL database and SMTP sink; `serve` adds instances."""

    data_dir: Path
    nats: NatsServer
    pg: Postgres
    database: str
    smtp: SmtpSink
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more OPENDEUR_* for every process
    instances: list[subprocess.Popen] = field(default_factory=list)  # started by `serve`

    def wiring(self) -> dict[str, str]:
        """Where the parts are: broker, database, sink, data directory, ports."""
        return {
            "OPENDEUR_NATS_URL": self.nats.url,
            "OPENDEUR_DATABASE_URL": self.pg.url(self.database),
            "OPENDEUR_SMTP_URL": self.smtp.url,
            "OPENDEUR_DATA_DIR": str(self.data_dir),
            "OPENDEUR_LOG_FORMAT": "json",
            "OPENDEUR_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports['intake']}",
            **{f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
        }

    @property
    def env(self) -> dict[str, str]:
        return {**clean_env(), **self.wiring(), **self.extra_env}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(
        self, timeout: float = 90, attempts: int = 1, port: Callable[[], int] = free_port
    ) -> System:
        """`opendeur up` on fresh ports until every service is healthy; `attempts` > 1 starts it
        again when it gave up (a starved machine). What was started is stopped on failure."""
        self.pg.ensure_database(self.database)
        for attempt in range(1, attempts + 1):
            self.ports = {s: port() for s in SERVICES}
            self.proc = spawn(opendeur_argv("up"), self.env, log=self.data_dir / "up.log")
            try:
                self.wait_healthy(timeout)
                return self
            except BaseException as exc:
                self.stop()
                if attempt == attempts or not isinstance(exc, RuntimeError | TimeoutError):
                    raise
                print("harness: `opendeur up` gave up while starting; once more", flush=True)
        return self

    def wait_healthy(self, timeout: float = 90) -> None:
        urls = {s: self.url(s) for s in self.ports}
        wait_healthy(urls, timeout, self.proc, lambda: "opendeur up:\n" + self.logs()[-4000:])

    def healthy(self) -> set[str]:
        up = set()
        for s in self.ports:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url(s) + "/healthz", timeout=1).status_code == 200:
                    up.add(s)
        return up

    def serve(self, service: str, timeout: float = 90, **env: str) -> tuple[subprocess.Popen, int]:
        """One more `opendeur serve SERVICE` on its own port, against the same broker and
        database; returns once it is healthy. Stopped with the system."""
        port = quiet_port()
        proc = spawn(
            opendeur_argv("serve", service),
            {**self.env, f"OPENDEUR_{service.upper()}_PORT": str(port), **env},
            log=self.data_dir / f"{service}-{port}.log",
        )
        self.instances.append(proc)
        wait_healthy(
            {service: f"http://127.0.0.1:{port}"},
            timeout,
            proc,
            lambda: (self.data_dir / f"{service}-{port}.log").read_text(errors="replace"),
        )
        return proc, port

    def stop(self) -> None:
        """Every `serve` instance and `up` with its services (the parts stay: they are the
        caller's)."""
        for proc in self.instances:
            stop(proc)
        self.instances.clear()
        if self.proc:
            stop(self.proc)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.data_dir.rglob("*.log"))
        )

    def opendeur(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """An `opendeur` command with this system's settings (groups import, users add, ...)."""
        return subprocess.run(
            opendeur_argv(*args),
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def import_groups(self, csv: str) -> None:
        path = self.data_dir / "groups.csv"
        path.write_text(csv)
        result = self.opendeur("groups", "import", str(path), timeout=300)
        if result.returncode != 0:
            raise RuntimeError("groups import failed: " + result.stderr)


def start_parts(
    data_dir: Path, pg: Postgres | None = None, pg_options: dict[str, str] | None = None
) -> tuple[NatsServer, Postgres]:
    """A fresh nats-server (fsync on every write) and, unless given, a fresh PostgreSQL (with
    `pg_options` as its extra server settings)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    nats = NatsServer(data_dir / "nats").start()
    if pg is None:
        try:
            pg = Postgres(data_dir / "pg", options=pg_options).start()
        except BaseException:
            nats.stop()
            raise
    return nats, pg
