"""The coordinator's staff accounts page: list, add (a one-time sign-in link shown once), change
roles, disable and enable, a new sign-in link. Every change is a staff.acted (account_change)
with the coordinator's staff id, staged with the change (users.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendeur.logging import get_logger
from opendeur.staff import ROLES
from services.intake import api, users
from services.intake.web.i18n import t
from services.intake.web.staff import Signed, lang_of, page, runtime, staff_member

log = get_logger(component="intake.accounts")
router = APIRouter(include_in_schema=False)
Coordinator = Annotated[Signed, Depends(staff_member("coordinator"))]
LINK_LIFETIME = timedelta(hours=24)
ACTIONS = ("add", "roles", "disable", "enable", "link")
# What the page shows once after a change (PRG): per session id, gone after one display or a
# few minutes. In this process only: a restart loses an unseen link (make a new one).
_once: dict[str, tuple[float, dict]] = {}
ONCE_TTL = 300.0


def _remember(sid: str, what: dict) -> None:
    now = time.monotonic()
    for key in [k for k, (until, _) in _once.items() if until < now]:
        _once.pop(key, None)
    _once[sid] = (now + ONCE_TTL, what)


def _recall(sid: str) -> dict | None:
    until, what = _once.pop(sid, (0.0, {}))
    return what if until >= time.monotonic() else None


def _render(
    request: Request,
    who: Signed,
    accounts: list[users.Account],
    status: int = 200,
    error: str | None = None,
    values: dict | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    shown = _recall(who.sid) if status == 200 else None
    saved = link = None
    if shown and shown.get("link"):
        link = shown
    elif shown:
        saved = t("ac_saved", lang, what=t(f"ac_what_{shown['action']}", lang, name=shown["name"]))
    return page(
        request,
        "staff_accounts.html",
        status,
        accounts=accounts,
        roles=ROLES,
        me=who.user.name,
        csrf=who.csrf,
        error=error,
        values=values or {},
        saved=saved,
        link=link,
        action="/staff/accounts" + ("?lang=en" if lang == "en" else ""),
    )


@router.get("/accounts", response_class=HTMLResponse)
async def accounts_page(request: Request, who: Coordinator) -> Response:
    return _render(request, who, await users.list_accounts(runtime(request).sessions))


@router.post("/accounts", response_class=HTMLResponse)
async def accounts_change(request: Request, who: Coordinator) -> Response:
    rt, lang = runtime(request), lang_of(request)
    form = await request.form()
    if not who.csrf_ok(str(form.get("csrf", ""))):
        return page(request, "staff_message.html", 403, heading=t("st_expired", lang), home=True)
    action = str(form.get("action", ""))
    name = str(form.get("name", ""))[:64].strip().lower()
    roles = [str(r) for r in form.getlist("roles")][:10]
    acted_by = who.user.staff_id
    now = datetime.now(UTC)
    shown: dict = {"action": action, "name": name}
    try:
        if action not in ACTIONS:
            raise users.UserError("unknown action", "invalid")
        if action == "add":
            await users.add_user(rt.sessions, name, roles, acted_by=acted_by)
        elif action == "roles":
            await users.set_roles(rt.sessions, name, roles, acted_by=acted_by)
        elif action in ("disable", "enable"):
            if action == "disable" and name == who.user.name:
                raise users.UserError("own account", "self")
            await users.set_disabled(rt.sessions, name, action == "disable", now, acted_by)
        if action in ("add", "link"):  # a new account's link is part of its adding
            by = acted_by if action == "link" else None
            token = await users.signin_link(rt.sessions, name, now, LINK_LIFETIME, acted_by=by)
            shown["link"] = f"{rt.settings.base_url('intake')}/staff/first/{token}"
    except users.UserError as exc:
        error = t(f"ac_err_{exc.code}", lang)
        accounts = await users.list_accounts(rt.sessions)
        values = {"name": name, "roles": roles} if action == "add" else {}
        return _render(request, who, accounts, 422, error, values)
    log.info("account_changed", staff_id=acted_by, action=action)
    _remember(who.sid, shown)
    where = "/staff/accounts" + ("?lang=en" if lang == "en" else "")
    return RedirectResponse(where, 303, headers=api.NO_STORE)
