"""Intake's pages: the question form, thank-you, withdrawal, referral card, callback page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.events import CallbackDone, PiiAccessed
from opendeur import links, messaging, outbox
from opendeur.runtime import ApiError, Runtime
from opendeur.settings import parse_duration
from services.intake import api, domain, store
from services.intake.consent import consent_text
from services.intake.topics import TopicCatalogue
from services.intake.web import forms
from services.intake.web.i18n import NETWORK_PHONE, t

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
AMS = ZoneInfo("Europe/Amsterdam")


def lang_of(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "nl"


def render(
    name: str, lang: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: object
) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(
        lang=lang,
        other="nl" if lang == "en" else "en",
        t=lambda k, **kw: t(k, lang, **kw),
        network_phone=NETWORK_PHONE,
        **ctx,
    )
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def local(dt: datetime, lang: str) -> str:
    return dt.astimezone(AMS).strftime("%d-%m-%Y %H:%M" if lang == "nl" else "%d %b %Y %H:%M")


def make_router(rt: Runtime, topics: TopicCatalogue) -> APIRouter:
    router = APIRouter(include_in_schema=False)

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
        )

    @router.get("/", response_class=HTMLResponse)
    async def get_form(request: Request) -> HTMLResponse:
        return await form(request, lang_of(request), {}, {})

    @router.post("/", response_class=HTMLResponse)
    async def post_form(request: Request) -> HTMLResponse:
        lang = lang_of(request)
        values = forms.field_values(await request.form())
        if values.get("website"):  # honeypot: people never see this field
            return render("message.html", lang, heading=t("thanks_title", lang))
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
                    return RedirectResponse(f"/verwijzen?lang={lang}", status_code=303)
                errors = {forms.error_field(err.field): err.message}
            except Exception as exc:
                if not messaging.transient(exc):
                    raise
                # The database is away for a moment: keep what the person typed, say so plainly.
                return await form(request, lang, values, {"send": t("unavailable", lang)}, 503)
        if errors:
            return await form(request, lang, values, errors, status=422)
        withdraw_url = (
            f"/intrekken/{accepted.question_id}?token={accepted.withdraw_token}&lang={lang}"
        )
        return render(
            "thanks.html",
            lang,
            reference=accepted.reference,
            deadline=local(accepted.respond_before, lang),
            withdraw_url=withdraw_url,
            advice=accepted.advice.message if accepted.advice.professional_help else "",
        )

    @router.get("/intrekken/{question_id}", response_class=HTMLResponse)
    async def withdraw_page(request: Request, question_id: UUID, token: str = "") -> HTMLResponse:
        lang = lang_of(request)
        return render(
            "message.html",
            lang,
            heading=t("withdraw", lang),
            body=t("withdraw_hint", lang),
            form_action=f"/intrekken/{question_id}?token={token}&lang={lang}",
            button=t("withdraw", lang),
        )

    @router.post("/intrekken/{question_id}", response_class=HTMLResponse)
    async def withdraw_post(request: Request, question_id: UUID, token: str = "") -> HTMLResponse:
        lang = lang_of(request)
        if await api.withdraw(rt, question_id, token):
            return render("message.html", lang, heading=t("withdrawn", lang))
        return render("message.html", lang, status=404, heading=t("not_found", lang))

    @router.get("/verwijzen", response_class=HTMLResponse)
    async def referral_card(request: Request) -> HTMLResponse:
        lang = lang_of(request)
        return render(
            "referral.html",
            lang,
            form_url=rt.settings.base_url("intake") + "/" + ("?lang=en" if lang == "en" else ""),
        )

    async def open_callback(token: str) -> tuple[dict, dict | None, str]:
        try:
            data = links.verify(rt.settings, "callback", token)
            qid, contact_id = UUID(str(data["q"])), str(data["c"])
        except (links.LinkInvalid, KeyError, ValueError):
            return {}, None, "invalid"
        async with rt.sessions() as session:
            q = await store.get_question(session, qid)
        if q is None or q["erased_at"] is not None:
            return {"question_id": qid, "contact_id": contact_id}, None, "erased"
        if q["contact_id"] not in (None, contact_id):
            return {"question_id": qid, "contact_id": contact_id}, None, "moved"
        if q["status"] == "done":
            return {"question_id": qid, "contact_id": contact_id}, q, "done"
        return {"question_id": qid, "contact_id": contact_id}, q, "ok"

    def callback_refusal(state: str, lang: str) -> HTMLResponse:
        status = 200 if state == "done" else 410
        return render("message.html", lang, status=status, heading=t(f"cb_{state}", lang))

    @router.get("/c/{token}", response_class=HTMLResponse)
    async def callback_page(request: Request, token: str) -> HTMLResponse:
        ids, q, state = await open_callback(token)
        lang = q["language"] if q else lang_of(request)
        if state != "ok" or q is None:
            return callback_refusal(state, lang)
        async with rt.sessions() as session, session.begin():
            personal = await store.read_personal(session, api.envelope(rt), ids["question_id"])
            if personal is None:
                return callback_refusal("erased", lang)
            await outbox.add(
                session, PiiAccessed(question_id=ids["question_id"], contact_id=ids["contact_id"])
            )
        outbox.wake_relay()
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
        ids, q, state = await open_callback(token)
        lang = q["language"] if q else lang_of(request)
        if state != "ok" or q is None:
            return callback_refusal(state, lang)
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
            current = await store.get_question(session, ids["question_id"], lock=True)
            if current is None or current["status"] in ("done", "erased"):
                return callback_refusal(
                    "done" if current and current["status"] == "done" else "erased", lang
                )
            values = {"outcome": outcome, "outcome_at": now}
            if outcome in domain.FINAL_OUTCOMES:
                values["status"] = "done"
                values["erase_after"] = erase_after
            await session.execute(
                store.questions.update()
                .where(store.questions.c.question_id == ids["question_id"])
                .values(**values)
            )
            await outbox.add(
                session,
                CallbackDone(
                    question_id=ids["question_id"], contact_id=ids["contact_id"], outcome=outcome
                ),
            )
        outbox.wake_relay()
        return callback_refusal("done", lang)

    return router
