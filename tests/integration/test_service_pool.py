"""A service's database pool keeps what a burst opened: a connection costs about 6 ms of CPU to
open (the service's and PostgreSQL's), and a pool that closed its overflow after each burst of
POSTs opened 20-43 of them per 1,000 questions. At most 24 per process, as before."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text

from opendeur.db import driver_sql
from opendeur.embedded import Postgres
from opendeur.runtime import Runtime
from tests.support import migrated_database


async def burst(rt: Runtime, n: int) -> None:
    """n requests at once, each holding a connection for one slow statement."""

    async def one() -> None:
        async with rt.engine.connect() as conn:
            await driver_sql(conn, "select pg_sleep(0.05)")

    await asyncio.gather(*(one() for _ in range(n)))


async def test_a_second_burst_opens_no_connection(pg: Postgres) -> None:
    database, settings = await migrated_database(pg, "intake")
    # The broker is made, not connected: no NATS is needed for the pool.
    rt = Runtime("intake", settings.model_copy(update={"nats_url": "nats://127.0.0.1:1"}))
    owner = await asyncpg.connect(pg.url(database))

    async def opened() -> tuple[int, int]:
        """Connections the service has open now, and sessions the database has ever started."""
        await owner.execute("select pg_stat_clear_snapshot()")
        open_now = await owner.fetchval(
            "select count(*) from pg_stat_activity where application_name = 'opendeur-intake' "
            "and datname = current_database()"  # other tests' services share this PostgreSQL
        )
        started = await owner.fetchval(
            "select sessions from pg_stat_database where datname = current_database()"
        )
        return open_now, started

    try:
        await burst(rt, 40)
        await asyncio.sleep(1.1)  # a backend's statistics reach pg_stat_database within 1 s
        after_first = await opened()
        await burst(rt, 40)
        await asyncio.sleep(1.1)
        after_second = await opened()
    finally:
        await rt.engine.dispose()
        await owner.close()

    # 40 at once: the pool grew to its 24 (the rest waited for one) and kept them all.
    assert after_first[0] == 24
    assert after_second == (24, after_first[1])  # the second burst opened none


async def test_a_statement_the_database_never_answers_fails_after_the_command_timeout(
    pg: Postgres,
) -> None:
    """A service's statements fail after OPENDEUR_DB_COMMAND_TIMEOUT when the database stops
    answering on the connection without closing it (its backend stopped), and the next one
    runs on a new connection. Before, the statement waited for ever."""
    _database, settings = await migrated_database(pg, "intake")
    rt = Runtime(
        "intake",
        settings.model_copy(
            update={"nats_url": "nats://127.0.0.1:1", "db_command_timeout": timedelta(seconds=1)}
        ),
    )
    stopped = None
    try:
        async with rt.engine.connect() as conn:
            stopped = (await driver_sql(conn, "select pg_backend_pid()")).scalar()
        os.kill(stopped, signal.SIGSTOP)
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            async with rt.engine.connect() as conn:  # the same connection (the pool's only one)
                await driver_sql(conn, "select 1")
        assert time.monotonic() - began < 10
        async with rt.engine.connect() as conn:
            other = (await driver_sql(conn, "select pg_backend_pid()")).scalar()
        assert other != stopped
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        await rt.engine.dispose()


async def test_the_slow_sessions_wait_for_a_long_statement(pg: Postgres) -> None:
    """Audit's monthly reports take long on purpose over a national network's month: they run
    on `Runtime.slow_sessions`, whose statement timeout is 15 minutes, not the service's, which
    fails the same statement on its own sessions."""
    _database, settings = await migrated_database(pg, "audit")
    rt = Runtime(
        "audit",
        settings.model_copy(
            update={"nats_url": "nats://127.0.0.1:1", "db_command_timeout": timedelta(seconds=1)}
        ),
    )
    try:
        with pytest.raises(TimeoutError):
            async with rt.sessions() as session:
                await session.execute(text("select pg_sleep(1.5)"))
        async with rt.slow_sessions() as session:
            await session.execute(text("select pg_sleep(1.5)"))
    finally:
        await rt.engine.dispose()
        await rt.slow_engine.dispose()
