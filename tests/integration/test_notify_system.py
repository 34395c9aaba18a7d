"""Notify on a private system: a slow mail server, SMS and fallback, two instances, the daily digest."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import nats
import pytest

from contracts.events import QuestionEscalated
from opendeur import timefmt
from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.embedded import NatsServer, Postgres, free_port
from opendeur.keys import Envelope, pseudonym
from opendeur.settings import Settings
from services.notify import store
from tests.support import (
    GROUPS_CSV,
    LINK,
    ROOT,
    SECRET,
    Gateway,
    MailSink,
    System,
    question,
)

GROUPS = (
    GROUPS_CSV
    + "Mantelzorg Online,mantelzorg,,yes,Cees Zorg,cees.zorg@example.org,100\n"
    + "Eenzaamheid Online,eenzaamheid,,yes,Dora Een,dora.een@example.org,100\n"
)
TEAM = "team@zelfhulpnetwerk.invalid"


class SlowSink(MailSink):
    """The test SMTP sink, slow (5 s before answering DATA) for the recipients in `slow`."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: set[str] = set()
        self.arrived: dict[str, float] = {}

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.slow & set(envelope.rcpt_tos):
            await asyncio.sleep(5)
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            self.arrived[self.mails[-1].subject] = time.monotonic()
        return reply


@dataclass
class NotifySystem(System):
    gateway: Gateway | None = None

    def settings(self) -> Settings:
        return Settings(secret_key=SECRET, database_url=self.pg.url(self.database))

    def notify_instance(self, **env: str) -> tuple[subprocess.Popen, int]:
        """One more `opendeur serve notify` on the same broker and database."""
        port = free_port()
        log = open(self.data_dir / f"notify-{port}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "opendeur", "serve", "notify"],
            env={**self.env, "OPENDEUR_NOTIFY_PORT": str(port), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return proc, port
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, self.logs()
            assert time.monotonic() < deadline, "second notify did not become healthy"
            time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def ns(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[NotifySystem]:
    tmp = tmp_path_factory.mktemp("notify")
    gateway = Gateway().__enter__()
    s = NotifySystem(
        data_dir=tmp,
        nats=NatsServer(tmp / "nats").start(),
        pg=pg,
        database=f"od_{uuid.uuid4().hex[:8]}",
        smtp=SlowSink().start(),
        gateway=gateway,
        extra_env={
            "OPENDEUR_SMS_URL": gateway.url,
            "OPENDEUR_SMS_AUTH_HEADER": "Authorization: Bearer sms-test",
            "OPENDEUR_SMS_BODY_TEMPLATE": '{"to": "{to}", "message": "{text}"}',
            "OPENDEUR_NOTIFY_RETRY_BASE": "0.2",
            "OPENDEUR_NOTIFY_DIGEST_HOUR": "off",
        },
    ).start()
    csv = tmp / "groups.csv"
    csv.write_text(GROUPS)
    result = s.opendeur("groups", "import", str(csv))
    assert result.returncode == 0, result.stderr
    yield s
    s.stop()
    s.smtp.stop()
    s.nats.stop()
    gateway.__exit__()


@pytest.fixture
async def addresses(ns: NotifySystem) -> AsyncIterator:
    """Write a contact's addresses the way notify does (encrypted), through its store."""
    settings = ns.settings()
    engine = make_engine(service_url(settings, "notify"), pool_size=1, schema="notify")
    envelope = Envelope.for_service(settings, "notify")

    async def put(email: str, *, mobile: str | None, channel: str) -> str:
        cid = pseudonym(settings, "contact", email)
        async with sessionmaker(engine)() as session, session.begin():
            await store.upsert_contact(
                session, envelope, store.Address(cid, email, mobile, None, channel, "nl")
            )
        return cid

    yield put
    await engine.dispose()


async def ask(s: System, **overrides) -> dict:
    async with httpx.AsyncClient() as c:
        r = await c.post(s.url("intake") + "/api/v1/questions", json=question(**overrides))
        assert r.status_code == 202, r.text
        return r.json()


async def test_a_slow_mail_server_does_not_hold_up_another_contacts_mail(ns: NotifySystem) -> None:
    sink: SlowSink = ns.smtp  # type: ignore[assignment]
    sink.slow = {"anna.rouw@example.org"}
    try:
        slow = await ask(ns, topic="rouw", postcode="5611")
        await asyncio.sleep(0.3)  # the slow one is surely in the SMTP conversation first
        fast = await ask(ns, topic="angst", postcode=None)
        fast_mail = await ns.wait_mail(lambda m: fast["reference"] in m.subject, timeout=10)
        # Asked later, delivered first: it did not wait in line behind the slow conversation
        # (by order, not by a time: the machine may be loaded).
        assert not any(slow["reference"] in m.subject for m in sink.mails)
        slow_mail = await ns.wait_mail(lambda m: slow["reference"] in m.subject, timeout=20)
        assert sink.arrived[slow_mail.subject] > sink.arrived[fast_mail.subject]
        await asyncio.sleep(1)
        assert sum(slow["reference"] in m.subject for m in sink.mails) == 1
    finally:
        sink.slow = set()


async def test_a_contact_who_prefers_sms_gets_a_short_sms(ns: NotifySystem, addresses) -> None:
    await addresses("cees.zorg@example.org", mobile="+31611112222", channel="sms")
    q = await ask(ns, topic="mantelzorg", postcode=None)
    events = await ns.wait_audit(q["question_id"], ["contact.notified.v1"], timeout=90)
    notified = next(e for e in events if e["type"] == "contact.notified.v1")
    assert notified["channel"] == "sms"
    assert ns.gateway
    sent = [(h, b) for h, b in ns.gateway.requests if b["to"] == "+31611112222"]
    assert len(sent) == 1
    headers, body = sent[0]
    assert headers["Authorization"] == "Bearer sms-test"
    assert "Mantelzorg" in body["message"] or "mantelzorg" in body["message"]
    assert LINK.search(body["message"]) and len(body["message"]) <= 4 * 153  # four segments
    assert "/contact/" in body["message"]  # the contact's own overview, as in the mail
    assert "12345678" not in body["message"].replace(" ", "")
    assert not any(q["reference"] in m.subject for m in ns.smtp.mails)


async def test_a_permanent_sms_failure_falls_back_to_email(ns: NotifySystem, addresses) -> None:
    await addresses("dora.een@example.org", mobile="+31633334444", channel="sms")
    assert ns.gateway
    ns.gateway.statuses.append(400)
    q = await ask(ns, topic="eenzaamheid", postcode=None)
    mail = await ns.wait_mail(lambda m: q["reference"] in m.subject)
    assert mail.to == ["dora.een@example.org"]
    events = await ns.wait_audit(q["question_id"], ["contact.notified.v1"], timeout=90)
    assert [e["channel"] for e in events if e["type"] == "contact.notified.v1"] == ["email"]
    assert any(b["to"] == "+31633334444" for _h, b in ns.gateway.requests)


async def test_two_notify_instances_send_each_mail_exactly_once(ns: NotifySystem) -> None:
    proc, _port = ns.notify_instance()
    try:
        refs = [(await ask(ns, topic="angst", postcode=None))["reference"] for _ in range(20)]
        deadline = time.monotonic() + 60
        while not all(any(r in m.subject for m in ns.smtp.mails) for r in refs):
            assert time.monotonic() < deadline, "not every question was mailed"
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # room for a duplicate to show up
        counts = {r: sum(r in m.subject for m in ns.smtp.mails) for r in refs}
        assert set(counts.values()) == {1}, counts
    finally:
        stop(proc)


async def test_breaches_go_into_one_daily_digest(ns: NotifySystem) -> None:
    now = datetime.now(UTC)
    breaches = [
        QuestionEscalated(
            question_id=uuid.uuid4(),
            level="breach",
            reference=f"OD-BR{i}X-{uuid.uuid4().hex[:4].upper()}",
            group_id=None,
            contact_id=None,
            respond_before=now - timedelta(hours=h),
        )
        for i, h in ((1, 3), (2, 1))
    ]
    nc = await nats.connect(ns.nats.url)
    for e in breaches:
        await nc.jetstream().publish(
            e.subject, e.to_bytes(), headers={"Nats-Msg-Id": str(e.event_id)}
        )
    await nc.close()
    conn = await asyncpg.connect(ns.pg.url(ns.database))
    try:
        deadline = time.monotonic() + 20
        while await conn.fetchval("select count(*) from notify.breaches") < 2:
            assert time.monotonic() < deadline, "breaches were not recorded"
            await asyncio.sleep(0.1)
        # The running instance has no digest hour; one that is due now sends the day's digest.
        assert not any(TEAM in m.to for m in ns.smtp.mails if "te laat" in m.text)
        proc, _port = ns.notify_instance(OPENDEUR_NOTIFY_DIGEST_HOUR="0")
        try:
            digest = await ns.wait_mail(lambda m: TEAM in m.to and "te laat" in m.text)
            await asyncio.sleep(2)
        finally:
            stop(proc)
        assert all(b.reference in digest.text for b in breaches)
        assert "3 uur te laat" in digest.text and "1 uur te laat" in digest.text
        assert sum(TEAM in m.to and "te laat" in m.text for m in ns.smtp.mails) == 1
        assert await conn.fetchval("select count(*) from notify.digests") == 1
    finally:
        await conn.close()


async def test_a_reminder_names_reference_and_deadline_and_team_escalation_mails_the_team(
    ns: NotifySystem,
) -> None:
    q = await ask(ns, topic="angst", postcode=None)
    first = await ns.wait_mail(lambda m: q["reference"] in m.subject)
    respond_before = datetime.fromisoformat(q["respond_before"])
    common = {
        "question_id": uuid.UUID(q["question_id"]),
        "reference": q["reference"],
        "group_id": "online-angst",
        "contact_id": pseudonym(ns.settings(), "contact", "bram.angst@example.org"),
        "respond_before": respond_before,
    }
    nc = await nats.connect(ns.nats.url)
    for level in ("reminder", "team"):
        e = QuestionEscalated(level=level, **common)
        await nc.jetstream().publish(
            e.subject, e.to_bytes(), headers={"Nats-Msg-Id": str(e.event_id)}
        )
    await nc.close()
    reminder = await ns.wait_mail(
        lambda m: m.subject.startswith("Herinnering") and q["reference"] in m.subject
    )
    assert reminder.to == first.to == ["bram.angst@example.org"]
    deadline = respond_before.astimezone(ZoneInfo("Europe/Amsterdam")).strftime("%d-%m-%Y %H:%M")
    line = next(x for x in reminder.text.splitlines() if x.startswith("Herinnering"))
    # The deadline in words ("uiterlijk woensdag 3 december, 15.00 uur"), no raw timestamp.
    assert q["reference"] in line and timefmt.deadline(respond_before, "nl") in line
    assert deadline not in line
    assert "Angst" in reminder.text or "angst" in reminder.text
    assert LINK.search(reminder.text) and "/groups/self/" in reminder.text
    team = await ns.wait_mail(lambda m: TEAM in m.to and q["reference"] in m.subject)
    assert deadline in team.text and "bram" not in team.text
