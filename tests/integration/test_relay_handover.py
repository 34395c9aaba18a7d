"""The outbox relay's two ways in, on a real nats-server and PostgreSQL: rows a transaction hands
over after its commit are published as they are (no table round first), everything else is taken
from the table, and a row that comes both ways reaches the stream once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events import PiiAccessed
from contracts.streams import EVENTS_STREAM
from opendeur import messaging, outbox
from opendeur.db import make_engine
from opendeur.embedded import NatsServer
from tests.support import outbox_engine, wait_for


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    server = NatsServer(Path(tmp_path_factory.mktemp("nats-relay"))).start()
    yield server
    server.stop()


@pytest.fixture
async def engine(pg) -> AsyncIterator[AsyncEngine]:
    """A schema of its own with the outbox table, as a service's."""
    async with outbox_engine(pg, "t_handover") as engine:
        yield engine


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await messaging.ensure_streams(js, manage=True)
    try:
        yield js
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def running(relay: outbox.Relay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stage(engine: AsyncEngine, *events: PiiAccessed) -> list[outbox.Staged]:
    """The events staged in a transaction of their own, committed."""
    async with engine.begin() as conn:
        return await outbox.add(conn, *events)


async def in_stream(js: JetStreamContext, since: int) -> list[UUID]:
    """The Nats-Msg-Id of each message stored after sequence `since`, in the stream's order."""
    last = (await js.stream_info(EVENTS_STREAM)).state.last_seq
    ids = []
    for seq in range(since + 1, last + 1):
        msg = await js.get_msg(EVENTS_STREAM, seq)
        ids.append(UUID(msg.headers["Nats-Msg-Id"]))
    return ids


async def left_in_table(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("select subject from outbox order by id"))).scalars())


def accessed(n: int) -> list[PiiAccessed]:
    return [PiiAccessed(question_id=uuid4(), contact_id="c-handover") for _ in range(n)]


async def started(relay: outbox.Relay) -> None:
    """The relay's first round (the whole table, at start) is over."""
    await wait_for(lambda: asyncio.sleep(0, relay.table_at > 0 and not relay.table_due))


async def test_rows_handed_over_are_published_in_order_and_deleted_without_a_table_round(
    engine: AsyncEngine, js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction holds the rows locked, so a table round (select ... for update skip
    locked) could not take them: they reach the stream all the same, in the order they were
    staged, and are deleted once the lock is gone. No periodic round runs meanwhile (one a
    minute here), so the publish and the delete are the hand-over's."""
    monkeypatch.setattr(outbox, "TABLE_EVERY_S", 60.0)
    relay = outbox.Relay(engine, js)
    async with running(relay):
        await started(relay)
        started_at = relay.table_at
        since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        events = accessed(5)
        rows = await stage(engine, *events)
        async with engine.connect() as blocker, blocker.begin():
            await blocker.execute(text("select id from outbox for update"))
            outbox.hand_over(engine, rows)

            async def published() -> bool:
                return len(await in_stream(js, since)) >= len(events)

            await wait_for(published)
            assert await in_stream(js, since) == [e.event_id for e in events]

        await wait_for(lambda: _empty(engine))
        assert relay.table_at == started_at  # no table round took them
    assert await in_stream(js, since) == [e.event_id for e in events]  # and not again


async def test_a_row_staged_without_a_hand_over_is_taken_from_the_table(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """A row no transaction handed over, and none woke the relay for (a row another instance
    left when it was killed), is published by a periodic round once it has settled, also while
    hand-overs keep the relay busy."""
    relay = outbox.Relay(engine, js)
    async with running(relay):
        await started(relay)  # the round at start would take it: it comes after
        since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        left = accessed(1)
        await stage(engine, *left)
        busy = accessed(100)
        for event in busy:  # a hand-over every 20 ms, for twice SETTLED_S and more
            outbox.hand_over(engine, await stage(engine, event))
            await asyncio.sleep(0.02)

        async def all_published() -> bool:
            return len(await in_stream(js, since)) >= 101

        await wait_for(all_published)
        got = await in_stream(js, since)
        assert sorted(got) == sorted(e.event_id for e in left + busy)
        assert got.index(left[0].event_id) < 100  # taken before the hand-overs ran out
        await wait_for(lambda: _empty(engine))


async def test_a_periodic_round_leaves_the_rows_just_committed_to_their_own_relay(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """Rows another instance has just committed and handed to its own relay are not locked:
    a periodic round takes only rows committed SETTLED_S ago or earlier, so it does not publish
    them a second time nor make that relay's delete wait for its lock; later it takes them."""
    other = outbox.Relay(engine, js)
    since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
    events = accessed(2)
    await stage(engine, *events)
    assert await other.flush_once(settled_only=True) == 0
    assert await in_stream(js, since) == []
    await asyncio.sleep(outbox.SETTLED_S + 0.2)
    assert await other.flush_once(settled_only=True) == 2
    assert await in_stream(js, since) == [e.event_id for e in events]
    assert await left_in_table(engine) == []


async def _empty(engine: AsyncEngine) -> bool:
    return not await left_in_table(engine)


async def test_a_hand_over_whose_publish_fails_leaves_its_row_to_the_table_rounds(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """A row no stream takes fails its publish: its neighbours are published and deleted, it
    stays in the table; rows handed over while it keeps failing are still published (by the
    table rounds that follow a failure), and once it can be published it is."""
    relay = outbox.Relay(engine, js)
    async with running(relay):
        since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        first, last = accessed(1), accessed(1)
        async with engine.begin() as conn:
            rows = await outbox.add(conn, *first)
            bad_id = uuid4()
            bad = (
                await conn.execute(
                    text(
                        "insert into outbox (event_id, subject, payload) "
                        "values (:i, 'nowhere.v1', '') returning id"
                    ),
                    {"i": bad_id},
                )
            ).scalar_one()
            rows += [outbox.Staged(bad, bad_id, "nowhere.v1", b"")]
            rows += await outbox.add(conn, *last)
        outbox.hand_over(engine, rows)

        async def only_the_bad_one_left() -> bool:  # deleted once their acks are in
            return await left_in_table(engine) == ["nowhere.v1"]

        async def neighbours_published() -> bool:
            return set(await in_stream(js, since)) >= {first[0].event_id, last[0].event_id}

        await wait_for(neighbours_published)
        await wait_for(only_the_bad_one_left)

        later = accessed(3)
        for event in later:
            outbox.hand_over(engine, await stage(engine, event))

        async def later_published() -> bool:
            return set(await in_stream(js, since)) >= {e.event_id for e in later}

        await wait_for(later_published)
        await wait_for(only_the_bad_one_left)

        # Mended (here: a subject the stream takes), it goes out with the next table round.
        mended = PiiAccessed(question_id=uuid4(), contact_id="c-handover")
        async with engine.begin() as conn:
            await conn.execute(
                text("update outbox set subject = :s, payload = :p where id = :id"),
                {"s": mended.subject, "p": mended.to_bytes(), "id": bad},
            )
        await wait_for(lambda: _empty(engine))
        got = await in_stream(js, since)
        assert sorted(got) == sorted(
            [first[0].event_id, last[0].event_id, bad_id] + [e.event_id for e in later]
        )


async def test_a_row_both_handed_over_and_taken_from_the_table_reaches_the_stream_once(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """Within a process, a table round drops what it took from the rows handed over; across two
    instances, the second publish of a row carries the same Nats-Msg-Id and is de-duplicated."""
    one, other = outbox.Relay(engine, js), outbox.Relay(engine, js)
    since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
    events = accessed(3)
    rows = await stage(engine, *events)
    one.handed = list(rows)
    other.handed = list(rows)  # as if another instance had committed and handed them too
    assert await one.flush_once() == 3  # a table round takes them first
    assert one.handed == []
    assert await one.flush_handed() == 0
    assert await other.flush_handed() == 3  # publishes them again: the stream drops the copies
    await other.drop_published()
    assert await in_stream(js, since) == [e.event_id for e in events]
    assert await left_in_table(engine) == []


async def test_published_hand_overs_are_deleted_together_and_never_taken_by_a_table_round(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """Hand-overs published one after another wait to be deleted together (one statement), and
    the relay's next table round deletes them first instead of taking them again."""
    relay = outbox.Relay(engine, js)
    events = accessed(3)
    for event in events:
        relay.handed = await stage(engine, event)
        assert await relay.flush_handed() == 1
    assert relay.published == sorted(relay.published) and len(relay.published) == 3
    assert len(await left_in_table(engine)) == 3  # published, not deleted yet
    assert await relay.flush_once() == 0  # it took nothing: they were deleted first
    assert relay.published == []
    assert await left_in_table(engine) == []


async def test_a_stopping_relay_deletes_what_it_published(
    engine: AsyncEngine, js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Published rows wait for their delete (here a minute); a stop does it."""
    monkeypatch.setattr(outbox, "DROP_AFTER_S", 60.0)
    relay = outbox.Relay(engine, js)
    since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
    events = accessed(2)
    async with running(relay):
        await started(relay)
        outbox.hand_over(engine, await stage(engine, *events))

        async def published() -> bool:
            return len(await in_stream(js, since)) >= len(events)

        await wait_for(published)
        await wait_for(lambda: asyncio.sleep(0, not relay.handed))
        assert len(await left_in_table(engine)) == 2
    assert await left_in_table(engine) == []
    assert await in_stream(js, since) == [e.event_id for e in events]


async def test_a_hand_over_to_another_schemas_relay_is_left_to_the_table(
    engine: AsyncEngine, js: JetStreamContext, pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two engines in one process (two schemas): a hand-over made on the other engine does not
    go to this relay, which would publish it and delete the row with the same id in its own
    schema, unpublished (a lost event there). It only wakes this relay, which takes its own
    row from its own table. After the relay stops, a hand-over reaches no relay."""
    monkeypatch.setattr(outbox, "TABLE_EVERY_S", 60.0)
    relay = outbox.Relay(engine, js)
    async with outbox_engine(pg, "t_handover_other") as other:
        async with running(relay):
            await started(relay)
            since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
            mine = await stage(engine, *accessed(1))
            theirs = await stage(other, *accessed(1))
            assert mine[0].id == theirs[0].id  # each schema counts its own ids
            outbox.hand_over(other, theirs)

            async def own_row_published() -> bool:
                return await in_stream(js, since) == [mine[0].event_id]

            await wait_for(own_row_published)
            await wait_for(lambda: _empty(engine))
            await asyncio.sleep(0.3)
            assert await in_stream(js, since) == [mine[0].event_id]  # not theirs
            assert len(await left_in_table(other)) == 1
        rows = await stage(engine, *accessed(1))
        outbox.hand_over(engine, rows)  # the relay has stopped
        assert relay.handed == []
        assert len(await left_in_table(engine)) == 1


async def test_a_relay_whose_database_goes_silent_goes_on_after_the_statement_timeout(
    engine: AsyncEngine, js: JetStreamContext, pg
) -> None:
    """The database stops answering on the relay's connection without closing it (its backend
    stopped, as a host that went away or a failover leaves it): the statement fails after the
    service's OPENDEUR_DB_COMMAND_TIMEOUT, and what is handed over next is published all the same.
    Before, the relay waited on that connection for ever: nothing more was published (questions
    accepted, never routed) while the service's health check stayed green."""
    async with engine.connect() as conn:
        schema = (await conn.execute(text("select current_schema()"))).scalar_one()
    silent = make_engine(pg.url(), pool_size=2, schema=schema, command_timeout=2)
    relay = outbox.Relay(silent, js)
    stopped: list[int] = []
    try:
        async with running(relay):
            await started(relay)
            async with engine.connect() as conn:
                stopped = list(
                    (
                        await conn.execute(
                            text(
                                "select pid from pg_stat_activity where application_name = :a"
                                " and pid <> pg_backend_pid()"
                            ),
                            {"a": f"opendeur-{schema}"},
                        )
                    ).scalars()
                )
            assert stopped, "the relay's own connection"
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            since = (await js.stream_info(EVENTS_STREAM)).state.last_seq
            first = accessed(1)
            outbox.hand_over(silent, await stage(engine, *first))  # published, then its delete
            # waits on the silent connection
            await wait_for(lambda: _count(js, since, 1))
            await asyncio.sleep(outbox.DROP_AFTER_S + 0.5)
            later = accessed(1)
            outbox.hand_over(silent, await stage(engine, *later))
            await wait_for(lambda: _count(js, since, 2), timeout=30)
            assert later[0].event_id in await in_stream(js, since)
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        await silent.dispose()


async def _count(js: JetStreamContext, since: int, n: int) -> bool:
    return len(set(await in_stream(js, since))) >= n
