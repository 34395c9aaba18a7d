"""Routing's read of a tier's contacts (`store.contacts_of`), against a real PostgreSQL migrated
as routing's role: only active contacts of active groups, and the groups version always."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opendeur.db import driver_sql
from opendeur.embedded import Postgres
from services.routing import store
from tests.support import service_engine


@pytest.fixture
async def routing_engine(pg: Postgres) -> AsyncIterator[AsyncEngine]:
    async with service_engine(pg, "routing", pool_size=2) as engine:
        yield engine


async def add_groups(engine: AsyncEngine, n: int, *, paused: Collection[int] = ()) -> None:
    """Groups g1..gn, each with contacts a (active, 2 of 5 open) and b (not active)."""
    async with engine.begin() as conn:
        await driver_sql(
            conn,
            """
            insert into groups (group_id, name, status)
            select 'g' || i, 'Group ' || i,
                   case when i = any($2::int[]) then 'paused' else 'active' end
            from generate_series(1, $1) i
            """,
            n,
            sorted(paused),
        )
        await driver_sql(
            conn,
            """
            insert into contacts (contact_id, group_id, max_open, open_count, active, hours,
                                  languages)
            select 'g' || i || '-' || x, 'g' || i, 5, 2, x = 'a',
                   '[{"weekday": 0, "start": "18:00", "end": "20:00"}]', '{nl,en}'
            from generate_series(1, $1) i, unnest('{b,a}'::text[]) x
            """,
            n,
        )


async def read(engine: AsyncEngine, group_ids: list[str]) -> tuple[int, dict]:
    async with engine.begin() as conn:
        return await store.contacts_of(conn, group_ids)


async def test_a_tier_gets_the_active_contacts_of_its_active_groups(
    routing_engine: AsyncEngine,
) -> None:
    await add_groups(routing_engine, 4, paused={3})
    version, contacts = await read(routing_engine, ["g4", "g3", "g1", "g9"])

    # g3 is paused, g9 does not exist, every b is not active; a's load, hours and languages.
    assert sorted(contacts) == ["g1", "g4"]
    (a,) = contacts["g1"]
    assert (a.contact_id, a.max_open, a.open_count) == ("g1-a", 5, 2)
    assert [(w.weekday, w.start.isoformat(), w.end.isoformat()) for w in a.hours] == [
        (0, "18:00:00", "20:00:00")
    ]
    assert a.languages == frozenset({"nl", "en"})
    assert version >= 1


async def test_an_empty_tier_still_reads_the_groups_version(routing_engine: AsyncEngine) -> None:
    await add_groups(routing_engine, 2)
    async with routing_engine.begin() as conn:
        expected = (await driver_sql(conn, "select version from groups_version")).scalar_one()
    assert await read(routing_engine, []) == (expected, {})
    assert await read(routing_engine, ["nope"]) == (expected, {})

    async with routing_engine.begin() as conn:  # a change to the groups is seen at once
        await driver_sql(conn, "update groups set status = 'paused' where group_id = 'g1'")
    version, contacts = await read(routing_engine, ["g1", "g2"])
    assert version == expected + 1 and sorted(contacts) == ["g2"]
