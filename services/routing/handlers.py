"""Routing's subscribers: route each question, react to outcomes, failures and erasures.

Module-level handlers `on_<event>(event, db) -> Event | None`; the runtime's consumer owns the
transaction (inbox claim, outbox, commit, ack) and app.py registers them (`register`). The
decision itself is decisions.py's, the escalation timers jobs.py's."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import get_type_hints

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import (
    CallbackDone,
    Event,
    NotificationFailed,
    QuestionErased,
    QuestionReceived,
)
from opendeur.runtime import Handler, Runtime
from services.routing import decisions, store


async def on_question_received(event: QuestionReceived, db: AsyncSession) -> Event | None:
    return await decisions.route_received(
        db,
        {
            "question_id": event.question_id,
            "reference": event.reference,
            "channel": event.channel,
            "topic": event.topic,
            "pc4": event.pc4,
            "municipality": decisions.municipality_slug(event.pc4),
            "language": event.language,
            "priority": event.professional_help_advised,
            "wants_to_start_group": event.wants_to_start_group,
            "received_at": event.received_at,
            "respond_before": event.respond_before,
        },
        datetime.now(UTC),
    )


async def on_callback_done(event: CallbackDone, db: AsyncSession) -> Event | None:
    """A contact's outcome for her own question, or (`by` team) a team member's callback of a
    question in the team's hands, such as a crisis question: reached or referred closes it
    (out of triage), unreachable counts an attempt; only a contact's third one hands it to
    the team."""
    now = datetime.now(UTC)
    q = await store.get_question(db, event.question_id)
    if q is None or not _recorded_by_its_caller(q, event):
        return None
    if event.outcome in ("reached", "referred_professional"):
        await store.set_state(db, event.question_id, "done", event.outcome)
        await store.stop_timers(db, event.question_id, now)
    elif event.outcome == "wrong_group":
        return await decisions.route(db, event.question_id, now, q)
    elif event.outcome == "unreachable":
        count = await store.count_unreachable(db, event.question_id)
        if event.by == "contact" and count >= decisions.MAX_UNREACHABLE:
            return await decisions.to_team(db, q, "unreachable", now)
    return None


def _recorded_by_its_caller(q: dict, event: CallbackDone) -> bool:
    """The contact a question is routed to records its outcome; the team records the outcome of
    a question in its queue, never re-routes it. A team's outcome heard after a routing (a hand
    assignment in triage at the same moment) changes nothing: the routing came first here, and
    intake, hearing it, gives the question to the contact too (one winner on both sides)."""
    if event.by == "team":
        return q["state"] == "unmatched" and event.outcome != "wrong_group"
    return q["state"] == "routed" and q["contact_id"] == event.contact_id


async def on_notification_failed(event: NotificationFailed, db: AsyncSession) -> Event | None:
    if event.question_id is None:
        return None
    q = await store.get_question(db, event.question_id)
    if q is None or q["state"] != "routed" or q["contact_id"] != event.contact_id:
        return None
    return await decisions.to_team(db, q, "notification_failed", datetime.now(UTC))


async def on_question_erased(event: QuestionErased, db: AsyncSession) -> None:
    q = await store.get_question(db, event.question_id)
    if q is not None and q["state"] not in ("done",):
        await store.set_state(db, event.question_id, "erased", event.reason)
    await store.stop_timers(db, event.question_id, datetime.now(UTC))


# One handler per routing consumer in contracts/streams.py; the event type is each handler's
# annotation, the consumer and its durable name are the spec's (tests/unit/test_routing_handlers).
HANDLERS = (on_question_received, on_callback_done, on_notification_failed, on_question_erased)


def event_type_of(handler: Handler) -> type[Event]:
    """The event a handler takes: the annotation of its first parameter."""
    first = next(iter(inspect.signature(handler).parameters))
    return get_type_hints(handler)[first]


def register(rt: Runtime) -> None:
    """Subscribe routing's handlers (its timers are jobs.register's)."""
    for handler in HANDLERS:
        rt.handles(event_type_of(handler))(handler)
