"""Intake's subscribers: keep track of who may open a question's callback page.

Module-level handlers `on_<event>(event, db)`; the runtime's consumer owns the transaction
(inbox claim, commit, ack) and app.py registers them (`register`)."""

from __future__ import annotations

from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import QuestionRouted, QuestionUnmatched
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import get_settings, parse_duration
from services.intake import domain, store

log = get_logger(component="intake.handlers")
settings = cache(get_settings)  # read once per process, as the runtime's own


async def on_question_routed(event: QuestionRouted, db: AsyncSession) -> None:
    until = domain.link_until(
        event.respond_before,
        event.occurred_at,
        settings().deadline,
        parse_duration(settings().link_grace),
    )
    # Routing decides which came first; a routing it made before it heard the team's outcome
    # stands, so intake follows it (the contact calls back, her link opens the question).
    undone = await store.assign_routed(
        db,
        event.question_id,
        contact_id=event.contact_id,
        group_id=event.group_id,
        at=event.occurred_at,
        link_until=until,
        retention=parse_duration(settings().unanswered_retention),
    )
    if undone:
        log.info("team_outcome_undone", question_id=str(event.question_id))


async def on_question_unmatched(event: QuestionUnmatched, db: AsyncSession) -> None:
    await store.assign_unmatched(db, event.question_id, at=event.occurred_at)


def register(rt: Runtime) -> None:
    rt.handles(QuestionRouted)(on_question_routed)
    rt.handles(QuestionUnmatched)(on_question_unmatched)
