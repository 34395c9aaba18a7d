"""Transactional outbox and idempotent-consumer inbox, shared by every service."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import NamedTuple
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from contracts.events import Event
from opendeur import metrics
from opendeur.db import autocommit, driver_sql
from opendeur.logging import get_logger
from opendeur.tasks import within, woken

log = get_logger(component="outbox")
metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("subject", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("event_id", PgUUID(as_uuid=True), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Executed by every service's first migration, so each schema has its own pair.
TABLES_SQL = """
create table outbox (
    id bigserial primary key,
    event_id uuid not null unique,
    subject text not null,
    payload bytea not null,
    created_at timestamptz not null default now()
);
create table inbox (
    consumer text not null,
    event_id uuid not null,
    applied_at timestamptz not null default now(),
    primary key (consumer, event_id)
);
"""

_wake: asyncio.Event | None = None
_relay: Relay | None = None  # this process's relay, once it runs


class Staged(NamedTuple):
    """An outbox row as the relay publishes it (a row it takes, or one handed over)."""

    id: int
    event_id: UUID
    subject: str
    payload: bytes

    @classmethod
    def of(cls, row_id: int, staged: dict) -> Staged:
        """The row `row_id` that a statement of its own inserted from `params(event)`."""
        return cls(row_id, staged["ob_id"], staged["ob_subject"], staged["ob_payload"])


# Also spliced into a hot path's single statement (intake's accept: `with ... insert into outbox`).
INSERT_SQL = (
    "insert into outbox (event_id, subject, payload) values (:ob_id, :ob_subject, :ob_payload)"
)


def params(event: Event) -> dict:
    return {"ob_id": event.event_id, "ob_subject": event.subject, "ob_payload": event.to_bytes()}


# The runtime's own statements on every batch and relay round go to the driver as they are
# (`db.driver_sql`, asyncpg's $n parameters): 25-35 % less client CPU per statement than
# `session.execute(text(...))` (docs/performance.md), still inside the session's transaction.
ADD_ONE_SQL = "insert into outbox (event_id, subject, payload) values ($1, $2, $3) returning id"
ADD_MANY_SQL = (
    "insert into outbox (event_id, subject, payload) "
    "select * from unnest($1::uuid[], $2::text[], $3::bytea[]) returning id, event_id"
)
CLAIM_ALL_SQL = (
    "insert into inbox (consumer, event_id) select $1, unnest($2::uuid[]) "
    "on conflict do nothing returning event_id"
)
# The first CTE of a handler's statement that claims its batch itself (`Runtime.handles_claiming`):
# `fresh` holds the events of $2 that consumer $1 had not applied before. The statement applies
# only those; its own parameters are $3 and on.
CLAIM_CTE = f"fresh as ({CLAIM_ALL_SQL})"


class Claim(NamedTuple):
    """A fetched batch's events (each once), for `CLAIM_CTE`'s $1 and $2."""

    consumer: str
    event_ids: list[UUID]


TAKE_SQL = (
    "select id, event_id, subject, payload from outbox order by id limit $1 for update skip locked"
)
# The periodic round's take: only rows committed a while ago (`SETTLED_S`), so that it leaves
# alone the rows another instance has just handed to its own relay (they are not locked).
TAKE_SETTLED_SQL = (
    "select id, event_id, subject, payload from outbox "
    "where created_at < now() - make_interval(secs => $2) "
    "order by id limit $1 for update skip locked"
)
DROP_SQL = "delete from outbox where id = any($1::bigint[])"


async def add(session: AsyncSession | AsyncConnection, *events: Event) -> list[Staged]:
    """Stage events in the caller's transaction; they are published after it commits. Returns
    the rows, which the caller may hand to the relay (`hand_over`) once it has committed."""
    payloads = [e.to_bytes() for e in events]
    if len(events) == 1:  # the common case: one plain execute, not an executemany
        e = events[0]
        rows = await driver_sql(session, ADD_ONE_SQL, e.event_id, e.subject, payloads[0])
        return [Staged(rows.scalar_one(), e.event_id, e.subject, payloads[0])]
    if not events:
        return []
    rows = await driver_sql(  # one multi-row insert
        session,
        ADD_MANY_SQL,
        [e.event_id for e in events],
        [e.subject for e in events],
        payloads,
    )
    ids = {r["event_id"]: r["id"] for r in rows}
    return [
        Staged(ids[e.event_id], e.event_id, e.subject, p)
        for e, p in zip(events, payloads, strict=True)
    ]


def wake_relay() -> None:
    """Rows were committed that the relay was not handed: it takes them from the table."""
    if _relay is not None:
        _relay.table_due = True
    if _wake is not None:
        _wake.set()


def hand_over(engine: AsyncEngine, rows: list[Staged]) -> None:
    """Rows whose transaction (on `engine`) has just committed, for this process's relay to
    publish as they are, without taking them from the table first (`Relay.flush_handed`).
    Before the relay runs, or when it is another engine's (another schema's), it takes them
    from the table."""
    if _relay is None or _relay.engine is not engine:
        wake_relay()
    elif rows:
        _relay.handed.extend(rows)
        if _wake is not None:
            _wake.set()


async def claim(session: AsyncSession, consumer: str, event_id: UUID) -> bool:
    """Record that this consumer applies this event; False when it already did (redelivery)."""
    result = await session.execute(
        pg_insert(inbox)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
    return result.first() is not None


async def claim_all(session: AsyncSession, consumer: str, event_ids: list[UUID]) -> set[UUID]:
    """Claim a batch's events for this consumer in one statement; the ids not applied before."""
    result = await driver_sql(session, CLAIM_ALL_SQL, consumer, list(dict.fromkeys(event_ids)))
    return {row[0] for row in result}


ACK_WAIT_S = 5.0  # a publish not acked by then stays in the outbox for the next round


# The relay takes rows from the table at least this often, also while rows are handed over:
# rows another instance of the service left (killed), and any row not handed over whose wake
# did not come. Such a periodic round takes only rows committed at least SETTLED_S ago.
TABLE_EVERY_S = 0.5
SETTLED_S = 1.0
# The rows hand-overs published are deleted together: DROP_AFTER_S after the first of them was
# acked, when `batch` of them wait, or before the next table round, whichever comes first. At a
# fixed rate a batch is mostly one event, and a delete per hand-over was a statement and a
# commit per event on each hop. A row whose delete a crash lost is published again from the
# table after the restart: its Nats-Msg-Id de-duplicates it, as for a publish whose ack was lost.
DROP_AFTER_S = 0.1


class Relay:
    """Publishes committed outbox rows with Nats-Msg-Id = event_id, then deletes them.

    Two ways in. The runtime's consumers, intake's POST and notify's sends hand over the rows
    their transaction has just committed (`hand_over`): published as they are (`flush_handed`),
    then deleted, many in one autocommitted statement (`drop_published`, within DROP_AFTER_S).
    Everything else, and every row a failed round left, is taken from the table under a row
    lock (`flush_once`): when woken by `wake_relay`, at start and after a failure until the
    table is drained; and, of the rows committed SETTLED_S ago or earlier, at least every
    TABLE_EVERY_S."""

    def __init__(self, engine: AsyncEngine, js: JetStreamContext, batch: int = 256) -> None:
        self.engine = engine
        self.js = js
        self.batch = batch
        # Committed and handed over, in the order their commits returned to this process.
        self.handed: list[Staged] = []
        self.table_due = True  # the whole table first: rows an earlier run left
        self.table_at = 0.0  # when the last table round began (monotonic)
        # Handed over, published and acked, not deleted yet; since when the first of them waits.
        self.published: list[int] = []
        self.published_at = 0.0

    async def flush_once(self, settled_only: bool = False) -> int:
        """Publish up to `batch` committed rows with pipelined acks (all sent, then the acks
        awaited together); delete the acked ones in one statement and leave the rest, locked
        for this round only, to the next. Raises the first publish error after the commit.
        `settled_only`: only rows committed SETTLED_S ago or earlier (the periodic round)."""
        await self.drop_published()  # a round never takes a row this relay has published
        self.table_at = time.monotonic()
        # Cleared as the round begins: a wake_relay() while it runs asks for the next one.
        self.table_due = False
        # A Core connection, not an ORM session: nothing here needs the unit of work. The rows
        # stay locked (skip locked) while their publishes are in flight, so a second relay of
        # the same service never publishes them at the same time.
        async with self.engine.begin() as conn:
            if settled_only:
                got = await driver_sql(conn, TAKE_SETTLED_SQL, self.batch, SETTLED_S)
            else:
                got = await driver_sql(conn, TAKE_SQL, self.batch)
            rows = [Staged(*r) for r in got]
            if not rows:
                return 0
            results = await self._publish(rows)
            acked = self._acked(rows, results)
            if acked:
                await driver_sql(conn, DROP_SQL, [r.id for r in acked])
        # Handed over too, before or while this round ran: published here, not again.
        taken = {r.id for r in rows}
        self.handed = [h for h in self.handed if h.id not in taken]
        self._published(rows, acked, results)
        if len(rows) < self.batch:
            metrics.OUTBOX_BACKLOG.set(0)  # drained (rows committed meanwhile wake us again)
        else:
            self.table_due = True  # more may wait
            metrics.OUTBOX_BACKLOG.set(await self.backlog())
        return len(rows)

    async def flush_handed(self) -> int:
        """Publish up to `batch` handed-over rows, in the order they committed, with pipelined
        acks; the acked ones wait for `drop_published`. No BEGIN, no select and no COMMIT
        round trip before the publish, as a table round needs. A relay of another instance may
        take such a row from the table meanwhile (it is not locked): its Nats-Msg-Id
        de-duplicates the second publish. Raises as `flush_once` does; what it did not publish
        stays in the table, for the table rounds that follow."""
        rows, self.handed = self.handed[: self.batch], self.handed[self.batch :]
        results = await self._publish(rows)
        acked = self._acked(rows, results)
        if acked and not self.published:
            self.published_at = time.monotonic()
        self.published += [r.id for r in acked]
        if len(acked) < len(rows) or len(self.published) >= self.batch:
            await self.drop_published()  # before a failure clears them; or enough wait
        self._published(rows, acked, results)
        return len(rows)

    async def drop_published(self) -> None:
        """Delete the rows hand-overs published, in one autocommitted statement. If it fails,
        they stay in the table and the table rounds publish them again (de-duplicated)."""
        if not self.published:
            return
        ids, self.published = self.published, []
        async with autocommit(self.engine) as conn:
            await driver_sql(conn, DROP_SQL, ids)

    def _drop_in(self) -> float:
        """Seconds until the published rows are due for deletion (inf when none wait)."""
        if not self.published:
            return math.inf
        return self.published_at + DROP_AFTER_S - time.monotonic()

    @staticmethod
    def _acked(rows: list[Staged], results: list[object]) -> list[Staged]:
        return [
            r for r, res in zip(rows, results, strict=True) if not isinstance(res, BaseException)
        ]

    @staticmethod
    def _published(rows: list[Staged], acked: list[Staged], results: list[object]) -> None:
        """Count what was published; raise the first publish error, if any."""
        for r in acked:
            metrics.PUBLISHED.labels(subject=r.subject).inc()
        if len(acked) < len(rows):
            # Not acked: stays in the outbox; its Nats-Msg-Id de-duplicates a publish that did
            # reach the stream although its ack was lost.
            error = next(res for res in results if isinstance(res, BaseException))
            raise error if isinstance(error, Exception) else RuntimeError("publish cancelled")

    async def _publish(self, rows: list[Staged]) -> list[object]:
        """Send every row, then await their acks together: per row its PubAck or the exception.

        `publish_async` (one reply subscription for all acks) instead of a `publish` request
        per row, each a task with its own inbox and timer: the same acks for less CPU."""
        futures: list[asyncio.Future] = []
        failed: BaseException | None = None
        try:
            for r in rows:
                try:
                    futures.append(
                        await self.js.publish_async(
                            r.subject, r.payload, headers={"Nats-Msg-Id": str(r.event_id)}
                        )
                    )
                except Exception as exc:  # the connection went: the rest are not sent
                    failed = exc
                    break
            if futures:
                await asyncio.wait(futures, timeout=ACK_WAIT_S)
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()  # frees its place in the client's pending publishes
        results: list[object] = []
        for f in futures:
            if f.cancelled():
                results.append(TimeoutError("no ack for the publish"))
            else:
                results.append(f.exception() or f.result())
        unsent = failed or ConnectionError("not sent")
        results.extend(unsent for _ in range(len(rows) - len(futures)))
        return results

    async def backlog(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    async def run(self) -> None:
        global _wake, _relay
        _wake = asyncio.Event()
        _relay = self
        try:
            await self._loop(_wake)
        finally:
            if _relay is self:  # hand-overs go to the table again, not to a relay gone
                _relay = _wake = None
            # A stop deletes what was published (best effort: else it is published again).
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await within(self.drop_published(), 2.0)

    async def _loop(self, wake: asyncio.Event) -> None:
        delay = 0.2
        while True:
            wake.clear()
            try:
                if self.table_due:
                    await self.flush_once()
                elif time.monotonic() - self.table_at >= TABLE_EVERY_S:  # before hand-overs,
                    # which may keep coming: the periodic round, of settled rows only
                    await self.flush_once(settled_only=True)
                elif self._drop_in() <= 0:  # before hand-overs too, for the same reason
                    await self.drop_published()
                elif self.handed:
                    await self.flush_handed()
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # What was not published and deleted is in the table: the table rounds take it
                # from there, in order, before any later hand-over is published on its own.
                self.handed.clear()
                self.published.clear()  # published again from the table (de-duplicated)
                self.table_due = True
                log.warning("relay_failed", error=type(exc).__name__, retry_in=delay)
                with contextlib.suppress(Exception):
                    metrics.OUTBOX_BACKLOG.set(await within(self.backlog(), 2))
                await asyncio.sleep(delay)
                # No responder for a stream is a JetStream leader election (seconds): retry often,
                # so questions flow again soon after a new leader; anything else backs off to 5 s.
                delay = min(delay * 2, 1.0 if isinstance(exc, NoStreamResponseError) else 5.0)
                continue
            if not self.handed and not self.table_due:
                await woken(wake, max(0.0, min(TABLE_EVERY_S, self._drop_in())))
