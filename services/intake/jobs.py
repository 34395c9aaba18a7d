"""Intake's timers: the erasure sweep (personal data whose time has come, stripped rows after
OPENDEUR_ERASED_RETENTION, keys of rows from before the key store moved into it) and the batch
of follow-up answers (OPENDEUR_FOLLOWUP_BATCH)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from contracts.events import FollowupAnswered, QuestionErased
from opendeur import outbox
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.intake import store

log = get_logger(component="intake")
_legacy_keys = {"left": True}  # until a sweep finds no row with its own wrapped key


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


def register(rt: Runtime) -> None:
    """Start intake's timers with the runtime."""

    @rt.every(rt.settings.followup_batch.total_seconds())
    async def followup_batch() -> None:
        await publish_followup_answers(rt)

    @rt.every(rt.settings.sweep_interval.total_seconds())
    async def sweep() -> None:
        await erasure_sweep(rt)
