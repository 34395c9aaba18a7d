"""Audit ingest on a real PostgreSQL: batches appended with one COPY, idempotent on event_id,
the chain never forks under concurrent writers, acks only after a commit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events import ContactNotified, QuestionUnmatched
from opendeur.db import sessionmaker
from services.audit import allowlist, chain, handlers, store
from tests.support import received_event


@pytest.fixture
async def engine(audit_engine: AsyncEngine) -> AsyncEngine:
    return audit_engine


def event_bytes(i: int) -> tuple[str, bytes]:
    now = datetime.now(UTC)
    if i % 3 == 0:
        e = received_event(
            reference="OD-TEST-0001",
            topic="rouw",
            pc4="5611",
            wants_to_start_group=i % 2 == 0,
            received_at=now,
            respond_before=now + timedelta(hours=24),
        )
    elif i % 3 == 1:
        e = ContactNotified(
            question_id=uuid.uuid4(), contact_id="c-1", purpose="new_question", channel="email"
        )
    else:
        e = QuestionUnmatched(
            question_id=uuid.uuid4(),
            reason="no_group",
            topic=None,
            municipality=None,
            priority=True,
        )
    return e.subject, e.to_bytes()


def records(n: int) -> list[dict]:
    return [allowlist.keep(*event_bytes(i), i)[0] for i in range(n)]


async def append(engine: AsyncEngine, batch: list[dict]) -> int:
    async with sessionmaker(engine)() as session, session.begin():
        return await store.append(session, batch)


async def trail(engine: AsyncEngine) -> list:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("select seq, event_id::text, record, prev_hash, hash from events order by seq")
            )
        ).all()


async def verify(engine: AsyncEngine) -> dict:
    async with sessionmaker(engine)() as session:
        return await store.verify_trail(session)


async def test_a_batch_is_stored_as_the_chain_of_its_records(engine: AsyncEngine) -> None:
    batch = records(30)
    assert await append(engine, batch) == 30
    rows = await trail(engine)
    assert [r.seq for r in rows] == list(range(1, 31))
    assert [r.event_id for r in rows] == [r["event_id"] for r in batch]
    prev = chain.GENESIS
    for row, record in zip(rows, batch, strict=True):
        stored = row.record if isinstance(row.record, dict) else orjson.loads(row.record)
        assert stored == record  # the allow-listed record, nothing more, nothing less
        # The OD reference is kept (the console names questions by it, as the person and the
        # contact person know them); the postcode never.
        assert "pc4" not in stored
        if stored["type"] == "question.received.v1":
            assert stored["reference"] == "OD-TEST-0001"
        assert row.prev_hash == prev and row.hash == chain.link_hash(prev, record)
        prev = row.hash
    async with engine.connect() as conn:
        typed = (
            await conn.execute(
                text("select question_id::text, occurred_at, type from events where seq = 1")
            )
        ).one()
    assert typed.question_id == batch[0]["question_id"] and typed.type == batch[0]["type"]
    assert typed.occurred_at == datetime.fromisoformat(batch[0]["occurred_at"])
    assert await verify(engine) == {"ok": True, "records": 30}
    async with engine.connect() as conn:
        # The statement trigger on events (migration 0004) sees a COPY like an insert.
        n = await conn.scalar(text("select count(*) from question_times"))
        assert n == len({r["question_id"] for r in batch})


async def test_redelivered_and_overlapping_batches_are_stored_once(engine: AsyncEngine) -> None:
    batch = records(20)
    assert await append(engine, batch[:10]) == 10
    before = await trail(engine)
    # The same batch again (an ack lost after the commit): nothing new, the chain untouched.
    assert await append(engine, batch[:10]) == 0
    assert await trail(engine) == before
    # Half old, half new, with a duplicate inside the batch itself.
    assert await append(engine, [*batch[5:15], batch[12]]) == 5
    assert await append(engine, batch) == 5
    rows = await trail(engine)
    assert [r.event_id for r in rows] == [r["event_id"] for r in batch]
    assert rows[:10] == before
    assert await verify(engine) == {"ok": True, "records": 20}


async def test_invalid_and_forged_messages_keep_their_place_in_the_chain(
    engine: AsyncEngine,
) -> None:
    subject, data = event_bytes(2)
    forged = {**orjson.loads(data), "story": "kanarie", "phone": "0612345678"}
    kept, dropped = allowlist.keep(subject, orjson.dumps(forged), 7)
    assert dropped == 2 and "story" not in kept and "phone" not in kept
    invalid, _ = allowlist.keep("question.received.v1", b'{"not": "an event"}', 8)
    assert invalid["invalid"] is True and "occurred_at" not in invalid
    assert await append(engine, [kept, invalid, *records(3)]) == 5
    assert await append(engine, [invalid]) == 0  # its id derives from the stream sequence
    rows = await trail(engine)
    assert "kanarie" not in str(rows) and "0612345678" not in str(rows)
    assert await verify(engine) == {"ok": True, "records": 5}


async def test_concurrent_writers_never_fork_the_chain(engine: AsyncEngine) -> None:
    """Two audit instances (here: eight writers) share one durable: the advisory lock taken
    before the head is read serialises them, so seq stays dense and every link holds."""
    batches = [records(25) for _ in range(8)]
    stored = await asyncio.gather(*(append(engine, b) for b in batches))
    assert stored == [25] * 8
    # And again, all at once: each writer sees the others' commits and stores nothing.
    assert await asyncio.gather(*(append(engine, b) for b in batches)) == [0] * 8
    rows = await trail(engine)
    assert [r.seq for r in rows] == list(range(1, 201))
    assert len({r.event_id for r in rows}) == 200
    assert await verify(engine) == {"ok": True, "records": 200}


class FakeRaw:
    def __init__(self, subject: str, data: bytes, seq: int, log: list, pending: int = 0) -> None:
        self.subject, self.data, self.log = subject, data, log
        self.metadata = SimpleNamespace(sequence=SimpleNamespace(stream=seq), num_pending=pending)

    async def ack(self) -> None:
        self.log.append(("ack", self.metadata.sequence.stream))

    async def nak(self, delay: float | None = None) -> None:
        self.log.append(("nak", self.metadata.sequence.stream))


async def test_the_writer_acks_after_commit_in_fetch_order_and_naks_a_failed_batch(
    engine: AsyncEngine,
) -> None:
    log: list = []
    sessions = sessionmaker(engine)
    writer = handlers.Writer(SimpleNamespace(sessions=sessions))
    raws = [FakeRaw(*event_bytes(i), i + 1, log) for i in range(12)]
    for part in (raws[:4], raws[4:8], raws[8:]):
        await writer.submit(part, handlers.keep_all(part))
    await writer.drain()
    assert log == [("ack", i) for i in range(1, 13)]
    rows = await trail(engine)
    assert [r.event_id for r in rows] == [orjson.loads(r.data)["event_id"] for r in raws]

    # A batch whose commit fails is nak'ed, nothing of it is stored, and the next one goes on.
    log.clear()
    broken = [FakeRaw(*event_bytes(100), 100, log)]
    records_broken = handlers.keep_all(broken)
    records_broken[0]["question_id"] = "not-a-uuid"
    writer.pending = asyncio.create_task(writer.commit(broken, records_broken))
    fine = [FakeRaw(*event_bytes(101), 101, log)]
    await writer.submit(fine, handlers.keep_all(fine))
    await writer.drain()
    assert log == [("nak", 100), ("ack", 101)]
    assert len(await trail(engine)) == 13
    assert await verify(engine) == {"ok": True, "records": 13}


async def test_audit_lingers_once_it_has_taken_everything_while_the_batch_is_committed(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit is off every question's way: when a batch's last message says nothing more is
    pending, the subscriber waits LINGER_S before it fetches again (fewer, larger batches at a
    low rate), and the batch is committed and acked within that wait, not after it. A batch
    with more pending behind it (a backlog, or one cut short by the acks still pending) is
    followed at once."""
    # Longer than any commit on a loaded machine, so "acked within the linger" is not timing.
    monkeypatch.setattr(handlers, "LINGER_S", 2.0)
    log: list = []
    writer = handlers.Writer(SimpleNamespace(sessions=sessionmaker(engine)))
    last = [FakeRaw(*event_bytes(i), i + 1, log, pending=2 - i) for i in range(3)]
    started = asyncio.get_running_loop().time()
    await handlers.take(writer, last)
    assert asyncio.get_running_loop().time() - started >= handlers.LINGER_S
    assert log == [("ack", 1), ("ack", 2), ("ack", 3)]  # before the linger ended

    more = [FakeRaw(*event_bytes(i), i + 1, log, pending=100) for i in range(3, 7)]
    started = asyncio.get_running_loop().time()
    await handlers.take(writer, more)
    assert asyncio.get_running_loop().time() - started < handlers.LINGER_S
    await writer.drain()
    assert [e for e in log if e[1] > 3] == [("ack", i) for i in range(4, 8)]
    assert len(await trail(engine)) == 7


async def test_a_lost_broker_connection_while_acking_does_not_stop_the_writer(
    engine: AsyncEngine,
) -> None:
    log: list = []

    class Unreachable(FakeRaw):
        async def ack(self) -> None:
            raise ConnectionError("nats connection closed")

    writer = handlers.Writer(SimpleNamespace(sessions=sessionmaker(engine)))
    lost = [Unreachable(*event_bytes(i), i + 1, log) for i in range(3)]
    await writer.submit(lost, handlers.keep_all(lost))
    later = [FakeRaw(*event_bytes(9), 10, log)]
    await writer.submit(later, handlers.keep_all(later))
    await writer.drain()
    assert log == [("ack", 10)]
    # The unacked three come back (redelivered) and change nothing.
    again = [FakeRaw(r.subject, r.data, r.metadata.sequence.stream, log) for r in lost]
    await writer.submit(again, handlers.keep_all(again))
    await writer.drain()
    assert log == [("ack", 10), ("ack", 1), ("ack", 2), ("ack", 3)]
    assert await verify(engine) == {"ok": True, "records": 4}
