"""Intake's subscribers: keep track of who may open a question's callback page.

Module-level handlers `on_<event>(event, db)` (or `(events, db)`: a whole batch at once); the
runtime's consumer owns the transaction (inbox claim, commit, ack) and app.py registers them
(`register`)."""

from __future__ import annotations

from functools import cache

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from contracts.events import QuestionRouted, QuestionUnmatched
from opendeur import outbox
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import get_settings, parse_duration
from services.intake import domain, store

log = get_logger(component="intake.handlers")
settings = cache(get_settings)  # read once per process, as the runtime's own


async def on_question_routed(
    events: list[QuestionRouted], conn: AsyncConnection, claim: outbox.Claim
) -> None:
    """A fetched batch of routings, in one statement with its inbox claim
    (`store.assign_routed`, `Runtime.handles_claiming`)."""
    deadline, grace = settings().deadline, parse_duration(settings().link_grace)
    # Routing decides which came first; a routing it made before it heard the team's outcome
    # stands, so intake follows it (the contact calls back, her link opens the question).
    undone = await store.assign_routed(
        conn,
        [
            store.Routing(
                e.question_id,
                e.contact_id,
                e.group_id,
                e.occurred_at,
                domain.link_until(e.respond_before, e.occurred_at, deadline, grace),
                e.event_id,
            )
            for e in events
        ],
        retention=parse_duration(settings().unanswered_retention),
        claim=claim,
    )
    for qid in undone:
        log.info("team_outcome_undone", question_id=str(qid))


async def on_question_unmatched(event: QuestionUnmatched, db: AsyncSession) -> None:
    await store.assign_unmatched(db, event.question_id, at=event.occurred_at)


def register(rt: Runtime) -> None:
    rt.handles_claiming(QuestionRouted)(on_question_routed)
    rt.handles(QuestionUnmatched)(on_question_unmatched)
