"""Intake's pages: the question form, thank-you, withdrawal, referral card, callback page."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.events import CallbackDone, PiiAccessed
from opendeur import links, messaging, outbox, timefmt
from opendeur.keys import purpose_key
from opendeur.runtime import ApiError, Runtime
from opendeur.settings import Settings, get_settings, parse_duration
from services.intake import api, domain, pins, store
from services.intake.consent import consent_text
from services.intake.topics import TopicCatalogue
from services.intake.web import forms
from services.intake.web.i18n import NETWORK_PHONE, t, tel_links

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TEMPLATES.filters["tel_links"] = tel_links
AMS = ZoneInfo("Europe/Amsterdam")
# Pages for volunteers and contact persons carry no quick-exit button.
STAFF_TEMPLATES = ("phone.html", "phone_done.html", "phone_login.html", "phone_password.html")
STAFF_TEMPLATES += ("callback.html", "pin_enter.html", "pin_set.html")
# The thank-you page's one-time cookie: only on /bedankt, gone after its first display.
THANKS_COOKIE = "od_thanks"
THANKS_TTL = 600
# A form submission id is remembered this long, so a resubmitted form adds no second question.
SUBMISSION_TTL = 6 * 3600
SUBMISSIONS_MAX = 50_000


def lang_of(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "nl"


def render(
    name: str, lang: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: object
) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(
        lang=lang,
        other="nl" if lang == "en" else "en",
        t=lambda k, **kw: t(k, lang, **kw),
        tl=lambda k, in_lang, **kw: t(k, in_lang, **kw),  # text read aloud in the caller's language
        final_outcomes=domain.FINAL_OUTCOMES,  # these erase the data: the page asks first
        network_phone=NETWORK_PHONE,
        exit_url=None if name in STAFF_TEMPLATES else get_settings().quick_exit_url,
        **ctx,
    )
    return HTMLResponse(html, status_code=status, headers={**api.NO_STORE, **(headers or {})})


PENDING_POLLS = 15  # 3 s


def contact_lang(request: Request) -> str:
    """?lang=, else the browser's first language: en or nl."""
    if "lang" in request.query_params:
        return lang_of(request)
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "nl"


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


def thanks_codec(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        purpose_key(settings, "thanks-cookie").hex(), salt="opendeur:thanks"
    )


def make_router(rt: Runtime, topics: TopicCatalogue) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    submissions = Submissions()
    shown = Submissions()  # thank-you cookies already displayed once
    codec = thanks_codec(rt.settings)
    secure_cookie = rt.settings.base_url("intake").startswith("https://")

    async def form(
        request: Request, lang: str, values: dict, errors: dict, status: int = 200
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
        )

    @router.get("/", response_class=HTMLResponse)
    async def get_form(request: Request) -> HTMLResponse:
        topic = request.query_params.get("topic", "")
        # Only a known code is kept (a link from the "someone else" page preselects mantelzorg).
        values = {"topic": topic} if topic and await topics.is_known(topic) else {}
        return await form(request, lang_of(request), values, {})

    @router.post("/", response_class=HTMLResponse)
    async def post_form(request: Request) -> HTMLResponse:
        lang = lang_of(request)
        values = forms.field_values(await request.form())
        # no-store: the redirect may carry the one-time cookie with the withdraw token.
        thanks = RedirectResponse(
            f"/bedankt?lang={lang}", status_code=303, headers={"Cache-Control": "no-store"}
        )
        if values.get("website"):  # honeypot: people never see this field
            return thanks
        sid = values.get("submission", "")[:64]
        if sid and not submissions.claim(sid):
            return thanks  # this very form was sent before: no second question
        try:
            return await accept_form(request, lang, values, thanks)
        except BaseException:
            submissions.release(sid)
            raise

    async def accept_form(
        request: Request, lang: str, values: dict[str, str], thanks: RedirectResponse
    ) -> HTMLResponse | RedirectResponse:
        sid = values.get("submission", "")[:64]
        if values.get("for_self") == "no":
            errors: dict[str, str] = {}
        else:
            errors = await forms.check(values, lang, topics)
        if not errors:
            try:
                accepted = await api.accept_question(
                    rt, topics, forms.to_question(values, channel="web", language=lang)
                )
            except ApiError as err:
                if err.code == "must_self_contact":
                    submissions.release(sid)
                    return RedirectResponse(f"/voor-iemand-anders?lang={lang}", status_code=303)
                errors = {forms.error_field(err.field): err.message}
            except Exception as exc:
                if not messaging.transient(exc):
                    raise
                # The database is away for a moment: keep what the person typed, say so plainly.
                submissions.release(sid)
                return await form(request, lang, values, {"send": t("unavailable", lang)}, 503)
        if errors:
            submissions.release(sid)
            return await form(request, lang, values, errors, status=422)
        # Post/Redirect/Get: what the thank-you page shows once travels in a signed cookie that
        # only /bedankt receives, so the address in the history holds nothing and a reload
        # sends nothing again.
        value = codec.dumps(
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
            secure=secure_cookie,
        )
        return thanks

    @router.get("/bedankt", response_class=HTMLResponse)
    async def thanks_page(request: Request) -> HTMLResponse:
        lang = lang_of(request)
        data: dict | None = None
        try:
            raw = codec.loads(request.cookies.get(THANKS_COOKIE, ""), max_age=THANKS_TTL)
            data = raw if isinstance(raw, dict) else None
        except BadSignature:
            data = None
        if data is not None and not shown.claim(str(data.get("q"))):
            data = None  # a copy of the cookie, replayed: it was shown once already
        if data is None:  # a reload, Back, or an old tab: nothing to show a second time
            page = render(
                "thanks.html",
                lang,
                once=True,
                withdraw_call=t("withdraw_call", lang, phone=NETWORK_PHONE)
                if NETWORK_PHONE
                else "",
            )
        else:
            before = datetime.fromisoformat(str(data["b"]))
            page = render(
                "thanks.html",
                lang,
                reference=data["r"],
                deadline=timefmt.deadline(before, lang),
                withdraw_url=f"/intrekken/{data['q']}?token={data['w']}&lang={lang}",
                crisis=bool(data["p"]),
                dutch_groups_note=lang == "en",
            )
        page.delete_cookie(
            THANKS_COOKIE, path="/bedankt", httponly=True, samesite="strict", secure=secure_cookie
        )
        return page

    @router.get("/intrekken/{question_id}", response_class=HTMLResponse)
    async def withdraw_page(request: Request, question_id: UUID, token: str = "") -> HTMLResponse:
        lang = lang_of(request)
        return render(
            "message.html",
            lang,
            heading=t("withdraw", lang),
            body=t("withdraw_confirm", lang),
            form_action=f"/intrekken/{question_id}?token={token}&lang={lang}",
            button=t("withdraw", lang),
        )

    @router.post("/intrekken/{question_id}", response_class=HTMLResponse)
    async def withdraw_post(request: Request, question_id: UUID, token: str = "") -> HTMLResponse:
        lang = lang_of(request)
        if await api.withdraw(rt, question_id, token):
            return render("message.html", lang, heading=t("withdrawn", lang))
        return render("message.html", lang, status=404, heading=t("not_found", lang))

    @router.get("/voor-iemand-anders", response_class=HTMLResponse)
    @router.get("/verwijzen", response_class=HTMLResponse)
    async def referral_card(request: Request) -> HTMLResponse:
        lang = lang_of(request)
        s = rt.settings
        return render(
            "referral.html",
            lang,
            form_url=s.base_url("intake") + "/" + ("?lang=en" if lang == "en" else ""),
            net_name=s.network_name or "",
            net_phone=s.network_phone or "",
            net_email=s.network_email or "",
        )

    async def open_callback(token: str) -> tuple[dict, dict | None, str]:
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

    def callback_refusal(state: str, request: Request) -> HTMLResponse:
        """A calm page in the contact's own language (not the question's), nothing personal."""
        lang = contact_lang(request)
        status = {"done": 200, "pending": 503, "held": 403}.get(state, 410)
        body = {"done": "cb_done_body", "held": "cb_held_body"}.get(state, "cb_gone_body")
        return render(
            "message.html",
            lang,
            status=status,
            headers={"Retry-After": "30"} if state == "pending" else None,
            heading=t(f"cb_{state}", lang),
            body=t(body, lang),
        )

    def link_contact(token: str, purpose: str = "callback") -> str | None:
        try:
            return str(links.verify(rt.settings, purpose, token)["c"])
        except (links.LinkInvalid, KeyError):
            return None

    def pin_form(request: Request, token: str, error: str | None) -> HTMLResponse:
        lang = contact_lang(request)
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

    def overview_needs_pin(request: Request, overview: str) -> HTMLResponse:
        """A link from the overview page while no PIN is set: the overview link travels in
        every mail, so on its own it opens nothing personal."""
        lang = contact_lang(request)
        return render(
            "message.html",
            lang,
            status=403,
            heading=t("cb_overview_pin", lang),
            body=t("cb_overview_pin_body", lang),
            link=f"/pin/{overview}?lang={lang}",
            link_text=t("cb_overview_pin_link", lang),
        )

    async def pin_asked(request: Request, token: str) -> HTMLResponse | None:
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
            return overview_needs_pin(request, str(overview))
        cookie = request.cookies.get(pins.COOKIE)
        if not guard.has_pin or pins.cookie_valid(rt.settings, cookie, contact_id, guard):
            return None
        return pin_form(request, token, "pin_locked" if guard.locked else None)

    def pin_cookie(response: Response, contact_id: str, guard: pins.Guard) -> None:
        response.set_cookie(
            pins.COOKIE,
            pins.cookie_value(rt.settings, contact_id, guard),
            max_age=pins.COOKIE_TTL,
            path="/c/",
            httponly=True,
            samesite="lax",  # the links are opened from mail: a top-level navigation
            secure=secure_cookie,
        )

    @router.get("/c/{token}", response_class=HTMLResponse)
    async def callback_page(request: Request, token: str) -> HTMLResponse:
        if (asked := await pin_asked(request, token)) is not None:
            return asked
        ids, q, state = await open_callback(token)
        if state != "ok" or q is None:
            return callback_refusal(state, request)
        lang = contact_lang(request)  # the contact's language, not the help-seeker's
        async with rt.sessions() as session, session.begin():
            personal = await store.read_personal(session, api.envelope(rt), ids["question_id"])
            if personal is None:
                return callback_refusal("erased", request)
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
            return callback_refusal("held", request)
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
            priority=q["professional_help_advised"],
            phone=personal.phone,
            phone_display=phonenumbers.format_number(parsed, fmt),
            story=personal.story if q["consent_share"] else None,
            call_times=personal.call_times,
            outcomes=[(code, t(f"outcome_{code}", lang)) for code in domain.OUTCOMES],
            guide=t("cb_guide", lang).split("|"),
        )

    @router.post("/c/{token}", response_class=HTMLResponse)
    async def callback_outcome(request: Request, token: str) -> HTMLResponse:
        if (asked := await pin_asked(request, token)) is not None:
            return asked
        ids, q, state = await open_callback(token)
        if state != "ok" or q is None:
            return callback_refusal(state, request)
        lang = contact_lang(request)  # the contact's language, not the help-seeker's
        outcome = str((await request.form()).get("outcome", ""))
        if outcome not in domain.OUTCOMES:
            return render(
                "message.html",
                lang,
                status=422,
                heading=t("choose_outcome", lang),
            )
        now = datetime.now(UTC)
        erase_after = domain.erase_after_outcome(
            outcome, now, parse_duration(rt.settings.pii_retention)
        )
        async with rt.sessions() as session, session.begin():
            part = await store.record_outcome(
                session, ids["question_id"], ids["contact_id"], outcome, now, erase_after
            )
            if part is None:
                return callback_refusal("closed", request)
            await outbox.add(
                session,
                CallbackDone(
                    question_id=ids["question_id"], contact_id=ids["contact_id"], outcome=outcome
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
        return callback_refusal("done", request)

    @router.post("/c/{token}/pin", response_class=HTMLResponse)
    async def callback_pin(request: Request, token: str) -> Response:
        contact_id = link_contact(token)
        if contact_id is None:
            return callback_refusal("invalid", request)
        pin = str((await request.form()).get("pin", "")).strip()
        error = None
        async with rt.sessions() as session, session.begin():  # a wrong try is kept
            try:
                guard = await pins.check_pin(session, contact_id, pin, datetime.now(UTC))
            except pins.PinError as exc:
                error = exc.code
        if error is not None:
            return pin_form(request, token, error)
        lang = contact_lang(request)
        response = RedirectResponse(
            f"/c/{token}?lang={lang}", status_code=303, headers=dict(api.NO_STORE)
        )
        if guard.has_pin:
            pin_cookie(response, contact_id, guard)
        return response

    # Setting the PIN: from the contact's overview page (routing), with the contact's own
    # overview link as the credential; changing it needs the current PIN.
    def pin_set_page(
        request: Request, token: str, has_pin: bool, error: str | None = None
    ) -> HTMLResponse:
        lang = contact_lang(request)
        if error == "pin_locked":
            return pin_form(request, token, error)
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
    async def pin_set_form(request: Request, token: str) -> HTMLResponse:
        contact_id = link_contact(token, "contact")
        if contact_id is None:
            return callback_refusal("invalid", request)
        async with rt.sessions() as session:
            guard = await pins.guard(session, contact_id)
        return pin_set_page(request, token, guard.has_pin, "pin_locked" if guard.locked else None)

    @router.post("/pin/{token}", response_class=HTMLResponse)
    async def pin_set(request: Request, token: str) -> Response:
        contact_id = link_contact(token, "contact")
        if contact_id is None:
            return callback_refusal("invalid", request)
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
            return pin_set_page(request, token, had.has_pin, error)
        lang = contact_lang(request)
        response = render(
            "message.html", lang, heading=t("pin_saved", lang), body=t("pin_saved_body", lang)
        )
        pin_cookie(response, contact_id, guard)
        return response

    return router
