"""Test support: the whole system on real parts (nats-server, PostgreSQL, SMTP), on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.events import QuestionReceived, QuestionRouted
from opendeur.embedded import NatsServer, Postgres, die_with_parent, free_port

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
STOP_TIMEOUT = 20.0  # seconds `up` has to stop on SIGTERM before its whole group is killed


def run_up(
    args: list[str], env: dict[str, str], **popen: object
) -> subprocess.Popen:  # the caller ends it with stop_up
    """`opendeur up ARGS` as the leader of a process group of its own (its children stay in it),
    so that stop_up can end everything it started, as a process manager does."""
    env = {**env, RUN_MARKER: os.environ.get(RUN_MARKER, "")}
    tie, own = die_with_parent(), popen.pop("preexec_fn", None)

    def preexec() -> None:  # tied to this run first, then what the test asks for
        for fn in (tie, own):
            if fn is not None:
                fn()  # type: ignore[operator]

    return subprocess.Popen(
        [sys.executable, "-m", "opendeur", "up", *args],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        # A test run that is itself killed (SIGTERM to pytest skips every finaliser) takes `up`
        # with it, and `up`'s children die with `up`.
        preexec_fn=preexec,
        **popen,  # type: ignore[arg-type]
    )


def stop_up(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, up to `timeout` seconds for `up` to stop everything, then SIGKILL to its whole
    process group (whatever is left of it). True if `up` stopped on SIGTERM in time."""
    stopped = proc.poll() is not None
    if not stopped:
        proc.terminate()
        try:
            proc.wait(timeout)
            stopped = True
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return stopped


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


class MailSink:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Mail] = []
        self.reply_codes: list[
            str
        ] = []  # queued replies for the next DATA commands, e.g. "451 ..."
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

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

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class System:
    """Four real service processes (started by `opendeur up`) on real infrastructure."""

    data_dir: Path
    nats: NatsServer
    pg: Postgres
    database: str
    smtp: MailSink
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more OPENDEUR_* for every process

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
        env.update(
            {
                "OPENDEUR_NATS_URL": self.nats.url,
                "OPENDEUR_DATABASE_URL": self.pg.url(self.database),
                "OPENDEUR_SMTP_URL": self.smtp.url,
                "OPENDEUR_SECRET_KEY": SECRET,
                "OPENDEUR_ADMIN_TOKEN": ADMIN,
                "OPENDEUR_DATA_DIR": str(self.data_dir),
                "OPENDEUR_LOG_FORMAT": "json",
                "OPENDEUR_MACHINE_TOKENS": TEST_MACHINE_TOKENS,
                # Many tests' questions go to the same demo contacts within an hour; the hold
                # after too many views has its own test (tests/security/test_forged_links.py).
                "OPENDEUR_CONTACT_VIEW_ALERT": "1000",
                "OPENDEUR_INTAKE_RATE": "off",  # many tests post from one address; the limit has its own tests
                "OPENDEUR_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports['intake']}",
                **{f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
                **self.extra_env,
            }
        )
        return env

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> System:
        self.ports = {s: free_port() for s in ("intake", "routing", "notify", "audit")}
        self.pg.ensure_database(self.database)
        log = open(self.data_dir / "up.log", "ab")
        self.proc = run_up([], self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.ports)
        while pending:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError("opendeur up exited:\n" + self.logs())
            for s in list(pending):
                try:
                    if httpx.get(self.url(s) + "/healthz", timeout=1).status_code == 200:
                        pending.discard(s)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not healthy: {pending}\n" + self.logs())
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc:
            stop_up(self.proc)

    def logs(self) -> str:
        parts = []
        for p in sorted(self.data_dir.rglob("*.log")):
            parts.append(p.read_text(errors="replace"))
        return "\n".join(parts)

    def opendeur(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "opendeur", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

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


async def login(c: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    page = await c.get("/phone/login")
    return await c.post(
        "/phone/login", data={"csrf": csrf(page.text), "name": name, "password": password}
    )


async def new_volunteer(
    c: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> tuple[str, str]:
    """A fresh phone-console user, logged in, with the one-time password already changed."""
    from services.intake import users

    name = f"vrijwilliger-{uuid.uuid4().hex[:8]}"
    once = await users.add_user(sessions, name, "phone")
    r = await login(c, name, once)
    assert r.status_code == 303 and r.headers["location"].startswith("/phone/password")
    page = await c.get("/phone/password")
    new = f"lang-genoeg-{uuid.uuid4().hex[:8]}"
    r = await c.post(
        "/phone/password", data={"csrf": csrf(page.text), "password": new, "password2": new}
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
