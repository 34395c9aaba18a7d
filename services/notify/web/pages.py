"""Notify's pages: the coordinator's contact persons (masked addresses, language, a change form,
changes waiting for confirmation) and the page behind the confirmation link of a new address."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from opendeur import outbox, timefmt
from opendeur.staff import NO_STORE, Staff
from services.notify import address_mail, addresses, changes, pending, store
from services.notify.api import CONTACT_ID, ContactIn
from services.notify.deps import Db, Envelope, Runtime, route_class
from services.notify.web import i18n

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TEMPLATES.filters["moment"] = timefmt.moment
router = APIRouter(route_class=route_class, include_in_schema=False)


def page_lang(request: Request) -> i18n.Lang:
    return i18n.pick(
        request.query_params.get("lang"),
        i18n.from_accept_language(request.headers.get("accept-language")),
    )


Lang = Annotated[i18n.Lang, Depends(page_lang)]


def render(name: str, lang: i18n.Lang, status: int = 200, **ctx: object) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(lang=lang, t=i18n.translator(lang), **ctx)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def with_lang(path: str, lang: i18n.Lang, **params: str) -> str:
    query = {**params, "lang": lang} if lang != "nl" else params
    return f"{path}?{urlencode(query)}" if query else path


# --- the coordinator's page ------------------------------------------------------------------


def coordinator(request: Request, rt: Runtime) -> Staff | Response:
    assert rt.staff is not None
    return rt.staff.page(request, "coordinator")


@router.get("/contacts", tags=["staff"])
async def contacts_page(
    request: Request, rt: Runtime, envelope: Envelope, db: Db, lang: Lang
) -> Response:
    staff = coordinator(request, rt)
    if isinstance(staff, Response):
        return staff
    done = request.query_params.get("done")
    return await contacts_view(
        rt, envelope, db, lang, staff, done=done if done in ("applied", "pending") else None
    )


async def contacts_view(
    rt: Runtime,
    envelope: Envelope,
    db: Db,
    lang: i18n.Lang,
    staff: Staff,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    editing: str | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    t = i18n.translator(lang)
    rows = await store.all_contacts(db, envelope)
    waiting = await pending.all_pending(db, envelope)
    cards = []
    for a in rows:
        p = waiting.get(a.contact_id)
        cards.append(
            {
                "id": a.contact_id,
                "short": a.contact_id[:12],
                "group": a.group_id or t("no_group"),
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
            }
        )
    assert rt.staff is not None
    return render(
        "contacts.html",
        lang,
        status=422 if errors else 200,
        cards=cards,
        done=done,
        errors=errors or {},
        editing=editing,
        values=values or {},
        csrf=rt.staff.csrf(staff),
        intake=rt.settings.base_url("intake"),
        switch=with_lang("/contacts", "en" if lang == "nl" else "nl"),
        lang_query="" if lang == "nl" else "?lang=en",
    )


@router.post("/contacts/{contact_id}", tags=["staff"])
async def change_contact(
    contact_id: str,
    request: Request,
    rt: Runtime,
    envelope: Envelope,
    db: Db,
    lang: Lang,
    csrf: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    mobile: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "email",
    language: Annotated[str, Form()] = "nl",
) -> Response:
    """The change form: the same flow as PUT /api/v1/contacts/{id}; 303 back to /contacts."""
    staff = rt.require(request, None, "coordinator")
    assert staff is not None and rt.staff is not None
    values = {"email": email, "mobile": mobile, "channel": channel, "language": language}
    if not rt.staff.csrf_ok(staff, csrf):
        return await contacts_view(
            rt, envelope, db, lang, staff, errors={"form": "err_form"}, editing=None
        )
    if (
        not CONTACT_ID.match(contact_id)
        or await store.get_contact(db, envelope, contact_id) is None
    ):
        return await contacts_view(rt, envelope, db, lang, staff, errors={"form": "err_unknown"})
    errors = form_errors(values)
    if errors:
        return await contacts_view(
            rt, envelope, db, lang, staff, errors=errors, editing=contact_id, values=values
        )
    body = ContactIn.model_validate({**values, "email": email or None, "mobile": mobile or None})
    result = await changes.change(
        db, envelope, rt.settings, contact_id, body.wanted(), staff.staff_id
    )
    await db.commit()
    outbox.wake_relay()
    if result.waiting is not None:
        address_mail.wake()
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


def link_state(rt: Runtime, token: str) -> tuple[str, str] | str:
    try:
        return addresses.verify(rt.settings, token)
    except addresses.LinkRefused as exc:
        return exc.reason


@router.get("/contacts/confirm/{token}")
async def confirm_page(
    token: str, request: Request, rt: Runtime, envelope: Envelope, db: Db
) -> Response:
    """One button; a GET changes nothing (mail scanners open links)."""
    got = link_state(rt, token)
    if isinstance(got, str):
        return render("confirm.html", page_lang(request), status=404, state=got)
    contact_id, nonce = got
    state, language = await pending.state(db, contact_id, nonce)
    lang = i18n.pick(
        request.query_params.get("lang"),
        language,
        i18n.from_accept_language(request.headers.get("accept-language")),
    )
    shown = {"confirmed": "ask", "already": "done"}.get(state, "expired")
    status = 200 if shown in ("ask", "done") else 410
    return render("confirm.html", lang, status=status, state=shown)


@router.post("/contacts/confirm/{token}")
async def confirm(
    token: str, request: Request, rt: Runtime, envelope: Envelope, db: Db
) -> Response:
    """The link is the credential (as for a callback link); PRG back to the same page."""
    got = link_state(rt, token)
    if isinstance(got, str):
        return render("confirm.html", page_lang(request), status=404, state=got)
    contact_id, nonce = got
    outcome = await changes.confirm(db, envelope, contact_id, nonce)
    await db.commit()
    if outcome == "confirmed":
        outbox.wake_relay()
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/contacts/confirm/{token}{query}", 303, headers=NO_STORE)
