"""The one staff sign-in (intake): personal accounts with roles, server-side sessions, and the
hand-off that lets routing, audit and notify know who is signed in (opendeur/staff.py)."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from opendeur import staff as shared
from opendeur import timefmt
from opendeur.logging import get_logger
from opendeur.runtime import SECURITY_HEADERS, Runtime
from opendeur.web import PageAnswer
from services.intake import api, users
from services.intake.web import forms
from services.intake.web.i18n import t, tel_links
from services.intake.web.phone import PhoneSession, sign_in

log = get_logger(component="intake.staff")

COOKIE = "od_staff_in"  # intake's own: the server-side session id (phone.py reads it too)
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TEMPLATES.filters["tel_links"] = tel_links
for _name in ("moment", "deadline", "day", "clock"):
    TEMPLATES.filters[_name] = getattr(timefmt, _name)
_rt: Runtime | None = None  # set by make_router; routes ask for it with `runtime(request)`


def runtime(request: Request) -> Runtime:
    """The runtime (app.state's once app.py puts it there)."""
    found = getattr(request.app.state, "runtime", None) or _rt
    assert found is not None, "staff.make_router(rt) was not called"
    return found


def lang_of(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "nl"


def render(name: str, status: int = 200, lang: str = "nl", **ctx: object) -> HTMLResponse:
    ctx.setdefault("network", "Zelfhulp Netwerk")
    html = TEMPLATES.get_template(name).render(lang=lang, t=lambda k, **kw: t(k, lang, **kw), **ctx)
    return HTMLResponse(html, status_code=status, headers=shared.NO_STORE)


def page(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
    """A staff page in the request's language (?lang=en), the network's name, this door's CSP."""
    settings = runtime(request).settings
    response = render(
        name,
        status,
        lang_of(request),
        network=settings.network_name or "Zelfhulp Netwerk",
        **ctx,
    )
    response.headers["Content-Security-Policy"] = _csp(settings)
    return response


def _csp(settings) -> str:
    # A form posted here ends, through the hand-off, on routing, audit or notify: Chromium holds
    # every redirect after a form post to the page's form-action, so those origins are listed.
    origins = " ".join(settings.base_url(s) for s in shared.AUDIENCES)
    return SECURITY_HEADERS["Content-Security-Policy"].replace(
        "form-action 'self'", f"form-action 'self' {origins}"
    )


@dataclass(frozen=True)
class Signed:
    """A signed-in staff member as a page sees them, with the CSRF token for its forms."""

    user: users.User
    csrf: str
    sid: str

    def csrf_ok(self, given: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), given.encode("utf-8", "surrogateescape"))


async def signed_in(request: Request) -> tuple[PhoneSession, users.User] | None:
    """The live server-side session of this browser and its enabled user, or None."""
    rt = runtime(request)
    si = sign_in(rt)
    s = si.codec.load(request.cookies.get(COOKIE))
    if s is None or s.user is None:
        return None
    user = await users.session_user(rt.sessions, s.sid, datetime.now(UTC), si.idle)
    if user is None or user.name != s.user:
        return None
    return s, user


def staff_member(*roles: str) -> Callable[[Request], Awaitable[Signed]]:
    """A dependency (shaped as opendeur.web.staff_page, for intake's own server-side session):
    the signed-in person with one of `roles`. Not signed in: 303 to the sign-in, which brings
    them back here; without the role: a 403 page naming nothing of the page."""

    async def dependency(request: Request) -> Signed:
        found = await signed_in(request)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        back = urlencode({"next": shared.local_path(here, "/staff")})
        if found is None:
            raise PageAnswer(RedirectResponse(f"/staff/login?{back}", 303, headers=api.NO_STORE))
        s, user = found
        if user.must_change:
            raise PageAnswer(RedirectResponse(f"/staff/password?{back}", 303, headers=api.NO_STORE))
        if roles and not user.has(*roles):
            log.info("staff_refused", staff_id=user.staff_id, path=request.url.path)
            lang = lang_of(request)
            raise PageAnswer(
                page(
                    request,
                    "staff_message.html",
                    403,
                    heading=t("st_refused", lang),
                    body=t("st_refused_body", lang),
                    home=True,
                )
            )
        return Signed(user, sign_in(runtime(request)).codec.csrf(s), s.sid)

    return dependency


def make_router(rt: Runtime) -> APIRouter:
    global _rt
    _rt = rt
    from services.intake.web import accounts, crisis  # they use this module's helpers

    router = APIRouter(prefix="/staff", include_in_schema=False)
    router.include_router(crisis.router)
    router.include_router(accounts.router)
    settings = rt.settings
    # The phone console's codec, key and login limits: one session serves the console and every
    # staff page, and a name has one set of tries for both doors.
    si = sign_in(rt)
    lifetime, idle, codec, secure = si.lifetime, si.idle, si.codec, si.secure
    by_name, by_address = si.by_name, si.by_address
    key = shared.signing_key(settings)
    network = settings.network_name or "Zelfhulp Netwerk"

    csp = _csp(settings)

    def page(name: str, status: int = 200, **ctx: object) -> HTMLResponse:
        response = render(name, status, network=network, **ctx)
        response.headers["Content-Security-Policy"] = csp
        return response

    def set_cookie(response: Response, s: PhoneSession) -> Response:
        response.headers.update(api.NO_STORE)
        response.set_cookie(
            COOKIE,
            codec.dump(s),
            max_age=codec.max_age,
            httponly=True,
            samesite="lax",  # it must come along when routing or audit sends the browser here
            secure=secure,
            path="/",
        )
        return response

    def target(values: dict) -> tuple[str, str]:
        to = values.get("to", "")
        return (to if to in shared.AUDIENCES else ""), shared.local_path(values.get("next"), "/")

    def onward(to: str, nxt: str) -> str:
        if to:
            return f"/staff/handoff?{urlencode({'to': to, 'next': nxt})}"
        return nxt if nxt.startswith("/staff/") else "/staff"  # a staff page of intake's own

    async def current(request: Request) -> tuple[PhoneSession, users.User] | None:
        s = codec.load(request.cookies.get(COOKIE))
        if s is None or s.user is None:
            return None
        user = await users.session_user(rt.sessions, s.sid, datetime.now(UTC), idle)
        if user is None or user.name != s.user:
            return None
        return s, user

    def login_page(s: PhoneSession, to: str, nxt: str, error: str = "", status: int = 200):
        html = page("staff_login.html", status, csrf=codec.csrf(s), to=to, next=nxt, error=error)
        return set_cookie(html, s)

    def fresh() -> PhoneSession:
        return PhoneSession(secrets.token_urlsafe(18), None)

    @router.get("/login", response_class=HTMLResponse)
    async def get_login(request: Request) -> Response:
        to, nxt = target(dict(request.query_params))
        return login_page(codec.load(request.cookies.get(COOKIE)) or fresh(), to, nxt)

    @router.post("/login", response_class=HTMLResponse)
    async def post_login(request: Request) -> Response:
        s = codec.load(request.cookies.get(COOKIE))
        values = forms.field_values(await request.form())
        to, nxt = target(values)
        if s is None or not codec.csrf_ok(s, values.get("csrf", "")):
            return login_page(
                fresh(), to, nxt, "Het formulier was verlopen. Probeer het nog eens.", 403
            )
        name = values.get("name", "").strip().lower()[:64]
        client = request.client.host if request.client else "unknown"
        if by_address.take(client) or by_name.take(f"{name}@{client}"):
            log.warning("staff_login_limited")
            return login_page(s, to, nxt, "Te veel pogingen. Wacht een minuut.", 429)
        user = await users.authenticate(rt.sessions, name, values.get("password", ""))
        if user is None:
            log.info("staff_login_failed")
            return login_page(s, to, nxt, "Naam of wachtwoord klopt niet.", 401)
        log.info("staff_login", staff_id=user.staff_id)
        sid = await users.open_session(rt.sessions, user.name, datetime.now(UTC), lifetime)
        query = urlencode({"to": to, "next": nxt})
        where = f"/staff/password?{query}" if user.must_change else onward(to, nxt)
        return set_cookie(RedirectResponse(where, 303), PhoneSession(sid, user.name))

    @router.get("/first/{token}", response_class=HTMLResponse)
    async def first_signin(token: str) -> Response:
        """A one-time sign-in link (the first coordinator's, printed by `opendeur up`)."""
        user = await users.use_signin_link(rt.sessions, token[:200], datetime.now(UTC))
        if user is None:
            return page(
                "staff_message.html",
                410,
                heading="Deze link werkt niet meer",
                body="Een inloglink werkt één keer en verloopt na een dag.",
            )
        log.info("staff_first_signin", staff_id=user.staff_id)
        sid = await users.open_session(rt.sessions, user.name, datetime.now(UTC), lifetime)
        response = RedirectResponse("/staff/password", 303)
        return set_cookie(response, PhoneSession(sid, user.name))

    def password_page(s: PhoneSession, user: str, to: str, nxt: str, error: str = "", status=200):
        return page(
            "staff_password.html",
            status,
            csrf=codec.csrf(s),
            user=user,
            to=to,
            next=nxt,
            error=error,
            min=users.PASSWORD_MIN,
        )

    @router.get("/password", response_class=HTMLResponse)
    async def get_password(request: Request) -> Response:
        found = await current(request)
        if found is None:
            return RedirectResponse("/staff/login", 303)
        to, nxt = target(dict(request.query_params))
        return password_page(found[0], found[1].name, to, nxt)

    @router.post("/password", response_class=HTMLResponse)
    async def post_password(request: Request) -> Response:
        found = await current(request)
        if found is None:
            return RedirectResponse("/staff/login", 303)
        s, user = found
        values = forms.field_values(await request.form())
        to, nxt = target(values)
        if not codec.csrf_ok(s, values.get("csrf", "")):
            return password_page(s, user.name, to, nxt, "Het formulier was verlopen.", 403)
        password = values.get("password", "")
        if len(password) < users.PASSWORD_MIN or len(password) > 1024:
            error = f"Kies minstens {users.PASSWORD_MIN} tekens."
            return password_page(s, user.name, to, nxt, error, 422)
        if password != values.get("password2", ""):
            return password_page(s, user.name, to, nxt, "De twee wachtwoorden verschillen.", 422)
        await users.set_password(rt.sessions, user.name, password)  # ends every session
        sid = await users.open_session(rt.sessions, user.name, datetime.now(UTC), lifetime)
        return set_cookie(RedirectResponse(onward(to, nxt), 303), PhoneSession(sid, user.name))

    def pages_for(user: users.User) -> list[tuple[str, str]]:
        routing, audit = settings.base_url("routing"), settings.base_url("audit")
        month = datetime.now(UTC).strftime("%Y-%m")
        out = []
        if user.has("telefoonvrijwilliger"):
            out.append(("Telefoonconsole", "/phone"))
        if user.has("teamlid", "coordinator"):
            out.append(("Crisisvragen terugbellen", "/staff/crisis"))
        if user.has("teamlid"):
            out.append(("Triage: vragen zonder groep", f"{routing}/triage"))
        if user.has("coordinator"):
            out.append(("Medewerkers en rollen", "/staff/accounts"))
        if user.has("beheerder"):
            out.append(("Beheerconsole", f"{audit}/"))
        if user.has("rapportage", "beheerder"):
            out.append(("Maandrapport", f"{audit}/report?month={month}"))
        return out

    @router.get("", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        found = await current(request)
        if found is None:
            return RedirectResponse("/staff/login", 303)
        s, user = found
        if user.must_change:
            return RedirectResponse("/staff/password", 303)
        labels = [shared.ROLE_LABELS[r] for r in user.roles if r in shared.ROLE_LABELS]
        return page(
            "staff_home.html",
            csrf=codec.csrf(s),
            user=user.name,
            staff_id=user.staff_id,
            roles=labels,
            pages=pages_for(user),
        )

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        s = codec.load(request.cookies.get(COOKIE))
        values = forms.field_values(await request.form())
        if s is None or not codec.csrf_ok(s, values.get("csrf", "")):
            return page("staff_message.html", 403, heading="Het formulier was verlopen.")
        await users.end_session(rt.sessions, s.sid)  # routing and audit follow within minutes
        response = RedirectResponse("/staff/login", 303, headers=api.NO_STORE)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        return response

    @router.get("/handoff")
    async def handoff(request: Request) -> Response:
        """Send a signed-in person back to a service's /staff/accept with a 60-s assertion."""
        to, nxt = target(dict(request.query_params))
        if not to:
            return page("staff_message.html", 400, heading="Onbekende bestemming.")
        found = await current(request)
        query = urlencode({"to": to, "next": nxt})
        if found is None:
            return RedirectResponse(f"/staff/login?{query}", 303, headers=api.NO_STORE)
        if found[1].must_change:
            return RedirectResponse(f"/staff/password?{query}", 303, headers=api.NO_STORE)
        user = found[1]
        assertion = shared.issue(key, user.staff_id, list(user.roles), to, time.time())
        back = urlencode({"assertion": assertion, "next": nxt})
        url = f"{settings.base_url(to)}/staff/accept?{back}"
        return RedirectResponse(url, 303, headers=api.NO_STORE)

    return router
