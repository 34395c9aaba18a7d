"""A question's first decision stores it and takes its contact's place in one statement
(routing's `store.insert_routed`), on a real PostgreSQL migrated as `opendeur migrate` does: the
place is taken only for a question not stored yet, never twice for two copies of one question,
even when the other copy is stored while this statement runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.embedded import Postgres
from services.routing import store
from tests.support import migrated_database, until_a_lock_wait
from tests.support import received_values as values

NOW = datetime.now(UTC)
SCHEDULE = [
    ("reminder", NOW + timedelta(hours=12)),
    ("team", NOW + timedelta(hours=19)),
    ("breach", NOW + timedelta(hours=24)),
]


@pytest.fixture
async def db(pg: Postgres) -> AsyncIterator[tuple[asyncpg.Connection, AsyncEngine]]:
    """The owner's connection (to look and to act as another router) and routing's own engine."""
    database, settings = await migrated_database(pg, "routing")
    owner = await asyncpg.connect(pg.url(database), server_settings={"search_path": "routing"})
    engine = make_engine(service_url(settings, "routing"), pool_size=2, schema="routing")
    await owner.execute(
        """
        insert into groups (group_id, name) values ('g1', 'Group 1');
        insert into contacts (contact_id, group_id, max_open) values ('anna', 'g1', 1),
                                                                     ('bert', 'g1', 0);
        """
    )
    try:
        yield owner, engine
    finally:
        await engine.dispose()
        await owner.close()


async def state(owner: asyncpg.Connection, qid: uuid.UUID) -> tuple:
    """(anna's open count, the question's state, contact, attempt, tried groups, its timers)."""
    row = await owner.fetchrow(
        "select state, contact_id, attempt, tried_groups from questions where question_id = $1",
        qid,
    )
    timers = await owner.fetchval("select count(*) from timers where question_id = $1", qid)
    anna = await owner.fetchval("select open_count from contacts where contact_id = 'anna'")
    return (anna, *(tuple(row) if row else (None,) * 4), timers)


async def test_a_new_question_is_stored_routed_with_its_timers_and_takes_one_place(
    db: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    owner, engine = db
    v = values()
    async with sessionmaker(engine)() as session, session.begin():
        attempt = await store.insert_routed(session, v, "g1", "anna", "topic", SCHEDULE)
    assert attempt == 1
    assert await state(owner, v["question_id"]) == (1, "routed", "anna", 1, ["g1"], 3)


async def test_a_full_contact_leaves_the_question_stored_as_new_for_the_next_choice(
    db: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    owner, engine = db
    v = values()
    async with sessionmaker(engine)() as session, session.begin():
        assert await store.insert_routed(session, v, "g1", "bert", "topic", SCHEDULE) is None
        assert await store.route_to(session, v["question_id"], "g1", "anna", "topic", SCHEDULE) == 1
    assert await state(owner, v["question_id"]) == (1, "routed", "anna", 1, ["g1"], 3)


async def test_a_second_copy_of_a_stored_question_changes_nothing(
    db: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    owner, engine = db
    v = values()
    async with sessionmaker(engine)() as session, session.begin():
        await store.insert_question(session, v)
    async with sessionmaker(engine)() as session, session.begin():
        with pytest.raises(store.Stored):
            await store.insert_routed(session, v, "g1", "anna", "topic", SCHEDULE)
    assert await state(owner, v["question_id"]) == (0, "new", None, 0, [], 0)


async def test_a_copy_stored_while_the_statement_runs_gives_the_place_back(
    db: tuple[asyncpg.Connection, AsyncEngine],
) -> None:
    """Another router stores the same question after this statement's snapshot and before its
    insert: the statement took anna's place (the question was not there yet), waits for the
    other's insert and finds it; the place is given back in the same transaction."""
    owner, engine = db
    v = values()
    other = owner.transaction()
    await other.start()
    await owner.execute(
        "insert into questions (question_id, reference, channel, language, priority, "
        "received_at, respond_before, state) values ($1, 'OD-TEST-0001', 'web', 'nl', false, "
        "now(), now() + interval '24 hours', 'new')",
        v["question_id"],
    )

    async def this_router() -> None:
        async with sessionmaker(engine)() as session, session.begin():
            with pytest.raises(store.Stored):
                await store.insert_routed(session, v, "g1", "anna", "topic", SCHEDULE)

    mine = asyncio.create_task(this_router())
    # until this router waits for the other's insert (a lock)
    await until_a_lock_wait(owner, running=mine)
    await other.commit()
    await asyncio.wait_for(mine, 10)
    assert await state(owner, v["question_id"]) == (0, "new", None, 0, [], 0)
