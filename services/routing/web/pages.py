"""A contact person's own pages, opened only through her signed link: the overview (open callbacks
with the attempts made, capacity, call hours, pause) and her group's self-service page (pause,
resume, leave the network after a confirmation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from opendeur import links
from opendeur.errors import Refused
from opendeur.settings import parse_duration
from opendeur.web import Db, SignedLink, runtime
from services.routing import groups, store, taxonomy
from services.routing.decisions import MAX_UNREACHABLE
from services.routing.web import forms, i18n, queries
from services.routing.web.deps import dead_link, message, render
from services.routing.web.forms import FormError

router = APIRouter(include_in_schema=False)
ContactLink = Annotated[dict[str, str], Depends(SignedLink("contact", "c", dead=dead_link))]
GroupLink = Annotated[dict[str, str], Depends(SignedLink("group", "g", "c", dead=dead_link))]


async def her_language(request: Request, db: Db, contact_id: str) -> str:
    """`?lang=` when the link or the switch names one; else the language the contact reads in."""
    asked = request.query_params.get("lang")
    if asked in i18n.LANGS:
        return asked
    return i18n.pick(await store.contact_language(db, contact_id))


async def _contact_lang(request: Request, db: Db, link: ContactLink) -> str:
    return await her_language(request, db, link["c"])


async def _group_lang(request: Request, db: Db, link: GroupLink) -> str:
    return await her_language(request, db, link["c"])


ContactLang = Annotated[str, Depends(_contact_lang)]
GroupLang = Annotated[str, Depends(_group_lang)]
SAVED = {"capacity", "hours", "paused", "resumed"}


def switch_url(path: str, lang: i18n.Lang) -> str:
    return f"{path}?lang={i18n.CATALOGUE['switch_lang'][lang]}"


def come_back(request: Request, lang: i18n.Lang) -> str:
    """The way back after leaving: through the network team, with its contact details."""
    settings = runtime(request).settings
    t = i18n.translator(lang)
    ways = [w for w in (settings.network_email, settings.network_phone) if w]
    if not ways:
        return t("left_come_back")
    return t("left_come_back_via", via=t("or").join(ways))


async def contact_form(
    token: str, request: Request, lang: ContactLang, link: ContactLink
) -> FormData:
    """A contact's form post: her link first, then the form's CSRF token (bound to the link)."""
    form = await request.form()
    if not forms.csrf_ok(runtime(request).settings, token, form.get("csrf")):
        t = i18n.translator(lang)
        raise message(lang, 403, t("form_expired"), t("form_expired_body"))
    return form


ContactForm = Annotated[FormData, Depends(contact_form)]


def link_end(q: dict, deadline_after_routing: int, grace: int) -> int:
    """A callback link minted here ends at the question's deadline plus the grace, however
    often the page is opened (a row with its routing time, `routed_at`, assigned after the
    deadline gets a full deadline from then, as intake counts it)."""
    end = q["respond_before"].timestamp()
    routed = q.get("routed_at")
    if routed is not None and routed.timestamp() >= end:
        end = routed.timestamp() + deadline_after_routing
    return int(end + grace)


async def overview(
    request: Request,
    db: Db,
    token: str,
    contact_id: str,
    lang: i18n.Lang,
    status: int = 200,
    error: FormError | None = None,
    form: FormData | None = None,
    saved: str | None = None,
) -> Response:
    t = i18n.translator(lang)
    me = await store.contact_overview(db, contact_id)
    if me is None:
        return render("message.html", 404, lang, heading=t("contact_not_found"))
    settings = runtime(request).settings
    intake = settings.base_url("intake")
    now = datetime.now(UTC)
    deadline = int(settings.deadline.total_seconds())
    grace = int(parse_duration(settings.link_grace).total_seconds())

    def ends(q: dict) -> int:
        return link_end(q, deadline, grace)

    callbacks = [
        {
            **q,
            "topic_label": taxonomy.label(q["topic"], lang) if q["topic"] else t("no_topic"),
            "late": q["respond_before"] < now,
            # when each try failed, once routing keeps the times (until then: how often)
            "tried_at": q.get("unreachable_at") or [],
            # Routing holds no callback key: the link is the contact's own overview link plus
            # the question (opendeur/links.py), which intake checks as any other; in her language.
            "link": f"{intake}/c/{links.delegate(token, q['question_id'], ends(q))}?lang={lang}",
        }
        for q in await queries.open_callbacks(db, contact_id)
    ]
    days = forms.hours_by_day(me["hours"] or [], lang)
    if form is not None and error is not None and error.field != "max_open":
        for d in days:
            d["start"] = str(form.get(f"start_{d['day']}", ""))
            d["end"] = str(form.get(f"end_{d['day']}", ""))
    capacity = me["max_open"]
    if form is not None and error is not None and error.field == "max_open":
        capacity = form.get("max_open", capacity)
    return render(
        "contact.html",
        status,
        lang,
        switch=switch_url(f"/contact/{token}", lang),
        me=me,
        callbacks=callbacks,
        max_tries=MAX_UNREACHABLE,
        nth={1: "1st", 2: "2nd", 3: "3rd"}.get(MAX_UNREACHABLE, f"{MAX_UNREACHABLE}th"),
        days=days,
        max_capacity=forms.MAX_CAPACITY,
        capacity_value=capacity,
        error=error,
        saved=t(f"saved_{saved}") if saved in SAVED else None,
        csrf=forms.csrf_token(settings, token),
        token=token,
        intake=intake,  # the PIN page (services/intake/pins.py) lives on intake
    )


@router.get("/contact/{token}", response_class=HTMLResponse)
async def contact_page(
    token: str,
    request: Request,
    db: Db,
    lang: ContactLang,
    link: ContactLink,
    saved: str | None = None,
) -> Response:
    return await overview(request, db, token, link["c"], lang, saved=saved)


@router.post("/contact/{token}/capacity")
async def contact_capacity(
    token: str, request: Request, db: Db, lang: ContactLang, link: ContactLink, form: ContactForm
) -> Response:
    try:
        value = forms.parse_capacity(str(form.get("max_open", "")), lang)
    except FormError as exc:
        return await overview(request, db, token, link["c"], lang, 422, exc, form)
    await store.set_capacity(db, link["c"], value)
    return RedirectResponse(f"/contact/{token}?lang={lang}&saved=capacity#capacity", 303)


@router.post("/contact/{token}/hours")
async def contact_hours(
    token: str, request: Request, db: Db, lang: ContactLang, link: ContactLink, form: ContactForm
) -> Response:
    try:
        hours = forms.parse_hours(form, lang)
    except FormError as exc:
        return await overview(request, db, token, link["c"], lang, 422, exc, form)
    await store.set_hours(db, link["c"], hours)
    return RedirectResponse(f"/contact/{token}?lang={lang}&saved=hours#hours", 303)


@router.post("/contact/{token}/group")
async def contact_group(
    token: str, request: Request, db: Db, lang: ContactLang, link: ContactLink, form: ContactForm
) -> Response:
    t = i18n.translator(lang)
    me = await store.contact_overview(db, link["c"])
    if me is None:
        return render("message.html", 404, lang, heading=t("contact_not_found"))
    action = str(form.get("action", ""))
    if action not in ("pause", "resume") or action not in forms.allowed(me["status"]):
        error = FormError("action", t("action_not_now"))
        return await overview(request, db, token, link["c"], lang, 422, error)
    await groups.change_status(db, me["group_id"], forms.SELF_ACTIONS[action][1], "contact")
    saved = "paused" if action == "pause" else "resumed"
    return RedirectResponse(f"/contact/{token}?lang={lang}&saved={saved}#group", 303)


async def own_group(request: Request, db: Db, lang: GroupLang, link: GroupLink) -> dict:
    """The group of a self-service link, if its contact person still belongs to it."""
    group = await store.group_for_contact(db, link["g"], link["c"])
    if group is None:
        t = i18n.translator(lang)
        raise message(lang, 404, t("group_not_found"))
    return group


OwnGroup = Annotated[dict, Depends(own_group)]


@router.get("/groups/self/{token}", response_class=HTMLResponse)
async def group_page(
    token: str, request: Request, lang: GroupLang, group: OwnGroup, confirm: str | None = None
) -> Response:
    actions = forms.allowed(group["status"])
    page = f"/groups/self/{token}"
    return render(
        "group_self.html",
        lang=lang,
        group=group,
        actions=actions,
        # Leaving is a second step: this page asks first (no JavaScript needed).
        confirm_leave=confirm == "leave" and "leave" in actions,
        come_back=come_back(request, lang),
        action_url=f"{page}?lang={lang}",
        page_url=page,
        switch=switch_url(page, lang),
    )


@router.post("/groups/self/{token}")
async def group_change(
    token: str, db: Db, lang: GroupLang, group: OwnGroup, request: Request
) -> Response:
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in forms.allowed(group["status"]):
        raise Refused("invalid_value", "This change is not possible now.", "action")
    page = f"/groups/self/{token}?lang={lang}"
    if action == "leave" and form.get("confirm") != "yes":  # not confirmed: ask first
        return RedirectResponse(f"{page}&confirm=leave", 303)
    await groups.change_status(db, group["group_id"], forms.SELF_ACTIONS[action][1], "contact")
    return RedirectResponse(page, 303)
