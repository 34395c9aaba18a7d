"""Session fixtures: one real PostgreSQL for the run; the shared system on its own database and
broker; at the end, a check that nothing the suite started outlives it."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opendeur.embedded import Postgres
from tests.support import (
    RUN_MARKER,
    SHARED_GROUPS_CSV,
    System,
    service_engine,
    start_system,
    stop_system,
)

# Every process this run starts inherits it; a process of another run (or a run before) does not.
RUN_ID = uuid.uuid4().hex
os.environ[RUN_MARKER] = RUN_ID
LEFT_BEHIND = ("opendeur", "nats-server", "postgres")


def left_behind(run_id: str = RUN_ID) -> list[psutil.Process]:
    """Live processes of this run (by the marker in /proc/PID/environ) that are an `opendeur`
    command, a nats-server or a PostgreSQL, with everything they started."""
    found: dict[int, psutil.Process] = {}
    me = os.getpid()
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if p.pid == me or p.status() == psutil.STATUS_ZOMBIE:
                continue
            if p.environ().get(RUN_MARKER) != run_id:
                continue
            cmd = p.info["cmdline"] or [""]
            if (
                p.info["name"] in LEFT_BEHIND
                or Path(cmd[0]).name == "opendeur"
                or ("-m" in cmd and "opendeur" in cmd)
            ):
                found[p.pid] = p
                found.update((c.pid, c) for c in p.children(recursive=True))
        except psutil.Error:
            continue
    return list(found.values())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything it started is still alive (after every fixture is torn down),
    and kill it, so that nothing outlives the run."""
    stray = left_behind()
    if not stray:
        return
    lines = []
    for p in stray:
        with_cmd = p.pid
        try:
            with_cmd = f"{p.pid} {' '.join(p.cmdline())[:160]}"
            p.kill()
        except psutil.Error:
            pass
        lines.append(str(with_cmd))
    psutil.wait_procs(stray, timeout=10)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(stray)} processes of this run outlived it (killed now):\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    """The run's PostgreSQL, its data in a directory of its own outside pytest's temp root
    (another pytest run makes that root 0700, which would lock out the postgres user)."""
    data = Path(tempfile.mkdtemp(prefix="opendeur-pg-"))
    server = Postgres(data)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def pg_reachable_dir() -> Iterator[Path]:
    """A directory for a test's own `opendeur up` with embedded PostgreSQL, outside pytest's
    temp root (PostgreSQL runs as another user when the suite runs as root, and a second pytest
    run makes that root 0700); removed at the end, whatever happens."""
    path = Path(tempfile.mkdtemp(prefix="opendeur-up-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("system"), pg, SHARED_GROUPS_CSV)
    yield s
    stop_system(s)


@pytest.fixture
async def audit_engine(pg: Postgres) -> AsyncIterator[AsyncEngine]:
    """A fresh database with audit's schema, reached through audit's own role, as `opendeur
    serve audit` connects (COPY and the trigger need only its grants)."""
    async with service_engine(pg, "audit", pool_size=4) as engine:
        yield engine
