"""Intake's pages for help-seekers: the question form, thank-you, withdrawal, someone else."""

from __future__ import annotations

import functools
import secrets
import time
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from opendeur import messaging, timefmt, web
from opendeur.errors import Refused
from opendeur.keys import purpose_key
from opendeur.settings import Settings, get_settings
from opendeur.web import query_lang as lang_of
from services.intake import api, domain
from services.intake.consent import consent_text
from services.intake.web import forms
from services.intake.web.deps import Lang, Rt, Topics, contact_lang, secure_cookies
from services.intake.web.i18n import NETWORK_PHONE, t, tel_links

__all__ = ["contact_lang", "lang_of", "render", "router"]

TEMPLATES = web.templates(__file__)  # the kit's one environment for web/templates
TEMPLATES.filters["tel_links"] = tel_links
# Pages for volunteers and contact persons carry no quick-exit button.
STAFF_TEMPLATES = ("phone.html", "phone_done.html", "phone_login.html", "phone_password.html")
STAFF_TEMPLATES += ("phone_withdraw.html", "callback.html", "pin_enter.html", "pin_set.html")
# The thank-you page's one-time cookie: only on /bedankt, gone after its first display.
THANKS_COOKIE = "od_thanks"
THANKS_TTL = 600
# A form submission id is remembered this long, so a resubmitted form adds no second question.
SUBMISSION_TTL = 6 * 3600
SUBMISSIONS_MAX = 50_000
# The topic of groups for family and carers: the "someone else" page's path for the asker.
CARERS_TOPIC = "mantelzorg"


class Blank(dict):
    """A form's values or errors for the kit's strict templates: a field not given reads as ""."""

    def __missing__(self, key: str) -> str:
        return ""


def render(
    name: str, lang: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: object
) -> HTMLResponse:
    settings = get_settings()
    for part in ("values", "errors"):
        if isinstance(ctx.get(part), dict):
            ctx[part] = Blank(ctx[part])  # type: ignore[arg-type]
    html = TEMPLATES.get_template(name).render(
        lang=lang,
        other="nl" if lang == "en" else "en",
        t=lambda k, **kw: t(k, lang, **kw),
        tl=lambda k, in_lang, **kw: t(k, in_lang, **kw),  # text read aloud in the caller's language
        final_outcomes=domain.FINAL_OUTCOMES,  # these erase the data: the page asks first
        network_phone=NETWORK_PHONE,
        hours=int(settings.deadline.total_seconds() // 3600),
        exit_url=None if name in STAFF_TEMPLATES else settings.quick_exit_url,
        **ctx,
    )
    return HTMLResponse(html, status_code=status, headers={**api.NO_STORE, **(headers or {})})


def local(dt: datetime, lang: str) -> str:
    """A deadline in words, Amsterdam time: "uiterlijk donderdag 3 december, 15.00 uur"."""
    return timefmt.deadline(dt, lang)


class Submissions:
    """Form submission ids already used in this process: a resubmitted form (Back, reload of a
    POST, a double tap) is sent to the thank-you page instead of adding a second question."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def claim(self, sid: str) -> bool:
        """True the first time an id is seen (it is then taken), False for a repeat."""
        now = time.monotonic()
        if len(self._seen) >= SUBMISSIONS_MAX:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            while len(self._seen) >= SUBMISSIONS_MAX:  # a flood of ids: forget the oldest
                self._seen.pop(next(iter(self._seen)))
        if self._seen.get(sid, 0.0) > now:
            return False
        self._seen[sid] = now + SUBMISSION_TTL
        return True

    def release(self, sid: str) -> None:
        """The question was not stored (a form error, the database away): the id may be used again."""
        self._seen.pop(sid, None)


SUBMISSIONS = Submissions()  # web and phone forms' ids (phone.py uses it too)
SHOWN = Submissions()  # thank-you cookies already displayed once


@functools.cache
def _thanks_codec(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="opendeur:thanks")


def thanks_codec(settings: Settings) -> URLSafeTimedSerializer:
    return _thanks_codec(purpose_key(settings, "thanks-cookie").hex())


router = APIRouter(include_in_schema=False)


async def form_page(
    lang: str, topics: Topics, values: dict, errors: dict, status: int = 200
) -> HTMLResponse:
    return render(
        "form.html",
        lang,
        status=status,
        values=values,
        errors=errors,
        topics=await topics.all(),
        consent_text=consent_text(lang),
        submission=values.get("submission") or secrets.token_urlsafe(16),
        sms_offered=bool(get_settings().sms_url),  # the box only where a gateway sends it
    )


@router.get("/", response_class=HTMLResponse)
async def get_form(lang: Lang, topics: Topics, topic: str = "") -> HTMLResponse:
    # Only a known code is kept (a link from the "someone else" page preselects mantelzorg).
    values = {"topic": topic} if topic and await topics.is_known(topic) else {}
    return await form_page(lang, topics, values, {})


@router.post("/", response_class=HTMLResponse)
async def post_form(request: Request, lang: Lang, rt: Rt, topics: Topics) -> Response:
    if request.headers.get("sec-fetch-site") == "cross-site":
        # Another site's page posting our form in its visitor's browser (a browser says so):
        # never a question, never an SMS to a number that site chose. People post from here.
        return finished(lang, "cross_site", status=403)
    values = forms.field_values(await request.form())
    if values.get("switch"):
        # The language switch (form.js): the same form in the other language, with what was
        # typed, sent in the body so nothing of it lands in an address. Nothing is stored.
        return await form_page(lang, topics, {k: v for k, v in values.items() if k != "switch"}, {})
    # no-store: the redirect may carry the one-time cookie with the withdraw token.
    thanks = RedirectResponse(
        f"/bedankt?lang={lang}", status_code=303, headers={"Cache-Control": "no-store"}
    )
    if values.get("website"):  # honeypot: people never see this field
        return thanks
    sid = values.get("submission", "")[:64]
    if sid and not SUBMISSIONS.claim(sid):
        return thanks  # this very form was sent before: no second question
    try:
        return await accept_form(rt, topics, lang, values, thanks)
    except BaseException:
        SUBMISSIONS.release(sid)
        raise


async def accept_form(
    rt: Rt, topics: Topics, lang: str, values: dict[str, str], thanks: RedirectResponse
) -> HTMLResponse | RedirectResponse:
    sid = values.get("submission", "")[:64]
    errors: dict[str, str] = {}
    if values.get("for_self") != "no":
        errors = await forms.check(values, lang, topics)
    if not errors:
        try:
            accepted = await api.accept_question(
                rt, topics, forms.to_question(values, channel="web", language=lang)
            )
        except Refused as err:
            if err.code == "must_self_contact":
                SUBMISSIONS.release(sid)
                return RedirectResponse(f"/voor-iemand-anders?lang={lang}", status_code=303)
            errors = {forms.error_field(err.field): err.message}
        except Exception as exc:
            if not messaging.transient(exc):
                raise
            # The database is away for a moment: keep what the person typed, say so plainly.
            SUBMISSIONS.release(sid)
            return await form_page(lang, topics, values, {"send": t("unavailable", lang)}, 503)
    if errors:
        SUBMISSIONS.release(sid)
        return await form_page(lang, topics, values, errors, status=422)
    # Post/Redirect/Get: what the thank-you page shows once travels in a signed cookie that
    # only /bedankt receives, so the address in the history holds nothing and a reload
    # sends nothing again.
    value = thanks_codec(rt.settings).dumps(
        {
            "q": str(accepted.question_id),
            "r": accepted.reference,
            "b": accepted.respond_before.isoformat(),
            "w": accepted.withdraw_token,
            "p": accepted.advice.professional_help,
        }
    )
    thanks.set_cookie(
        THANKS_COOKIE,
        value,
        max_age=THANKS_TTL,
        path="/bedankt",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(rt),
    )
    return thanks


def thanks_context(data: dict, lang: str) -> dict[str, object]:
    """What the thank-you page promises, for its case: the team for a crisis question, a
    contact person otherwise; for English, honestly, that the caller may speak Dutch."""
    crisis = bool(data["p"])
    before = datetime.fromisoformat(str(data["b"]))
    deadline = timefmt.told(before, lang, crisis=crisis)
    notes = [t("next_crisis" if crisis else "next", lang, deadline=deadline)]
    if not crisis:
        notes.append(t("next_unmatched", lang))
    if lang == "en":
        notes.append(t("next_language_crisis" if crisis else "next_language", lang))
    return {
        "reference": data["r"],
        "crisis": crisis,
        "notes": notes,
        "withdraw_url": f"/intrekken/{data['q']}?token={data['w']}&lang={lang}",
    }


@router.get("/bedankt", response_class=HTMLResponse)
async def thanks_page(request: Request, lang: Lang, rt: Rt) -> HTMLResponse:
    data: dict | None = None
    try:
        raw = thanks_codec(rt.settings).loads(
            request.cookies.get(THANKS_COOKIE, ""), max_age=THANKS_TTL
        )
        data = raw if isinstance(raw, dict) else None
    except BadSignature:
        data = None
    if data is not None and not SHOWN.claim(str(data.get("q"))):
        data = None  # a copy of the cookie, replayed: it was shown once already
    if data is None:  # a reload, Back, or an old tab: nothing to show a second time
        call = t("withdraw_call", lang, phone=NETWORK_PHONE) if NETWORK_PHONE else ""
        page = render("thanks.html", lang, once=True, withdraw_call=call)
    else:
        page = render("thanks.html", lang, **thanks_context(data, lang))
    page.delete_cookie(
        THANKS_COOKIE,
        path="/bedankt",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(rt),
    )
    return page


@router.get("/intrekken/{question_id}", response_class=HTMLResponse)
async def withdraw_page(question_id: UUID, lang: Lang, rt: Rt, token: str = "") -> HTMLResponse:
    """The help-seeker's own link: before her call it withdraws; after a talk it first asks,
    once and anonymously, whether the talk helped (and still erases at once if she wants)."""
    state = await api.own_link_state(rt, question_id, token) if token else None
    if state is None:
        # Withdrawn or erased already, or not her link: say so before she presses anything.
        return finished(lang, "not_found", "gone_body", status=404)
    if state != "waiting":  # she was called back
        query = f"?token={token}&lang={lang}"
        return render(
            "followup.html",
            lang,
            ask=state == "ask",
            answers=api.FOLLOWUP_ANSWERS,
            answer_action=f"/na-het-gesprek/{question_id}{query}",
            withdraw_action=f"/intrekken/{question_id}{query}",
            retention_hours=int(rt.settings.pii_retention.total_seconds() // 3600),
        )
    return render(
        "message.html",
        lang,
        heading=t("withdraw", lang),
        body=t("withdraw_confirm", lang),
        form_action=f"/intrekken/{question_id}?token={token}&lang={lang}",
        button=t("withdraw", lang),
    )


@router.post("/intrekken/{question_id}", response_class=HTMLResponse)
async def withdraw_post(question_id: UUID, lang: Lang, rt: Rt, token: str = "") -> Response:
    # After her call her data is erased, not her question withdrawn: the next page says so.
    called = await api.own_link_state(rt, question_id, token) in ("ask", "answered")
    if await api.withdraw(rt, question_id, token):  # Post/Redirect/Get: a reload erases nothing
        done = "/gewist" if called else "/ingetrokken"
        return RedirectResponse(f"{done}?lang={lang}", status_code=303, headers=api.NO_STORE)
    return finished(lang, "not_found", "gone_body", status=404)


@router.post("/na-het-gesprek/{question_id}", response_class=HTMLResponse)
async def followup_post(
    request: Request, question_id: UUID, lang: Lang, rt: Rt, token: str = ""
) -> Response:
    answer = str((await request.form()).get("answer", ""))
    if await api.answer_followup(rt, question_id, token, answer):  # Post/Redirect/Get
        return RedirectResponse(
            f"/na-het-gesprek?lang={lang}", status_code=303, headers=api.NO_STORE
        )
    return finished(lang, "fu_closed", "fu_closed_body", status=410)


def finished(lang: str, heading: str, body: str | None = None, status: int = 200) -> HTMLResponse:
    """A help-seeker's page at the end of a path: what happened, and a way to ask again."""
    return render(
        "message.html",
        lang,
        status=status,
        heading=t(heading, lang),
        body=t(body, lang) if body else None,
        link=f"/?lang={lang}",
        link_text=t("fu_new_question", lang),
    )


@router.get("/gewist", response_class=HTMLResponse)
async def erased_page(lang: Lang) -> HTMLResponse:
    return finished(lang, "fu_erased")


@router.get("/na-het-gesprek", response_class=HTMLResponse)
async def followup_thanks(lang: Lang) -> HTMLResponse:
    return finished(lang, "fu_thanks", "fu_thanks_body")


@router.get("/ingetrokken", response_class=HTMLResponse)
async def withdrawn_page(lang: Lang) -> HTMLResponse:
    return render("message.html", lang, heading=t("withdrawn", lang))


@router.get("/voor-iemand-anders", response_class=HTMLResponse)
@router.get("/verwijzen", response_class=HTMLResponse)
async def referral_card(lang: Lang, rt: Rt, topics: Topics) -> HTMLResponse:
    s = rt.settings
    carers = CARERS_TOPIC if await topics.is_known(CARERS_TOPIC) else None
    return render(
        "referral.html",
        lang,
        form_url=s.base_url("intake") + "/" + ("?lang=en" if lang == "en" else ""),
        carers=carers,
        net_name=s.network_name or "",
        net_phone=s.network_phone or "",
        net_email=s.network_email or "",
    )
