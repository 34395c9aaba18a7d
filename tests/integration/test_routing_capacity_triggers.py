"""Routing's capacity counter against a real PostgreSQL migrated as `opendeur migrate` does: a
place is given back whenever a question that held one leaves its contact (an outcome, a
re-route, a delete), and the release function is not even called for a question that held none
(the routing of a new question: once per question, so its cost was paid by every question)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from opendeur.embedded import Postgres
from tests.support import migrated_database


@pytest.fixture
async def admin(pg: Postgres) -> AsyncIterator[asyncpg.Connection]:
    """The database's owner on routing's schema, with PL/pgSQL calls counted (superuser only)."""
    database, _ = await migrated_database(pg, "routing")
    conn = await asyncpg.connect(pg.url(database), server_settings={"search_path": "routing"})
    try:
        await conn.execute("set track_functions = 'pl'")
        await conn.execute(
            """
            insert into groups (group_id, name) values ('g1', 'Group 1');
            insert into contacts (contact_id, group_id, max_open) values ('anna', 'g1', 5),
                                                                         ('bert', 'g1', 5);
            """
        )
        yield conn
    finally:
        await conn.close()


async def new_question(conn: asyncpg.Connection) -> uuid.UUID:
    qid = uuid.uuid4()
    await conn.execute(
        "insert into questions (question_id, reference, channel, language, priority, "
        "received_at, respond_before, state) values ($1, 'OD-TEST-0001', 'web', 'nl', false, "
        "now(), now() + interval '24 hours', 'new')",
        qid,
    )
    return qid


async def route(conn: asyncpg.Connection, qid: uuid.UUID, contact: str) -> None:
    """As routing's `route_to` does: the place taken, the question routed."""
    await conn.execute(
        "update contacts set open_count = open_count + 1 where contact_id = $1", contact
    )
    await conn.execute(
        "update questions set state = 'routed', contact_id = $2, group_id = 'g1' "
        "where question_id = $1",
        qid,
        contact,
    )


async def open_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("select contact_id, open_count from contacts order by contact_id")
    return {r["contact_id"]: r["open_count"] for r in rows}


async def release_calls(conn: asyncpg.Connection) -> int:
    """Calls of release_capacity() this backend has not yet reported (those of the current
    transaction and perhaps of earlier ones): compared before and after, in one transaction."""
    return await conn.fetchval(
        "select coalesce(sum(calls), 0) from pg_stat_xact_user_functions "
        "where funcname = 'release_capacity'"
    )


async def test_routing_a_new_question_takes_a_place_without_calling_the_release(
    admin: asyncpg.Connection,
) -> None:
    async with admin.transaction():
        before = await release_calls(admin)
        qid = await new_question(admin)
        await route(admin, qid, "anna")

        assert await open_counts(admin) == {"anna": 1, "bert": 0}
        assert await release_calls(admin) == before

        # A question that held no place leaves without a call either.
        unrouted = await new_question(admin)
        await admin.execute(
            "update questions set state = 'unmatched' where question_id = $1", unrouted
        )
        await admin.execute("delete from questions where question_id = $1", unrouted)
        assert await release_calls(admin) == before


@pytest.mark.parametrize(
    "leaves",
    [
        "update questions set state = 'done' where question_id = $1",
        # re-routed (bert's place is taken by route_to, not by the trigger)
        "update questions set contact_id = 'bert' where question_id = $1",
        "update questions set state = 'unmatched', contact_id = null where question_id = $1",
        "delete from questions where question_id = $1",
    ],
    ids=["outcome", "re-routed", "team-queue", "deleted"],
)
async def test_a_question_that_held_a_place_gives_it_back_once(
    admin: asyncpg.Connection, leaves: str
) -> None:
    qid = await new_question(admin)
    await route(admin, qid, "anna")
    assert await open_counts(admin) == {"anna": 1, "bert": 0}

    async with admin.transaction():
        before = await release_calls(admin)
        await admin.execute(leaves, qid)

        assert await open_counts(admin) == {"anna": 0, "bert": 0}
        assert await release_calls(admin) == before + 1
