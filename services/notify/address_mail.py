"""Sends the address-change mails (confirmation, announcement) queued in address_mails, with retries.

Woken right after the request's commit; polls besides, for retries and for mails another
instance queued. These mails name no question, so they raise no contact.notified event."""

from __future__ import annotations

import asyncio

from opendeur import backoff
from opendeur.logging import get_logger
from opendeur.tasks import woken
from services.notify import pending
from services.notify.delivery import DeliveryError, Dispatcher

log = get_logger(component="notify")
WAKE = asyncio.Event()
POLL_S = 15.0
BATCH = 8


def wake() -> None:
    WAKE.set()


async def send_due(dispatcher: Dispatcher) -> int:
    """One round: claim due mails and send each; returns how many were claimed."""
    rt = dispatcher.rt
    async with rt.sessions() as session, session.begin():
        mails = await pending.claim_mails(session, dispatcher.envelope, BATCH)
    for mail in mails:
        try:
            await dispatcher.deliver(mail.channel, mail.to, mail.rendered, f"address.{mail.id}")
        except DeliveryError as exc:
            async with rt.sessions() as session, session.begin():
                if exc.temporary and backoff.should_retry(mail.attempts):
                    wait = backoff.delay(mail.attempts, dispatcher.config.retry_base)
                    await pending.mail_retry(session, mail.id, wait, exc.code)
                else:
                    await pending.mail_failed(session, mail.id, exc.code)
            log.warning("address_mail_not_sent", kind=mail.kind, error_code=exc.code)
            continue
        async with rt.sessions() as session, session.begin():
            await pending.mail_sent(session, mail.id)
        log.info("address_mail_sent", kind=mail.kind, channel=mail.channel)
    return len(mails)


async def run(dispatcher: Dispatcher) -> None:
    while True:
        WAKE.clear()
        claimed = 0
        try:
            claimed = await send_due(dispatcher)
        except Exception as exc:
            log.warning("address_mails_unavailable", error=type(exc).__name__)
        if claimed == BATCH:
            continue
        await woken(WAKE, POLL_S)
