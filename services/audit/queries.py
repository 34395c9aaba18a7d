"""Read models over the audit trail, computed in SQL: consent register, timings, console figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ROUTING_TYPES = ("question.routed.v1", "question.unmatched.v1")
CLOSING_TYPES = ("question.erased.v1", "consent.withdrawn.v1", "question.closed.v1")

# One row per question received in [:s, :e): its clock and when each step first happened.
PER_QUESTION = """
with q as (
    select question_id,
           coalesce(record->>'topic', 'unknown') as topic,
           coalesce((record->>'received_at')::timestamptz, occurred_at) as received_at,
           (record->>'respond_before')::timestamptz as respond_before
    from events
    where type = 'question.received.v1' and question_id is not null
      and occurred_at >= :s and occurred_at < :e
),
per as (
    select q.question_id, q.topic, q.received_at, q.respond_before,
           to_char(q.received_at at time zone 'UTC', 'YYYY-MM') as month,
           to_char(q.received_at at time zone 'UTC', 'IYYY-"W"IW') as week,
           t.routed_at, t.notified_at, t.callback_at, t.closed_at, t.last_routing,
           extract(epoch from t.routed_at - q.received_at)::float8 as routed_s,
           extract(epoch from t.notified_at - q.received_at)::float8 as notified_s,
           extract(epoch from t.callback_at - q.received_at)::float8 as callback_s,
           t.callback_at <= q.respond_before as within_deadline,
           (t.callback_at is not null or q.respond_before < now()) as decided
    from q
    -- Per question through the question index: a join over the whole table would read it all.
    left join lateral (
        select min(occurred_at) filter (where type = 'question.routed.v1') as routed_at,
               min(occurred_at) filter (where type = 'contact.notified.v1') as notified_at,
               min(occurred_at) filter (where type = 'callback.done.v1') as callback_at,
               min(occurred_at) filter (where type in ('question.erased.v1', 'consent.withdrawn.v1',
                                                       'question.closed.v1'))
                   as closed_at,
               (array_agg(type order by occurred_at desc, seq desc)
                   filter (where type in ('question.routed.v1', 'question.unmatched.v1')))[1]
                   as last_routing
        from events e
        where e.question_id = q.question_id
    ) t on true
)
"""

STATS = (
    PER_QUESTION
    + """
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
)
QUESTIONS = (
    PER_QUESTION
    + """
select * from per order by received_at
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
            out["accessed"].append({"contact_id": rec.get("contact_id"), "at": at})
    return out


async def timings(
    session: AsyncSession, start: datetime, end: datetime, *, questions: bool = True
) -> dict[str, Any]:
    """Per question seconds from received to routed, notified and callback; per topic stats."""
    params = {"s": start, "e": end}
    stats = [
        {
            "month": r.month,
            "topic": r.topic,
            "questions": r.questions,
            "answered": r.answered,
            "median_callback_seconds": r.median_s,
            "p90_callback_seconds": r.p90_s,
            "within_deadline": r.within_deadline,
            "decided": r.decided,
            "within_deadline_share": (r.within_deadline / r.decided) if r.decided else None,
        }
        for r in await session.execute(text(STATS), params)
    ]
    out: dict[str, Any] = {"by_topic": stats}
    if questions:
        rows = await session.execute(text(QUESTIONS), params)
        out["questions"] = [
            {
                "question_id": str(r.question_id),
                "topic": r.topic,
                "received_at": _iso(r.received_at),
                "respond_before": _iso(r.respond_before),
                "routed_seconds": r.routed_s,
                "notified_seconds": r.notified_s,
                "callback_seconds": r.callback_s,
                "within_deadline": r.within_deadline,
            }
            for r in rows
        ]
    return out


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
                -- Only questions that were ever unmatched (few), each read through its index.
                select count(*) from (
                    select distinct question_id from events
                    where type = 'question.unmatched.v1' and question_id is not null
                ) u
                cross join lateral (
                    select (array_agg(type order by occurred_at desc, seq desc)
                               filter (where type = any(:routing)))[1] as last_routing,
                           bool_or(type = any(:done)) as done,
                           bool_or(type = 'question.received.v1') as received
                    from events e
                    where e.question_id = u.question_id
                ) x
                where last_routing = 'question.unmatched.v1' and received and not done
                """
            ),
            {
                "routing": list(ROUTING_TYPES),
                "done": ["callback.done.v1", *CLOSING_TYPES],
            },
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
