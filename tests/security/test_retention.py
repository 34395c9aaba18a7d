"""Data expires: checked the way a data-protection officer would, on the real broker and database.

The events stream and dead letters have a max_age (also an existing stream, at the next start);
notify deletes the addresses of contact persons who left, after a grace period, and `opendeur
contacts forget` leaves no trace of an address in notify's schema; audit prunes whole months past
its retention while the funder report for them stays the same and the chain stays verifiable."""

from __future__ import annotations

import asyncio
import calendar
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events import CallbackDone, ContactNotified, Event, ReferralNoted
from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM, STREAMS
from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.embedded import NatsServer, Postgres, _pg_bin, free_port, wait_port
from opendeur.keys import Envelope, pseudonym
from opendeur.messaging import provision_broker
from opendeur.settings import Settings
from services.audit import allowlist, jobs, queries, reports, store
from services.notify import jobs as notify_jobs
from services.notify import store as notify_store
from tests.support import ADMIN, ROOT, SECRET, migrated_database, received_event, routed_event

DAY = 24 * 3600


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


async def stream_max_ages(url: str) -> dict[str, float]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        return {s.name: (await js.stream_info(s.name)).config.max_age or 0 for s in STREAMS}
    finally:
        await nc.close()


async def test_after_start_up_no_stream_keeps_messages_for_ever(broker: NatsServer) -> None:
    await provision_broker(Settings(_env_file=None, nats_url=broker.url))  # what up/migrate run
    ages = await stream_max_ages(broker.url)
    assert ages[EVENTS_STREAM] == 14 * DAY
    assert ages[DEADLETTER_STREAM] == 30 * DAY
    assert all(0 < age <= 30 * DAY for age in ages.values()), ages


def migrate_cli(pg: Postgres, nats_url: str, **env: str) -> None:
    """`opendeur migrate`, which `opendeur up` also runs at every start (and k8s' migrate job)."""
    database = f"od_streams_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    full = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    full |= {
        "OPENDEUR_NATS_URL": nats_url,
        "OPENDEUR_DATABASE_URL": pg.url(database),
        "OPENDEUR_SECRET_KEY": SECRET,
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "opendeur", "migrate"],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


async def test_an_existing_stream_without_max_age_is_updated_at_the_next_start(
    broker: NatsServer, pg: Postgres
) -> None:
    # The stream as an older release created it: limits retention, no max_age, with a message.
    nc = await nats.connect(broker.url)
    try:
        js = nc.jetstream()
        for spec in STREAMS:
            await js.add_stream(
                StreamConfig(
                    name=spec.name,
                    subjects=list(spec.subjects),
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    duplicate_window=spec.duplicate_window_s,
                )
            )
        await js.publish("referral.noted.v1", b"{}")
    finally:
        await nc.close()
    assert (await stream_max_ages(broker.url))[EVENTS_STREAM] == 0

    migrate_cli(pg, broker.url)
    assert (await stream_max_ages(broker.url))[EVENTS_STREAM] == 14 * DAY

    # The operator's setting wins, and a changed setting is applied again at the next start.
    migrate_cli(pg, broker.url, OPENDEUR_EVENTS_MAX_AGE="21d", OPENDEUR_DEADLETTER_MAX_AGE="60d")
    ages = await stream_max_ages(broker.url)
    assert (ages[EVENTS_STREAM], ages[DEADLETTER_STREAM]) == (21 * DAY, 60 * DAY)
    nc = await nats.connect(broker.url)
    try:  # updating kept what the stream held
        assert (await nc.jetstream().stream_info(EVENTS_STREAM)).state.messages == 1
    finally:
        await nc.close()


def test_a_stream_max_age_shorter_than_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1d"):
        Settings(_env_file=None, events_max_age="2h")
    with pytest.raises(ValueError, match="at least 90d"):
        Settings(_env_file=None, audit_retention="30d")


# --- audit: its own retention ---------------------------------------------------------------

RETENTION = timedelta(days=730)


def month_events(month: datetime, n: int, topic: str = "rouw") -> list[Event]:
    """n questions received in `month`, each routed, notified and called back within hours."""
    out: list[Event] = []
    for i in range(n):
        at = month + timedelta(days=1 + i, hours=9)
        qid = uuid.uuid4()
        out += [
            received_event(
                question_id=qid,
                topic=topic if i % 4 else "angst",
                occurred_at=at,
                received_at=at,
                respond_before=at + timedelta(hours=24),
                wants_to_start_group=i % 2 == 0,
            ),
            routed_event(question_id=qid, occurred_at=at + timedelta(minutes=2)),
            ContactNotified(
                question_id=qid,
                contact_id="c-1",
                purpose="new_question.1",
                channel="email",
                occurred_at=at + timedelta(minutes=3),
            ),
            CallbackDone(
                question_id=qid,
                contact_id="c-1",
                outcome="reached",
                occurred_at=at + timedelta(hours=1 + i),
            ),
        ]
    out.append(
        ReferralNoted(
            referrer_kind="professional",
            topic=None,
            channel="phone",
            occurred_at=month + timedelta(days=3),
        )
    )
    return out


async def append(engine: AsyncEngine, events: list[Event]) -> None:
    records = [allowlist.keep(e.subject, e.to_bytes(), i)[0] for i, e in enumerate(events)]
    async with sessionmaker(engine)() as session, session.begin():
        await store.append(session, records)


async def report(engine: AsyncEngine, month: str) -> dict[str, Any]:
    """GET /api/v1/reports/monthly?month= as services/audit/app.py computes it."""
    year, mon, start, end = (
        int(month[:4]),
        int(month[5:]),
        datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC),
        jobs.next_month(datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC)),
    )
    async with sessionmaker(engine)() as session:
        counts = await store.monthly_counts(session, start, end)
        stats = (await queries.timings(session, start, end, questions=False))["by_topic"]
    return reports.build(month, calendar.monthrange(year, mon)[1], counts, stats)


async def verify(engine: AsyncEngine) -> dict[str, Any]:
    async with sessionmaker(engine)() as session:
        return await store.verify_trail(session)


async def rows(engine: AsyncEngine, sql: str) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


@pytest.fixture
async def pruned(audit_engine: AsyncEngine) -> dict[str, Any]:
    """Two months far past retention, one recent month; reports taken, then the job run."""
    now = datetime.now(UTC)
    old = [datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 4, 1, tzinfo=UTC)]
    recent = jobs.month_start(now - timedelta(days=40))
    await append(audit_engine, month_events(old[0], 7) + month_events(old[1], 6, "angst"))
    await append(audit_engine, month_events(recent, 5))
    months = ["2023-03", "2023-04", recent.strftime("%Y-%m")]
    before = {m: await report(audit_engine, m) for m in months}
    total = (await verify(audit_engine))["records"]
    result = await jobs.prune(sessionmaker(audit_engine), RETENTION, now)
    return {"before": before, "result": result, "total": total, "recent": recent}


async def test_pruned_months_report_the_same_figures_and_their_events_are_gone(
    audit_engine: AsyncEngine, pruned: dict[str, Any]
) -> None:
    assert pruned["result"]["pruned"] == 7 * 4 + 1 + 6 * 4 + 1
    left = await rows(audit_engine, "select min(occurred_at), count(*) from events")
    assert left[0][0] >= pruned["recent"] and left[0][1] == pruned["total"] - 54
    for month, before in pruned["before"].items():
        assert await report(audit_engine, month) == before, month
    assert pruned["before"]["2023-03"]["questions_by_topic"]["total"] == 7
    # A month is kept once: running the job again prunes nothing and changes no figure.
    again = await jobs.prune(sessionmaker(audit_engine), RETENTION)
    assert again["pruned"] == 0 and again["months_kept"] == 0
    assert await report(audit_engine, "2023-04") == pruned["before"]["2023-04"]


async def test_after_pruning_the_chain_verifies_from_its_anchor_and_goes_on(
    audit_engine: AsyncEngine, pruned: dict[str, Any]
) -> None:
    result = await verify(audit_engine)
    assert result["ok"] is True, result
    assert result["records"] == pruned["total"] - 54
    assert result["anchor"]["seq"] == 54 == pruned["result"]["anchor_seq"]
    await append(audit_engine, month_events(jobs.month_start(datetime.now(UTC)), 1))
    assert (await verify(audit_engine))["ok"] is True
    seqs = await rows(audit_engine, "select min(seq), max(seq) from events")
    assert seqs[0] == (55, pruned["total"] + 5)


async def test_question_times_stay_what_a_rebuild_from_the_events_gives(
    audit_engine: AsyncEngine, pruned: dict[str, Any]
) -> None:
    kept = await rows(audit_engine, "select * from question_times order by question_id")
    assert len(kept) == 5  # the recent month's questions only
    async with audit_engine.begin() as conn:
        await conn.execute(text("select question_times_rebuild()"))
    assert await rows(audit_engine, "select * from question_times order by question_id") == kept


async def test_a_forged_deletion_outside_the_pruning_path_is_refused_or_breaks_verify(
    audit_engine: AsyncEngine, pruned: dict[str, Any]
) -> None:
    middle = pruned["total"] - 3
    delete_middle = f"delete from events where seq = {middle}"  # noqa: S608 (an int)

    async def refused(*statements: str) -> str:
        async with audit_engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                async with conn.begin():
                    for sql in statements:
                        await conn.execute(text(sql))
        return str(caught.value.orig)

    # As audit's own role: a plain delete, the same with the pruning flag set by hand, a forged
    # anchor to cover it, a prune that keeps less than the floor, an aggregate rewritten.
    assert "append-only" in await refused(delete_middle)
    assert "append-only" in await refused(
        "select set_config('opendeur.audit_prune', 'on', true)", delete_middle
    )
    assert "audit_prune() only" in await refused(
        "insert into chain_anchors (seq, hash, pruned_before, events) values (1000, 'x', now(), 1)"
    )
    assert "at least 90 days" in await refused(
        "select * from audit_prune(date_trunc('month', now(), 'UTC'))"
    )
    assert "never changed" in await refused("update monthly_aggregates set counts = '{}'")
    assert "never changed" in await refused("delete from chain_anchors")
    assert (await verify(audit_engine))["ok"] is True

    # With the trigger switched off (the table's owner can): verify names the gap.
    async with audit_engine.begin() as conn:
        await conn.execute(text("alter table events disable trigger events_no_update"))
        await conn.execute(text(delete_middle))
        await conn.execute(text("alter table events enable trigger events_no_update"))
    result = await verify(audit_engine)
    assert result["ok"] is False and result["first_broken"] == {"seq": middle + 1, "reason": "gap"}


async def test_deleting_the_oldest_kept_events_without_an_anchor_breaks_verify(
    audit_engine: AsyncEngine, pruned: dict[str, Any]
) -> None:
    async with audit_engine.begin() as conn:
        await conn.execute(text("alter table events disable trigger events_no_update"))
        await conn.execute(text("delete from events where seq <= 56"))
        await conn.execute(text("alter table events enable trigger events_no_update"))
    result = await verify(audit_engine)
    assert result["ok"] is False and result["first_broken"]["seq"] == 57


async def test_the_running_audit_service_answers_the_same_report_and_verify_after_pruning(
    audit_engine: AsyncEngine,
) -> None:
    """What the funder and the DPO see: `opendeur serve audit` over HTTP, before and after."""
    await append(audit_engine, month_events(datetime(2023, 3, 1, tzinfo=UTC), 6))
    await append(audit_engine, month_events(jobs.month_start(datetime.now(UTC)), 2))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env |= {
        "OPENDEUR_AUDIT_DATABASE_URL": audit_engine.url.render_as_string(hide_password=False),
        "OPENDEUR_NATS_URL": f"nats://127.0.0.1:{free_port()}",  # none: HTTP serves without it
        "OPENDEUR_SECRET_KEY": SECRET,
        "OPENDEUR_ADMIN_TOKEN": ADMIN,
        "OPENDEUR_AUDIT_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "opendeur", "serve", "audit"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port, timeout=60, proc=proc)
        base = f"http://127.0.0.1:{port}/api/v1"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            before = [
                (await c.get(f"{base}/reports/monthly", params={"month": "2023-03", "format": f}))
                for f in ("json", "csv")
            ]
            assert before[0].json()["questions_by_topic"]["total"] == 6
            await jobs.prune(sessionmaker(audit_engine), RETENTION)
            after = [
                (await c.get(f"{base}/reports/monthly", params={"month": "2023-03", "format": f}))
                for f in ("json", "csv")
            ]
            assert [r.status_code for r in after] == [200, 200]
            assert after[0].json() == before[0].json() and after[1].text == before[1].text
            verified = (await c.get(f"{base}/audit/verify")).json()
            assert verified["ok"] is True and verified["anchor"]["seq"] == 6 * 4 + 1
            gone = await c.get(f"{base}/audit/events", params={"type": "question.received.v1"})
            assert all(e["occurred_at"] >= "2024" for e in gone.json())
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- notify: addresses of contact persons who left; `opendeur contacts forget` ----------------


class Notify:
    """A fresh database with notify's schema, reached as `opendeur serve notify` does."""

    def __init__(self, pg: Postgres, database: str) -> None:
        self.pg, self.database = pg, database
        self.settings = Settings(_env_file=None, database_url=pg.url(database), secret_key=SECRET)
        self.engine = make_engine(
            service_url(self.settings, "notify"), pool_size=2, schema="notify"
        )
        self.sessions = sessionmaker(self.engine)
        self.envelope = Envelope.for_service(self.settings, "notify")

    async def add(self, email: str, group_id: str | None, contact_id: str | None = None) -> str:
        cid = contact_id or pseudonym(self.settings, "contact", email)
        address = notify_store.Address(cid, email, "0612345678", "Ans", "email", "nl", group_id)
        async with self.sessions() as session, session.begin():
            await notify_store.upsert_contact(session, self.envelope, address)
        return cid

    async def notified(self, contact_id: str, status: str = "sent") -> None:
        async with self.sessions() as session, session.begin():
            await notify_store.enqueue(
                session, uuid.uuid4(), contact_id, "new_question.1", "new_question",
                {"reference": "OD-ABCD-2345", "group_id": "rouwgroep"},
            )  # fmt: skip
            await session.execute(
                text("update notifications set status = :s where contact_id = :c"),
                {"s": status, "c": contact_id},
            )

    async def emails(self) -> set[str]:
        """Every e-mail address notify can still decrypt, as an attacker with its keys would."""
        async with self.sessions() as session:
            rows = (await session.execute(text("select * from contacts"))).mappings().all()
        return {notify_store.address(self.envelope, r["contact_id"], r).email for r in rows}

    def dump(self) -> str:
        """pg_dump of notify's whole schema as the owner: every row as text."""
        args = ["-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres", "--schema", "notify"]
        return subprocess.run(
            [_pg_bin("pg_dump"), *args, "--inserts", self.database],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": self.pg.password},
        ).stdout


@pytest.fixture
async def notify_db(pg: Postgres) -> AsyncIterator[Notify]:
    database, _ = await migrated_database(pg, "notify")
    n = Notify(pg, database)
    try:
        yield n
    finally:
        await n.engine.dispose()


async def group_event(n: Notify, group_id: str, change: str, status: str) -> None:
    async with n.engine.begin() as conn:
        await notify_store.group_changed(conn, group_id, change, status, datetime.now(UTC))


async def test_contacts_who_left_have_no_address_in_notify_after_the_grace_period(
    notify_db: Notify,
) -> None:
    n = notify_db
    await n.add("left@example.org", "rouwgroep")  # their group leaves the network
    await n.add("old@example.org", "angstgroep")  # replaced in the next import
    await n.add("stays@example.org", "mantelzorg")
    busy = await n.add("busy@example.org", "adhd")  # left, a reminder still to be sent
    await n.add("back@example.org", "autisme")  # left, and the group came back
    await n.add("new@example.org", "angstgroep")  # the import that replaces old@
    for group in ("rouwgroep", "adhd", "autisme"):
        await group_event(n, group, "left", "left")
    await group_event(n, "autisme", "resumed", "active")
    await n.notified(busy, status="queued")
    grace = timedelta(seconds=2)

    # Within the grace period nothing is deleted: a pending callback's reminder still goes out.
    assert (await notify_jobs.expire(n.sessions, grace))["addresses"] == 0
    assert "left@example.org" in await n.emails()
    await asyncio.sleep(2.2)
    assert (await notify_jobs.expire(n.sessions, grace))["addresses"] == 2
    assert await n.emails() == {
        "stays@example.org",
        "busy@example.org",
        "back@example.org",
        "new@example.org",
    }
    # The reminder sent, the last of them goes at the next run after the grace period.
    async with n.engine.begin() as conn:
        await conn.execute(
            text("update notifications set status = 'sent', claimed_at = now() - interval '1h'")
        )
    assert (await notify_jobs.expire(n.sessions, grace))["addresses"] == 1
    assert "busy@example.org" not in await n.emails()


def forget(n: Notify, email: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env |= {"OPENDEUR_DATABASE_URL": n.pg.url(n.database), "OPENDEUR_SECRET_KEY": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "opendeur", "contacts", "forget", email],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_contacts_forget_leaves_no_trace_of_the_address_in_notify(
    notify_db: Notify,
) -> None:
    n = notify_db
    email = "Forget.Me@example.org"
    cid = await n.add(email, "rouwgroep")
    other_id = await n.add(email.lower(), None, contact_id="c-staff-1")  # through the staff API
    await n.add("someone.else@example.org", "angstgroep")
    await n.notified(cid)
    await n.notified(other_id)
    dump = n.dump()
    # Before: the address is never in clear (encrypted at rest; the log holds codes, no address),
    # but its pseudonym (a keyed hash of the address) names the contact in the log.
    assert email.lower() not in dump.lower() and cid in dump and "c-staff-1" in dump

    result = forget(n, email)
    assert result.returncode == 0, result.stderr
    assert "2 address record(s) deleted" in result.stdout
    assert "2 notification log entries" in result.stdout
    assert email.lower() not in (result.stdout + result.stderr).lower()

    dump = n.dump()
    for trace in (email.lower(), cid, "c-staff-1", cid.split("-", 1)[1]):
        assert trace not in dump.lower(), trace
    assert await n.emails() == {"someone.else@example.org"}
    # The log keeps that a notification went out (for the question's record), not to whom.
    async with n.engine.connect() as conn:
        names = (await conn.execute(text("select contact_id from notifications"))).scalars()
        assert all(c.startswith("forgotten-") for c in names)
    # Forgetting again finds nothing and says so, without an error.
    again = forget(n, email)
    assert again.returncode == 0 and "0 address record(s) deleted" in again.stdout
