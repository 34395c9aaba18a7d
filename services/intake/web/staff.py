"""The one staff sign-in (intake): personal accounts with roles, server-side sessions, and the
hand-off that lets routing, audit and notify know who is signed in (opendeur/staff.py)."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opendeur import staff as shared
from opendeur.logging import get_logger
from opendeur.runtime import SECURITY_HEADERS, Runtime
from opendeur.settings import Settings
from opendeur.web import PageAnswer, runtime, staff_header, templates
from opendeur.web import query_lang as lang_of
from services.intake import api, users
from services.intake.web import forms
from services.intake.web.i18n import t, tel_links
from services.intake.web.phone import PhoneSession, sign_in

log = get_logger(component="intake.staff")

COOKIE = "od_staff_in"  # intake's own: the server-side session id (phone.py reads it too)
TEMPLATES = templates(__file__)  # the kit's one factory (shared with this folder's pages)
TEMPLATES.filters["tel_links"] = tel_links


def render(name: str, status: int = 200, lang: str = "nl", **ctx: object) -> HTMLResponse:
    ctx.setdefault("network", "Zelfhulp Netwerk")
    html = TEMPLATES.get_template(name).render(lang=lang, t=lambda k, **kw: t(k, lang, **kw), **ctx)
    return HTMLResponse(html, status_code=status, headers=shared.NO_STORE)


def page(request: Request, name: str, status: int = 200, **ctx: object) -> HTMLResponse:
    """A staff page in the request's language (?lang=en), the network's name, this door's CSP,
    and a link to the same page in the other language."""
    settings = runtime(request).settings
    lang = lang_of(request)
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    if lang == "nl":
        params["lang"] = "en"
    ctx.setdefault("q", "?lang=en" if lang == "en" else "")
    ctx.setdefault("header", getattr(request.state, "staff_header", None))
    if request.method == "GET":
        ctx.setdefault(
            "other_lang_url", request.url.path + (f"?{urlencode(params)}" if params else "")
        )
    response = render(
        name,
        status,
        lang,
        network=settings.network_name or "Zelfhulp Netwerk",
        **ctx,
    )
    response.headers["Content-Security-Policy"] = _csp(settings)
    return response


def _csp(settings: Settings) -> str:
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
    if not user.must_change:  # the one staff header (opendeur/templates/staff_page.html)
        who = shared.Staff(user.staff_id, frozenset(user.roles), name=user.name)
        here, csrf = "intake" + request.url.path, si.codec.csrf(s)
        request.state.staff_header = staff_header(
            rt.settings, who, here, csrf, lang=lang_of(request), signout="/staff/logout"
        )
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


router = APIRouter(prefix="/staff", include_in_schema=False)


def _set_cookie(request: Request, response: Response, s: PhoneSession) -> Response:
    si = sign_in(runtime(request))
    response.headers.update(api.NO_STORE)
    response.set_cookie(
        COOKIE,
        si.codec.dump(s),
        max_age=si.codec.max_age,
        httponly=True,
        samesite="lax",  # it must come along when routing or audit sends the browser here
        secure=si.secure,
        path="/",
    )
    return response


def _target(values: dict) -> tuple[str, str]:
    """Where to after signing in: another service (`to`, through the hand-off) and a path."""
    to = values.get("to", "")
    return (to if to in shared.AUDIENCES else ""), shared.local_path(values.get("next"), "/")


def _onward(to: str, nxt: str) -> str:
    if to:
        return f"/staff/handoff?{urlencode({'to': to, 'next': nxt})}"
    # A staff page of intake's own: the staff pages and the phone console.
    return nxt if nxt.startswith(("/staff/", "/phone")) else "/staff"


def _fresh() -> PhoneSession:
    return PhoneSession(secrets.token_urlsafe(18), None)


def _login_page(
    request: Request, s: PhoneSession, to: str, nxt: str, error: str = "", status: int = 200
) -> Response:
    csrf = sign_in(runtime(request)).codec.csrf(s)
    html = page(request, "staff_login.html", status, csrf=csrf, to=to, next=nxt, error=error)
    return _set_cookie(request, html, s)


@router.get("/login", response_class=HTMLResponse)
async def get_login(request: Request) -> Response:
    to, nxt = _target(dict(request.query_params))
    s = sign_in(runtime(request)).codec.load(request.cookies.get(COOKIE))
    return _login_page(request, s or _fresh(), to, nxt)


@router.post("/login", response_class=HTMLResponse)
async def post_login(request: Request) -> Response:
    rt = runtime(request)
    si = sign_in(rt)
    s = si.codec.load(request.cookies.get(COOKIE))
    values = forms.field_values(await request.form())
    to, nxt = _target(values)
    if s is None or not si.codec.csrf_ok(s, values.get("csrf", "")):
        error = t("st_expired", lang_of(request))
        return _login_page(request, _fresh(), to, nxt, error, 403)
    name = values.get("name", "").strip().lower()[:64]
    client = request.client.host if request.client else "unknown"
    # Tries per name from one address, and per address: a stranger who floods a name from
    # elsewhere fills only their own bucket and never locks that person out.
    if si.by_address.take(client) or si.by_name.take(f"{name}@{client}"):
        log.warning("staff_login_limited")
        return _login_page(request, s, to, nxt, t("st_limited", lang_of(request)), 429)
    user = await users.authenticate(rt.sessions, name, values.get("password", ""))
    if user is None:
        log.info("staff_login_failed")
        return _login_page(request, s, to, nxt, t("st_wrong", lang_of(request)), 401)
    log.info("staff_login", staff_id=user.staff_id)
    sid = await users.open_session(rt.sessions, user.name, datetime.now(UTC), si.lifetime)
    query = urlencode({"to": to, "next": nxt})
    where = f"/staff/password?{query}" if user.must_change else _onward(to, nxt)
    return _set_cookie(request, RedirectResponse(where, 303), PhoneSession(sid, user.name))


def _link_dead(request: Request) -> Response:
    lang = lang_of(request)
    heading, body = t("st_link_dead", lang), t("st_link_dead_body", lang)
    return page(request, "staff_message.html", 410, heading=heading, body=body)


@router.get("/first/{token}", response_class=HTMLResponse)
async def first_signin_page(request: Request, token: str) -> Response:
    """A one-time sign-in link (the first coordinator's, printed by `opendeur up`, or one a
    coordinator made on the accounts page): a page with one button. Opening it spends nothing,
    so a chat or mail app's link preview leaves it usable; only the button (a post) signs in."""
    user = await users.peek_signin_link(runtime(request).sessions, token[:200], datetime.now(UTC))
    if user is None:
        return _link_dead(request)
    return page(request, "staff_first.html", token=token[:200], person=user.name)


def cross_origin(request: Request) -> bool:
    """A post another site's page sent: the browser's Sec-Fetch-Site says so; without it, an
    Origin of another site. (With no-referrer, Chromium sends `Origin: null` on our own forms.)"""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    own = urlsplit(runtime(request).settings.base_url("intake"))
    return origin not in (None, "null", f"{own.scheme}://{own.netloc}")


@router.post("/first/{token}", response_class=HTMLResponse)
async def first_signin(request: Request, token: str) -> Response:
    """The button: spends the link and signs the person in to choose a password."""
    rt = runtime(request)
    if cross_origin(request):
        lang = lang_of(request)
        return page(request, "staff_message.html", 403, heading=t("st_first_refused", lang))
    user = await users.use_signin_link(rt.sessions, token[:200], datetime.now(UTC))
    if user is None:
        return _link_dead(request)
    log.info("staff_first_signin", staff_id=user.staff_id)
    lifetime = sign_in(rt).lifetime
    sid = await users.open_session(rt.sessions, user.name, datetime.now(UTC), lifetime)
    response = RedirectResponse("/staff/password", 303)
    return _set_cookie(request, response, PhoneSession(sid, user.name))


def _password_page(
    request: Request,
    s: PhoneSession,
    user: str,
    to: str,
    nxt: str,
    error: str = "",
    status: int = 200,
) -> Response:
    return page(
        request,
        "staff_password.html",
        status,
        csrf=sign_in(runtime(request)).codec.csrf(s),
        user=user,
        to=to,
        next=nxt,
        error=error,
        min=users.PASSWORD_MIN,
    )


@router.get("/password", response_class=HTMLResponse)
async def get_password(request: Request) -> Response:
    found = await signed_in(request)
    if found is None:
        return RedirectResponse("/staff/login", 303)
    to, nxt = _target(dict(request.query_params))
    return _password_page(request, found[0], found[1].name, to, nxt)


@router.post("/password", response_class=HTMLResponse)
async def post_password(request: Request) -> Response:
    rt = runtime(request)
    si = sign_in(rt)
    found = await signed_in(request)
    if found is None:
        return RedirectResponse("/staff/login", 303)
    s, user = found
    values = forms.field_values(await request.form())
    to, nxt = _target(values)
    if not si.codec.csrf_ok(s, values.get("csrf", "")):
        error = t("st_pw_expired", lang_of(request))
        return _password_page(request, s, user.name, to, nxt, error, 403)
    password = values.get("password", "")
    if len(password) < users.PASSWORD_MIN or len(password) > 1024:
        error = t("st_pw_short", lang_of(request), min=users.PASSWORD_MIN)
        return _password_page(request, s, user.name, to, nxt, error, 422)
    if password != values.get("password2", ""):
        error = t("st_pw_differ", lang_of(request))
        return _password_page(request, s, user.name, to, nxt, error, 422)
    await users.set_password(rt.sessions, user.name, password)  # ends every session
    sid = await users.open_session(rt.sessions, user.name, datetime.now(UTC), si.lifetime)
    response = RedirectResponse(_onward(to, nxt), 303)
    return _set_cookie(request, response, PhoneSession(sid, user.name))


def _pages_for(settings: Settings, user: users.User, lang: str) -> list[tuple[str, str]]:
    """The pages this person's roles open, in the order of a working day."""
    routing, audit = settings.base_url("routing"), settings.base_url("audit")
    notify = settings.base_url("notify")
    month = datetime.now(UTC).strftime("%Y-%m")
    q = "?lang=en" if lang == "en" else ""
    pages = (
        (("telefoonvrijwilliger",), "st_page_phone", "/phone"),
        (("teamlid",), "st_page_crisis", f"/staff/crisis{q}"),
        (("teamlid",), "st_page_triage", f"{routing}/triage"),
        (("coordinator",), "st_page_contacts", f"{notify}/contacts{q}"),
        (("coordinator",), "st_page_accounts", f"/staff/accounts{q}"),
        (("beheerder",), "st_page_console", f"{audit}/"),
        (("rapportage", "beheerder"), "st_page_report", f"{audit}/report?month={month}"),
    )
    return [(t(key, lang), url) for roles, key, url in pages if user.has(*roles)]


@router.get("", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    found = await signed_in(request)
    if found is None:
        return RedirectResponse("/staff/login", 303)
    s, user = found
    if user.must_change:
        return RedirectResponse("/staff/password", 303)
    lang = lang_of(request)
    labels = [t(f"role_{r}", lang) for r in user.roles if r in shared.ROLES]
    return page(
        request,
        "staff_home.html",
        csrf=sign_in(runtime(request)).codec.csrf(s),
        user=user.name,
        staff_id=user.staff_id,
        roles=labels,
        pages=_pages_for(runtime(request).settings, user, lang),
    )


async def end_sign_in(request: Request) -> bool:
    """A sign-out form's post (the staff pages' and the phone console's): with this browser's
    session and its CSRF token, the session ends everywhere (announced, so routing, notify and
    audit end theirs too); False, ending nothing, without them."""
    rt = runtime(request)
    codec = sign_in(rt).codec
    s = codec.load(request.cookies.get(COOKIE))
    values = forms.field_values(await request.form())
    if s is None or not codec.csrf_ok(s, values.get("csrf", "")):
        return False
    await users.end_session(rt.sessions, s.sid)
    return True


@router.post("/logout")
async def logout(request: Request) -> Response:
    if not await end_sign_in(request):
        return page(
            request, "staff_message.html", 403, heading=t("st_pw_expired", lang_of(request))
        )
    response = RedirectResponse("/staff/login", 303, headers=api.NO_STORE)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/handoff")
async def handoff(request: Request) -> Response:
    """Send a signed-in person back to a service's /staff/accept with a 60-s assertion, bound
    to the browser that asked by the service's `state` (its hash; without one, the service
    starts the hand-off anew so it can set its state cookie)."""
    settings = runtime(request).settings
    to, nxt = _target(dict(request.query_params))
    if not to:
        heading = t("st_unknown_target", lang_of(request))
        return page(request, "staff_message.html", 400, heading=heading)
    state = request.query_params.get("state", "")
    if not shared.STATE_HASH.fullmatch(state):
        begin = f"{settings.base_url(to)}/staff/begin?{urlencode({'next': nxt})}"
        return RedirectResponse(begin, 303, headers=api.NO_STORE)
    found = await signed_in(request)
    query = urlencode({"to": to, "next": nxt})
    if found is None:
        return RedirectResponse(f"/staff/login?{query}", 303, headers=api.NO_STORE)
    if found[1].must_change:
        return RedirectResponse(f"/staff/password?{query}", 303, headers=api.NO_STORE)
    user = found[1]
    key, now = _signing_key(settings), time.time()
    assertion = shared.issue(key, user.staff_id, list(user.roles), to, now, user.name, state)
    back = urlencode({"assertion": assertion, "next": nxt})
    url = f"{settings.base_url(to)}/staff/accept?{back}"
    return RedirectResponse(url, 303, headers=api.NO_STORE)


_keys: dict[int, Ed25519PrivateKey] = {}


def _signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Intake's assertion key, derived once per settings object."""
    key = _keys.get(id(settings))
    if key is None:
        key = _keys[id(settings)] = shared.signing_key(settings)
    return key


def _include_pages() -> None:
    from services.intake.web import accounts, crisis  # they import this module's helpers

    router.include_router(crisis.router)
    router.include_router(accounts.router)


_include_pages()


def make_router(rt: Runtime) -> APIRouter:
    """For an app.py that still builds it: the module's router (the runtime comes from
    app.state)."""
    return router
