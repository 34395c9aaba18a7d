"""Notify's subscribers: queue the contact's notification (once), remind, escalate, collect breaches.

Handlers only queue, in the batch's transaction (the runtime's consumer owns it); the delivery
worker (jobs.py) sends after the commit, woken by `after_commit`."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from contracts.events import (
    GroupChanged,
    PiiAccessAlerted,
    QuestionEscalated,
    QuestionRouted,
)
from opendeur import outbox
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from services.notify import jobs, messages, store
from services.notify.delivery import TEAM

log = get_logger(component="notify")


def new_question(event: QuestionRouted) -> store.Queued:
    """The contact's notification of a routed question (the facts a mail shows, no personal data)."""
    return store.Queued(
        event.question_id,
        event.contact_id,
        f"new_question.{event.attempt}",
        "new_question",
        {
            "reference": event.reference,
            "topic": event.topic,
            "channel": event.channel,
            "priority": event.priority,
            "received_at": event.received_at.isoformat(),
            "respond_before": event.respond_before.isoformat(),
            "group_id": event.group_id,
            # The asker's language, when the contact does not speak it (the mail says so).
            "asker_language": None
            if getattr(event, "language_matched", True)
            else getattr(event, "language", None),
        },
        routed_for=event.group_id,  # and the contact is this group's contact
        event_id=event.event_id,
    )


async def on_question_routed(
    events: list[QuestionRouted], conn: AsyncConnection, claim: outbox.Claim
) -> None:
    """A fetched batch of routings queued in one statement with its inbox claim
    (`store.enqueue_many`, `Runtime.handles_claiming`): on a routing's way to the mail."""
    await store.enqueue_many(conn, [new_question(e) for e in events], claim)


async def on_question_escalated(event: QuestionEscalated, db: AsyncSession) -> None:
    if event.level == "reminder" and event.contact_id:
        first = (
            await db.execute(
                text(
                    "select payload from notifications where question_id = :q "
                    "and contact_id = :c and kind = 'new_question' "
                    "order by claimed_at desc limit 1"
                ),
                {"q": event.question_id, "c": event.contact_id},
            )
        ).scalar()
        if isinstance(first, str):
            first = json.loads(first)
        payload = {
            **(first or {}),
            "reference": event.reference,
            "respond_before": event.respond_before.isoformat(),
            "group_id": event.group_id or (first or {}).get("group_id"),
        }
        await store.enqueue(
            db, event.question_id, event.contact_id, "reminder", "reminder", payload
        )
    elif event.level == "team":
        await store.enqueue(
            db,
            event.question_id,
            TEAM,
            "team_escalation",
            "team",
            {"reference": event.reference, "respond_before": event.respond_before.isoformat()},
        )
    elif event.level == "breach":
        await store.record_breach(db, event.question_id, event.reference, event.respond_before)


async def on_group_changed(event: GroupChanged, db: AsyncSession) -> None:
    changed = await store.group_changed(
        db, event.group_id, event.change, event.status, event.occurred_at
    )
    if changed:
        log.info("contacts_group_changed", group_id=event.group_id, status=event.status)


async def on_pii_access_alerted(event: PiiAccessAlerted, _db: AsyncSession) -> None:
    """Straight to the team (a failed send is retried by redelivery; the Message-ID is the
    event's, so a repeat is recognisable as the same alert). Sent inside the batch's
    transaction: the inbox claim is only kept once the mail went."""
    rendered = messages.access_alert(
        contact_id=event.contact_id,
        window_start=event.window_start,
        distinct_questions=event.distinct_questions,
    )
    dispatcher = jobs.dispatcher()
    await dispatcher.email().send(
        dispatcher.rt.settings.team_email,
        rendered,
        idempotency_key=f"access-alert.{event.event_id}",
    )
    log.warning("pii_access_alert_mailed", contact_id=event.contact_id)


def register(rt: Runtime, wake: Callable[[], None]) -> None:
    """Subscribe the handlers; `wake` starts the delivery worker after each batch's commit."""
    rt.handles_claiming(QuestionRouted, after_commit=wake)(on_question_routed)
    rt.handles(QuestionEscalated, after_commit=wake)(on_question_escalated)
    rt.handles(GroupChanged)(on_group_changed)
    rt.handles(PiiAccessAlerted)(on_pii_access_alerted)
