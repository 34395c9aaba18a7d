"""The team's crisis callback: the open crisis questions, one question's number and story to call,
and the outcome. Every view of the number is a pii.accessed (team_callback) with the staff id,
staged in the same transaction as the read; every outcome is a callback.done (by team) and a
staff.acted (crisis_outcome). After "reached" or "referred" the data goes as after a contact
person's callback (store.record_team_outcome sets erase_after; the erasure sweep destroys the key)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import phonenumbers
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.events import REFERENCE_PATTERN, CallbackDone, PiiAccessed, StaffActed
from opendeur import outbox
from opendeur.logging import get_logger
from opendeur.settings import parse_duration
from services.intake import api, domain, store
from services.intake.web.i18n import t
from services.intake.web.staff import (
    Signed,
    lang_of,
    page,
    runtime,
    staff_member,
)

log = get_logger(component="intake.crisis")
router = APIRouter(include_in_schema=False)
# Least privilege: the team calls back; a coordinator manages groups, addresses and accounts.
Team = Annotated[Signed, Depends(staff_member("teamlid"))]
REFERENCE = re.compile(REFERENCE_PATTERN)
# What the refusal pages say, and with which status, for a question the team may not call.
REFUSALS = {
    "erased": ("cr_gone", 404),
    "not_crisis": ("cr_gone", 404),
    "done": ("cr_done", 410),
    "with_contact": ("cr_with_contact", 409),
}


def _q(lang: str) -> str:
    return "?lang=en" if lang == "en" else ""


@router.get("/crisis", response_class=HTMLResponse)
async def crisis_list(request: Request, who: Team) -> Response:
    rt, lang = runtime(request), lang_of(request)
    async with rt.sessions() as session:
        rows = await store.open_crisis_questions(session)
    now = datetime.now(UTC)
    done = request.query_params.get("done", "")
    ref = request.query_params.get("ref", "")
    saved = None
    if done in domain.FINAL_OUTCOMES and REFERENCE.fullmatch(ref):
        saved = t("cr_saved_final", lang, reference=ref, outcome=t(f"cr_outcome_{done}", lang))
    return page(
        request,
        "staff_crisis_list.html",
        questions=[{**r, "late": r["respond_before"] < now} for r in rows],
        saved=saved,
        q=_q(lang),
    )


def _refusal(request: Request, state: str) -> HTMLResponse:
    key, status = REFUSALS[state]
    lang = lang_of(request)
    return page(
        request,
        "staff_message.html",
        status,
        heading=t(key, lang),
        body=t(f"{key}_body", lang),
        link=f"/staff/crisis{_q(lang)}",
        link_text=t("cr_back", lang),
    )


@router.get("/crisis/{reference}", response_class=HTMLResponse)
async def crisis_question(request: Request, reference: str, who: Team) -> Response:
    rt, lang = runtime(request), lang_of(request)
    if not REFERENCE.fullmatch(reference):
        return _refusal(request, "erased")
    async with rt.sessions() as session, session.begin():
        q = await store.question_by_reference(session, reference)
        state = domain.crisis_state(q)
        personal = None
        if state == "open":
            personal = await store.read_personal(session, api.envelope(rt), q["question_id"])
        if personal is None:
            return _refusal(request, "erased" if state == "open" else state)
        await outbox.add(
            session,
            PiiAccessed(
                question_id=q["question_id"],
                purpose="team_callback",
                staff_id=who.user.staff_id,
            ),
        )
        tries = await store.attempts_of(session, q["question_id"])
    outbox.wake_relay()
    log.info("crisis_opened", question_id=str(q["question_id"]), staff_id=who.user.staff_id)
    network = rt.settings.network_name or "Zelfhulp Netwerk"
    done = request.query_params.get("done", "")
    return page(
        request,
        "staff_crisis.html",
        reference=reference,
        respond_before=q["respond_before"],
        late=q["respond_before"] < datetime.now(UTC),
        phone=personal.phone,
        phone_display=_display(personal.phone),
        story=personal.story if q["consent_share"] else None,
        consent_share=q["consent_share"],
        call_times=personal.call_times,
        in_english=q["language"] == "en",
        guide=t("cr_guide", lang, network=network).split("|"),
        tries=tries,
        outcomes=[(code, t(f"cr_outcome_{code}", lang)) for code in domain.TEAM_OUTCOMES],
        final_outcomes=domain.FINAL_OUTCOMES,
        saved=t("cr_saved_unreachable", lang) if done == "unreachable" else None,
        csrf=who.csrf,
        action=f"/staff/crisis/{reference}{_q(lang)}",
        q=_q(lang),
    )


def _display(phone: str) -> str:
    parsed = phonenumbers.parse(phone)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if parsed.country_code == 31
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, fmt)


@router.post("/crisis/{reference}", response_class=HTMLResponse)
async def crisis_outcome(request: Request, reference: str, who: Team) -> Response:
    rt, lang = runtime(request), lang_of(request)
    form = await request.form()
    if not who.csrf_ok(str(form.get("csrf", ""))):
        return page(request, "staff_message.html", 403, heading=t("st_expired", lang))
    if not REFERENCE.fullmatch(reference):
        return _refusal(request, "erased")
    outcome = str(form.get("outcome", ""))
    if outcome not in domain.TEAM_OUTCOMES:
        return page(
            request,
            "staff_message.html",
            422,
            heading=t("cr_choose", lang),
            link=f"/staff/crisis/{reference}{_q(lang)}",
            link_text=t("cr_back", lang),
        )
    now = datetime.now(UTC)
    erase_after = domain.erase_after_outcome(
        outcome, now, parse_duration(rt.settings.pii_retention)
    )
    staff_id = who.user.staff_id
    async with rt.sessions() as session, session.begin():
        q = await store.question_by_reference(session, reference)
        state = domain.crisis_state(q)
        part = None
        if state == "open":
            qid = q["question_id"]
            part = await store.record_team_outcome(
                session, qid, staff_id, outcome, now, erase_after
            )
        if part is None:
            return _refusal(request, state if state != "open" else "done")
        await outbox.add(
            session,
            CallbackDone(question_id=qid, outcome=outcome, by="team", staff_id=staff_id),
            StaffActed(
                source="intake", action="crisis_outcome", staff_id=staff_id, question_id=qid
            ),
        )
    outbox.wake_relay()
    log.info("crisis_outcome", question_id=str(qid), staff_id=staff_id, outcome=outcome)
    query = {"done": outcome} | ({"lang": "en"} if lang == "en" else {})
    if part == "open":
        where = f"/staff/crisis/{reference}?{urlencode(query)}"
    else:
        where = f"/staff/crisis?{urlencode(query | {'ref': reference})}"
    return RedirectResponse(where, 303, headers=api.NO_STORE)
