"""Read models over the audit trail, computed in SQL: consent register, timings, console figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import reports, store

# One row per question received in [:s, :e): its clock and when each step first happened, from
# question_times (kept per question by a trigger on events, migration 0004: a range read instead
# of a scan of every question's events).
PER_QUESTION = """
with per as (
    select question_id, topic, received_at, respond_before,
           to_char(received_at at time zone 'UTC', 'YYYY-MM') as month,
           to_char(received_at at time zone 'UTC', 'IYYY-"W"IW') as week,
           routed_at, notified_at, callback_at, closed_at, last_routing,
           extract(epoch from routed_at - received_at)::float8 as routed_s,
           extract(epoch from notified_at - received_at)::float8 as notified_s,
           extract(epoch from callback_at - received_at)::float8 as callback_s,
           callback_at <= respond_before as within_deadline,
           (callback_at is not null or respond_before < now()) as decided
    from question_times
    where received_seen_at >= :s and received_seen_at < :e
)
"""

# Per month, and per month and topic ('*' for all topics).
STATS_SELECT = """
select month,
       case when grouping(topic) = 1 then '*' else topic end as topic,
       count(*) as questions,
       count(callback_s) as answered,
       percentile_cont(0.5) within group (order by callback_s) as median_s,
       percentile_cont(0.9) within group (order by callback_s) as p90_s,
       count(*) filter (where within_deadline) as within_deadline,
       count(*) filter (where decided) as decided
from per
group by grouping sets ((month, topic), (month))
order by month, grouping(topic) desc, topic
"""
STATS = PER_QUESTION + STATS_SELECT
# Stats and the per-question list of a window in one statement, both as JSON built in PostgreSQL
# (json_agg of plain rows): tens of thousands of questions for a month decode far faster as one
# orjson document than as typed rows turned into dicts one by one in Python.
TIMINGS = (
    PER_QUESTION  # noqa: S608 (constants only)
    + "select (select json_agg(s) from ("
    + STATS_SELECT
    + """) s)::text as stats,
       (select json_agg(q) from (
            select question_id, topic, received_at, respond_before,
                   routed_s as routed_seconds, notified_s as notified_seconds,
                   callback_s as callback_seconds, within_deadline
            from per order by received_at, question_id) q)::text as questions
"""
)
OPEN = (
    PER_QUESTION
    + """
select question_id, topic, received_at, respond_before, last_routing,
       extract(epoch from now() - received_at)::float8 as age_s,
       now() > respond_before as late
from per where callback_at is null and closed_at is null
order by received_at
"""
)
CALLBACKS = (
    PER_QUESTION
    + """
select callback_s from per where callback_s is not null
"""
)
WEEKLY = (
    PER_QUESTION
    + """
select week, count(*) filter (where within_deadline) as ok,
       count(*) filter (where decided) as decided
from per group by week having count(*) filter (where decided) > 0 order by week
"""
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def consent_register(session: AsyncSession, question_id: UUID) -> dict[str, Any] | None:
    """When which consent was given, withdrawn, the data erased, and who opened the data."""
    rows = (
        await session.execute(
            text(
                "select type, occurred_at, record from events where question_id = :q and type = "
                "any(:types) order by occurred_at, seq"
            ),
            {
                "q": question_id,
                "types": [
                    "question.received.v1",
                    "consent.withdrawn.v1",
                    "question.erased.v1",
                    "pii.accessed.v1",
                ],
            },
        )
    ).all()
    if not rows:
        return None
    out: dict[str, Any] = {
        "question_id": str(question_id),
        "given": None,
        "withdrawn": None,
        "erased": None,
        "accessed": [],
    }
    for r in rows:
        rec = orjson.loads(r.record) if isinstance(r.record, str) else r.record
        at = r.occurred_at.isoformat()
        if r.type == "question.received.v1":
            out["given"] = {
                "at": at,
                "version": rec.get("consent_version"),
                "share_with_contact": rec.get("consent_share"),
                "statistics": rec.get("consent_statistics"),
            }
        elif r.type == "consent.withdrawn.v1":
            out["withdrawn"] = {"at": at, "version": rec.get("consent_version")}
        elif r.type == "question.erased.v1":
            out["erased"] = {"at": at, "reason": rec.get("reason")}
        else:
            out["accessed"].append(
                {
                    "contact_id": rec.get("contact_id"),
                    "staff_id": rec.get("staff_id"),
                    "purpose": rec.get("purpose"),
                    "at": at,
                }
            )
    return out


def _stat_row(r: Any) -> dict[str, Any]:
    return {
        "month": r["month"],
        "topic": r["topic"],
        "questions": r["questions"],
        "answered": r["answered"],
        "median_callback_seconds": r["median_s"],
        "p90_callback_seconds": r["p90_s"],
        "within_deadline": r["within_deadline"],
        "decided": r["decided"],
        "within_deadline_share": (r["within_deadline"] / r["decided"]) if r["decided"] else None,
    }


async def timings(
    session: AsyncSession, start: datetime, end: datetime, *, questions: bool = True
) -> dict[str, Any]:
    """Per question seconds from received to routed, notified and callback; per topic stats."""
    params = {"s": start, "e": end}
    if not questions:
        # A month whose events were pruned answers from its kept aggregates (the same figures).
        kept = await store.kept_month(session, start, end)
        if kept is not None:
            stats = kept.stats
            return {"by_topic": orjson.loads(stats) if isinstance(stats, str) else stats}
        rows = (await session.execute(text(STATS), params)).mappings()
        return {"by_topic": [_stat_row(r) for r in rows]}
    # Times in the JSON as ISO-8601 in UTC (+00:00), as the typed columns gave them.
    await session.execute(text("select set_config('TimeZone', 'UTC', true)"))
    row = (await session.execute(text(TIMINGS), params)).one()
    return {
        "by_topic": [_stat_row(r) for r in orjson.loads(row.stats or "[]")],
        "questions": orjson.loads(row.questions or "[]"),
    }


async def open_questions(session: AsyncSession, start: datetime, end: datetime) -> list[dict]:
    """Questions without a callback that were not withdrawn or erased, oldest first."""
    rows = await session.execute(
        text(OPEN),
        {"s": start, "e": end},
    )
    return [
        {
            "question_id": str(r.question_id),
            "topic": r.topic,
            "received_at": _iso(r.received_at),
            "respond_before": _iso(r.respond_before),
            "age_seconds": r.age_s,
            "late": bool(r.late),
            "in_triage": r.last_routing == "question.unmatched.v1",
        }
        for r in rows
    ]


async def triage_count(session: AsyncSession) -> int:
    """Received questions whose latest routing event says unmatched and that are not yet done."""
    return (
        await session.execute(
            text(
                """
                -- Only questions that were ever unmatched (few), through their partial index.
                select count(*) from question_times
                where unmatched_ever and last_routing = 'question.unmatched.v1'
                  and received_seen_at is not null and callback_at is null and closed_at is null
                """
            )
        )
    ).scalar_one()


async def callback_seconds(session: AsyncSession, start: datetime, end: datetime) -> list[float]:
    rows = await session.execute(
        text(CALLBACKS),
        {"s": start, "e": end},
    )
    return [max(float(r.callback_s), 0.0) for r in rows]


async def weekly_within_deadline(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, float]]:
    """(ISO week, share of decided questions answered within the deadline)."""
    rows = await session.execute(
        text(WEEKLY),
        {"s": start, "e": end},
    )
    return [(r.week, r.ok / r.decided) for r in rows]


async def questions_per_topic(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, int]]:
    rows = await session.execute(
        text(
            "select coalesce(record->>'topic', 'unknown') as topic, count(*) as n from events "
            "where type = 'question.received.v1' and occurred_at >= :s and occurred_at < :e "
            "group by 1 order by 2 desc, 1"
        ),
        {"s": start, "e": end},
    )
    return [(r.topic, int(r.n)) for r in rows]


async def latest_events(session: AsyncSession, limit: int = 50) -> list[dict[str, Any]]:
    """The newest records, newest first (the benchmark's query; the console uses trail())."""
    rows = await session.execute(
        text("select seq, record, recorded_at from events order by seq desc limit :n"),
        {"n": limit},
    )
    out = []
    for r in rows:
        rec = orjson.loads(r.record) if isinstance(r.record, str) else dict(r.record)
        rec["seq"] = r.seq
        rec["recorded_at"] = r.recorded_at.isoformat()
        out.append(rec)
    return out


def _record(r: Any) -> dict[str, Any]:
    rec = orjson.loads(r.record) if isinstance(r.record, str) else dict(r.record)
    rec["seq"] = r.seq
    rec["recorded_at"] = r.recorded_at.isoformat()
    return rec


# Records attributed to a staff member; migration 0006's partial index has the same predicate.
STAFF_ONLY = "(type = 'staff.acted.v1' or (record->>'staff_id') is not null)"


async def trail(
    session: AsyncSession, *, after: int = 0, limit: int = 50, staff_only: bool = False
) -> list[dict[str, Any]]:
    """The newest `limit` records after sequence `after`, newest first; optionally only those
    a staff member did (staff.acted, a team member's view of personal data or callback)."""
    where = "seq > :after" + (f" and {STAFF_ONLY}" if staff_only else "")
    rows = await session.execute(
        text(
            f"select seq, record, recorded_at from events where {where} "  # noqa: S608
            "order by seq desc limit :n"
        ),
        {"after": after, "n": limit},
    )
    return [_record(r) for r in rows]


async def references(session: AsyncSession, question_ids: list[str]) -> dict[str, str]:
    """question id -> its OD reference, from the question.received records that kept one."""
    ids = sorted({q for q in question_ids if q})
    if not ids:
        return {}
    rows = await session.execute(
        text(
            "select question_id::text as q, record->>'reference' as ref from events "
            "where question_id = any(cast(:q as uuid[])) and type = 'question.received.v1' "
            "and record ? 'reference'"
        ),
        {"q": ids},
    )
    return {r.q: r.ref for r in rows if r.ref}


# The staff predicate as well, so that the partial index events_staff serves it.
REPLAYS = (
    "select (record->>'deadletter_seq')::bigint as dl, record->>'staff_id' as staff_id, "  # noqa: S608 (constants only)
    "occurred_at from events where "
    + STAFF_ONLY
    + " and type = 'staff.acted.v1' and record->>'action' = 'deadletter_replay' "
    "and (record->>'deadletter_seq')::bigint = any(:s) order by seq"
)


async def replay_requests(session: AsyncSession, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """Dead-letter sequence -> the latest request to offer it again: who and when."""
    if not seqs:
        return {}
    rows = await session.execute(text(REPLAYS), {"s": seqs})
    return {r.dl: {"staff_id": r.staff_id, "at": r.occurred_at} for r in rows}


async def monthly_report(session: AsyncSession, month: str) -> dict[str, Any]:
    """The funder report of a "YYYY-MM" as published (Refused for a malformed month)."""
    days, start, end = reports.month_range(month)
    counts = await store.monthly_counts(session, start, end)
    stats = (await timings(session, start, end, questions=False))["by_topic"]
    return reports.build(month, days, counts, stats)
