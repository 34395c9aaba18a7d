"""Routing's pages: the team's triage queue (with login and CSRF), a group's self-service page and a
contact person's own overview (open callbacks, capacity, call hours, pause)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from contracts.events import QuestionClosed, StaffActed, StaffAction
from opendeur import links, outbox, timefmt
from opendeur.keys import purpose_key
from opendeur.runtime import ApiError, Runtime
from opendeur.settings import Settings, parse_duration
from opendeur.staff import Staff
from services.routing import groups, handlers, regions, store, taxonomy
from services.routing.web import i18n

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
AMS = ZoneInfo("Europe/Amsterdam")
CLOSE_REASONS = {
    "handled_by_team": "Afgehandeld door het team",
    "referred_professional": "Doorverwezen naar professionele hulp",
    "no_callback_wanted": "Wil niet meer teruggebeld worden",
    "duplicate": "Dubbele vraag",
    "unreachable": "Niet bereikbaar",
}
# Why a question is in the team's queue (matching.Unmatched.reason), for people.
QUEUE_REASONS = {
    "professional_help_advised": "Professionele hulp aangeraden: voorrang",
    "no_topic": "Geen onderwerp gekozen",
    "no_group": "Geen groep voor dit onderwerp in de buurt",
    "all_full": "Alle passende groepen zitten vol",
}
# What a contact person may do with their own group, from which status, to which status.
SELF_ACTIONS = {
    "pause": ({"active"}, "paused"),
    "resume": ({"paused"}, "active"),
    "leave": ({"active", "paused"}, "left"),
}


MAX_CAPACITY = 20
CONTACT_ACTIONS = {"pause": ("active", "paused"), "resume": ("paused", "active")}
SAVED = {"capacity", "hours", "paused", "resumed"}


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_capacity(raw: str, lang: i18n.Lang = "nl") -> int:
    t = i18n.translator(lang)
    try:
        value = int(raw.strip())
    except ValueError:
        raise FormError("max_open", t("capacity_not_a_number", max=MAX_CAPACITY)) from None
    if not 0 <= value <= MAX_CAPACITY:
        raise FormError("max_open", t("capacity_out_of_range", max=MAX_CAPACITY))
    return value


def parse_hours(form: dict, lang: i18n.Lang = "nl") -> list[dict]:
    """Per weekday an optional from-to; both empty means no calls that day."""
    t = i18n.translator(lang)
    hours = []
    for day, name in enumerate(i18n.WEEKDAYS[lang]):
        start = str(form.get(f"start_{day}", "")).strip()
        end = str(form.get(f"end_{day}", "")).strip()
        if not start and not end:
            continue
        if not start or not end:
            raise FormError(f"start_{day}", t("hours_both", day=name))
        try:
            t0, t1 = time.fromisoformat(start), time.fromisoformat(end)
        except ValueError:
            raise FormError(f"start_{day}", t("hours_format", day=name)) from None
        if t1 <= t0:
            raise FormError(f"start_{day}", t("hours_order", day=name))
        hours.append({"weekday": day, "start": t0.strftime("%H:%M"), "end": t1.strftime("%H:%M")})
    return hours


def hours_by_day(hours: list[dict], lang: i18n.Lang = "nl") -> list[dict]:
    """The form's rows: one per weekday, with the first stored window of that day."""
    days = i18n.WEEKDAYS[lang]
    rows = [{"day": d, "name": n, "start": "", "end": ""} for d, n in enumerate(days)]
    for w in sorted(hours, key=lambda w: (int(w["weekday"]), w["start"]), reverse=True):
        rows[int(w["weekday"])].update(start=w["start"], end=w["end"])
    return rows


def render(name: str, status: int = 200, lang: i18n.Lang = "nl", **ctx: object) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(lang=lang, t=i18n.translator(lang), **ctx)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def csrf_token(settings: Settings, credential: str) -> str:
    """Bound to the contact person's link, so a forged cross-site form cannot know it."""
    return hmac.new(purpose_key(settings, "csrf"), credential.encode(), "sha256").hexdigest()


def age(received_at: datetime, now: datetime) -> str:
    minutes = max(0, int((now - received_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} uur"
    return f"{minutes // (24 * 60)} dagen"


def local(dt: datetime) -> str:
    return dt.astimezone(AMS).strftime("%d-%m-%Y %H:%M")


def page_lang(request: Request) -> i18n.Lang:
    """The contact's language: `?lang=` (notify's link, the switch), else the browser's."""
    return i18n.pick(
        request.query_params.get("lang"),
        i18n.from_accept_language(request.headers.get("accept-language")),
    )


def switch_url(path: str, lang: i18n.Lang) -> str:
    return f"{path}?lang={i18n.CATALOGUE['switch_lang'][lang]}"


class BuddySignal(BaseModel):
    topic: str | None
    municipality: str | None
    waiting: int
    since: datetime


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter(route_class=rt.route_class)  # staff routes: credential first

    async def staff_post(request: Request) -> tuple[dict, Staff]:
        """A team member (opendeur/staff.py) plus the CSRF token on every form post."""
        staff = rt.require(request, None, "teamlid")
        assert staff is not None and rt.staff is not None  # no machine client posts these forms
        form = dict(await request.form())
        if not rt.staff.csrf_ok(staff, str(form.get("csrf", ""))):
            raise ApiError(403, "csrf_failed", "The form is out of date; reload the page.", "csrf")
        return form, staff

    def question_id(raw: str) -> UUID:
        try:
            return UUID(raw)
        except ValueError:
            raise ApiError(
                422, "invalid_value", "This is not a question id.", "question_id"
            ) from None

    @router.get("/login", include_in_schema=False)
    async def login_moved() -> Response:
        """People sign in at intake now; an old bookmark goes there."""
        url = rt.settings.base_url("intake") + "/staff/login?to=routing&next=/triage"
        return RedirectResponse(url, status_code=303)

    @router.get(
        "/triage",
        response_class=HTMLResponse,
        tags=["staff"],
        response_model=None,
        responses={
            303: {"description": "No team member's session here: to intake's staff sign-in"},
            403: {"description": "Signed in without the teamlid role"},
        },
    )
    async def triage_page(request: Request) -> Response:
        assert rt.staff is not None
        staff = rt.staff.page(request, "teamlid")
        if isinstance(staff, Response):
            return staff
        now = datetime.now(UTC)
        async with rt.sessions() as session:
            queue = await store.triage_queue(session)
            signals = await store.buddy_signals(session)
            choices = await store.active_groups(session)
        rows = [
            {
                **q,
                "age": age(q["received_at"], now),
                "due": timefmt.deadline(q["respond_before"], "nl"),
                "topic_label": taxonomy.label(q["topic"], "nl") if q["topic"] else "—",
                "place": place(q["municipality"]),
                "reason_label": QUEUE_REASONS.get(q["reason"] or "", q["reason"] or "—"),
            }
            for q in queue
        ]
        return render(
            "triage.html",
            rows=rows,
            signals=[
                {
                    **s,
                    "topic_label": taxonomy.label(s["topic"], "nl") if s["topic"] else "—",
                    "place": place(s["municipality"]),
                }
                for s in signals
            ],
            groups=choices,
            reasons=CLOSE_REASONS,
            csrf=rt.staff.csrf(staff),
            intake=rt.settings.base_url("intake"),
        )

    @router.post(
        "/triage/{qid}/assign",
        tags=["staff"],
        response_model=None,
        response_class=RedirectResponse,
        status_code=303,
        responses={303: {"description": "Done: back to the queue (/triage)"}},
    )
    async def assign(qid: str, request: Request) -> Response:
        form, staff = await staff_post(request)
        group_id = str(form.get("group_id", "")).strip()
        if not group_id:
            raise ApiError(422, "missing_field", "Choose a group.", "group_id")
        async with rt.sessions() as session, session.begin():
            try:
                await handlers.assign(session, question_id(qid), group_id, datetime.now(UTC))
            except handlers.AssignRefused as exc:
                raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
            await outbox.add(session, acted(staff, "assign", question_id(qid), group_id))
        outbox.wake_relay()
        return RedirectResponse("/triage", status_code=303)

    @router.post(
        "/triage/{qid}/close",
        tags=["staff"],
        response_model=None,
        response_class=RedirectResponse,
        status_code=303,
        responses={303: {"description": "Done: back to the queue (/triage)"}},
    )
    async def close(qid: str, request: Request) -> Response:
        form, staff = await staff_post(request)
        reason = str(form.get("reason", ""))
        if reason not in CLOSE_REASONS:
            raise ApiError(422, "invalid_value", "Choose one of the reasons.", "reason")
        async with rt.sessions() as session, session.begin():
            prev = await store.close_question(session, question_id(qid), reason, datetime.now(UTC))
            if prev == "unmatched":
                await outbox.add(
                    session,
                    QuestionClosed(question_id=question_id(qid), reason=reason),
                    acted(staff, "close", question_id(qid)),
                )
        if prev is None:
            raise ApiError(404, "not_found", "There is no such question.", "question_id")
        if prev != "unmatched":
            raise ApiError(409, "not_in_queue", "This question is not in the queue.")
        outbox.wake_relay()
        return RedirectResponse("/triage", status_code=303)

    @router.get("/api/v1/buddy-signals", response_model=list[BuddySignal], tags=["staff"])
    async def buddy_signals(request: Request) -> list[BuddySignal]:
        rt.require(request, "triage-read", "teamlid")
        async with rt.sessions() as session:
            return [BuddySignal(**s) for s in await store.buddy_signals(session)]

    async def own_group(token: str, request: Request) -> tuple[dict, i18n.Lang] | Response:
        try:
            data = links.verify(rt.settings, "group", token)
            group_id, contact_id = str(data["g"]), str(data["c"])
        except (links.LinkInvalid, KeyError):
            lang = page_lang(request)
            t = i18n.translator(lang)
            return render("message.html", status=403, lang=lang, heading=t("link_dead"))
        lang = page_lang(request)
        async with rt.sessions() as session:
            group = await store.group_for_contact(session, group_id, contact_id)
        if group is None:
            t = i18n.translator(lang)
            return render("message.html", status=404, lang=lang, heading=t("group_not_found"))
        return group, lang

    @router.get("/groups/self/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def self_page(token: str, request: Request) -> Response:
        got = await own_group(token, request)
        if isinstance(got, Response):
            return got
        group, lang = got
        actions = allowed(group["status"])
        t = i18n.translator(lang)
        email = rt.settings.network_email
        return render(
            "group_self.html",
            lang=lang,
            group=group,
            actions=actions,
            # Leaving is a second step: this page asks first (no JavaScript needed).
            confirm_leave=request.query_params.get("confirm") == "leave" and "leave" in actions,
            come_back=t("left_come_back_email", email=email) if email else t("left_come_back"),
            action_url=f"/groups/self/{token}?lang={lang}",
            page_url=f"/groups/self/{token}",
            switch=switch_url(f"/groups/self/{token}", lang),
        )

    @router.post("/groups/self/{token}", include_in_schema=False)
    async def self_change(token: str, request: Request) -> Response:
        got = await own_group(token, request)
        if isinstance(got, Response):
            return got
        group, lang = got
        form = await request.form()
        action = str(form.get("action", ""))
        if action not in allowed(group["status"]):
            raise ApiError(422, "invalid_value", "This change is not possible now.", "action")
        if action == "leave" and form.get("confirm") != "yes":  # not confirmed: ask first
            return RedirectResponse(
                f"/groups/self/{token}?lang={lang}&confirm=leave", status_code=303
            )
        async with rt.sessions() as session, session.begin():
            await groups.change_status(
                session, group["group_id"], SELF_ACTIONS[action][1], "contact"
            )
        outbox.wake_relay()
        return RedirectResponse(f"/groups/self/{token}?lang={lang}", status_code=303)

    def contact_link(token: str, request: Request) -> tuple[str | None, i18n.Lang]:
        """The contact id the link was signed for (None if it is not valid) and the language."""
        try:
            data = links.verify(rt.settings, "contact", token)
            return str(data["c"]), page_lang(request)
        except (links.LinkInvalid, KeyError):
            return None, page_lang(request)

    def refused(lang: i18n.Lang) -> Response:
        t = i18n.translator(lang)
        return render(
            "message.html",
            status=403,
            lang=lang,
            heading=t("link_dead"),
            body=t("link_dead_body"),
        )

    def link_end(q: dict) -> int:
        """A callback link minted here ends at the question's deadline plus the grace, however
        often the page is opened (a row with its routing time, `routed_at`, assigned after the
        deadline gets a full deadline from then, as intake counts it)."""
        end = q["respond_before"]
        routed = q.get("routed_at")
        if routed is not None and routed >= end:
            end = routed + rt.settings.deadline
        return int((end + parse_duration(rt.settings.link_grace)).timestamp())

    async def contact_page(
        token: str,
        contact_id: str,
        lang: i18n.Lang,
        status: int = 200,
        error: FormError | None = None,
        form: dict | None = None,
        saved: str | None = None,
    ) -> Response:
        async with rt.sessions() as session:
            me = await store.contact_overview(session, contact_id)
            rows = await store.open_callbacks(session, contact_id) if me else []
        t = i18n.translator(lang)
        if me is None:
            return render("message.html", status=404, lang=lang, heading=t("contact_not_found"))
        now = datetime.now(UTC)
        intake = rt.settings.base_url("intake")
        callbacks = [
            {
                "reference": q["reference"],
                "topic_label": taxonomy.label(q["topic"], lang) if q["topic"] else t("no_topic"),
                "priority": q["priority"],
                "received": timefmt.moment(q["received_at"], lang),
                "due": timefmt.deadline(q["respond_before"], lang),
                "late": q["respond_before"] < now,
                "link": intake
                + "/c/"
                # Routing holds no callback key: the link is the contact's own overview link
                # plus the question (opendeur/links.py), which intake checks as any other.
                + links.delegate(token, q["question_id"], link_end(q))
                + f"?lang={lang}",  # the callback page in the contact's language too
            }
            for q in rows
        ]
        days = hours_by_day(me["hours"] or [], lang)
        if form is not None and error is not None and error.field != "max_open":
            for d in days:
                d["start"] = str(form.get(f"start_{d['day']}", ""))
                d["end"] = str(form.get(f"end_{d['day']}", ""))
        return render(
            "contact.html",
            status=status,
            lang=lang,
            switch=switch_url(f"/contact/{token}", lang),
            me=me,
            callbacks=callbacks,
            days=days,
            max_capacity=MAX_CAPACITY,
            capacity_value=(form or {}).get("max_open", me["max_open"])
            if error is not None and error.field == "max_open"
            else me["max_open"],
            error=error,
            saved=t(f"saved_{saved}") if saved in SAVED else None,
            csrf=csrf_token(rt.settings, token),
            token=token,
            intake=intake,  # the PIN page (services/intake/pins.py) lives on intake
        )

    async def contact_post(token: str, request: Request) -> tuple[str, dict, i18n.Lang] | Response:
        contact_id, lang = contact_link(token, request)
        if contact_id is None:
            return refused(lang)
        form = dict(await request.form())
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf_token(rt.settings, token)):
            t = i18n.translator(lang)
            return render(
                "message.html",
                status=403,
                lang=lang,
                heading=t("form_expired"),
                body=t("form_expired_body"),
            )
        return contact_id, form, lang

    @router.get("/contact/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def contact_overview(token: str, request: Request, saved: str | None = None) -> Response:
        contact_id, lang = contact_link(token, request)
        if contact_id is None:
            return refused(lang)
        return await contact_page(token, contact_id, lang, saved=saved)

    @router.post("/contact/{token}/capacity", include_in_schema=False)
    async def contact_capacity(token: str, request: Request) -> Response:
        got = await contact_post(token, request)
        if isinstance(got, Response):
            return got
        contact_id, form, lang = got
        try:
            value = parse_capacity(str(form.get("max_open", "")), lang)
        except FormError as exc:
            return await contact_page(token, contact_id, lang, status=422, error=exc, form=form)
        async with rt.sessions() as session, session.begin():
            await store.set_capacity(session, contact_id, value)
        return RedirectResponse(
            f"/contact/{token}?lang={lang}&saved=capacity#capacity", status_code=303
        )

    @router.post("/contact/{token}/hours", include_in_schema=False)
    async def contact_hours(token: str, request: Request) -> Response:
        got = await contact_post(token, request)
        if isinstance(got, Response):
            return got
        contact_id, form, lang = got
        try:
            hours = parse_hours(form, lang)
        except FormError as exc:
            return await contact_page(token, contact_id, lang, status=422, error=exc, form=form)
        async with rt.sessions() as session, session.begin():
            await store.set_hours(session, contact_id, hours)
        return RedirectResponse(f"/contact/{token}?lang={lang}&saved=hours#hours", status_code=303)

    @router.post("/contact/{token}/group", include_in_schema=False)
    async def contact_group(token: str, request: Request) -> Response:
        got = await contact_post(token, request)
        if isinstance(got, Response):
            return got
        contact_id, form, lang = got
        t = i18n.translator(lang)
        action = str(form.get("action", ""))
        async with rt.sessions() as session:
            me = await store.contact_overview(session, contact_id)
        if me is None:
            return render("message.html", status=404, lang=lang, heading=t("contact_not_found"))
        frm, to = CONTACT_ACTIONS.get(action, ("", ""))
        if me["status"] != frm:
            err = FormError("action", t("action_not_now"))
            return await contact_page(token, contact_id, lang, status=422, error=err)
        async with rt.sessions() as session, session.begin():
            await groups.change_status(session, me["group_id"], to, "contact")
        outbox.wake_relay()
        saved = "paused" if to == "paused" else "resumed"
        return RedirectResponse(
            f"/contact/{token}?lang={lang}&saved={saved}#group", status_code=303
        )

    return router


def place(municipality: str | None) -> str:
    """A municipality as people write it ("Son en Breugel"), not its code (store.slug)."""
    if not municipality:
        return "onbekende gemeente"
    names = {store.slug(m): m for m in regions.municipalities()}
    return names.get(municipality, municipality)


def acted(
    staff: Staff, action: StaffAction, qid: UUID | None = None, group_id: str | None = None
) -> StaffActed:
    """The attribution of a team member's action, for the outbox in the action's transaction."""
    return StaffActed(
        source="routing",
        staff_id=staff.staff_id,
        action=action,
        question_id=qid,
        group_id=group_id,
    )


def allowed(status: str) -> list[Literal["pause", "resume", "leave"]]:
    return [a for a, (frm, _to) in SELF_ACTIONS.items() if status in frm]  # type: ignore[misc]
