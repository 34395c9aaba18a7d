"""Notify's pages: the coordinator's contact persons (masked addresses, language, a change form,
changes waiting for confirmation) and the page behind the confirmation link of a new address."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from opendeur import timefmt, web
from opendeur.settings import Settings
from opendeur.staff import NO_STORE, Staff
from services.notify import address_mail, addresses, changes, pending, store
from services.notify.api import CONTACT_ID, ContactIn
from services.notify.deps import Envelope
from services.notify.web import i18n

TEMPLATES = web.templates(__file__)
router = APIRouter(route_class=web.StaffFirstRoute, include_in_schema=False)
Coordinator = Annotated[Staff, Depends(web.staff_page("coordinator"))]
CoordinatorForm = Annotated[web.StaffForm, Depends(web.staff_form("coordinator"))]


StaffLang = web.QueryLang  # staff pages: Dutch unless English is chosen (the page's switch)


def render(name: str, lang: str, status: int = 200, **ctx: object) -> HTMLResponse:
    lang = i18n.pick(lang)
    return web.page(TEMPLATES, name, status, lang=lang, t=i18n.translator(lang), **ctx)


def with_lang(path: str, lang: str, **params: str) -> str:
    query = {**params, "lang": lang} if lang != "nl" else params
    return f"{path}?{urlencode(query)}" if query else path


# --- the coordinator's page ------------------------------------------------------------------


@router.get("/contacts", tags=["staff"])
async def contacts_page(
    request: Request, staff: Coordinator, envelope: Envelope, db: web.Db, lang: StaffLang
) -> Response:
    done = request.query_params.get("done")
    return await contacts_view(
        request, envelope, db, lang, staff, done=done if done in ("applied", "pending") else None
    )


async def contacts_view(
    request: Request,
    envelope: Envelope,
    db: web.Db,
    lang: str,
    staff: Staff,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    editing: str | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    t = i18n.translator(i18n.pick(lang))
    rows = await store.all_contacts(db, envelope)
    names = await web.group_names(web.runtime(request).settings, (a.group_id for a in rows))
    waiting = await pending.all_pending(db, envelope)
    cards = []
    for a in rows:
        p = waiting.get(a.contact_id)
        cards.append(
            {
                "id": a.contact_id,
                "short": a.contact_id[:12],
                "group": web.group_label(names, a.group_id) or t("no_group"),
                "left": a.left,
                "email": store.mask_email(a.email) or t("none"),
                "mobile": store.mask_mobile(a.mobile) or t("none"),
                "channel": t(f"channel_{a.channel}"),
                "language": t(f"lang_{a.language}"),
                "raw": {"channel": a.channel, "language": a.language},
                "pending": None
                if p is None
                else t(
                    "pending_text",
                    address=", ".join(
                        x
                        for x in (
                            store.mask_email(p.wanted.email),
                            store.mask_mobile(p.wanted.mobile),
                        )
                        if x
                    ),
                    asked=timefmt.moment(p.requested_at, lang),
                    until=timefmt.moment(p.expires_at, lang),
                ),
                "mail_failed": p is not None
                and (await pending.mail_states(db, a.contact_id)).get("confirm") == "failed",
            }
        )
    return render(
        "contacts.html",
        lang,
        status=422 if errors else 200,
        cards=cards,
        done=done,
        errors=errors or {},
        editing=editing,
        values=values or {},
        csrf=web.csrf_token(request, staff),
        header=web.header_for(request, staff, lang),
        switch=with_lang("/contacts", "en" if lang == "nl" else "nl"),
        lang_query="" if lang == "nl" else "?lang=en",
    )


@router.post("/contacts/{contact_id}", tags=["staff"])
async def change_contact(
    contact_id: str,
    request: Request,
    post: CoordinatorForm,
    background: BackgroundTasks,
    envelope: Envelope,
    settings: web.SettingsDep,
    db: web.Db,
    lang: StaffLang,
) -> Response:
    """The change form: the same flow as PUT /api/v1/contacts/{id}; 303 back to /contacts."""
    values = {
        k: str(post.form.get(k, d))
        for k, d in (("email", ""), ("mobile", ""), ("channel", "email"), ("language", "nl"))
    }
    if (
        not CONTACT_ID.match(contact_id)
        or await store.get_contact(db, envelope, contact_id) is None
    ):
        return await contacts_view(
            request, envelope, db, lang, post.staff, errors={"form": "err_unknown"}
        )
    errors = form_errors(values)
    if errors:
        return await contacts_view(
            request,
            envelope,
            db,
            lang,
            post.staff,
            errors=errors,
            editing=contact_id,
            values=values,
        )
    body = ContactIn.model_validate(
        {**values, "email": values["email"] or None, "mobile": values["mobile"] or None}
    )
    result = await changes.change(
        db, envelope, settings, contact_id, body.wanted(), post.staff.staff_id
    )
    if result.waiting is not None:
        background.add_task(address_mail.wake)  # after the commit
    done = "pending" if result.waiting is not None else "applied"
    return RedirectResponse(with_lang("/contacts", lang, done=done), 303, headers=NO_STORE)


def form_errors(values: dict[str, str]) -> dict[str, str]:
    """Field → catalogue key of what is wrong (empty: the form is fine)."""
    try:
        body = ContactIn.model_validate(
            {
                **values,
                "email": values["email"] or None,
                "mobile": values["mobile"] or None,
            }
        )
    except ValidationError as exc:
        out = {}
        for e in exc.errors(include_input=False):
            field = str(e["loc"][0]) if e["loc"] else "form"
            out[field] = {"email": "err_email", "mobile": "err_mobile"}.get(field, "err_form")
        return out
    missing = changes.missing(body.wanted())
    if missing:
        return {missing: f"err_need_{missing}"}
    return {}


# --- the contact person's confirmation ------------------------------------------------------


def link_state(settings: Settings, token: str) -> tuple[str, str] | str:
    try:
        return addresses.verify(settings, token)
    except addresses.LinkRefused as exc:
        return exc.reason


@router.get("/contacts/confirm/{token}")
async def confirm_page(
    token: str, request: Request, settings: web.SettingsDep, db: web.Db, lang: web.Lang
) -> Response:
    """One button; a GET changes nothing (mail scanners open links)."""
    got = link_state(settings, token)
    if isinstance(got, str):
        return render("confirm.html", lang, status=404, state=got)
    contact_id, nonce = got
    state, language = await pending.state(db, contact_id, nonce)
    if "lang" not in request.query_params and language:
        lang = language  # the new address's language, as the mail was
    shown = {"confirmed": "ask", "already": "done"}.get(state, "expired")
    status = 200 if shown in ("ask", "done") else 410
    return render("confirm.html", lang, status=status, state=shown)


@router.post("/contacts/confirm/{token}")
async def confirm(
    token: str,
    request: Request,
    settings: web.SettingsDep,
    envelope: Envelope,
    db: web.Db,
    lang: web.Lang,
) -> Response:
    """The link is the credential (as for a callback link); PRG back to the same page."""
    got = link_state(settings, token)
    if isinstance(got, str):
        return render("confirm.html", lang, status=404, state=got)
    contact_id, nonce = got
    await changes.confirm(db, envelope, contact_id, nonce)
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/contacts/confirm/{token}{query}", 303, headers=NO_STORE)
