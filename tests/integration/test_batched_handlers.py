"""The hot handlers that write a fetched batch in one statement (intake's routings, notify's new
questions) leave what applying its events one by one, in order, leaves: on a real PostgreSQL
migrated as `opendeur migrate` does, the same seed rows get the batch both ways and end equal,
with two routings of one question in one batch (later, earlier, equally old), a question the
team had closed, one done with a contact, one erased, one assigned later. Their statements
claim the batch themselves (`Runtime.handles_claiming`): they apply only the events their
consumer had not applied before, claim them all, and change nothing when the batch comes again
(intake's consumer applies routings only so; notify's queue is also written without a claim,
for an escalation inside another consumer's transaction)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opendeur import outbox
from opendeur.db import (
    autocommit,
    columns,
    driver_sql,
    make_engine,
    service_url,
    sessionmaker,
)
from opendeur.embedded import Postgres
from services.intake import store as intake_store
from services.notify import store as notify_store
from tests.support import migrated_database

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)


@asynccontextmanager
async def owned(
    pg: Postgres, service: str
) -> AsyncIterator[tuple[asyncpg.Connection, AsyncEngine]]:
    """A fresh migrated database: the owner's connection (to seed and look) and the service's
    own engine (its role and schema, as `opendeur serve` connects)."""
    database, settings = await migrated_database(pg, service)
    owner = await asyncpg.connect(pg.url(database), server_settings={"search_path": service})
    engine = make_engine(service_url(settings, service), pool_size=1, schema=service)
    try:
        yield owner, engine
    finally:
        await engine.dispose()
        await owner.close()


@pytest.fixture
async def intake(pg: Postgres) -> AsyncIterator[tuple[asyncpg.Connection, AsyncEngine]]:
    async with owned(pg, "intake") as db:
        yield db


# Each case: the question's row before (status, contact, outcome, erased, assigned_at) and the
# routings of it in the batch, as (contact, minutes after T0).
CASES: dict[str, tuple[dict, list[tuple[str, int]]]] = {
    "later replaces": ({}, [("anna", 1), ("bert", 2)]),
    "earlier after later": ({}, [("bert", 2), ("anna", 1)]),
    "equally old after": ({}, [("anna", 1), ("bert", 1)]),
    "team closed, undone": (
        {"status": "done", "outcome": "referred", "outcome_at": T0},
        [("anna", 1), ("bert", 2)],
    ),
    "done with a contact": (
        {"status": "done", "contact_id": "carl", "outcome": "helped", "outcome_at": T0},
        [("anna", 1)],
    ),
    "erased": ({"status": "erased", "erased_at": T0}, [("anna", 1)]),
    "assigned later": (
        {"status": "routed", "contact_id": "carl", "assigned_at": T0 + timedelta(minutes=5)},
        [("anna", 1), ("bert", 2)],
    ),
}


async def seed_question(owner: asyncpg.Connection, before: dict) -> uuid.UUID:
    qid = uuid.uuid4()
    row = {
        "status": "received",
        "contact_id": None,
        "outcome": None,
        "outcome_at": None,
        "erased_at": None,
        "assigned_at": None,
        **before,
    }
    await owner.execute(
        "insert into questions (question_id, reference, withdraw_token_hash, channel, topic,"
        " pc4, language, consent_version, consent_at, consent_share, consent_statistics,"
        " professional_help_advised, wants_to_start_group, received_at, respond_before,"
        " status, contact_id, outcome, outcome_at, erased_at, assigned_at, erase_after,"
        " unreachable_count) values ($1, $12, $2, 'web', 'rouw', '5611', 'nl', 'v1',"
        " $3, true, false, false, false, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
        qid,
        b"x" * 32,
        T0,
        T0 + timedelta(hours=24),
        row["status"],
        row["contact_id"],
        row["outcome"],
        row["outcome_at"],
        row["erased_at"],
        row["assigned_at"],
        T0 + timedelta(days=90),
        "OD-" + qid.hex[:8].upper(),
    )
    return qid


async def seed(owner: asyncpg.Connection) -> tuple[dict[str, uuid.UUID], list]:
    """The cases' questions, and their routings interleaved into one batch."""
    ids = {name: await seed_question(owner, before) for name, (before, _) in CASES.items()}
    batch = []
    for i in range(max(len(r) for _, r in CASES.values())):
        for name, (_, routings) in CASES.items():
            if i < len(routings):
                contact, minutes = routings[i]
                at = T0 + timedelta(minutes=minutes)
                batch.append(
                    intake_store.Routing(
                        ids[name], contact, "g1", at, at + timedelta(hours=30), uuid.uuid4()
                    )
                )
    return ids, batch


async def intake_rows(owner: asyncpg.Connection, ids: dict[str, uuid.UUID]) -> dict[str, tuple]:
    rows = {}
    for name, qid in ids.items():
        r = await owner.fetchrow(
            "select status, contact_id, group_id, link_until, part_closed_at, assigned_at,"
            " outcome, outcome_at, erase_after, erased_at from questions where question_id = $1",
            qid,
        )
        rows[name] = tuple(r)
    return rows


CONSUMER = "intake-question-routed-v1"


async def assign(engine: AsyncEngine, routings: list) -> set[uuid.UUID]:
    """A batch as the consumer applies it: one autocommitted statement with its claim."""
    claim = outbox.Claim(CONSUMER, [r.event_id for r in routings])
    async with autocommit(engine) as conn:
        return await intake_store.assign_routed(conn, routings, retention=RETENTION, claim=claim)


async def test_intake_keeps_a_batch_of_routings_as_it_keeps_them_one_by_one(
    intake: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    owner, engine = intake
    batched_ids, batch = await seed(owner)
    one_ids, one_by_one = await seed(owner)

    undone_batched = await assign(engine, batch)
    undone_one = set()
    for routing in one_by_one:
        undone_one |= await assign(engine, [routing])

    batched, one = await intake_rows(owner, batched_ids), await intake_rows(owner, one_ids)
    assert batched == one
    assert undone_batched == {batched_ids["team closed, undone"]}
    assert undone_one == {one_ids["team closed, undone"]}
    # What each case must show, so that "equal" is not equal by doing nothing.
    assert batched["later replaces"][:2] == ("routed", "bert")
    assert batched["earlier after later"][:2] == ("routed", "bert")
    assert batched["equally old after"][:2] == ("routed", "anna")
    undone = batched["team closed, undone"]
    assert undone[:2] == ("routed", "bert") and undone[6:9] == (None, None, T0 + RETENTION)
    assert batched["done with a contact"][:2] == ("done", "carl")
    assert batched["erased"][:2] == ("erased", None)
    assert batched["assigned later"][:2] == ("routed", "carl")


@pytest.fixture
async def notify(pg: Postgres) -> AsyncIterator[tuple[asyncpg.Connection, AsyncEngine]]:
    async with owned(pg, "notify") as db:
        yield db


async def test_intake_keeps_one_plan_for_its_batches_of_routings(
    intake: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    """Intake's statement for a batch of routings keeps PostgreSQL's generic plan after its
    first five executions (batches of one and two), instead of planning each one anew. The same
    statement without its limit, on the same rows, is planned every time: its generic plan
    reckons with ten rows of each array. (On a table of a few rows both would keep it; hence
    the 5,000 questions.) A batch of three through the kept plan still applies the later of two
    routings of one question."""
    owner, engine = intake
    await owner.execute(
        "insert into questions (question_id, reference, withdraw_token_hash, channel, language,"
        " consent_version, consent_at, consent_share, consent_statistics,"
        " professional_help_advised, wants_to_start_group, received_at, respond_before)"
        " select gen_random_uuid(), 'R' || n, '\\x00', 'web', 'nl', 'v1', $1, true, false,"
        " false, false, $1, $1 from generate_series(1, 5000) n",
        T0,
    )
    await owner.execute("analyze questions")
    qids = [r[0] for r in await owner.fetch("select question_id from questions limit 24")]
    unlimited = intake_store.ASSIGN_ROUTED_SQL.replace("limit cardinality($8::uuid[])", "")
    assert unlimited != intake_store.ASSIGN_ROUTED_SQL

    def batches(qids: list[uuid.UUID]) -> list[list[intake_store.Routing]]:
        """Eight batches of one and two routings, alternately."""
        at = T0 + timedelta(minutes=1)
        routings = iter(
            intake_store.Routing(q, "anna", "g1", at, at + timedelta(hours=30), uuid.uuid4())
            for q in qids
        )
        return [[next(routings) for _ in range(size)] for size in [1, 2] * 4]

    async with autocommit(engine) as conn:  # one connection: its prepared statements
        for batch in batches(qids[:12]):
            claim = outbox.Claim(CONSUMER, [r.event_id for r in batch])
            await intake_store.assign_routed(conn, batch, retention=RETENTION, claim=claim)
        for batch in batches(qids[12:]):
            await driver_sql(
                conn,
                unlimited,
                CONSUMER,
                [r.event_id for r in batch],
                *columns(batch, "question_id", "contact_id", "group_id", "at", "link_until"),
                [r.event_id for r in batch],
                RETENTION,
            )
        plans = await plans_of(conn)
        assert plans[intake_store.ASSIGN_ROUTED_SQL] == (3, 5)
        assert plans[unlimited] == (0, 8)
        # A batch of three through the kept plan: of two routings of one question the later.
        at, link = T0 + timedelta(minutes=2), T0 + timedelta(hours=30)
        later = [
            intake_store.Routing(
                qids[0], "carl", "g2", at + timedelta(minutes=1), link, uuid.uuid4()
            ),
            intake_store.Routing(qids[0], "bert", "g2", at, link, uuid.uuid4()),
        ]
        other = intake_store.Routing(qids[1], "dora", "g2", at, link, uuid.uuid4())
        batch = [*later, other]
        claim = outbox.Claim(CONSUMER, [r.event_id for r in batch])
        await intake_store.assign_routed(conn, batch, retention=RETENTION, claim=claim)
        assert (await plans_of(conn))[intake_store.ASSIGN_ROUTED_SQL] == (4, 5)
    assert await owner.fetchval("select count(*) from questions where contact_id = 'anna'") == 22
    contacts = await owner.fetch(
        "select question_id, contact_id from questions where question_id = any($1)", qids[:2]
    )
    assert dict(contacts) == {qids[0]: "carl", qids[1]: "dora"}


async def plans_of(conn: Any) -> dict[str, tuple[int, int]]:
    """The connection's prepared statements: (generic plans, custom plans) each."""
    rows = await driver_sql(
        conn, "select statement, generic_plans, custom_plans from pg_prepared_statements"
    )
    return {row["statement"]: (row["generic_plans"], row["custom_plans"]) for row in rows}


async def test_notify_queues_a_batch_of_new_questions_as_it_queues_them_one_by_one(
    notify: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    """Each notification once (a second copy in the batch, or one queued before, adds nothing);
    a contact routed two questions for two groups ends as the last one's contact; a contact who
    had left comes back; one without a row in contacts is queued all the same."""
    owner, engine = notify
    sessions = sessionmaker(engine)

    async def run(batched: bool) -> tuple[list, list, int]:
        tag = uuid.uuid4().hex[:6]
        anna, bert, carl = f"anna-{tag}", f"bert-{tag}", f"carl-{tag}"
        await owner.execute(
            "insert into contacts (contact_id, wrapped_key, group_id, left_at, left_reason)"
            " values ($1, '\\x00', 'g0', null, null), ($2, '\\x00', 'g1', $3, 'replaced')",
            anna,
            bert,
            T0,
        )
        q1, q2, q3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        before = notify_store.Queued(q3, anna, "new_question.1", "new_question", {"n": 0}, "g1")
        async with sessions() as session, session.begin():
            await notify_store.enqueue_many(session, [before])
        batch = [
            notify_store.Queued(q1, anna, "new_question.1", "new_question", {"n": 1}, "g1"),
            notify_store.Queued(q1, anna, "new_question.1", "new_question", {"n": 2}, "g1"),
            before,
            notify_store.Queued(q2, anna, "new_question.1", "new_question", {"n": 3}, "g2"),
            notify_store.Queued(q2, bert, "new_question.1", "new_question", {"n": 4}, "g1"),
            notify_store.Queued(q3, carl, "reminder", "reminder", {"n": 5}),
        ]
        added = 0
        if batched:
            async with sessions() as session, session.begin():
                added = await notify_store.enqueue_many(session, batch)
        else:
            for queued in batch:
                async with sessions() as session, session.begin():
                    added += await notify_store.enqueue_many(session, [queued])
        names = {anna: "anna", bert: "bert", carl: "carl", q1: "q1", q2: "q2", q3: "q3"}
        notes = [
            (names[r["question_id"]], names[r["contact_id"]], r["purpose"], json.loads(r["p"]))
            for r in await owner.fetch(
                "select question_id, contact_id, purpose, payload::text as p, status"
                " from notifications where contact_id = any($1::text[]) order by payload->>'n'",
                [anna, bert, carl],
            )
        ]
        contacts = [
            (names[r["contact_id"]], r["group_id"], r["left_at"], r["left_reason"])
            for r in await owner.fetch(
                "select contact_id, group_id, left_at, left_reason from contacts"
                " where contact_id = any($1::text[]) order by contact_id",
                [anna, bert, carl],
            )
        ]
        return notes, contacts, added

    batched, one_by_one = await run(batched=True), await run(batched=False)
    assert batched == one_by_one
    notes, contacts, added = batched
    assert added == 4
    assert notes == [
        ("q3", "anna", "new_question.1", {"n": 0}),
        ("q1", "anna", "new_question.1", {"n": 1}),
        ("q2", "anna", "new_question.1", {"n": 3}),
        ("q2", "bert", "new_question.1", {"n": 4}),
        ("q3", "carl", "reminder", {"n": 5}),
    ]
    assert contacts == [("anna", "g2", None, None), ("bert", "g1", None, None)]


async def inbox_of(owner: asyncpg.Connection, consumer: str) -> set[uuid.UUID]:
    rows = await owner.fetch("select event_id from inbox where consumer = $1", consumer)
    return {r["event_id"] for r in rows}


async def test_intake_claiming_statement_applies_each_routing_event_once(
    intake: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    """As `handles_claiming` runs it: one autocommitted statement, the events each once. The
    later routing of "later replaces" was applied before (its event in the inbox): it is left
    out, as one by one it would be, and the batch again changes nothing."""
    owner, engine = intake
    claimed_ids, batch = await seed(owner)
    one_ids, one_by_one = await seed(owner)
    skipped = next(
        i
        for i, r in enumerate(batch)
        if r.question_id == claimed_ids["later replaces"] and r.contact_id == "bert"
    )
    await owner.execute(
        "insert into inbox (consumer, event_id) values ($1, $2)", CONSUMER, batch[skipped].event_id
    )

    undone = await assign(engine, batch)
    claimed = await intake_rows(owner, claimed_ids)
    for i, routing in enumerate(one_by_one):
        if i != skipped:
            await assign(engine, [routing])

    assert claimed == await intake_rows(owner, one_ids)
    assert claimed["later replaces"][:2] == ("routed", "anna")  # bert's was applied before
    assert claimed["earlier after later"][:2] == ("routed", "bert")
    assert claimed["team closed, undone"][:2] == ("routed", "bert")
    assert undone == {claimed_ids["team closed, undone"]}
    assert await inbox_of(owner, CONSUMER) >= {r.event_id for r in batch}
    # The batch again, after a question moved on: it changes nothing.
    await owner.execute(
        "update questions set contact_id = 'carl', assigned_at = null where question_id = $1",
        claimed_ids["later replaces"],
    )
    moved = await intake_rows(owner, claimed_ids)
    assert await assign(engine, batch) == set()
    assert await intake_rows(owner, claimed_ids) == moved
    with pytest.raises(ValueError):  # a routing whose event is not claimed
        async with autocommit(engine) as conn:
            await intake_store.assign_routed(
                conn, batch, retention=RETENTION, claim=outbox.Claim(CONSUMER, [])
            )


async def test_notify_claiming_statement_queues_each_routing_event_once(
    notify: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    """The same for notify's queue: an event applied before (its routing's group change too) is
    left out, the others are queued and claimed, and the batch again queues nothing."""
    owner, engine = notify
    consumer = "notify-question-routed-v1"
    await owner.execute(
        "insert into contacts (contact_id, wrapped_key, group_id) values ('anna', '\\x00', 'g0')"
    )
    q1, q2, q3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    e1, e2, e3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    batch = [
        notify_store.Queued(q1, "anna", "new_question.1", "new_question", {"n": 1}, "g1", e1),
        notify_store.Queued(q2, "anna", "new_question.1", "new_question", {"n": 2}, "g2", e2),
        notify_store.Queued(q3, "bert", "new_question.1", "new_question", {"n": 3}, "g1", e3),
    ]
    await owner.execute("insert into inbox (consumer, event_id) values ($1, $2)", consumer, e2)
    claim = outbox.Claim(consumer, [e1, e2, e3])

    async with autocommit(engine) as conn:
        added = await notify_store.enqueue_many(conn, batch, claim)
    group = await owner.fetchval("select group_id from contacts where contact_id = 'anna'")
    await owner.execute("update contacts set group_id = 'g9' where contact_id = 'anna'")
    async with autocommit(engine) as conn:  # the batch again, after anna moved on
        again = await notify_store.enqueue_many(conn, batch, claim)

    queued = await owner.fetch(
        "select question_id, contact_id from notifications order by payload->>'n'"
    )
    assert [(r["question_id"], r["contact_id"]) for r in queued] == [(q1, "anna"), (q3, "bert")]
    assert added == 2 and again == 0
    # anna's group was the last one of the events applied then (g1), not the skipped one's (g2).
    assert group == "g1"
    assert await owner.fetchval("select group_id from contacts where contact_id = 'anna'") == "g9"
    assert await inbox_of(owner, consumer) == {e1, e2, e3}
    with pytest.raises(ValueError):  # a row whose event is not claimed
        async with autocommit(engine) as conn:
            await notify_store.enqueue_many(conn, batch, outbox.Claim(consumer, [e1]))
