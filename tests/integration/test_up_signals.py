"""`opendeur up` stops everything on SIGTERM and SIGINT whatever it inherited, and if it is killed
(SIGKILL) its children die with it: nothing it started outlives it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from opendeur.embedded import Postgres, free_port
from tests.support import ADMIN, RUN_MARKER, SECRET, question, start_up, stop_up

STOP_WITHIN = 15.0  # seconds
# After a SIGKILL to `up`, each child stops on its own parent-death SIGTERM, with its own graceful
# stop (uvicorn's and notify's in-flight grace are 10 s each). Locally 0.4-0.6 s in 8 of 9 timed
# runs, 10.3 s once; a CI run under load saw notify still there at 15 s. The test is about no
# orphan, not about that latency: 30 s.
ORPHAN_WITHIN = 30.0  # seconds


def up_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    ports = {s: free_port() for s in ("intake", "routing", "notify", "audit", "mailbox")}
    env.update({f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    env.update(OPENDEUR_LOG_FORMAT="json", OPENDEUR_DATA_DIR=str(tmp), **extra)
    return env


def with_database(tmp: Path, pg: Postgres) -> dict[str, str]:
    """The suite's PostgreSQL (a fresh database; the suite's secret, as database roles belong to
    the whole cluster); `up` starts its own nats-server and mailbox."""
    database = f"od_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    return up_env(tmp, OPENDEUR_DATABASE_URL=pg.url(database), OPENDEUR_SECRET_KEY=SECRET)


def ignore_stop_signals() -> None:
    """What a POSIX shell does to a background job (SIGINT), and a careless parent to both."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def alive(procs: list[psutil.Process]) -> list[str]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return left


def group(pgid: int) -> list[psutil.Process]:
    """Every process in this process group (`up` leads its own; its children stay in it)."""
    found = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid:
                found.append(psutil.Process(pid))
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill_all(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            continue


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_up_stops_everything_on_a_signal_it_inherited_ignored(
    tmp_path: Path, pg: Postgres, sig: signal.Signals
) -> None:
    proc, _ = start_up([], with_database(tmp_path, pg), preexec_fn=ignore_stop_signals)
    children: list[psutil.Process] = []
    try:
        children = descendants(proc.pid)
        names = {p.name() for p in children}
        assert "nats-server" in names, names
        assert sum("serve" in p.cmdline() for p in children) == 4
        sent = time.monotonic()
        proc.send_signal(sig)
        try:
            proc.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"up did not stop within {STOP_WITHIN}s of {sig.name}")
        took = time.monotonic() - sent
        assert not wait_gone([*children, *group(proc.pid)], 2), alive(children)
        print(f"\n{sig.name}: up and its {len(children)} children gone in {took:.1f}s")
    finally:
        stop_up(proc, timeout=0)
        kill_all(children)
    assert "opendeur stopped." in proc.stdout.read()


def test_up_stops_within_seconds_under_load(tmp_path: Path, pg: Postgres) -> None:
    """Questions coming in and two live audit streams open (uvicorn waits for open connections)
    when SIGTERM arrives: `up` still stops everything within seconds."""
    env = with_database(tmp_path, pg)
    env["OPENDEUR_ADMIN_TOKEN"] = ADMIN
    env["OPENDEUR_INTAKE_RATE"] = "off"
    proc, _ = start_up([], env)
    children: list[psutil.Process] = []
    stop = threading.Event()
    accepted: list[int] = []
    intake = f"http://127.0.0.1:{env['OPENDEUR_INTAKE_PORT']}"
    audit = f"http://127.0.0.1:{env['OPENDEUR_AUDIT_PORT']}/api/v1/audit/stream"

    def ask() -> None:
        with httpx.Client(timeout=5) as c:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    accepted.append(
                        c.post(intake + "/api/v1/questions", json=question()).status_code
                    )

    def follow() -> None:
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream(
                "GET", audit, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
            ) as r,
        ):
            for _ in r.iter_lines():
                if stop.is_set():
                    return

    threads = [threading.Thread(target=f, daemon=True) for f in (ask, ask, follow, follow)]
    try:
        children = descendants(proc.pid)
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while accepted.count(202) < 5:
            assert time.monotonic() < deadline, f"no load: {accepted[-5:]}"
            time.sleep(0.1)
        sent = time.monotonic()
        proc.terminate()
        try:
            proc.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"up did not stop within {STOP_WITHIN}s of SIGTERM under load")
        took = time.monotonic() - sent
        assert not wait_gone([*children, *group(proc.pid)], 2), alive(children)
        print(f"\nunder load ({accepted.count(202)} questions): all gone in {took:.1f}s")
    finally:
        stop.set()
        stop_up(proc, timeout=0)
        kill_all(children)
        for t in threads:
            t.join(10)


def test_killed_up_takes_its_children_with_it(pg_reachable_dir: Path) -> None:
    """SIGKILL to `up` alone (not its group): the services, the mailbox, the embedded
    nats-server and PostgreSQL get their parent-death signal and stop."""
    tmp = pg_reachable_dir
    proc, _ = start_up(["--data-dir", str(tmp)], up_env(tmp))
    children: list[psutil.Process] = []
    try:
        children = descendants(proc.pid)
        names = {p.name() for p in children}
        assert {"nats-server", "postgres"} <= names, names
        cmds = [p.cmdline() for p in children]
        assert sum("serve" in c for c in cmds) == 4 and any("mailbox" in c for c in cmds)
        killed = time.monotonic()
        proc.kill()
        proc.wait()
        left = wait_gone([*children, *group(proc.pid)], ORPHAN_WITHIN)
        assert not left, f"alive {ORPHAN_WITHIN}s after up was killed: {left}"
        print(f"\nSIGKILL: {len(children)} children gone in {time.monotonic() - killed:.1f}s")
    finally:
        stop_up(proc, timeout=0)
        kill_all(children)


def test_sigterm_while_a_child_is_being_restarted(tmp_path: Path, pg: Postgres) -> None:
    """A service dies; while the supervisor is about to start it again, SIGTERM arrives: `up`
    stops, and neither the old children nor the one being started are left."""
    proc, _ = start_up([], with_database(tmp_path, pg))
    seen: dict[int, psutil.Process] = {}
    try:
        seen.update((p.pid, p) for p in descendants(proc.pid))
        routing = next(p for p in seen.values() if p.cmdline()[-2:] == ["serve", "routing"])
        routing.kill()
        deadline = time.monotonic() + 20
        line = ""
        while "routing exited" not in line:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "up did not notice routing's death"
        proc.terminate()  # up is between noticing and starting routing again
        seen.update((p.pid, p) for p in descendants(proc.pid))
        try:
            proc.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"up did not stop within {STOP_WITHIN}s of SIGTERM mid-restart")
        left = wait_gone([*seen.values(), *group(proc.pid)], 2)
        assert not left, left
    finally:
        stop_up(proc, timeout=0)
        kill_all(list(seen.values()))
    assert "opendeur stopped." in proc.stdout.read()


def test_the_session_end_check_finds_what_a_run_left_behind(tmp_path: Path) -> None:
    """tests/conftest.py's check finds an `opendeur` process by its run's marker (and only its
    run's), as it finds what a whole suite left running."""
    from tests.conftest import left_behind

    run_id = uuid.uuid4().hex
    env = {**os.environ, RUN_MARKER: run_id, "OPENDEUR_DATA_DIR": str(tmp_path)}
    ports = [str(free_port()), str(free_port())]
    argv = ["mailbox", "--smtp-port", ports[0], "--http-port", ports[1]]
    stray = subprocess.Popen([sys.executable, "-m", "opendeur", *argv], env=env)
    try:
        deadline = time.monotonic() + 10
        while not (found := [p.pid for p in left_behind(run_id)]):
            assert time.monotonic() < deadline, "the check did not see the stray process"
            time.sleep(0.1)
        assert found == [stray.pid]
        assert stray.pid not in [p.pid for p in left_behind(uuid.uuid4().hex)]
    finally:
        stray.kill()
        stray.wait()
    assert left_behind(run_id) == []


def test_a_child_that_keeps_failing_at_start_is_restarted_ever_more_slowly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that exits at once (a broken configuration) must not be started twice a second
    for ever: each quick exit doubles the wait before the next start (a kill, as `make chaos`
    does, is restarted at once as before)."""
    from opendeur.cli import Supervisor

    sup = Supervisor(dict(os.environ), tmp_path)
    sup.spawn("broken", ["no-such-command"])  # argparse refuses it: exit 2 at once
    watcher = threading.Thread(target=sup.watch, daemon=True)
    watcher.start()
    try:
        time.sleep(12)
    finally:
        sup.stopping = True
        watcher.join(10)
        sup.stop()
    starts = capsys.readouterr().out.count("broken exited")
    # About once a second without a back-off (10-11 exits in 12 s measured on 2 busy cores);
    # 0.5, 1, 2, 4, 8 s with it.
    assert 2 <= starts <= 6, starts
