"""Routing's timers: the escalation levels of routed questions as they fall due."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.events import QuestionEscalated
from opendeur import metrics, outbox
from opendeur.runtime import Runtime
from services.routing import store

TIMERS_EVERY_S = 1.0


async def fire_timers(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Claim the timers due at `now` (SKIP LOCKED: two instances share them, each once), mark
    them fired and raise question.escalated.v1 for those still routed; returns how many fired."""
    async with sessions() as session, session.begin():
        due = await store.due_timers(session, now)
        raised = [
            QuestionEscalated(
                question_id=t["question_id"],
                level=t["level"],
                reference=t["reference"],
                group_id=t["group_id"],
                contact_id=t["contact_id"],
                respond_before=t["respond_before"],
            )
            for t in due
            if t["state"] == "routed"
        ]
        await store.mark_fired(session, [(t["question_id"], t["level"]) for t in due], now)
        await outbox.add(session, *raised)
    if due:
        outbox.wake_relay()
    for event in raised:  # counted once committed
        metrics.ESCALATIONS.labels(level=event.level).inc()
        if event.level == "breach":
            metrics.DEADLINE_BREACHES.inc()
    return len(due)


def register(rt: Runtime) -> None:
    """Start routing's timers with the runtime."""

    @rt.every(TIMERS_EVERY_S)
    async def timers() -> None:
        await fire_timers(rt.sessions, datetime.now(UTC))
