"""Notify's subscribers: queue the contact's notification (once), remind, escalate, collect breaches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import (
    GroupChanged,
    NotificationFailed,
    PiiAccessAlerted,
    QuestionEscalated,
    QuestionRouted,
)
from opendeur import metrics, outbox
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from services.notify import messages, store
from services.notify.delivery import TEAM, Dispatcher, NotifyConfig

log = get_logger(component="notify")


def register(rt: Runtime, config: NotifyConfig | None = None) -> Dispatcher:
    """Handlers only queue (in the same transaction as the de-duplication); the dispatcher sends."""
    config = config or NotifyConfig.from_env()
    dispatcher = Dispatcher(rt, config)
    rt.background.append(dispatcher.run)

    # Handlers only queue, in the batch's transaction; the dispatcher sends after the commit.
    wake = dispatcher.wake.set

    @rt.handles(QuestionRouted, after_commit=wake)
    async def on_routed(event: QuestionRouted, db: AsyncSession) -> None:
        await store.contact_routed(db, event.contact_id, event.group_id)  # this group's contact
        await store.enqueue(
            db,
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
            },
        )

    @rt.handles(QuestionEscalated, after_commit=wake)
    async def on_escalated(event: QuestionEscalated, db: AsyncSession) -> None:
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
                {
                    "reference": event.reference,
                    "respond_before": event.respond_before.isoformat(),
                },
            )
        elif event.level == "breach":
            await store.record_breach(db, event.question_id, event.reference, event.respond_before)

    @rt.handles(GroupChanged)
    async def on_group_changed(event: GroupChanged, db: AsyncSession) -> None:
        changed = await store.group_changed(
            db, event.group_id, event.change, event.status, event.occurred_at
        )
        if changed:
            log.info("contacts_group_changed", group_id=event.group_id, status=event.status)

    @rt.handles(PiiAccessAlerted)
    async def on_access_alerted(event: PiiAccessAlerted, db: AsyncSession) -> None:
        """Straight to the team (a failed send is retried by redelivery; the Message-ID is the
        event's, so a repeat is recognisable as the same alert). Sent inside the batch's
        transaction: the inbox claim is only kept once the mail went."""
        rendered = messages.access_alert(
            contact_id=event.contact_id,
            window_start=event.window_start,
            distinct_questions=event.distinct_questions,
        )
        await dispatcher.email().send(
            rt.settings.team_email, rendered, idempotency_key=f"access-alert.{event.event_id}"
        )
        log.warning("pii_access_alert_mailed", contact_id=event.contact_id)

    @rt.every(min(60.0, config.in_flight_seconds / 4))
    async def sweep_uncertain() -> None:
        """A crash between sending and recording: resending could notify twice, so the team
        checks those by hand."""
        async with rt.sessions() as session, session.begin():
            jobs = await store.stale_sending(session, config.in_flight_seconds)
            failed = [
                NotificationFailed(
                    question_id=job.question_id,
                    contact_id=None if job.contact_id == TEAM else job.contact_id,
                    purpose=job.purpose,
                    channel="sms" if job.channel == "sms" else "email",
                    error_code="delivery_uncertain",
                )
                for job in jobs
            ]
            await outbox.add(session, *failed)
        for event in failed:
            metrics.NOTIFICATIONS_FAILED.labels(
                channel=event.channel, reason="delivery_uncertain"
            ).inc()
        if jobs:
            outbox.wake_relay()
            log.warning("notifications_uncertain", count=len(jobs))

    @rt.every(60)
    async def daily_digest() -> None:
        """One mail a day to the team listing the breached questions, not one mail per question."""
        if config.digest_hour is None:
            return
        now = datetime.now(UTC)
        local = now.astimezone(messages.AMS)
        if local.hour < config.digest_hour:
            return
        async with rt.sessions() as session:
            if await store.digest_sent(session, local.date()):
                return
        async with rt.sessions() as session, session.begin():
            # The mail goes out inside the claiming transaction: if sending fails, the claim
            # rolls back and the next tick tries again.
            breaches = await store.claim_digest(session, local.date())
            if not breaches:
                return
            rendered = messages.digest(
                day=local.date().isoformat(),
                breaches=[messages.Breach(r, d) for r, d in breaches],
                now=now,
            )
            await dispatcher.email().send(
                rt.settings.team_email,
                rendered,
                idempotency_key=f"digest.{local.date().isoformat()}",
            )
        log.info("digest_sent", day=local.date().isoformat(), questions=len(breaches))

    return dispatcher
