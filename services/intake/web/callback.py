"""The contact person's callback page (/c/{token}) and her optional PIN (/pin/{token}), always
in her own language (notify puts `?lang=` on every link), never the help-seeker's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.events import CallbackDone, PiiAccessed
from opendeur import links, outbox, timefmt
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.intake import api, domain, pins, store
from services.intake.web.deps import ContactLang, Rt, secure_cookies
from services.intake.web.i18n import t
from services.intake.web.pages import local, render

PENDING_POLLS = 15  # 3 s

router = APIRouter(include_in_schema=False)


async def open_callback(rt: Runtime, token: str) -> tuple[dict, dict | None, str]:
    """The link's ids, the question, and whether this contact may still open it."""
    try:
        data = links.verify(rt.settings, "callback", token)
        qid, contact_id = UUID(str(data["q"])), str(data["c"])
    except (links.LinkInvalid, KeyError, ValueError):
        return {}, None, "invalid"
    ids = {"question_id": qid, "contact_id": contact_id}
    until = data.get("e")
    if isinstance(until, int | float) and datetime.now(UTC).timestamp() > until:
        return ids, None, "expired"
    for _ in range(PENDING_POLLS):  # the link can be faster than intake's routed event
        async with rt.sessions() as session:
            q = await store.get_question(session, qid)
        state = domain.callback_state(q, contact_id, datetime.now(UTC))
        if state != "pending":
            break
        await asyncio.sleep(0.2)
    return ids, (q if state == "ok" else None), state


def refusal(state: str, lang: str, *, joins: bool = False) -> HTMLResponse:
    """A calm page in the contact's own language, nothing personal (after a talk, whether she
    passed on that the person wants to come)."""
    status = {"done": 200, "pending": 503, "held": 403}.get(state, 410)
    body = {"done": "cb_done_body", "held": "cb_held_body"}.get(state, "cb_gone_body")
    text = t(body, lang) + (" " + t("cb_joins_noted", lang) if joins else "")
    return render(
        "message.html",
        lang,
        status=status,
        headers={"Retry-After": "30"} if state == "pending" else None,
        heading=t(f"cb_{state}", lang),
        body=text,
    )


def link_contact(rt: Runtime, token: str, purpose: str = "callback") -> str | None:
    try:
        return str(links.verify(rt.settings, purpose, token)["c"])
    except (links.LinkInvalid, KeyError):
        return None


def pin_form(lang: str, token: str, error: str | None) -> HTMLResponse:
    if error == "pin_locked":
        return render(
            "message.html",
            lang,
            status=403,
            heading=t("pin_locked", lang),
            body=t("pin_locked_body", lang),
        )
    return render(
        "pin_enter.html",
        lang,
        status=422 if error == "pin_format" else 401,
        action=f"/c/{token}/pin?lang={lang}",
        error=error,
    )


def overview_needs_pin(lang: str, overview: str) -> HTMLResponse:
    """A link from the overview page while no PIN is set: the overview link travels in
    every mail, so on its own it opens nothing personal."""
    return render(
        "message.html",
        lang,
        status=403,
        heading=t("cb_overview_pin", lang),
        body=t("cb_overview_pin_body", lang),
        link=f"/pin/{overview}?lang={lang}",
        link_text=t("cb_overview_pin_link", lang),
    )


async def pin_asked(request: Request, rt: Runtime, token: str, lang: str) -> HTMLResponse | None:
    """With a PIN set for the link's contact: the PIN form (nothing of the question, not
    even whether it is still theirs) until the PIN was entered on this device. A link from
    the overview page (`links.delegate`) opens only with a PIN set and entered."""
    try:
        data = links.verify(rt.settings, "callback", token)
        contact_id = str(data["c"])
    except (links.LinkInvalid, KeyError):
        return None  # open_callback refuses it
    overview = data.get("o")
    async with rt.sessions() as session:
        guard = await pins.guard(session, contact_id)
    if overview is not None and not guard.has_pin:
        return overview_needs_pin(lang, str(overview))
    cookie = request.cookies.get(pins.COOKIE)
    if not guard.has_pin or pins.cookie_valid(rt.settings, cookie, contact_id, guard):
        return None
    return pin_form(lang, token, "pin_locked" if guard.locked else None)


def pin_cookie(rt: Runtime, response: Response, contact_id: str, guard: pins.Guard) -> None:
    response.set_cookie(
        pins.COOKIE,
        pins.cookie_value(rt.settings, contact_id, guard),
        max_age=pins.COOKIE_TTL,
        path="/c/",
        httponly=True,
        samesite="lax",  # the links are opened from mail: a top-level navigation
        secure=secure_cookies(rt),
    )


@router.get("/c/{token}", response_class=HTMLResponse)
async def callback_page(request: Request, token: str, rt: Rt, lang: ContactLang) -> HTMLResponse:
    if (asked := await pin_asked(request, rt, token, lang)) is not None:
        return asked
    ids, q, state = await open_callback(rt, token)
    if state != "ok" or q is None:
        return refusal(state, lang)
    async with rt.sessions() as session, session.begin():
        personal = await store.read_personal(session, api.envelope(rt), ids["question_id"])
        if personal is None:
            return refusal("erased", lang)
        # A forged link (notify signs them) shows itself as one contact opening more
        # questions than anyone calls back: past the limit nothing more opens through them.
        admitted = await pins.admit_view(
            session,
            ids["contact_id"],
            ids["question_id"],
            datetime.now(UTC),
            rt.settings.contact_view_alert,
        )
        if admitted == "ok":
            await outbox.add(
                session,
                PiiAccessed(question_id=ids["question_id"], contact_id=ids["contact_id"]),
            )
    outbox.wake_relay()
    if admitted != "ok":
        if admitted == "alerted":
            pins.ALERTS.inc()
        return refusal("held", lang)
    parsed = phonenumbers.parse(personal.phone)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if parsed.country_code == 31
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return render(
        "callback.html",
        lang,
        reference=q["reference"],
        deadline=local(q["respond_before"], lang),
        night_promise=timefmt.night_note(
            q["respond_before"], lang, crisis=q["professional_help_advised"]
        ),
        priority=q["professional_help_advised"],
        prefers_english=q["language"] == "en",
        phone=personal.phone,
        phone_display=phonenumbers.format_number(parsed, fmt),
        story=personal.story if q["consent_share"] else None,
        call_times=personal.call_times,
        outcomes=[(code, t(f"outcome_{code}", lang)) for code in domain.OUTCOMES],
        guide=t("cb_guide", lang).split("|"),
    )


@router.post("/c/{token}", response_class=HTMLResponse)
async def callback_outcome(request: Request, token: str, rt: Rt, lang: ContactLang) -> HTMLResponse:
    if (asked := await pin_asked(request, rt, token, lang)) is not None:
        return asked
    ids, q, state = await open_callback(rt, token)
    if state != "ok" or q is None:
        return refusal(state, lang)
    form = await request.form()
    outcome = str(form.get("outcome", ""))
    # Only a talk can end in "wants to come"; a box left ticked on another answer says nothing.
    joins = outcome == "reached" and form.get("joins_group") == "yes"
    if outcome not in domain.OUTCOMES:
        return render("message.html", lang, status=422, heading=t("choose_outcome", lang))
    now = datetime.now(UTC)
    erase_after = domain.erase_after_outcome(
        outcome, now, parse_duration(rt.settings.pii_retention)
    )
    async with rt.sessions() as session, session.begin():
        part = await store.record_outcome(
            session, ids["question_id"], ids["contact_id"], outcome, now, erase_after
        )
        if part is None:
            return refusal("closed", lang)
        await outbox.add(
            session,
            CallbackDone(
                question_id=ids["question_id"],
                contact_id=ids["contact_id"],
                outcome=outcome,
                joins_group=joins or None,
            ),
        )
    outbox.wake_relay()
    if part == "open":  # not reached, below the limit: the link keeps working
        return render(
            "message.html",
            lang,
            heading=t("cb_try_again", lang),
            body=t("cb_try_again_body", lang),
        )
    return refusal("done", lang, joins=joins)


@router.post("/c/{token}/pin", response_class=HTMLResponse)
async def callback_pin(request: Request, token: str, rt: Rt, lang: ContactLang) -> Response:
    contact_id = link_contact(rt, token)
    if contact_id is None:
        return refusal("invalid", lang)
    pin = str((await request.form()).get("pin", "")).strip()
    error = None
    async with rt.sessions() as session, session.begin():  # a wrong try is kept
        try:
            guard = await pins.check_pin(session, contact_id, pin, datetime.now(UTC))
        except pins.PinError as exc:
            error = exc.code
    if error is not None:
        return pin_form(lang, token, error)
    response = RedirectResponse(
        f"/c/{token}?lang={lang}", status_code=303, headers=dict(api.NO_STORE)
    )
    if guard.has_pin:
        pin_cookie(rt, response, contact_id, guard)
    return response


# Setting the PIN: from the contact's overview page (routing), with the contact's own
# overview link as the credential; changing it needs the current PIN.
def pin_set_page(lang: str, token: str, has_pin: bool, error: str | None = None) -> HTMLResponse:
    if error == "pin_locked":
        return pin_form(lang, token, error)
    status = {None: 200, "pin_wrong": 401}.get(error, 422)
    return render(
        "pin_set.html",
        lang,
        status=status,
        action=f"/pin/{token}?lang={lang}",
        has_pin=has_pin,
        error=error,
    )


@router.get("/pin/{token}", response_class=HTMLResponse)
async def pin_set_form(token: str, rt: Rt, lang: ContactLang) -> HTMLResponse:
    contact_id = link_contact(rt, token, "contact")
    if contact_id is None:
        return refusal("invalid", lang)
    async with rt.sessions() as session:
        guard = await pins.guard(session, contact_id)
    return pin_set_page(lang, token, guard.has_pin, "pin_locked" if guard.locked else None)


@router.post("/pin/{token}", response_class=HTMLResponse)
async def pin_set(request: Request, token: str, rt: Rt, lang: ContactLang) -> Response:
    contact_id = link_contact(rt, token, "contact")
    if contact_id is None:
        return refusal("invalid", lang)
    form = await request.form()
    field = {k: str(form.get(k, "")).strip() for k in ("pin", "repeat", "current")}
    error = None
    async with rt.sessions() as session, session.begin():  # a wrong current PIN is kept
        had = await pins.guard(session, contact_id)
        try:
            guard = await pins.set_pin(
                session,
                contact_id,
                field["pin"],
                field["repeat"],
                field["current"],
                datetime.now(UTC),
            )
        except pins.PinError as exc:
            error = exc.code
    if error is not None:
        return pin_set_page(lang, token, had.has_pin, error)
    response = render(
        "message.html", lang, heading=t("pin_saved", lang), body=t("pin_saved_body", lang)
    )
    pin_cookie(rt, response, contact_id, guard)
    return response
