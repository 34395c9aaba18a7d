"""Audit's retention job: keep each month's report figures, then prune whole months past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.audit import queries, store

log = get_logger(component="audit")
PRUNED = Counter("opendeur_audit_pruned_events_total", "Audit events pruned past retention")
LAST_RUN = Gauge(
    "opendeur_audit_retention_last_run_timestamp_seconds", "When the retention job last finished"
)
EVERY_S = 3600.0  # the work is monthly; hourly ticks make it happen soon after a restart

# Why 24 months (OPENDEUR_AUDIT_RETENTION=730d) and not for ever or a few weeks:
# - For: the trail is the proof of consent (GDPR art. 7(1)) and of who opened a person's data
#   (pii.accessed.v1, the NEN 7513 kind of access logging). A complaint, a request to the DPO or
#   the supervisor about a callback can come long after the data itself is erased (48 h after the
#   callback), and the funder compares a year with the year before.
# - Against: the trail holds pseudonymous ids, topic codes, pc4 areas and times: about a health-
#   adjacent question (art. 9) and linkable to a person by whoever holds the other half. Kept for
#   ever it would outlive every purpose (art. 5(1)(e)); the data it proves things about is gone.
# - The monthly aggregates (counts and medians, suppressed as published) are no personal data and
#   stay; the anchor keeps the chain verifiable. The floor (90 days) keeps pruning behind anything
#   the broker may still redeliver (14 days) or an operator replay from dead letters (30 days).


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
    PRUNED.inc(result["pruned"])
    if result["pruned"]:
        log.info("audit_pruned", before=before.isoformat(), months_kept=months, **result)
    return {"before": before.isoformat(), "months_kept": months, **result}


def register(rt: Runtime) -> None:
    retention = parse_duration(rt.settings.audit_retention)

    @rt.every(EVERY_S)
    async def audit_retention() -> None:
        # On an engine of its own, without a statement timeout: a month's figures and its
        # prune are one statement each, long for a national network's month; and the reports'
        # sessions (Runtime.slow_sessions) stay free for the people who ask for them.
        engine = make_engine(service_url(rt.settings, "audit"), pool_size=1, schema="audit")
        try:
            await prune(sessionmaker(engine), retention)
        finally:
            await engine.dispose()
        LAST_RUN.set_to_current_time()
