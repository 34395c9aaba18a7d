"""A consumer whose handler claims its batch in its own statement (`Runtime.handles_claiming`),
on a real PostgreSQL migrated as `opendeur migrate` does:

- the runtime hands the handler each event once, a claim under the consumer's durable name and
  an autocommit connection (the claim is kept with the effects, or with nothing), and calls
  `after_commit` only after the statement succeeded;
- the claiming statements (intake's routings, notify's queue) skip an event another
  transaction claimed first: while that transaction is open they wait for it, and apply the
  event only if it rolled back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events import QuestionUnmatched
from opendeur import messaging, outbox
from opendeur.db import autocommit, driver_sql, make_engine, service_url
from opendeur.embedded import Postgres
from opendeur.runtime import Runtime
from services.intake import store as intake_store
from services.notify import store as notify_store
from tests.integration.test_batched_handlers import T0, seed_question
from tests.support import migrated_database

RETENTION = timedelta(days=30)
COUNT_FRESH = f"with {outbox.CLAIM_CTE} select count(*) from fresh"  # noqa: S608 (constants)


def unmatched() -> QuestionUnmatched:
    return QuestionUnmatched(
        question_id=uuid.uuid4(), reason="no_group", topic=None, municipality=None, priority=False
    )


async def test_the_runtime_gives_a_claiming_handler_each_event_once_and_keeps_its_claim(
    pg: Postgres,
) -> None:
    database, settings = await migrated_database(pg, "intake")
    # The broker is made, not connected: the batch is applied as the Batcher would apply it.
    rt = Runtime("intake", settings.model_copy(update={"nats_url": "nats://127.0.0.1:1"}))
    owner = await asyncpg.connect(pg.url(database), server_settings={"search_path": "intake"})
    seen: list[tuple[list, outbox.Claim]] = []
    committed: list[int] = []
    fail = False

    async def claiming(events: list, conn, claim: outbox.Claim) -> None:
        seen.append((list(events), claim))
        await driver_sql(conn, COUNT_FRESH, *claim)
        if fail:
            raise RuntimeError("the handler failed after its statement")

    try:
        rt.handles_claiming(QuestionUnmatched, after_commit=lambda: committed.append(1))(claiming)
        batcher = next(b for b in messaging._unbound if b.broker_ref() is rt.broker)
        durable = batcher.spec.durable
        one, two = unmatched(), unmatched()

        await batcher.apply([one, two, one])  # a second copy of `one` in the batch
        assert seen == [([one, two], outbox.Claim(durable, [one.event_id, two.event_id]))]
        claimed = await owner.fetch("select consumer, event_id from inbox order by applied_at")
        assert {(r["consumer"], r["event_id"]) for r in claimed} == {
            (durable, one.event_id),
            (durable, two.event_id),
        }  # committed: seen from another connection
        assert committed == [1]

        fail = True
        three = unmatched()
        with pytest.raises(RuntimeError):
            await batcher.apply([three])
        # The statement had run on an autocommit connection: its claim stands, though the
        # handler failed after it (a handler is one statement; the Batcher naks the event,
        # and its redelivery finds it applied). after_commit is not called for it.
        assert (
            await owner.fetchval("select count(*) from inbox where event_id = $1", three.event_id)
            == 1
        )
        assert committed == [1]
    finally:
        messaging._unbound[:] = [b for b in messaging._unbound if b.broker_ref() is not rt.broker]
        await rt.engine.dispose()
        await owner.close()


@asynccontextmanager
async def service_db(
    pg: Postgres, service: str
) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection, AsyncEngine]]:
    """A fresh migrated database: the owner's connection (to seed and look), another one (for
    the other instance's claim), and the service's own engine."""
    database, settings = await migrated_database(pg, service)
    url = pg.url(database)
    owner = await asyncpg.connect(url, server_settings={"search_path": service})
    other = await asyncpg.connect(url, server_settings={"search_path": service})
    engine = make_engine(service_url(settings, service), pool_size=1, schema=service)
    try:
        yield owner, other, engine
    finally:
        await engine.dispose()
        await other.close()
        await owner.close()


async def race(
    other: asyncpg.Connection,
    consumer: str,
    event_id: uuid.UUID,
    apply: Callable[[], Awaitable[Any]],
    other_commits: bool,
) -> Any:
    """`apply()` while another instance's claim of the event is open: it waits (has not
    returned in 0.5 s), and goes on when that claim is committed or rolled back."""
    tx = other.transaction()
    await tx.start()
    await other.execute(
        "insert into inbox (consumer, event_id) values ($1, $2)", consumer, event_id
    )
    statement = asyncio.create_task(apply())
    await asyncio.sleep(0.5)
    assert not statement.done()
    await (tx.commit() if other_commits else tx.rollback())
    return await statement


@pytest.mark.parametrize("other_commits", [True, False], ids=["committed", "rolled back"])
async def test_intake_skips_a_routing_another_transaction_claimed(
    pg: Postgres, other_commits: bool
) -> None:
    consumer = "intake-question-routed-v1"
    async with service_db(pg, "intake") as (owner, other, engine):
        qid = await seed_question(owner, {})
        event_id = uuid.uuid4()
        at = T0 + timedelta(minutes=1)
        routing = intake_store.Routing(qid, "anna", "g1", at, at + timedelta(hours=30), event_id)

        async def apply() -> set[uuid.UUID]:
            async with autocommit(engine) as conn:
                return await intake_store.assign_routed(
                    conn, [routing], retention=RETENTION, claim=outbox.Claim(consumer, [event_id])
                )

        await race(other, consumer, event_id, apply, other_commits)
        row = await owner.fetchrow(
            "select status, contact_id from questions where question_id = $1", qid
        )
        assert tuple(row) == (("received", None) if other_commits else ("routed", "anna"))

        # The batch again, after the question moved on: it changes nothing.
        await owner.execute(
            "update questions set contact_id = 'carl', assigned_at = null where question_id = $1",
            qid,
        )
        await apply()
        contact = await owner.fetchval(
            "select contact_id from questions where question_id = $1", qid
        )
        assert contact == "carl"


@pytest.mark.parametrize("other_commits", [True, False], ids=["committed", "rolled back"])
async def test_notify_skips_a_routing_another_transaction_claimed(
    pg: Postgres, other_commits: bool
) -> None:
    consumer = "notify-question-routed-v1"
    async with service_db(pg, "notify") as (owner, other, engine):
        await owner.execute(
            "insert into contacts (contact_id, wrapped_key, group_id) values ('anna', '\\x00', 'g0')"
        )
        event_id = uuid.uuid4()
        queued = notify_store.Queued(
            uuid.uuid4(), "anna", "new_question.1", "new_question", {}, "g1", event_id
        )

        async def apply() -> int:
            async with autocommit(engine) as conn:
                return await notify_store.enqueue_many(
                    conn, [queued], outbox.Claim(consumer, [event_id])
                )

        added = await race(other, consumer, event_id, apply, other_commits)
        assert added == (0 if other_commits else 1)
        group = await owner.fetchval("select group_id from contacts where contact_id = 'anna'")
        assert group == ("g0" if other_commits else "g1")

        # The batch again, after anna moved to another group: it changes nothing.
        await owner.execute("update contacts set group_id = 'g9' where contact_id = 'anna'")
        assert await apply() == 0
        group = await owner.fetchval("select group_id from contacts where contact_id = 'anna'")
        assert group == "g9"
