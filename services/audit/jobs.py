"""Audit's retention job: keep each month's report figures, then prune whole months past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.audit import queries, store

log = get_logger(component="audit")
EVERY_S = 3600.0  # the work is monthly; hourly ticks make it happen soon after a restart


def month_start(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def cutoff(now: datetime, retention: timedelta) -> datetime:
    """The first month kept: every event of the months before it is older than `retention`."""
    return month_start(now - retention)


async def keep_aggregates(sessions: async_sessionmaker, before: datetime) -> int:
    """Keep the report figures of every month before `before` that has events and none kept yet."""
    async with sessions() as session:
        first = (
            await session.execute(
                text(
                    "select min(occurred_at) from events "
                    "where seq > coalesce((select max(seq) from chain_anchors), 0)"
                )
            )
        ).scalar()
    kept = 0
    month = month_start(first) if first else before
    while month < before:
        end = next_month(month)
        async with sessions() as session, session.begin():
            if await store.kept_month(session, month, end) is None:
                counts = await store.monthly_counts(session, month, end)
                stats = (await queries.timings(session, month, end, questions=False))["by_topic"]
                kept += await store.keep_month(session, month, counts, stats)
        month = end
    return kept


async def prune(
    sessions: async_sessionmaker, retention: timedelta, now: datetime | None = None
) -> dict[str, Any]:
    """Keep the aggregates, then prune every whole month older than `retention`."""
    before = cutoff(now or datetime.now(UTC), retention)
    months = await keep_aggregates(sessions, before)
    async with sessions() as session, session.begin():
        result = await store.prune(session, before)
    if result["pruned"]:
        log.info("audit_pruned", before=before.isoformat(), months_kept=months, **result)
    return {"before": before.isoformat(), "months_kept": months, **result}


def register(rt: Runtime) -> None:
    retention = parse_duration(rt.settings.audit_retention)

    @rt.every(EVERY_S)
    async def audit_retention() -> None:
        await prune(rt.sessions, retention)
