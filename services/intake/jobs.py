"""Intake's timers: the erasure sweep (personal data whose time has come, stripped rows after
OPENDEUR_ERASED_RETENTION, keys of rows from before the key store moved into it), the batch of
follow-up answers (OPENDEUR_FOLLOWUP_BATCH) and the sender of the help-seekers' own SMS
confirmations (when a gateway is configured)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from prometheus_client import Counter

from contracts.events import FollowupAnswered, QuestionErased
from opendeur import outbox, sms
from opendeur.keys import Envelope
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from opendeur.tasks import woken
from services.intake import confirmation, store

log = get_logger(component="intake")
_legacy_keys = {"left": True}  # until a sweep finds no row with its own wrapped key
SMS_OUTCOMES = Counter(
    "opendeur_sms_confirmations_total",
    "Help-seekers' SMS confirmations by outcome (sent, retry, failed)",
    ["outcome"],
)
SEND_TIMEOUT_S = 10.0
# A try not recorded this long after it was claimed (the process died mid-send) is due again;
# the gateway sees the same Idempotency-Key and sends it once.
IN_FLIGHT_S = 60.0
POLL_S = 1.0  # retries and other instances' questions; a new question wakes the sender at once
BATCH = 20
_wake: asyncio.Event | None = None


def wake_sender() -> None:
    """A confirmation was queued: send it now rather than at the next poll."""
    if _wake is not None:
        _wake.set()


async def erasure_sweep(rt: Runtime) -> None:
    """Erase personal data whose time has come (after the callback, or never answered), delete
    erased questions' stripped rows after OPENDEUR_ERASED_RETENTION, and move keys of rows from
    before the key store into it (migration 0003)."""
    now = datetime.now(UTC)
    while _legacy_keys["left"]:
        async with rt.sessions() as session, session.begin():
            _legacy_keys["left"] = await store.adopt_legacy_keys(session) > 0
    async with rt.sessions() as session, session.begin():
        due = await store.due_for_erasure(session, now)
        for qid in due:
            q = await store.get_question(session, qid)
            reason = "retention" if q and q["status"] == "done" else "unanswered"
            await store.erase(session, qid, reason, now)
            await outbox.add(session, QuestionErased(question_id=qid, reason=reason))
    if due:
        outbox.wake_relay()
    before = now - parse_duration(rt.settings.erased_retention)
    async with rt.sessions() as session, session.begin():
        await store.delete_erased_before(session, before)
        missing = await store.keys_missing(session)
    if missing > 1:
        log.warning(
            "keystore_missing_keys", sampled_missing=missing, keystore=str(store.keystore())
        )


async def publish_followup_answers(rt: Runtime) -> int:
    """Publish the help-seekers' follow-up answers waiting since the last batch, together and
    shuffled (OPENDEUR_FOLLOWUP_BATCH, a day by default): the trail shows when a batch went out,
    not when each answer came. The number published."""
    async with rt.sessions() as session, session.begin():
        answers = await store.pop_followup_answers(session)
        random.SystemRandom().shuffle(answers)
        if answers:
            await outbox.add(session, *(FollowupAnswered(answer=a) for a in answers))
    if answers:
        outbox.wake_relay()
    return len(answers)


async def send_confirmations(rt: Runtime, gateway: sms.SmsConfig, envelope: Envelope) -> int:
    """One round: claim the due confirmations, send them side by side, record each outcome (a
    temporary failure is tried again later, up to confirmation.MAX_ATTEMPTS). How many were
    due. Logs carry the question id and codes, never the number or the text."""
    async with rt.sessions() as session, session.begin():
        due = await store.claim_confirmations(session, envelope, IN_FLIGHT_S, BATCH)
    base = rt.settings.sms_retry_base.total_seconds()

    async def one(c: store.Confirmation) -> None:
        status, wait, error = "sent", None, None
        try:
            await sms.send(gateway, c.to, c.text, idempotency_key=c.key, seconds=SEND_TIMEOUT_S)
        except sms.SmsFailure as exc:
            error = exc.code
            wait = confirmation.retry_in(c.attempt, base) if exc.temporary else None
            status = "retry" if wait is not None else "failed"
        async with rt.sessions() as session, session.begin():
            if wait is not None and error is not None:
                await store.confirmation_retry(session, c.question_id, wait, error)
            else:
                await store.confirmation_finished(session, c.question_id, status, error)
        SMS_OUTCOMES.labels(outcome=status).inc()
        log.info(
            "sms_confirmation",
            question_id=str(c.question_id),
            outcome=status,
            attempt=c.attempt,
            error=error,
        )

    for failed in await asyncio.gather(*(one(c) for c in due), return_exceptions=True):
        if isinstance(failed, Exception):  # not recorded: due again after IN_FLIGHT_S
            log.warning("sms_confirmation_unrecorded", error=type(failed).__name__)
    return len(due)


async def confirmation_sender(rt: Runtime, gateway: sms.SmsConfig) -> None:
    """Sends confirmations for as long as the process runs; independent of the broker."""
    global _wake
    _wake = asyncio.Event()
    envelope = Envelope.for_service(rt.settings, "intake")
    while True:
        _wake.clear()
        try:
            if await send_confirmations(rt, gateway, envelope) == BATCH:
                continue
        except Exception as exc:  # the database away: the rows wait, nothing is lost
            log.warning("sms_confirmations_unavailable", error=type(exc).__name__)
        await woken(_wake, POLL_S)


def register(rt: Runtime) -> None:
    """Start intake's timers with the runtime."""

    @rt.every(rt.settings.sweep_interval.total_seconds())
    async def sweep() -> None:
        await erasure_sweep(rt)

    @rt.every(rt.settings.followup_batch.total_seconds())
    async def followup_batch() -> None:
        await publish_followup_answers(rt)

    gateway = sms.SmsConfig.of(rt.settings)  # a broken template stops the start
    if gateway is not None:
        rt.background.append(("sms-confirmations", lambda: confirmation_sender(rt, gateway)))
