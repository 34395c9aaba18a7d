"""Intake service wiring: the front door, the only holder of a help-seeker's data."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from fastapi.staticfiles import StaticFiles

from contracts.events import QuestionErased
from opendeur import outbox
from opendeur.keystore import open_keystore
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.intake import api, handlers, store
from services.intake.guard import FrontDoorGuard
from services.intake.ratelimit import Limiter, rate_from_env
from services.intake.topics import TopicCatalogue
from services.intake.web import pages, phone, staff

SWEEP_INTERVAL = float(os.environ.get("OPENDEUR_SWEEP_INTERVAL") or 30.0)

log = get_logger(component="intake")
rt = Runtime("intake")
store.configure(open_keystore(rt.settings))  # a key store that cannot be opened stops the start
topics = TopicCatalogue(rt.settings.base_url("routing"))
handlers.register(rt)

app = rt.app(title="intake", description="The front door: questions, consent, callback pages.")
app.include_router(api.make_router(rt, topics))
app.include_router(pages.make_router(rt, topics))
app.include_router(phone.make_router(rt, topics))
app.include_router(staff.make_router(rt))
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
app.add_middleware(FrontDoorGuard, limiter=Limiter(rate_from_env()))


legacy_keys = True  # until a sweep finds no row with its own wrapped key


@rt.every(SWEEP_INTERVAL)
async def erasure_sweep() -> None:
    """Erase personal data whose time has come (after the callback, or never answered), delete
    erased questions' stripped rows after OPENDEUR_ERASED_RETENTION, and move keys of rows from
    before the key store into it (migration 0003)."""
    global legacy_keys
    now = datetime.now(UTC)
    while legacy_keys:
        async with rt.sessions() as session, session.begin():
            legacy_keys = await store.adopt_legacy_keys(session) > 0
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
