"""Intake's subscribers: keep track of who may open a question's callback page."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import QuestionRouted, QuestionUnmatched
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.intake import domain, store


def register(rt: Runtime) -> None:
    @rt.handles(QuestionRouted)
    async def on_routed(event: QuestionRouted, db: AsyncSession) -> None:
        until = domain.link_until(
            event.respond_before,
            event.occurred_at,
            rt.settings.deadline,
            parse_duration(rt.settings.link_grace),
        )
        await store.assign(
            db,
            event.question_id,
            status="routed",
            contact_id=event.contact_id,
            group_id=event.group_id,
            at=event.occurred_at,
            link_until=until,
        )

    @rt.handles(QuestionUnmatched)
    async def on_unmatched(event: QuestionUnmatched, db: AsyncSession) -> None:
        await store.assign(
            db,
            event.question_id,
            status="unmatched",
            contact_id=None,
            group_id=None,
            at=event.occurred_at,
            closed_at=event.occurred_at,
        )
