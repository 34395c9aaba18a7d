"""`db.driver_sql`, the hot paths' way to the database, goes to the asyncpg connection under
SQLAlchemy's: it must still behave as SQLAlchemy's own path does — inside the session's
transaction (a rollback undoes it), SQLAlchemy's errors without the values, a lost connection
invalidated so the pool hands out a working one, and the row count of what it changed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound

from opendeur.db import autocommit, driver_sql, make_engine, sessionmaker
from opendeur.embedded import Postgres

CANARY = "Canary Jansen 06-12345678"


@pytest.fixture
async def engine(pg: Postgres):
    engine = make_engine(pg.url(), pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text("drop table if exists driver_t"))
        await conn.execute(text("create table driver_t (id int primary key, v text)"))
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("drop table if exists driver_t"))
        await engine.dispose()


async def count(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(text("select count(*) from driver_t"))


async def test_it_runs_in_the_sessions_transaction_and_a_rollback_undoes_it(engine) -> None:
    async with sessionmaker(engine)() as session:
        async with session.begin():
            await session.execute(text("insert into driver_t values (1, 'orm')"))
            await driver_sql(session, "insert into driver_t values ($1, $2)", 2, "driver")
            seen = await session.scalar(text("select count(*) from driver_t"))
            assert seen == 2  # one transaction: each path sees the other's row
            await session.rollback()
    assert await count(engine) == 0
    async with sessionmaker(engine)() as session, session.begin():
        # The first statement of a transaction may be the driver's: it begins it.
        await driver_sql(session, "insert into driver_t values ($1, $2)", 3, "first")
        await session.rollback()
    assert await count(engine) == 0
    async with sessionmaker(engine)() as session, session.begin():
        await driver_sql(session, "insert into driver_t values ($1, $2)", 4, "kept")
    assert await count(engine) == 1


async def test_results_and_row_counts(engine) -> None:
    async with autocommit(engine) as conn:  # no transaction: each statement on its own
        inserted = await driver_sql(
            conn, "insert into driver_t select i, 'x' from generate_series(1, 3) i"
        )
        assert inserted.rowcount == 3
        changed = await driver_sql(conn, "update driver_t set v = 'y' where id >= $1", 2)
        assert changed.rowcount == 2
        rows = await driver_sql(conn, "select id, v from driver_t order by id")
        assert [(r["id"], r[1]) for r in rows.mappings()] == [(1, "x"), (2, "y"), (3, "y")]
        assert (await driver_sql(conn, "select max(id) from driver_t")).scalar_one() == 3
        nothing = await driver_sql(conn, "select id from driver_t where id = 9")
        assert nothing.first() is None and nothing.scalar() is None
        with pytest.raises(NoResultFound):
            nothing.scalar_one()
    assert await count(engine) == 3


async def test_an_error_is_sqlalchemys_and_does_not_carry_the_values(engine) -> None:
    async with sessionmaker(engine)() as session:
        await driver_sql(session, "insert into driver_t values ($1, $2)", 1, "one")
        with pytest.raises(IntegrityError) as caught:
            await driver_sql(session, "insert into driver_t values ($1, $2)", 1, CANARY)
        await session.rollback()
    message = str(caught.value)
    assert "duplicate key" in message
    assert "Canary" not in message and "12345678" not in message


async def test_a_lost_connection_is_invalidated_and_the_next_transaction_works(engine) -> None:
    async with sessionmaker(engine)() as session:
        pid = (await driver_sql(session, "select pg_backend_pid()")).scalar()
        async with autocommit(engine) as other:
            await driver_sql(other, "select pg_terminate_backend($1)", pid)
        # The same error SQLAlchemy's own path raises here (asyncpg's connection is gone or
        # mid-way), marked as a lost connection.
        with pytest.raises(DBAPIError) as caught:
            await driver_sql(session, "select 1")
        assert caught.value.connection_invalidated
        await session.rollback()
    # The pool does not hand the dead connection out again.
    for _ in range(3):
        async with sessionmaker(engine)() as session, session.begin():
            assert (await driver_sql(session, "select 1")).scalar() == 1


async def test_a_savepoint_rolled_back_undoes_what_the_driver_did_inside_it(engine) -> None:
    async with sessionmaker(engine)() as session, session.begin():
        await driver_sql(session, "insert into driver_t values ($1, $2)", 1, "outer")
        nested = await session.begin_nested()
        await driver_sql(session, "insert into driver_t values ($1, $2)", 2, "inner")
        await nested.rollback()
        await driver_sql(session, "insert into driver_t values ($1, $2)", 3, "after")
    async with engine.connect() as conn:
        ids = (await conn.execute(text("select id from driver_t order by id"))).scalars()
        assert list(ids) == [1, 3]


async def test_after_a_schema_change_the_statement_is_prepared_again(pg: Postgres, engine) -> None:
    """A release adds a column while the service runs: its cached `select *` fails once (as on
    SQLAlchemy's own path), then is prepared again instead of failing on that connection for
    the rest of the process."""
    one = make_engine(pg.url(), pool_size=1)
    try:
        async with autocommit(one) as conn:
            await driver_sql(conn, "insert into driver_t values ($1, $2)", 1, "x")
            assert len((await driver_sql(conn, "select * from driver_t")).first()) == 2
        async with engine.begin() as ddl:
            await ddl.execute(text("alter table driver_t add column w int default 7"))
        failures = 0
        for _ in range(3):
            try:
                async with autocommit(one) as conn:
                    row = (await driver_sql(conn, "select * from driver_t")).first()
                break
            except DBAPIError:
                failures += 1
        assert failures <= 1 and row["w"] == 7
    finally:
        await one.dispose()


async def test_a_cancelled_statement_does_not_return_its_connection_to_the_pool(engine) -> None:
    """Its state on the wire is unknown (a BEGIN or a query half done): the connection is
    dropped, and what the next transaction commits is committed."""
    async with sessionmaker(engine)() as session:
        task = asyncio.ensure_future(driver_sql(session, "select pg_sleep(5)"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        conn = await session.connection()
        assert conn.invalidated
        await session.rollback()
    async with sessionmaker(engine)() as session, session.begin():
        await driver_sql(session, "insert into driver_t values ($1, $2)", 1, "after")
    assert await count(engine) == 1
