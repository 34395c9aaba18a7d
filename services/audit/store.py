"""Audit persistence: append a batch to the hash chain; read the trail back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import chain

CHAIN_LOCK = 7401  # one writer at a time extends the chain


COLUMNS = ("seq", "event_id", "type", "question_id", "occurred_at", "record", "prev_hash", "hash")
# The chain's head and which of these ids are stored already, in one round trip.
HEAD_AND_SEEN = """
    select h.seq, h.hash,
           array(select event_id::text from events where event_id = any($1::uuid[])) as seen
    from (select 1) as one
    left join lateral (
        -- After a prune that took every event, the chain goes on from its anchor.
        (select seq, hash from events order by seq desc limit 1)
        union all (select seq, hash from chain_anchors order by seq desc limit 1)
        order by seq desc limit 1
    ) as h on true
"""


async def append(session: AsyncSession, records: list[dict[str, Any]]) -> int:
    """Append records not stored before (idempotent on event_id), chained in order.

    One writer at a time (a transaction-scoped advisory lock, taken before the chain's head
    is read, so two instances cannot fork the chain); the head and the ids already stored are
    read in one statement, and the new rows go in with one binary COPY."""
    # Through SQLAlchemy first: this statement also begins the session's transaction.
    await session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    conn = await (await session.connection()).get_raw_connection()
    pg = conn.driver_connection  # asyncpg, inside the same transaction
    head = await pg.fetchrow(HEAD_AND_SEEN, [r["event_id"] for r in records])
    seq, prev = (head["seq"], head["hash"]) if head["seq"] is not None else (0, chain.GENESIS)
    seen = set(head["seen"])
    now = datetime.now(UTC)
    rows = []
    for r in records:
        event_id = r["event_id"]
        if event_id in seen:
            continue
        seen.add(event_id)
        seq += 1
        body, h = chain.link(prev, r)
        occurred = r.get("occurred_at")
        rows.append(
            (
                seq,
                event_id,
                r["type"],
                r.get("question_id"),
                datetime.fromisoformat(occurred) if occurred else now,
                # The canonical encoding is JSON: stored as the record (a jsonb object).
                body.decode(),
                prev,
                h,
            )
        )
        prev = h
    if rows:
        await pg.copy_records_to_table("events", records=rows, columns=COLUMNS)
    return len(rows)


def _out(row: Any) -> dict[str, Any]:
    rec = orjson.loads(row.record) if isinstance(row.record, str) else dict(row.record)
    rec["seq"] = row.seq
    rec["recorded_at"] = row.recorded_at.isoformat()
    return rec


async def events_for(
    session: AsyncSession,
    question_id: UUID | None,
    after_seq: int = 0,
    types: list[str] | None = None,
    limit: int = 1000,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Stored events after a sequence number: one question's in the order they occurred, or the
    whole trail's (the live stream) in stored order, optionally only those occurred `since`."""
    sql = "select seq, record, recorded_at from events where seq > :after"
    params: dict[str, Any] = {"after": after_seq, "limit": limit}
    if question_id is not None:
        sql += " and question_id = :q"
        params["q"] = question_id
    if since is not None:
        sql += " and occurred_at >= :since"
        params["since"] = since
    if types:
        sql += " and type = any(:types)"
        params["types"] = types
    sql += (
        " order by occurred_at, seq limit :limit" if question_id else " order by seq limit :limit"
    )
    return [_out(r) for r in await session.execute(text(sql), params)]


async def anchor(session: AsyncSession) -> dict[str, Any] | None:
    """The last prune's anchor: seq and hash of the last event pruned, and the cutoff."""
    row = (
        await session.execute(
            text("select seq, hash, pruned_before from chain_anchors order by seq desc limit 1")
        )
    ).first()
    if row is None:
        return None
    return {"seq": row.seq, "hash": row.hash, "pruned_before": row.pruned_before.isoformat()}


async def chain_batches(
    session: AsyncSession, batch: int = 2000, after: int = 0
) -> AsyncIterator[list[chain.ChainRow]]:
    """The chain in seq order, one bounded batch at a time (never the whole table at once)."""
    while True:
        rows = (
            await session.execute(
                text(
                    "select seq, record, prev_hash, hash from events where seq > :a "
                    "order by seq limit :n"
                ),
                {"a": after, "n": batch},
            )
        ).all()
        if not rows:
            return
        yield [
            chain.ChainRow(
                seq=r.seq,
                record=orjson.loads(r.record) if isinstance(r.record, str) else r.record,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in rows
        ]
        after = rows[-1].seq


async def verify_trail(session: AsyncSession, batch: int = 2000) -> dict[str, Any]:
    """Check the whole chain batch by batch: {ok, records, first_broken?, anchor?}. After a prune
    the chain is checked from its anchor: the first event kept must follow the last one pruned."""
    count, last = 0, None
    start = await anchor(session)
    if start is not None:
        last = chain.ChainRow(seq=start["seq"], record={}, prev_hash="", hash=start["hash"])
    async for rows in chain_batches(session, batch, after=last.seq if last else 0):
        broken = chain.verify(rows, after=last)
        if broken is not None:
            count += sum(1 for r in rows if r.seq < broken.seq)
            return {
                "ok": False,
                "records": count,
                "first_broken": {"seq": broken.seq, "reason": broken.reason},
                **({"anchor": start} if start else {}),
            }
        count += len(rows)
        last = rows[-1]
    return {"ok": True, "records": count, **({"anchor": start} if start else {})}


async def kept_month(session: AsyncSession, start: datetime, end: datetime) -> Any:
    """The aggregates kept for [start, end) if it is one whole month that has them, else None."""
    if start.day != 1 or end != (start.replace(day=28) + timedelta(days=4)).replace(day=1):
        return None
    return (
        await session.execute(
            text("select counts, stats from monthly_aggregates where month = :m"),
            {"m": start.date()},
        )
    ).first()


async def keep_month(
    session: AsyncSession, start: datetime, counts: dict[str, Any], stats: list[dict[str, Any]]
) -> bool:
    """Keep a month's report figures before its events are pruned (once; never changed)."""
    result = await session.execute(
        text(
            "insert into monthly_aggregates (month, counts, stats) "
            "values (:m, cast(:c as jsonb), cast(:s as jsonb)) on conflict do nothing returning 1"
        ),
        {"m": start.date(), "c": orjson.dumps(counts).decode(), "s": orjson.dumps(stats).decode()},
    )
    return result.first() is not None


async def prune(session: AsyncSession, cutoff: datetime) -> dict[str, int]:
    """Prune the chain's prefix of events occurred before `cutoff` (migration 0005)."""
    row = (await session.execute(text("select * from audit_prune(:c)"), {"c": cutoff})).one()
    return {"anchor_seq": row.anchor_seq, "pruned": row.pruned, "questions": row.questions}


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def monthly_counts(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    """Raw counts for a month (before suppression); a pruned month's from its kept aggregates."""
    kept = await kept_month(session, start, end)
    if kept is not None:  # jsonb keeps its own key order: put each table back in key order
        return {name: dict(sorted(table.items())) for name, table in _json(kept.counts).items()}
    q = (
        "select {col} as k, count(*) as n from events where type = :t and occurred_at >= :s "
        "and occurred_at < :e {cond} group by 1"
    )

    async def by(col: str, typ: str, cond: str = "") -> dict[str, int]:
        sql = q.format(col=col, cond=cond)
        rows = await session.execute(text(sql), {"t": typ, "s": start, "e": end})
        # In key order: suppression (which cell hides a second figure) and the CSV follow it.
        return dict(sorted((str(r.k if r.k is not None else "unknown"), int(r.n)) for r in rows))

    return {
        "questions_by_topic": await by("record->>'topic'", "question.received.v1"),
        "questions_by_channel": await by("record->>'channel'", "question.received.v1"),
        "routed_by_municipality": await by("record->>'municipality'", "question.routed.v1"),
        # A talk after which the person wants to come to the group is its own cell of this one
        # table (a second table splitting "reached" would let small cells be worked out).
        "outcomes": await by(
            "case when record->>'outcome' = 'reached' and (record->>'joins_group')::boolean "
            "then 'reached_joins' else record->>'outcome' end",
            "callback.done.v1",
        ),
        "followup": await by("record->>'answer'", "followup.answered.v1"),
        "referrals_by_kind": await by("record->>'referrer_kind'", "referral.noted.v1"),
        "buddy_signals_by_topic": await by(
            "record->>'topic'",
            "question.received.v1",
            "and (record->>'wants_to_start_group')::boolean",
        ),
    }
