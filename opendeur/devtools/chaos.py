"""`make chaos` / `python -m opendeur.devtools.chaos`: the whole system under faults, then the
promises checked.

The system runs on real parts: a nats-server and a PostgreSQL of this driver's own (so it can stop
and start them on the same port and store), a real SMTP sink (aiosmtpd) that keeps every mail, and
`opendeur up` supervising the four services (it restarts a child that dies). A steady stream of
questions is posted to intake while, at random moments, each service is killed with SIGKILL in
turn, nats-server is restarted (SIGTERM or SIGKILL, same port and store) and PostgreSQL is
restarted (fast shutdown, same port and data directory). Then, once the system is quiet:

- every accepted question (every 202) reached exactly one terminal state: its contact person got
  the notification mail (matched on the reference in the mail), or it is in the team's queue;
- no (reference, recipient) got more than one notification mail;
- the audit trail has each question's events exactly once (no duplicate event id, the expected
  types once each) and its hash chain verifies.

A send that may have happened but was not recorded (notify killed, or its database gone, between
the SMTP reply and the commit) is handed to the team as `delivery_uncertain` by design: such a
question counts as "team queue (uncertain send)", never as lost, and at most one mail may exist.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from opendeur.devtools import harness
from opendeur.devtools.harness import SERVICES

ROOT = harness.ROOT
FAULT_KINDS = (
    "kill_intake",
    "kill_routing",
    "kill_notify",
    "kill_audit",
    "restart_nats",
    "restart_postgres",
)
REF = re.compile(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}")
# Fresh for each run: the run's data directory is thrown away anyway.
SECRET = secrets.token_urlsafe(32)
ADMIN = secrets.token_urlsafe(24)
RETRY_FOR = 120.0  # seconds a POST is retried while intake refuses connections
TEAM_EMAIL = "team@zelfhulpnetwerk.invalid"
# Capacity far above the run, so every matched question is routed to a contact.
GROUPS_CSV = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Chaos Rouw,rouw,Eindhoven;Veldhoven,no,Chaos A,chaos.rouw@example.org,1000000
Chaos Angst,angst,,yes,Chaos B,chaos.angst@example.org,1000000
Chaos Depressie,depressie,Helmond,yes,Chaos C,chaos.depressie@example.org,1000000
"""
# (topic, postcode, expected end): most go to a contact; some cannot be matched (rouw has no
# online group, so a postcode outside the table goes to the team; verslaving has no group).
MIX = [
    ("rouw", "5611", "contact"),
    ("rouw", "5612", "contact"),
    ("angst", "5611", "contact"),
    ("angst", "9999", "contact"),
    ("depressie", "5701", "contact"),
    ("depressie", "1012", "contact"),
    ("rouw", "1012", "team"),
    ("verslaving", "5611", "team"),
]
MIX_WEIGHTS = [3, 2, 3, 1, 2, 1, 1, 1]


# --------------------------------------------------------------------------------------- mail


@dataclass
class Mail:
    at: float
    to: tuple[str, ...]
    subject: str
    reference: str | None
    message_id: str


class MailSink(harness.SmtpSink):
    """A real SMTP server (aiosmtpd) that notes every mail: when, to whom, which reference."""

    def __init__(self) -> None:
        super().__init__()
        self.mails: list[Mail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server, _session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(msg["Subject"] or "")
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body else ""
        m = REF.search(subject) or REF.search(text)
        with self.lock:
            self.mails.append(
                Mail(
                    time.monotonic(),
                    tuple(r.lower() for r in envelope.rcpt_tos),
                    subject,
                    m.group(0) if m else None,
                    str(msg["Message-ID"] or ""),
                )
            )
        return "250 OK"

    def snapshot(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)


# ------------------------------------------------------------------------------------- system


@dataclass
class ChaosSystem(harness.System):
    """Broker, database and SMTP sink owned by the driver (it stops and starts them on the same
    port and store); the services under `opendeur up` (opendeur/devtools/harness.py)."""

    smtp: MailSink  # type: ignore[assignment]

    @classmethod
    def launch(cls, data_dir: Path, extra_env: dict[str, str]) -> ChaosSystem:
        """Fresh parts, `opendeur up` (once more if it gave up on a starved machine), the
        groups imported; what was started is stopped if that fails."""
        nats, pg = harness.start_parts(data_dir)
        system = cls(data_dir, nats, pg, "opendeur_chaos", MailSink().start(), extra_env=extra_env)
        try:
            system.start(timeout=180, attempts=2)
            system.import_groups(GROUPS_CSV)
        except BaseException:
            system.stop()
            raise
        return system

    @property
    def env(self) -> dict[str, str]:
        return {
            **harness.clean_env(),
            **self.wiring(),
            "OPENDEUR_SECRET_KEY": SECRET,
            "OPENDEUR_ADMIN_TOKEN": ADMIN,
            # The admin token reads audit only; the chaos checks also read the team's queue.
            "OPENDEUR_MACHINE_TOKENS": "chaos:triage-read:"
            + hashlib.sha256(ADMIN.encode()).hexdigest(),
            "OPENDEUR_INTAKE_RATE": "off",  # one client address posts everything
            "OPENDEUR_TEAM_EMAIL": TEAM_EMAIL,
            "OPENDEUR_NOTIFY_DIGEST_HOUR": "off",  # the daily digest is not a notification
            **self.extra_env,
        }

    async def healthy_async(self, client: httpx.AsyncClient) -> set[str]:
        async def one(s: str) -> str | None:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(self.url(s) + "/healthz", timeout=2)).status_code == 200:
                    return s
            return None

        return {s for s in await asyncio.gather(*(one(s) for s in SERVICES)) if s}

    async def wait_healthy_async(self) -> None:
        """Like wait_healthy, without holding a thread (several recoveries wait at once)."""
        async with httpx.AsyncClient() as client:
            while await self.healthy_async(client) != set(SERVICES):  # noqa: ASYNC110 (polls HTTP)
                await asyncio.sleep(0.2)

    def service_pids(self) -> dict[str, int]:
        """The `opendeur serve SERVICE` children of `opendeur up`, from /proc."""
        assert self.proc
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            args = [a.decode() for a in argv if a]
            if "serve" in args and args.index("serve") + 1 < len(args):
                found[args[args.index("serve") + 1]] = int(entry.name)
        return found

    def stop(self) -> None:
        """`up` with its services (SIGTERM, then its process group killed), then the parts."""
        super().stop()
        self.smtp.stop()
        self.nats.stop()
        self.pg.stop()


# ------------------------------------------------------------------------------------- faults


@dataclass
class Fault:
    kind: str
    at: float  # seconds since the run started
    detail: str
    down_s: float = 0.0  # how long the part was away (restarts)
    recovered_s: float | None = None  # until every service answered /healthz 200 again
    probe: str | None = None  # restart_postgres: intake's answer to a POST while the db is away


@dataclass
class Outages:
    """Windows (monotonic) in which the database was deliberately down, until all were healthy."""

    db: list[tuple[float, float]] = field(default_factory=list)
    open_since: list[float] = field(default_factory=list)  # outages not yet recovered from

    def db_down(self, t0: float, t1: float) -> bool:
        if any(t1 >= a for a in self.open_since):
            return True
        return any(a <= t1 and t0 <= b for a, b in self.db)


def plan_faults(rng: random.Random, rounds: int) -> list[str]:
    """Each kind once per round, in a random order per round."""
    plan: list[str] = []
    for _ in range(rounds):
        kinds = list(FAULT_KINDS)
        rng.shuffle(kinds)
        plan.extend(kinds)
    return plan


async def inject(
    system: ChaosSystem, kind: str, rng: random.Random, outages: Outages, start: float
) -> tuple[Fault, asyncio.Task]:
    """Do one fault now; returns it and a task that notes when every service is healthy again.

    Faults do not wait for the previous one's recovery: a kill may hit a service that is still
    catching up after a broker restart, as it would in real life."""
    assert system.nats and system.pg
    t0 = time.monotonic()
    if kind.startswith("kill_"):
        fault = await kill_service(system, kind, t0, start)
    elif kind == "restart_nats":
        fault = await restart_nats(system, rng, t0, start)
    elif kind == "restart_postgres":
        outages.open_since.append(t0)
        fault = await restart_postgres(system, rng, t0, start)
    else:
        raise ValueError(kind)
    return fault, asyncio.create_task(recovery(system, fault, outages, t0))


async def kill_service(system: ChaosSystem, kind: str, t0: float, start: float) -> Fault:
    """SIGKILL a service (kill_<service>), once the supervisor has it running again."""
    service = kind[5:]
    pid = None
    while pid is None:  # a service killed in the previous round may still be starting
        pid = system.service_pids().get(service)
        if pid is None:
            if time.monotonic() - t0 > 120:
                raise TimeoutError(f"{service} was not restarted by the supervisor")
            await asyncio.sleep(0.2)
    at = round(time.monotonic() - start, 2)
    os.kill(pid, signal.SIGKILL)
    return Fault(kind, at, f"SIGKILL pid {pid}")


async def restart_nats(system: ChaosSystem, rng: random.Random, t0: float, start: float) -> Fault:
    """Stop the broker (SIGTERM or SIGKILL) for 1-4 s, then start it on the same port and store."""
    assert system.nats
    at = round(t0 - start, 2)
    down = rng.uniform(1.0, 4.0)
    how = rng.choice(["SIGTERM", "SIGKILL"])
    await asyncio.to_thread(system.nats.stop, how == "SIGKILL")
    await asyncio.sleep(down)
    await asyncio.to_thread(system.nats.start)
    return Fault("restart_nats", at, f"{how}, same port and store", round(time.monotonic() - t0, 2))


async def restart_postgres(
    system: ChaosSystem, rng: random.Random, t0: float, start: float
) -> Fault:
    """Stop the database (fast shutdown: every connection cut) for 1-4 s, posting a question
    while it is away, then start it on the same port and data dir."""
    assert system.pg
    at = round(t0 - start, 2)
    down = rng.uniform(1.0, 4.0)
    await asyncio.to_thread(system.pg.stop)
    t_probe = time.monotonic()
    probe = await probe_post(system)
    await asyncio.sleep(max(0.0, down - (time.monotonic() - t_probe)))
    await asyncio.to_thread(system.pg.start)
    return Fault(
        "restart_postgres",
        at,
        "fast shutdown, same port and data dir",
        round(time.monotonic() - t0, 2),
        probe=probe,
    )


async def recovery(system: ChaosSystem, fault: Fault, outages: Outages, t0: float) -> None:
    """Note on the fault how long until every service was healthy again."""
    t_rec = time.monotonic()
    await asyncio.sleep(1.2)  # the supervisor looks every 0.5 s and waits 0.5 s
    try:
        async with asyncio.timeout(300):
            await system.wait_healthy_async()
    except TimeoutError:
        fault.detail += "; not all healthy within 300 s"
    else:
        fault.recovered_s = round(time.monotonic() - t_rec, 2)
    if fault.kind == "restart_postgres":  # the outage lasts until the services have reconnected
        outages.open_since.remove(t0)
        outages.db.append((t0, time.monotonic()))


def question_body(topic: str, postcode: str, phone: str) -> dict[str, Any]:
    """A web-form question as a help-seeker sends it (a generated phone number, no story)."""
    return {
        "channel": "web",
        "for_self": True,
        "topic": topic,
        "story": None,
        "phone": phone,
        "postcode": postcode,
        "language": "nl",
        "consent": {"share_with_contact": True, "statistics": True},
        "wants_to_start_group": False,
    }


async def probe_post(system: ChaosSystem) -> str:
    """One extra question (not counted) while the database is away: how does intake say no?
    If intake itself is restarting, the database stays away until intake answers."""
    body = question_body("angst", "5611", "0612345678")
    t0 = time.monotonic()
    async with httpx.AsyncClient() as client:
        while True:  # intake may be restarting itself: the database stays away until it answers
            try:
                url = system.url("intake") + "/api/v1/questions"
                r = await client.post(url, json=body, timeout=10)
                return f"http {r.status_code}"
            except httpx.ConnectError:
                if time.monotonic() - t0 > 90:
                    return "ConnectError"
                await asyncio.sleep(0.5)
            except httpx.HTTPError as exc:
                return type(exc).__name__


# ------------------------------------------------------------------------------------- load


@dataclass
class Post:
    i: int
    topic: str
    postcode: str
    expected: str
    sent: float
    done: float = 0.0
    attempt_at: float = 0.0  # start of the last attempt (the one answered 202, if any)
    retries: int = 0
    status: int | None = None
    error: str | None = None
    question_id: str | None = None
    reference: str | None = None


async def post_one(client: httpx.AsyncClient, base: str, p: Post, posts: list[Post]) -> None:
    body = question_body(p.topic, p.postcode, f"06{10_000_000 + p.i:08d}")
    while True:
        p.attempt_at = time.monotonic()
        try:
            r = await client.post(base + "/api/v1/questions", json=body, timeout=90)
        except httpx.ConnectError as exc:
            # Nothing was sent (intake is restarting): the person presses "send" again.
            if time.monotonic() - p.sent < RETRY_FOR:
                p.retries += 1
                await asyncio.sleep(random.uniform(0.5, 1.5))
                continue
            p.error = type(exc).__name__
        except httpx.HTTPError as exc:
            p.error = type(exc).__name__  # sent, answer lost: do not retry (it may be stored)
        else:
            p.status = r.status_code
            if r.status_code == 202:
                data = r.json()
                p.question_id, p.reference = data["question_id"], data["reference"]
        break
    p.done = time.monotonic()
    posts.append(p)


async def feed(
    system: ChaosSystem, n: int, rate: float, rng: random.Random, posts: list[Post]
) -> None:
    base = system.url("intake")
    start = time.monotonic()
    tasks = []
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            (topic, postcode, expected) = rng.choices(MIX, MIX_WEIGHTS)[0]
            p = Post(i, topic, postcode, expected, time.monotonic())
            tasks.append(asyncio.create_task(post_one(client, base, p, posts)))
        await asyncio.gather(*tasks)


# ------------------------------------------------------------------------------------- checks


async def audit_all(client: httpx.AsyncClient, base: str) -> list[dict]:
    events: list[dict] = []
    after = 0
    while True:
        r = await client.get(
            base + "/api/v1/audit/events", params={"after": after, "limit": 5000}, timeout=60
        )
        r.raise_for_status()
        page = r.json()
        events.extend(page)
        if len(page) < 5000:
            return events
        after = page[-1]["seq"]


@dataclass
class Snapshot:
    mails: list[Mail]
    queue: set[str]
    events: list[dict]
    backlog: dict[str, int] = field(default_factory=dict)
    stored: dict[str, str] = field(default_factory=dict)  # reference -> question_id (intake)


async def stored_questions(system: ChaosSystem) -> dict[str, str]:
    """Every question intake stored (reference -> id), acknowledged to the client or not."""
    import asyncpg

    assert system.pg
    conn = await asyncpg.connect(system.pg.url(system.database), timeout=10)
    try:
        rows = await conn.fetch("select reference, question_id::text as q from intake.questions")
        return {r["reference"]: r["q"] for r in rows}
    finally:
        await conn.close()


async def backlog(system: ChaosSystem) -> dict[str, int]:
    """Work still in flight, read straight from the database: unpublished outbox rows per
    service and notifications not yet finished (`sending` ones become uncertain after
    OPENDEUR_NOTIFY_STUCK_AFTER)."""
    import asyncpg

    assert system.pg
    conn = await asyncpg.connect(system.pg.url(system.database), timeout=10)
    try:
        out = {}
        for s in SERVICES:
            out[f"{s}.outbox"] = await conn.fetchval(f"select count(*) from {s}.outbox")  # noqa: S608
        for status in ("queued", "sending"):
            out[f"notify.{status}"] = await conn.fetchval(
                "select count(*) from notify.notifications where status = $1", status
            )
        return out
    finally:
        await conn.close()


async def snapshot(system: ChaosSystem) -> Snapshot:
    assert system.smtp
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(headers=headers) as client:
        r = await client.get(system.url("routing") + "/api/v1/triage", timeout=60)
        r.raise_for_status()
        queue = {str(q["question_id"]) for q in r.json()}
        events = await audit_all(client, system.url("audit"))
    return Snapshot(
        system.smtp.snapshot(), queue, events, await backlog(system), await stored_questions(system)
    )


# What the trail holds for a question at each end state (none checked for "both" or "lost").
EXPECTED_EVENTS: dict[str, dict[str, int]] = {
    "notified": {"question.received.v1": 1, "question.routed.v1": 1, "contact.notified.v1": 1},
    "team_uncertain": {
        "question.received.v1": 1,
        "question.routed.v1": 1,
        "notification.failed.v1": 1,
        "question.unmatched.v1": 1,
    },
    "team": {"question.received.v1": 1, "question.unmatched.v1": 1},
}


def end_state(mailed: bool, in_queue: bool, types: Counter[str]) -> str:
    """Where a question ended: notified, team, team_uncertain (handed to the team: the send may
    or may not have happened), both (queued and mailed), notified_after_uncertain (handed to the
    team as uncertain, and then the send was recorded after all), or lost."""
    failed = types["notification.failed.v1"] > 0
    if mailed and not in_queue:
        return "notified"
    if not in_queue:
        return "lost"
    if failed:
        return "notified_after_uncertain" if types["contact.notified.v1"] else "team_uncertain"
    return "both" if mailed else "team"


@dataclass
class Verdict:
    """What `classify` counts over the accepted questions."""

    states: Counter[str] = field(default_factory=Counter)
    lost: list[dict] = field(default_factory=list)
    both: list[dict] = field(default_factory=list)
    audit_bad: list[dict] = field(default_factory=list)
    dup_mails: list[dict] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    uncertain_mailed: int = 0

    def add(self, p: Post, mails: list[Mail], evs: list[dict], in_queue: bool) -> None:
        """One accepted question: its mails (the team's left out), its events, its end."""
        self.dup_mails += [
            {"reference": p.reference, "to": rcpt, "mails": count, "qid": p.question_id}
            for rcpt, count in Counter(r for m in mails for r in m.to).items()
            if count > 1
        ]
        types = Counter(e["type"] for e in evs)
        kind = end_state(bool(mails), in_queue, types)
        self.states["both" if kind == "notified_after_uncertain" else kind] += 1
        if kind in ("notified", "team_uncertain") and mails and p.status == 202:
            self.waits.append(min(m.at for m in mails) - p.attempt_at)
        if kind == "team_uncertain" and mails:
            self.uncertain_mailed += 1
        self.note(p, kind, types, len(mails))
        self.check_audit(p, evs, types, EXPECTED_EVENTS.get(kind, {}))

    def note(self, p: Post, kind: str, types: Counter[str], mails: int) -> None:
        """The questions a reader of the report looks at one by one."""
        record = {"reference": p.reference, "qid": p.question_id}
        if kind == "notified_after_uncertain":
            why = "contact.notified after delivery_uncertain"
            self.both.append({**record, "why": why, "audit": dict(types), "mails": mails})
        elif kind == "both":
            self.both.append({**record, "audit": dict(types)})
        elif kind == "lost":
            self.lost.append({**record, "expected": p.expected, "audit": dict(types)})

    def check_audit(
        self, p: Post, evs: list[dict], types: Counter[str], expect: dict[str, int]
    ) -> None:
        problems = []
        if any(c > 1 for c in Counter(e.get("event_id") for e in evs).values()):
            problems.append("duplicate event_id")
        if expect and dict(types) != expect:
            problems.append(f"types {dict(types)} != {expect}")
        if problems:
            self.audit_bad.append(
                {"reference": p.reference, "qid": p.question_id, "problems": problems}
            )


def classify(accepted: list[Post], snap: Snapshot) -> dict[str, Any]:
    """Per accepted question: its terminal state, its mails, its audit events; and violations."""
    mails_by_ref: dict[str, list[Mail]] = defaultdict(list)
    for m in snap.mails:
        if m.reference:
            mails_by_ref[m.reference].append(m)
    events_by_q: dict[str, list[dict]] = defaultdict(list)
    for e in snap.events:
        if e.get("question_id"):
            events_by_q[str(e["question_id"])].append(e)
    verdict = Verdict()
    for p in accepted:
        assert p.reference and p.question_id
        mails = [m for m in mails_by_ref.get(p.reference, []) if TEAM_EMAIL not in m.to]
        evs = events_by_q.get(p.question_id, [])
        verdict.add(p, mails, evs, p.question_id in snap.queue)
    all_ids = Counter(e.get("event_id") for e in snap.events)
    return {
        "states": dict(verdict.states),
        "lost": verdict.lost,
        "both": verdict.both,
        "duplicate_mails": verdict.dup_mails,
        "audit_mismatch": verdict.audit_bad,
        "duplicate_event_ids_total": sum(c - 1 for c in all_ids.values() if c > 1),
        "audit_events_total": len(snap.events),
        "waits": verdict.waits,
        "uncertain_mailed": verdict.uncertain_mailed,
    }


def unacknowledged(accepted: list[Post], snap: Snapshot) -> list[Post]:
    """Questions intake stored although the client got no 202 (its connection was cut or it
    gave up waiting): the system has them, so they too must reach an end, once."""
    known = {p.reference for p in accepted}
    return [
        Post(-1, "?", "?", "?", 0.0, question_id=qid, reference=ref)
        for ref, qid in sorted(snap.stored.items())
        if ref not in known
    ]


def settled(snap: Snapshot, result: dict[str, Any]) -> bool:
    """Nothing in flight any more and every accepted question at an end."""
    return not any(snap.backlog.values()) and not result["lost"] and not result["audit_mismatch"]


# ---------------------------------------------------------------------------------------- run


@dataclass
class Options:
    questions: int = 500
    seed: int = 1
    rate: float = 5.0
    rounds: int | None = None  # fault rounds (each kind once per round); None: from questions
    stuck_after: float = 60.0  # OPENDEUR_NOTIFY_STUCK_AFTER: unrecorded sends go to the team
    quiesce_timeout: float = 300.0
    data_dir: Path | None = None


async def run(opts: Options) -> dict[str, Any]:
    rng = random.Random(opts.seed)
    data_dir = opts.data_dir or Path(tempfile.mkdtemp(prefix="opendeur-chaos-"))
    extra_env = {
        "OPENDEUR_NOTIFY_STUCK_AFTER": str(opts.stuck_after),
        "OPENDEUR_NOTIFY_SEND_TIMEOUT": str(min(10.0, opts.stuck_after / 2)),
        "OPENDEUR_NOTIFY_RETRY_BASE": "0.5",
    }
    t_wall = time.monotonic()
    print(f"chaos: starting the system in {data_dir}", flush=True)
    system = await asyncio.to_thread(ChaosSystem.launch, data_dir, extra_env)
    posts: list[Post] = []
    faults: list[Fault] = []
    recoveries: list[asyncio.Task] = []
    outages = Outages()
    feed_s = opts.questions / opts.rate
    rounds = opts.rounds or max(1, round(feed_s / 60))
    plan = plan_faults(rng, rounds)
    try:
        start = time.monotonic()
        print(
            f"chaos: {opts.questions} questions at {opts.rate}/s (~{feed_s:.0f} s), "
            f"{len(plan)} faults (seed {opts.seed})",
            flush=True,
        )
        feeder = asyncio.create_task(feed(system, opts.questions, opts.rate, rng, posts))
        # Faults at random moments, spread over the feeding window (the last a bit before its end).
        slot = feed_s * 0.9 / len(plan)
        for k, kind in enumerate(plan):
            when = start + slot * k + rng.uniform(0.15, 0.85) * slot
            await asyncio.sleep(max(0.0, when - time.monotonic()))
            fault, recovering = await inject(system, kind, rng, outages, start)
            faults.append(fault)
            recoveries.append(recovering)
            print(
                f"chaos: t={fault.at:6.1f}s {fault.kind:<17} {fault.detail}"
                + (f" (away {fault.down_s}s)" if fault.down_s else ""),
                flush=True,
            )
        await feeder
        t_fed = time.monotonic() - start
        await asyncio.gather(*recoveries)
        last_fault_end = time.monotonic()
        accepted = [p for p in posts if p.status == 202]
        print(f"chaos: fed in {t_fed:.0f}s, {len(accepted)} accepted; waiting", flush=True)

        # Quiet: no outbox row, no notification queued or in flight (an unrecorded send becomes
        # "uncertain" after OPENDEUR_NOTIFY_STUCK_AFTER), every accepted question at an end.
        deadline = time.monotonic() + opts.quiesce_timeout
        while True:
            try:
                snap = await snapshot(system)
            except Exception as exc:  # a service or the database is still away
                print(f"chaos: not answering yet ({type(exc).__name__}); waiting", flush=True)
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(2)
                continue
            result = classify(accepted + unacknowledged(accepted, snap), snap)
            if settled(snap, result):
                await asyncio.sleep(5)  # a late duplicate would show up now
                snap = await snapshot(system)
                result = classify(accepted + unacknowledged(accepted, snap), snap)
                break
            if time.monotonic() > deadline:
                print(f"chaos: not quiet after {opts.quiesce_timeout}s: {snap.backlog}", flush=True)
                break
            await asyncio.sleep(2)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            verify = (
                await client.get(system.url("audit") + "/api/v1/audit/verify", timeout=300)
            ).json()
        quiet_s = time.monotonic() - last_fault_end
    finally:
        await asyncio.to_thread(system.stop)
    return report(
        opts, posts, faults, outages, snap, result, verify, t_fed, quiet_s, t_wall, data_dir, start
    )


def report(
    opts: Options,
    posts: list[Post],
    faults: list[Fault],
    outages: Outages,
    snap: Snapshot,
    result: dict[str, Any],
    verify: dict,
    t_fed: float,
    quiet_s: float,
    t_wall: float,
    data_dir: Path,
    t_start: float,
) -> dict[str, Any]:
    accepted = [p for p in posts if p.status == 202]
    refused: Counter[str] = Counter()
    for p in posts:
        if p.status == 202:
            continue
        why = f"http {p.status}" if p.status else p.error or "?"
        where = "db down" if outages.db_down(p.attempt_at, p.done) else "other"
        refused[f"{why} ({where})"] += 1
    known = {p.reference for p in accepted}
    unacked_refs = {m.reference for m in snap.mails if m.reference and m.reference not in known}
    stored_unacked = sorted(ref for ref in snap.stored if ref not in known)
    missing_in_intake = sorted(ref for ref in known if ref not in snap.stored)
    waits = sorted(result.pop("waits"))
    per_kind = Counter(f.kind for f in faults)
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {
            "questions": opts.questions,
            "seed": opts.seed,
            "rate_per_s": opts.rate,
            "notify_stuck_after_s": opts.stuck_after,
        },
        "data_dir": str(data_dir),
        "posted": len(posts),
        "accepted": len(accepted),
        "refused": dict(refused),
        "refused_while_db_down": sum(v for k, v in refused.items() if k.endswith("(db down)")),
        "refused_other": sum(v for k, v in refused.items() if not k.endswith("(db down)")),
        "posts_retried_after_connection_refused": sum(1 for p in posts if p.retries),
        "backlog_at_end": snap.backlog,
        "mails_total": len(snap.mails),
        "mails_for_unacknowledged_posts": len(unacked_refs),
        "unacknowledged_references_mailed": sorted(unacked_refs),
        "stored_without_202": stored_unacked,
        "accepted_but_not_stored": missing_in_intake,
        "faults": [f.__dict__ for f in faults],
        "db_outages_s": [(round(a - t_start, 2), round(b - t_start, 2)) for a, b in outages.db],
        "posts": [
            {
                "i": p.i,
                "topic": p.topic,
                "postcode": p.postcode,
                "sent_s": round(p.sent - t_start, 2),
                "last_attempt_s": round(p.attempt_at - t_start, 2),
                "done_s": round(p.done - t_start, 2),
                "retries": p.retries,
                "status": p.status,
                "error": p.error,
                "reference": p.reference,
            }
            for p in sorted(posts, key=lambda p: p.i)
        ],
        "faults_per_kind": dict(per_kind),
        "db_down_probe_answers": dict(Counter(f.probe for f in faults if f.probe)),
        "hash_chain": verify,
        "max_wait_post_to_mail_s": round(waits[-1], 2) if waits else None,
        "p50_wait_post_to_mail_s": round(waits[len(waits) // 2], 2) if waits else None,
        "p95_wait_post_to_mail_s": round(waits[int(len(waits) * 0.95)], 2) if waits else None,
        "feed_seconds": round(t_fed, 1),
        "settle_seconds_after_last_fault": round(quiet_s, 1),
        "wall_seconds": round(time.monotonic() - t_wall, 1),
        **result,
    }
    out["ok"] = bool(
        not out["lost"]
        and not out["both"]
        and not out["duplicate_mails"]
        and not out["audit_mismatch"]
        and not out["duplicate_event_ids_total"]
        and verify.get("ok")
        and not any(snap.backlog.values())
        and not missing_in_intake
        and all(per_kind.get(k, 0) >= 1 for k in FAULT_KINDS)
    )
    return out


def table(r: dict[str, Any]) -> str:
    s = r["states"]
    rows = [
        ("questions posted", r["posted"]),
        ("questions accepted (202)", r["accepted"]),
        ("  refused while db down", r["refused_while_db_down"]),
        ("  refused otherwise", r["refused_other"]),
        ("  POSTs retried (intake restarting)", r["posts_retried_after_connection_refused"]),
        (
            "  refusals by cause",
            ", ".join(f"{k}: {v}" for k, v in sorted(r["refused"].items())) or "-",
        ),
        ("questions checked (accepted + stored without a 202)", sum(s.values())),
        ("  notified (mail to the contact)", s.get("notified", 0)),
        ("  in the team's queue (unmatched)", s.get("team", 0)),
        (
            "  in the team's queue (uncertain send)",
            f"{s.get('team_uncertain', 0)} (of which a mail did go out: {r['uncertain_mailed']})",
        ),
        ("LOST (no terminal state)", len(r["lost"])),
        ("mailed AND queued (two terminal states)", len(r["both"])),
        ("duplicated notifications", len(r["duplicate_mails"])),
        ("audit mismatches (per question)", len(r["audit_mismatch"])),
        ("duplicate audit event ids", r["duplicate_event_ids_total"]),
        (
            "audit events / hash chain",
            f"{r['audit_events_total']} / {'ok' if r['hash_chain'].get('ok') else 'BROKEN ' + json.dumps(r['hash_chain'])}",
        ),
        ("faults injected", sum(r["faults_per_kind"].values())),
        *((f"  {k}", r["faults_per_kind"].get(k, 0)) for k in FAULT_KINDS),
        (
            "probe POST while db down answered",
            ", ".join(f"{k}: {v}" for k, v in r["db_down_probe_answers"].items()) or "-",
        ),
        ("longest wait POST → mail (s)", r["max_wait_post_to_mail_s"]),
        (
            "p50 / p95 wait POST → mail (s)",
            f"{r['p50_wait_post_to_mail_s']} / {r['p95_wait_post_to_mail_s']}",
        ),
        (
            "stored without a 202 (client gave up)",
            f"{len(r['stored_without_202'])} (mailed: {r['mails_for_unacknowledged_posts']}; "
            "checked like the accepted ones)",
        ),
        ("202 but not in intake's store", len(r["accepted_but_not_stored"])),
        ("wall time (s)", r["wall_seconds"]),
        ("verdict", "OK" if r["ok"] else "FAILED"),
    ]
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def write_results(r: dict[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = (
        results_dir / f"chaos-{stamp}-{r['options']['questions']}q-seed{r['options']['seed']}.json"
    )
    path.write_text(json.dumps(r, indent=2, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m opendeur.devtools.chaos", description=__doc__.splitlines()[0]
    )
    p.add_argument("--questions", type=int, default=500)
    p.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    p.add_argument("--rate", type=float, default=5.0, help="questions per second")
    p.add_argument("--rounds", type=int, help="fault rounds, each kind once per round")
    p.add_argument("--stuck-after", type=float, default=60.0)
    p.add_argument("--quiesce-timeout", type=float, default=600.0)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--keep", action="store_true", help="keep the data directory after a pass")
    args = p.parse_args(argv)
    opts = Options(
        questions=args.questions,
        seed=args.seed,
        rate=args.rate,
        rounds=args.rounds,
        stuck_after=args.stuck_after,
        quiesce_timeout=args.quiesce_timeout,
        data_dir=args.data_dir,
    )
    r = asyncio.run(run(opts))
    print()
    print(table(r))
    path = write_results(r, args.results_dir)
    print(f"\nresults: {path}")
    for key in ("lost", "both", "duplicate_mails", "audit_mismatch"):
        for item in r[key][:10]:
            print(f"  {key}: {item}")
    if r["ok"] and not args.keep and args.data_dir is None:
        shutil.rmtree(r["data_dir"], ignore_errors=True)
    else:
        print(f"data and logs kept in {r['data_dir']}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
