"""Audit persistence: append a batch to the hash chain; read the trail back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import chain

CHAIN_LOCK = 7401  # one writer at a time extends the chain


async def append(session: AsyncSession, records: list[dict[str, Any]]) -> int:
    """Append records not stored before (idempotent on event_id), chained in order."""
    await session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    ids = [r["event_id"] for r in records]
    seen = {
        str(r[0])
        for r in await session.execute(
            text("select event_id from events where event_id = any(cast(:ids as uuid[]))"),
            {"ids": ids},
        )
    }
    last = (
        await session.execute(text("select seq, hash from events order by seq desc limit 1"))
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, chain.GENESIS)
    rows = []
    for r in records:
        if r["event_id"] in seen:
            continue
        seen.add(r["event_id"])
        seq += 1
        h = chain.link_hash(prev, r)
        rows.append(
            {
                "seq": seq,
                "event_id": r["event_id"],
                "type": r["type"],
                "question_id": r.get("question_id"),
                "occurred_at": r.get("occurred_at"),
                # The record itself, so it is stored as a jsonb object (not a string scalar).
                "record": r,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
    if rows:
        await session.execute(
            text(
                """
                insert into events (seq, event_id, type, question_id, occurred_at, record, prev_hash, hash)
                select seq, event_id, type, question_id, coalesce(occurred_at, now()), record, prev_hash, hash
                from jsonb_to_recordset(cast(:rows as jsonb)) as x(seq bigint, event_id uuid, type text,
                     question_id uuid, occurred_at timestamptz, record jsonb, prev_hash text, hash text)
                """
            ),
            {"rows": orjson.dumps(rows).decode()},
        )
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
) -> list[dict[str, Any]]:
    sql = "select seq, record, recorded_at from events where seq > :after"
    params: dict[str, Any] = {"after": after_seq, "limit": limit}
    if question_id is not None:
        sql += " and question_id = :q"
        params["q"] = question_id
    if types:
        sql += " and type = any(:types)"
        params["types"] = types
    sql += (
        " order by occurred_at, seq limit :limit" if question_id else " order by seq limit :limit"
    )
    return [_out(r) for r in await session.execute(text(sql), params)]


async def chain_batches(
    session: AsyncSession, batch: int = 2000
) -> AsyncIterator[list[chain.ChainRow]]:
    """The chain in seq order, one bounded batch at a time (never the whole table at once)."""
    after = 0
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
    """Check the whole chain batch by batch: {ok, records, first_broken?}."""
    count, last = 0, None
    async for rows in chain_batches(session, batch):
        broken = chain.verify(rows, after=last)
        if broken is not None:
            count += sum(1 for r in rows if r.seq < broken.seq)
            return {
                "ok": False,
                "records": count,
                "first_broken": {"seq": broken.seq, "reason": broken.reason},
            }
        count += len(rows)
        last = rows[-1]
    return {"ok": True, "records": count}


async def monthly_counts(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    """Raw counts for a month (before suppression)."""
    q = (
        "select {col} as k, count(*) as n from events where type = :t and occurred_at >= :s "
        "and occurred_at < :e {cond} group by 1"
    )

    async def by(col: str, typ: str, cond: str = "") -> dict[str, int]:
        sql = q.format(col=col, cond=cond)
        rows = await session.execute(text(sql), {"t": typ, "s": start, "e": end})
        return {str(r.k if r.k is not None else "unknown"): int(r.n) for r in rows}

    return {
        "questions_by_topic": await by("record->>'topic'", "question.received.v1"),
        "questions_by_channel": await by("record->>'channel'", "question.received.v1"),
        "routed_by_municipality": await by("record->>'municipality'", "question.routed.v1"),
        "outcomes": await by("record->>'outcome'", "callback.done.v1"),
        "referrals_by_kind": await by("record->>'referrer_kind'", "referral.noted.v1"),
        "buddy_signals_by_topic": await by(
            "record->>'topic'",
            "question.received.v1",
            "and (record->>'wants_to_start_group')::boolean",
        ),
    }
