"""Notify's background work: the delivery worker, the address-change mails, the stuck-send sweep,
the team's daily digest and the retention job (addresses of contact persons who left, the old
notification log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import async_sessionmaker

from contracts.events import NotificationFailed
from opendeur import metrics, outbox
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import AUDIT_RETENTION_FLOOR_DAYS, parse_duration
from services.notify import address_mail, messages, store
from services.notify.delivery import TEAM, Dispatcher, NotifyConfig

log = get_logger(component="notify")
EXPIRED = Counter("opendeur_notify_expired_total", "Rows deleted past retention", ["what"])
LAST_RUN = Gauge(
    "opendeur_notify_retention_last_run_timestamp_seconds", "When the retention job last finished"
)
EVERY_S = 3600.0
# The grace period (OPENDEUR_CONTACT_GRACE, 7d): a contact person whose group leaves, or who is
# replaced, may still hold an open callback; its reminder and the link in it must still reach
# them, and a deadline is 24 hours (reminders and escalation follow within a day or two). A week
# also lets the team undo a mistaken "left" before the addresses are gone. Addresses are never
# deleted while a notification to that contact is queued, being sent, or was sent in the grace
# period. `opendeur contacts forget` does not wait (art. 17).
# Finished notifications are kept as long as an event could still be redelivered or replayed
# (their row is what makes a second notification for it impossible), then deleted.
LOG_KEEP = timedelta(days=AUDIT_RETENTION_FLOOR_DAYS)
_DISPATCHER: Dispatcher | None = None


def dispatcher() -> Dispatcher:
    """The process's delivery worker (made by `register`)."""
    assert _DISPATCHER is not None, "jobs.register(rt) first"
    return _DISPATCHER


async def expire(
    sessions: async_sessionmaker, grace: timedelta, log_keep: timedelta = LOG_KEEP
) -> dict[str, int]:
    """One pass: delete departed contacts' addresses after `grace`, finished log rows after
    `log_keep`. Only counts are logged, never who."""
    async with sessions() as session, session.begin():
        addresses = await store.delete_departed(session, grace.total_seconds())
        entries = await store.prune_log(session, log_keep.total_seconds())
    EXPIRED.labels(what="addresses").inc(addresses)
    EXPIRED.labels(what="log_entries").inc(entries)
    if addresses or entries:
        log.info("notify_expired", addresses=addresses, log_entries=entries)
    return {"addresses": addresses, "log_entries": entries}


async def sweep_uncertain(rt: Runtime, config: NotifyConfig) -> None:
    """A crash between sending and recording: resending could notify twice, so the team checks
    those by hand."""
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


async def daily_digest(rt: Runtime, config: NotifyConfig) -> None:
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
        # The mail goes out inside the claiming transaction: if sending fails, the claim rolls
        # back and the next tick tries again.
        breaches = await store.claim_digest(session, local.date())
        if not breaches:
            return
        rendered = messages.digest(
            day=local.date().isoformat(),
            breaches=[messages.Breach(r, d) for r, d in breaches],
            now=now,
        )
        await (
            dispatcher()
            .email()
            .send(
                rt.settings.team_email,
                rendered,
                idempotency_key=f"digest.{local.date().isoformat()}",
            )
        )
    log.info("digest_sent", day=local.date().isoformat(), questions=len(breaches))


def register(rt: Runtime, config: NotifyConfig | None = None) -> Dispatcher:
    """Start the delivery worker and the timers with the service; returns the worker."""
    global _DISPATCHER
    config = config or NotifyConfig.from_settings(rt.settings)
    worker = _DISPATCHER = Dispatcher(rt, config)
    rt.background.append(("notification-sender", worker.run))
    rt.background.append(("address-mail-sender", lambda: address_mail.run(worker)))
    grace = parse_duration(rt.settings.contact_grace)

    async def sweep() -> None:
        await sweep_uncertain(rt, config)

    async def digest() -> None:
        await daily_digest(rt, config)

    async def notify_retention() -> None:
        await expire(rt.sessions, grace)
        LAST_RUN.set_to_current_time()

    rt.every(min(60.0, config.in_flight_seconds / 4))(sweep)
    rt.every(60)(digest)
    rt.every(EVERY_S)(notify_retention)
    return worker
