"""Test support: the whole system on real parts (nats-server, PostgreSQL, SMTP), on free ports."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.events import QuestionReceived, QuestionRouted
from opendeur.db import make_engine, migrate, provision, service_url
from opendeur.devtools import harness
from opendeur.devtools.harness import SmtpSink, clean_env
from opendeur.embedded import NatsServer, Postgres, free_port
from opendeur.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-not-for-production-0123456789"
ADMIN = "test-admin-token"
# The test systems also grant the admin token the write scopes older tests use it for (machine
# clients' scoped tokens, OPENDEUR_MACHINE_TOKENS); a test of the admin token alone sets this "".
TEST_MACHINE_TOKENS = (
    "tests:contacts-write+groups-write+triage-read:" + hashlib.sha256(ADMIN.encode()).hexdigest()
)
# Set by tests/conftest.py for the whole run and inherited by every process the suite starts (not
# an OPENDEUR_ name: the tests drop those from the environments they build); the session-end
# check finds what outlived the run by it.
RUN_MARKER = "PYTEST_OPENDEUR_RUN"
STOP_TIMEOUT = harness.STOP_GRACE  # seconds `up` has to stop on SIGTERM before its group is killed


def received_values(**changes: object) -> dict:
    """A received question's values as routing's handler stores them (store.QUESTION_FIELDS),
    received now with the promise a day later."""
    now = datetime.now(UTC)
    return {
        "question_id": uuid.uuid4(),
        "reference": "OD-TEST-0001",
        "channel": "web",
        "topic": "angst",
        "pc4": None,
        "municipality": None,
        "language": "nl",
        "priority": False,
        "wants_to_start_group": False,
        "received_at": now,
        "respond_before": now + timedelta(hours=24),
        **changes,
    }


async def migrated_database(pg: Postgres, service: str) -> tuple[str, Settings]:
    """A fresh database on `pg` with one service's role and schema, migrated as `opendeur
    migrate` does: its name and settings (the owner's URL; `service_url` gives the service's)."""
    database = f"od_{service}_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    settings = Settings(_env_file=None, database_url=pg.url(database), secret_key=SECRET)
    await provision(settings)
    await migrate(settings, (service,))
    return database, settings


@asynccontextmanager
async def service_engine(pg: Postgres, service: str, pool_size: int) -> AsyncIterator[AsyncEngine]:
    """A fresh migrated database (`migrated_database`) reached through the service's own role
    and schema, as `opendeur serve <service>` connects; disposed at the end."""
    _, settings = await migrated_database(pg, service)
    engine = make_engine(service_url(settings, service), pool_size=pool_size, schema=service)
    try:
        yield engine
    finally:
        await engine.dispose()


async def wait_for(predicate, timeout: float = 15) -> None:
    """Poll `await predicate()` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def outbox_engine(pg: Postgres, prefix: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a schema of its own (`prefix` and a random tail) holding only the outbox and
    inbox tables, as a service's; disposed at the end."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from opendeur import outbox

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = pg.url().replace("postgresql://", "postgresql+asyncpg://")
    admin = create_async_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f"create schema {schema}"))
            await conn.execute(text(f"set local search_path to {schema}"))
            for statement in outbox.TABLES_SQL.split(";"):
                if statement.strip():
                    await conn.execute(text(statement))
    finally:
        await admin.dispose()
    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield engine
    finally:
        await engine.dispose()


def run_up(
    args: list[str], env: dict[str, str], **popen: object
) -> subprocess.Popen:  # the caller ends it with stop_up
    """`opendeur up ARGS` as the leader of a process group of its own (its children stay in it),
    tied to this run (it dies with it, even when pytest is killed before its finalisers), so
    that stop_up can end everything it started, as a process manager does."""
    env = {**env, RUN_MARKER: os.environ.get(RUN_MARKER, "")}
    return harness.spawn(harness.opendeur_argv("up", *args), env, **popen)  # type: ignore[arg-type]


def stop_up(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, up to `timeout` seconds for `up` to stop everything, then SIGKILL to its whole
    process group (whatever is left of it). True if `up` stopped on SIGTERM in time."""
    return harness.stop(proc, timeout)


def received_event(**overrides: object) -> QuestionReceived:
    """A valid question.received.v1 (a new question and reference each time); `overrides` set
    any field."""
    now = datetime.now(UTC)
    values: dict = dict(
        question_id=uuid.uuid4(),
        reference="OD-" + uuid.uuid4().hex[:4].upper() + "-" + uuid.uuid4().hex[4:8].upper(),
        channel="web",
        topic="angst",
        pc4=None,
        language="nl",
        professional_help_advised=False,
        wants_to_start_group=False,
        consent_version="consent-test",
        consent_share=True,
        consent_statistics=False,
        received_at=now,
        respond_before=now + timedelta(hours=24),
    )
    return QuestionReceived(**{**values, **overrides})


def routed_values(**overrides: object) -> dict:
    """The fields of a valid question.routed.v1, for tests that also build invalid ones."""
    now = datetime.now(UTC)
    values: dict = dict(
        question_id=uuid.uuid4(),
        reference="OD-ABCD-2345",
        group_id="rouwgroep",
        contact_id="c-1",
        reason="topic+municipality",
        attempt=1,
        topic="rouw",
        municipality="eindhoven",
        priority=False,
        channel="web",
        received_at=now,
        respond_before=now,
    )
    return {**values, **overrides}


def routed_event(**overrides: object) -> QuestionRouted:
    return QuestionRouted(**routed_values(**overrides))


@dataclass
class Mail:
    to: list[str]
    subject: str
    text: str
    raw: bytes


class MailSink(SmtpSink):
    """A real SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.mails: list[Mail] = []
        self.reply_codes: list[
            str
        ] = []  # queued replies for the next DATA commands, e.g. "451 ..."

    async def handle_DATA(self, _server, _session, envelope) -> str:
        if self.reply_codes:
            return self.reply_codes.pop(0)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        self.mails.append(
            Mail(
                list(envelope.rcpt_tos),
                str(msg["Subject"]),
                body.get_content() if body else "",
                raw,
            )
        )
        return "250 OK"


class Gateway:
    """A tiny SMS gateway: records requests, answers with queued status codes (then 200), 503 to
    everything while `down`, each after `delay` seconds."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict]] = []
        self.statuses: list[int] = []
        self.exchanges: list[tuple[dict[str, str], dict, int]] = []  # with the status answered
        self.down = False
        self.delay = 0.0  # seconds before each answer (a slow gateway)
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(gateway.delay)
                gateway.requests.append((dict(self.headers), body))
                status = gateway.statuses.pop(0) if gateway.statuses else 200
                status = 503 if gateway.down else status
                gateway.exchanges.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/send"

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class System(harness.System):
    """Four real service processes (started by `opendeur up`) on real infrastructure, with the
    test suite's settings (opendeur/devtools/harness.py starts and stops them)."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **clean_env(),
            **self.wiring(),
            "OPENDEUR_SECRET_KEY": SECRET,
            "OPENDEUR_ADMIN_TOKEN": ADMIN,
            "OPENDEUR_MACHINE_TOKENS": TEST_MACHINE_TOKENS,
            # Many tests' questions go to the same demo contacts within an hour; the hold
            # after too many views has its own test (tests/security/test_forged_links.py).
            "OPENDEUR_CONTACT_VIEW_ALERT": "1000",
            "OPENDEUR_INTAKE_RATE": "off",  # many tests post from one address; the limit has its own tests
            **self.extra_env,
        }

    def log_events(self, name: str) -> list[dict]:
        """Every JSON log line of the services whose event is `name`, oldest first per file."""
        found = []
        for line in self.logs().splitlines():
            if name not in line or not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == name:
                found.append(entry)
        return found

    async def wait_mail(self, predicate, timeout: float = 30) -> Mail:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.smtp.mails:
                if predicate(m):
                    return m
            await asyncio.sleep(0.05)
        raise TimeoutError(
            "no such mail arrived; got subjects: " + str([m.subject for m in self.smtp.mails])
        )

    async def audit_events(self, question_id: str) -> list[dict]:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            r = await c.get(
                self.url("audit") + "/api/v1/audit/events", params={"question_id": question_id}
            )
            r.raise_for_status()
            return r.json()

    async def wait_audit(
        self, question_id: str, types: list[str], timeout: float = 30
    ) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            events = await self.audit_events(question_id)
            got = [e["type"] for e in events]
            if all(t in got for t in types):
                return events
            if time.monotonic() > deadline:
                raise TimeoutError(f"audit has {got}, expected {types}")
            await asyncio.sleep(0.1)


GROUPS_CSV = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven;Veldhoven,no,Anna Rouw,anna.rouw@example.org,3
Online Angst,angst,,yes,Bram Angst,bram.angst@example.org,100
"""
# The suite's one shared system (tests/conftest.py `system`): Anna with the most places a contact
# can set on her own page (20), so a test's rouw question from Eindhoven is not sent to triage
# because earlier tests on the same system left her 3 places taken (seen in full runs). Tests
# that change her capacity put this back.
ANNA_SHARED_PLACES = "20"
SHARED_GROUPS_CSV = GROUPS_CSV.replace(
    "anna.rouw@example.org,3", f"anna.rouw@example.org,{ANNA_SHARED_PLACES}"
)
assert SHARED_GROUPS_CSV != GROUPS_CSV, "Anna's row in GROUPS_CSV changed: update SHARED_GROUPS_CSV"


def start_up(
    args: list[str], env: dict[str, str], timeout: float = 120, **popen: object
) -> tuple[subprocess.Popen, str]:
    """`opendeur up ARGS` as a person runs it; returns once it has printed its URLs, with what it
    printed so far. The caller stops it with stop_up (or a signal of its own, then stop_up)."""
    proc = run_up(args, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)
    out = ""
    try:
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops everything" not in out:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, out
            out += line
            assert time.monotonic() < deadline, out
    except BaseException:
        stop_up(proc, timeout=0)
        raise
    return proc, out


def start_system(
    tmp: Path,
    pg: Postgres,
    groups_csv: str = GROUPS_CSV,
    smtp: MailSink | None = None,
    system_class: type[System] | None = None,
    **env: str,
) -> System:
    """A whole system of its own (broker, database, SMTP sink), its groups imported; if it
    cannot be started, what was started of it is stopped before the error goes on."""
    s = (system_class or System)(
        data_dir=tmp,
        nats=NatsServer(tmp / "nats").start(),
        pg=pg,
        database=f"od_{uuid.uuid4().hex[:8]}",
        smtp=smtp or MailSink().start(),
        extra_env=env,
    )
    try:
        s.start()
        csv = tmp / "groups.csv"
        csv.write_text(groups_csv)
        result = s.opendeur("groups", "import", str(csv))
        assert result.returncode == 0, result.stderr
    except BaseException:
        s.stop()
        s.nats.stop()
        if smtp is None:
            s.smtp.stop()
        raise
    return s


def stop_system(s: System) -> None:
    s.stop()
    s.smtp.stop()
    s.nats.stop()


LINK = re.compile(r"(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_.\-]+)")


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from a /metrics page (None: not there)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def question(phone: str = "06 12345678", **overrides) -> dict:
    body = {
        "channel": "web",
        "for_self": True,
        "topic": "rouw",
        "story": None,
        "phone": phone,
        "postcode": "5611",
        "language": "nl",
        "consent": {"share_with_contact": True, "statistics": True},
        "wants_to_start_group": False,
    }
    body.update(overrides)
    return body


# The phone console (intake): its forms carry a CSRF token.
def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


async def login(
    c: httpx.AsyncClient, name: str, password: str, next_: str = "/phone"
) -> httpx.Response:
    """The one staff sign-in (intake's /staff/login, on a client whose base is intake), on the
    way to `next_` (the phone console); the answer to the post, not followed."""
    page = await c.get("/staff/login", params={"next": next_})
    return await c.post(
        "/staff/login",
        data={"csrf": csrf(page.text), "name": name, "password": password, "next": next_},
        follow_redirects=False,
    )


async def new_volunteer(
    c: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> tuple[str, str]:
    """A fresh phone-console user, signed in, with the one-time password already changed."""
    from services.intake import users

    name = f"vrijwilliger-{uuid.uuid4().hex[:8]}"
    once = await users.add_user(sessions, name, "phone")
    r = await login(c, name, once)
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/password")
    page = await c.get(r.headers["location"])
    new = f"lang-genoeg-{uuid.uuid4().hex[:8]}"
    r = await c.post(
        "/staff/password",
        data={"csrf": csrf(page.text), "password": new, "password2": new, "next": "/phone"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/phone")
    return name, new


# Staff accounts with roles (intake's one sign-in, opendeur/staff.py).
def add_staff(system: System, *roles: str) -> tuple[str, str]:
    """A new account with these roles through `opendeur users add`; (name, one-time password)."""
    name = f"staf-{uuid.uuid4().hex[:8]}"
    args = [a for r in roles for a in ("--role", r)]
    result = system.opendeur("users", "add", name, *args)
    assert result.returncode == 0, result.stderr
    return name, result.stdout.strip().rsplit(" ", 1)[-1]


async def staff_sign_in(c: httpx.AsyncClient, intake: str, name: str, password: str) -> str:
    """Sign in at intake's /staff/login (choosing a new password when asked); returns it."""
    page = await c.get(intake + "/staff/login")
    r = await c.post(
        intake + "/staff/login",
        data={"csrf": csrf(page.text), "name": name, "password": password},
        follow_redirects=False,
    )
    assert r.status_code == 303, (r.status_code, r.text[:300])
    if r.headers["location"].startswith("/staff/password"):
        page = await c.get(intake + "/staff/password")
        password = f"lang-genoeg-{uuid.uuid4().hex[:8]}"
        r = await c.post(
            intake + "/staff/password",
            data={"csrf": csrf(page.text), "password": password, "password2": password},
            follow_redirects=False,
        )
        assert r.status_code == 303, (r.status_code, r.text[:300])
    return password


async def staff_client(system: System, *roles: str) -> httpx.AsyncClient:
    """A browser-like client (cookies, follows redirects) signed in with a new account."""
    c = httpx.AsyncClient(follow_redirects=True, timeout=30)
    name, once = add_staff(system, *roles)
    await staff_sign_in(c, system.url("intake"), name, once)
    return c


async def until_a_lock_wait(
    conn: asyncpg.Connection,
    *,
    role: str | None = None,
    running: asyncio.Task | None = None,
    timeout: float = 60.0,
) -> None:
    """Until a statement in `conn`'s database (of `role`, if given) waits for a lock; `running`,
    the task that should come to wait, must not have ended meanwhile."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await asyncio.sleep(0.05)
        waiting = await conn.fetchval(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and datname = current_database() and ($1::text is null or usename = $1)",
            role,
        )
        if running is not None:
            assert not running.done(), running
        if waiting:
            return
        assert asyncio.get_running_loop().time() < deadline, "nothing came to wait for a lock"
