"""Notify's subscribers: tell the contact person (once), remind, escalate to the team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from contracts.events import ContactNotified, NotificationFailed, QuestionEscalated, QuestionRouted
from opendeur import links, outbox
from opendeur.keys import Envelope
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from services.notify import messages, store
from services.notify.channels import EmailChannel, PermanentFailure, Rendered, SmtpConfig

log = get_logger(component="notify")
IN_FLIGHT = timedelta(minutes=5)


class StillSending(Exception):
    """Another attempt holds the claim and may still be sending: try again later."""


def register(rt: Runtime) -> None:
    envelope = Envelope.for_service(rt.settings, "notify")

    def email() -> EmailChannel:
        if not rt.settings.smtp_url:
            raise PermanentFailure("smtp_not_configured")
        return EmailChannel(SmtpConfig.from_url(rt.settings.smtp_url), rt.settings.smtp_from)

    async def deliver_once(
        qid, contact_id: str, purpose: str, render, to_team: bool = False
    ) -> None:
        """Claim (question, contact, purpose), send, record — at most one message per key."""
        async with rt.sessions() as session, session.begin():
            if not await store.claim(session, qid, contact_id, purpose):
                row = (
                    (
                        await session.execute(
                            text(
                                "select status, claimed_at from notifications where question_id = :q "
                                "and contact_id = :c and purpose = :p for update"
                            ),
                            {"q": qid, "c": contact_id, "p": purpose},
                        )
                    )
                    .mappings()
                    .one()
                )
                if row["status"] != "claimed":
                    return
                if datetime.now(UTC) - row["claimed_at"] < IN_FLIGHT:
                    raise StillSending()
                # A crash between sending and recording: resending could notify twice, so the
                # team checks this one by hand.
                await store.finish(
                    session,
                    qid,
                    contact_id,
                    purpose,
                    status="uncertain",
                    channel="email",
                    attempts=1,
                    error_code="delivery_uncertain",
                )
                await outbox.add(
                    session,
                    NotificationFailed(
                        question_id=qid,
                        contact_id=None if to_team else contact_id,
                        purpose=purpose,
                        channel="email",
                        error_code="delivery_uncertain",
                    ),
                )
                outbox.wake_relay()
                return
        if to_team:
            address = rt.settings.team_email
        else:
            async with rt.sessions() as session:
                contact = await store.get_contact(session, envelope, contact_id)
            address = contact.email if contact else None
        rendered: Rendered = render(contact if not to_team else None)
        try:
            if not address:
                raise PermanentFailure("no_address")
            await email().send(address, rendered, idempotency_key=f"{qid}.{purpose}")
        except PermanentFailure as exc:
            async with rt.sessions() as session, session.begin():
                await store.finish(
                    session,
                    qid,
                    contact_id,
                    purpose,
                    status="failed",
                    channel="email",
                    attempts=1,
                    error_code=exc.code,
                )
                await outbox.add(
                    session,
                    NotificationFailed(
                        question_id=qid,
                        contact_id=None if to_team else contact_id,
                        purpose=purpose,
                        channel="email",
                        error_code=exc.code,
                    ),
                )
            outbox.wake_relay()
            log.warning("notification_failed", question_id=str(qid), error=exc.code)
            return
        except Exception:
            # Temporary: release the claim so the redelivery (nak with delay) tries again.
            async with rt.sessions() as session, session.begin():
                await session.execute(
                    text(
                        "delete from notifications where question_id = :q and contact_id = :c "
                        "and purpose = :p and status = 'claimed'"
                    ),
                    {"q": qid, "c": contact_id, "p": purpose},
                )
            raise
        async with rt.sessions() as session, session.begin():
            await store.finish(
                session, qid, contact_id, purpose, status="sent", channel="email", attempts=1
            )
            await outbox.add(
                session,
                ContactNotified(
                    question_id=qid,
                    contact_id=None if to_team else contact_id,
                    purpose=purpose,
                    channel="email",
                ),
            )
        outbox.wake_relay()

    def callback_link(qid, contact_id: str) -> str:
        token = links.sign(rt.settings, "callback", {"q": str(qid), "c": contact_id})
        return f"{rt.settings.base_url('intake')}/c/{token}"

    @rt.handles(QuestionRouted)
    async def on_routed(event: QuestionRouted) -> None:
        def render(contact) -> Rendered:
            return messages.new_question(
                lang=contact.language if contact else "nl",
                reference=event.reference,
                topic=event.topic,
                channel=event.channel,
                priority=event.priority,
                received_at=event.received_at,
                respond_before=event.respond_before,
                now=datetime.now(UTC),
                link=callback_link(event.question_id, event.contact_id),
            )

        await deliver_once(
            event.question_id, event.contact_id, f"new_question.{event.attempt}", render
        )

    @rt.handles(QuestionEscalated)
    async def on_escalated(event: QuestionEscalated) -> None:
        if event.level == "reminder" and event.contact_id:

            def render(contact) -> Rendered:
                return messages.new_question(
                    lang=contact.language if contact else "nl",
                    reference=event.reference,
                    topic=None,
                    channel="web",
                    priority=False,
                    received_at=event.respond_before,
                    respond_before=event.respond_before,
                    now=datetime.now(UTC),
                    link=callback_link(event.question_id, event.contact_id),
                    reminder=True,
                )

            await deliver_once(event.question_id, event.contact_id, "reminder", render)
        elif event.level == "team":
            await deliver_once(
                event.question_id,
                "team",
                "team_escalation",
                lambda _c: messages.team_message(
                    level="team",
                    question_id=str(event.question_id),
                    respond_before=event.respond_before,
                ),
                to_team=True,
            )
        # "breach" goes into the daily digest (issue 5); audit records it either way.
