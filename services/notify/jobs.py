"""Notify's retention job: addresses of contact persons who left, and the old notification log."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import async_sessionmaker

from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import AUDIT_RETENTION_FLOOR_DAYS, parse_duration
from services.notify import store

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


def register(rt: Runtime) -> None:
    grace = parse_duration(rt.settings.contact_grace)

    @rt.every(EVERY_S)
    async def notify_retention() -> None:
        await expire(rt.sessions, grace)
        LAST_RUN.set_to_current_time()
