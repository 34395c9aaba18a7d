"""The web kit: what a service's routes declare they need, so that every service has one shape.

A service is five kinds of module; a newcomer who knows one knows all four::

    services/<svc>/app.py        wiring only (about 40 lines):
        rt = Runtime("routing")
        app = rt.app(title="routing", description="...")   # install_basics: app.state.runtime,
        app.include_router(pages.router)                   # the Refused handler, /healthz ...
        app.include_router(api.router)
        handlers.register(rt)      # rt.handles(QuestionReceived)(handlers.on_question_received)
        jobs.register(rt)          # rt.every(60)(jobs.sweep)
        app.mount("/static", StaticFiles(directory=HERE / "web" / "static"), name="static")

    services/<svc>/api.py, pages.py   module-level routes naming what they need:
        router = APIRouter(route_class=web.StaffFirstRoute)     # staff routes: 401 first
        TEMPLATES = web.templates(__file__)                     # web/templates beside it

        @router.get("/contact/{token}", response_class=HTMLResponse)
        async def contact(db: web.Db, lang: web.Lang,
                          link: Annotated[dict, Depends(web.SignedLink("contact", "c"))]):
            rows = await store.open_questions(db, link["c"])     # Db: one transaction
            return web.page(TEMPLATES, "contact.html", lang=lang, rows=rows)

        @router.post("/triage/{question_id}/assign", tags=["staff"])
        async def assign(question_id: UUID, db: web.Db,
                         post: Annotated[web.StaffForm, Depends(web.staff_form("teamlid"))]):
            await groups.assign(db, question_id, post.form["group_id"], post.staff)
            return RedirectResponse("/triage", 303)             # PRG; a Refused rolls back

    services/<svc>/handlers.py   module-level `async def on_<event>(event, db) -> Event | None`:
        the runtime's consumer opens the transaction, claims the inbox under the consumer's
        durable name, stages the returned event in the outbox, commits, wakes the relay and
        acks; a handler never commits, claims or stages itself.
    services/<svc>/jobs.py       timers and sweeps: `async def sweep() -> None`, registered
        with `rt.every(seconds)`.
    the pure rule modules (`matching.py`, `suppression.py`, ...) and `store.py` (SQLAlchemy
    queries on the service's own tables) as they are; a rule that refuses raises
    `opendeur.errors.Refused` (no HTTP there), which the runtime maps to 422/409/410/404/403.

What this module gives, all module-level and looked up per request from `app.state.runtime`:
`runtime(request)`, `Db`, `SettingsDep`, `Lang`, `templates()` (the one Jinja factory, with the
Amsterdam-time filters of opendeur.timefmt and the `network` global), `page()`, `PageAnswer`
(a dependency's refusal as a whole page), `staff_user(*roles)` (APIs: 401/403),
`staff_or_token(scope, *roles)`, `staff_page(*roles)` (pages: hand-off to the sign-in, or a 403
page), `staff_form(*roles)` (form posts with their CSRF token checked), `SignedLink(purpose)`,
`refused_page()` and `StaffFirstRoute`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Undefined
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from contracts.directory import directory_id
from opendeur import links, outbox, timefmt
from opendeur.errors import Refused
from opendeur.settings import Settings, get_settings
from opendeur.staff import NO_STORE, Gate, Staff

if TYPE_CHECKING:
    from opendeur.runtime import Runtime

LANGS = ("nl", "en")
KIT = Path(__file__).resolve().parent  # the kit's own templates/ (staff layout) and static/
DEFAULT_NETWORK_NAME = "Zelfhulp Netwerk"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# -- the runtime, settings, the database ------------------------------------------------------


def runtime(request: Request) -> Runtime:
    """The service's Runtime, which `install_basics` (Runtime.app) put on `app.state.runtime`."""
    rt = getattr(request.app.state, "runtime", None)
    if rt is None:
        raise RuntimeError("no runtime on app.state: build the app with Runtime.app()")
    return rt


# Dependencies are `async def` even where they only look something up: FastAPI runs a plain
# `def` dependency in a worker thread, a thread hop per request for a lookup of microseconds
# (tests/unit/test_web_kit.py checks every route of the four services).


async def _settings(request: Request) -> Settings:
    return runtime(request).settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _db(request: Request) -> AsyncIterator[AsyncSession]:
    """One session in one transaction per request: committed when the route returns, before the
    answer is sent (the GET after a redirect sees it); rolled back when the route raises (a
    Refused changes nothing). After a write the outbox relay is woken for what was staged."""
    async with runtime(request).sessions() as session, session.begin():
        yield session
    if request.method not in SAFE_METHODS:
        outbox.wake_relay()


# scope="function": the transaction ends when the route returns, not after the response.
Db = Annotated[AsyncSession, Depends(_db, scope="function")]


async def _slow_db(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a read that may take long on purpose (a month's report over a national
    network's trail): with a long statement timeout instead of the service's
    (`Runtime.slow_sessions`)."""
    async with runtime(request).slow_sessions() as session, session.begin():
        yield session


SlowDb = Annotated[AsyncSession, Depends(_slow_db, scope="function")]


# -- language --------------------------------------------------------------------------------


def pick_lang(query: str | None, accept_language: str | None) -> str:
    """`?lang=nl|en` when given; else the browser's most preferred of nl and en (Accept-Language,
    with its q-values); else Dutch."""
    if query in LANGS:
        return query
    best, best_q = "nl", 0.0
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGS:
            continue
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= i * 1e-6  # equal q: the one named first
        if q > best_q:
            best, best_q = primary, q
    return best


async def _lang(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))


Lang = Annotated[str, Depends(_lang)]


def query_lang(request: Request) -> str:
    """Dutch unless the page was asked for in English (`?lang=en`, which every link between the
    pages keeps): help-seekers' and staff pages start in the network's language whatever the
    browser is set to (contact persons' pages take `Lang`, which also reads the browser's)."""
    return "en" if request.query_params.get("lang") == "en" else "nl"


async def _query_lang(request: Request) -> str:
    return query_lang(request)


QueryLang = Annotated[str, Depends(_query_lang)]


# -- templates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """The network's own name and contact details for pages (OPENDEUR_NETWORK_NAME, _PHONE,
    _EMAIL); never the product's name. Unset contact details are None: pages then say nothing."""

    name: str
    phone: str | None
    email: str | None


def network(settings: Settings) -> Network:
    return Network(
        name=settings.network_name or DEFAULT_NETWORK_NAME,
        phone=settings.network_phone or None,
        email=settings.network_email or None,
    )


class _CurrentNetwork:
    """The `network` template global when a render passes none: read from the settings at each
    render, so a test's changed environment is what the page shows."""

    def __getattr__(self, name: str) -> Any:
        return getattr(network(get_settings()), name)

    def __str__(self) -> str:
        return network(get_settings()).name


FILTERS: dict[str, Callable[..., str]] = {
    "moment": timefmt.moment,
    "deadline": timefmt.deadline,
    "day": timefmt.day,
    "clock": timefmt.clock,
    "stamp": timefmt.stamp,
}


class FormUndefined(StrictUndefined):
    """Strict where it matters, lenient where templates test: a missing variable may be tested
    (`{% if error %}`, `is defined`, `|default`) and is then false, but printing it, reading an
    attribute of it or looping over it fails the render instead of printing nothing. The
    services' templates test optional context (`{% if error %}`, a message without `body`)."""

    def __bool__(self) -> bool:
        return False


def templates(package_file: str, *, strict: bool = True) -> Environment:
    """The one Jinja environment factory: the `templates/` directory beside `package_file` (pass
    `__file__`), autoescape on for every template, FormUndefined (a misspelt or missing variable
    fails the render when printed instead of printing nothing, while `{% if error %}` on an
    absent one is false; `strict=False` only for templates not yet checked), the Amsterdam-time
    filters `moment`, `deadline`, `day`, `clock`, `stamp` (opendeur.timefmt) and the `network`
    global. One environment per directory: modules beside each other share it (and the filters
    one of them adds)."""
    return _environment(Path(package_file).resolve().parent / "templates", strict)


@cache
def _environment(folder: Path, strict: bool) -> Environment:
    env = Environment(
        # The service's own folder first; then the kit's (the one staff layout, staff_page.html).
        loader=ChoiceLoader([FileSystemLoader(folder), FileSystemLoader(KIT / "templates")]),
        autoescape=True,
        undefined=FormUndefined if strict else Undefined,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.globals["network"] = _CurrentNetwork()
    return env


def page(
    env: Environment,
    name: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A rendered template as an HTML response, never stored by a cache or the browser."""
    html = env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})


# -- the staff look: one header on every staff page of every service ---------------------------

# (roles that open it, label nl, label en, service, path): the order of a working day.
STAFF_NAV = (
    ((), "Overzicht", "Overview", "intake", "/staff"),
    (("telefoonvrijwilliger",), "Telefoon", "Phone line", "intake", "/phone"),
    (("teamlid",), "Triage", "Triage", "routing", "/triage"),
    (("teamlid",), "Crisis", "Crisis", "intake", "/staff/crisis"),
    (("coordinator",), "Contactpersonen", "Contact persons", "notify", "/contacts"),
    (("coordinator",), "Accounts", "Accounts", "intake", "/staff/accounts"),
    (("beheerder",), "Console", "Console", "audit", "/"),
    (("rapportage", "beheerder"), "Rapport", "Report", "audit", "/report"),
)
STAFF_WORDS = {
    "nl": {"staff": "Medewerkers", "who": "Aangemeld als", "sign_out": "Afmelden"},
    "en": {"staff": "Staff", "who": "Signed in as", "sign_out": "Sign out"},
}


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class StaffHeader:
    """What the one staff header (templates/staff_page.html) shows: the signed-in person's name
    (may be empty), the pages her roles open and where "Afmelden" posts, with its CSRF token."""

    name: str
    links: tuple[NavLink, ...]
    signout: str
    csrf: str
    words: Mapping[str, str]


def staff_nav(
    settings: Settings, roles: frozenset[str] | set[str], here: str, lang: str = "nl"
) -> tuple[NavLink, ...]:
    """The nav links a person's roles allow, absolute URLs; `here` ("routing/triage") is marked."""
    from opendeur.timefmt import AMS  # the month of the report link is Amsterdam's

    month = datetime.now(AMS).strftime("%Y-%m")
    links: list[NavLink] = []
    for need, nl, en, service, path in STAFF_NAV:
        if need and not set(roles) & set(need):
            continue
        query = {"lang": "en"} if lang == "en" else {}
        if path == "/report":
            query = {"month": month, **query}
        url = settings.base_url(service) + path + (f"?{urlencode(query)}" if query else "")
        links.append(NavLink(en if lang == "en" else nl, url, here == f"{service}{path}"))
    return tuple(links)


def staff_header(
    settings: Settings,
    staff: Staff,
    here: str,
    csrf: str,
    *,
    lang: str = "nl",
    signout: str = "/staff/signout",
) -> StaffHeader:
    """The header for `staff` on the page `here` ("<service><path>", e.g. "audit/report")."""
    return StaffHeader(
        name=staff.name,
        links=staff_nav(settings, staff.roles, here, lang),
        signout=signout,
        csrf=csrf,
        words=STAFF_WORDS["en" if lang == "en" else "nl"],
    )


def header_for(request: Request, staff: Staff, lang: str = "nl") -> StaffHeader:
    """The staff header for this request's page on routing, notify or audit (their gate)."""
    rt = runtime(request)
    here = f"{rt.service}{request.url.path}"
    return staff_header(rt.settings, staff, here, _gate(request).csrf(staff), lang=lang)


def kit_page(
    name: str, status: int = 200, settings: Settings | None = None, **context: Any
) -> HTMLResponse:
    """A page from the kit's own templates (the refused and failed staff pages), with the
    network of `settings` (else the process's)."""
    if settings is not None:
        context.setdefault("network", network(settings))
    return page(_environment(KIT / "templates", True), name, status, **context)


KIT_ROUTES = APIRouter(include_in_schema=False)


@KIT_ROUTES.get("/staff-look.css")
async def staff_look_css() -> Response:
    """The staff header's stylesheet, the same file on every service (loaded before theirs)."""
    return FileResponse(KIT / "static" / "staff-look.css", headers={"Cache-Control": "max-age=300"})


# -- group names for staff pages -------------------------------------------------------------

# Routing's public directory (GET /api/v1/directory) lists each group's name under its service id
# (contracts/directory.py): staff pages on notify and audit, which hold only group codes, show
# "Rouwgroep Eindhoven" instead of "rouwgroep-eindhoven".
MISS_REFRESH_S = 5.0  # a group not in the cache (one that just joined): asked again this soon


@dataclass
class _Directory:
    names: dict[str, str] = field(default_factory=dict)  # service id -> group name
    refresh_at: float = 0.0  # when the cache is asked again in any case
    asked_at: float = -1e9  # the last question to routing
    answered: bool = True  # whether routing answered it
    unlisted: set[str] = field(default_factory=set)  # wanted then, not listed (a group that left)


_directory = _Directory()


async def group_names(settings: Settings, wanted: Iterable[str | None] = ()) -> dict[str, str]:
    """Service id -> group name from routing's directory, cached 10 minutes; while routing is
    away {} (then the code shows), asked again after 30 s. A page that names a group the cache
    does not know (`wanted`: one imported a moment ago) asks again, at most every 5 s while
    routing answers; a group the directory did not list then (one that left) asks no more."""
    d, now = _directory, time.monotonic()
    ids = {directory_id("service", g) for g in wanted if g}
    new = ids - d.names.keys() - d.unlisted
    retry = bool(new) and d.answered and now - d.asked_at >= MISS_REFRESH_S
    if now < d.refresh_at and not retry:
        return d.names
    d.refresh_at, d.asked_at, d.answered = now + 30, now, False
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            got = await client.get(settings.base_url("routing") + "/api/v1/directory")
            services = got.raise_for_status().json()["services"]
            names = {str(s["id"]): str(s["name"]) for s in services}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return d.names
    d.names = names
    d.refresh_at, d.answered = now + 600, True
    d.unlisted = (d.unlisted | ids) - d.names.keys()
    return d.names


def group_label(names: Mapping[str, str], group_id: str | None) -> str | None:
    """A group's name from the directory; its code when the directory does not list it (a group
    that left); None without a group."""
    if not group_id:
        return None
    return names.get(directory_id("service", group_id), group_id)


class PageAnswer(Exception):
    """A dependency's refusal as a whole page (a dead link, the sign-in hand-off, a 403 page):
    install_basics sends `response` as it is, so a route never checks `isinstance(got,
    Response)`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answer_page(_request: Request, exc: Exception) -> Response:
    """The exception handler install_basics registers for PageAnswer."""
    assert isinstance(exc, PageAnswer)
    return exc.response


@dataclass(frozen=True)
class FormProblem:
    """What a re-rendered form shows about a Refused: which field, what to say, which code."""

    field: str | None
    message: str
    code: str


def refused_page(
    env: Environment,
    name: str,
    refused: Refused,
    status: int | None = None,
    **context: Any,
) -> HTMLResponse:
    """Re-render a form after a Refused: the template gets `problem` (a FormProblem: field,
    message, code) besides its context; the status is the refusal's (422 for invalid input),
    so a browser test and a screen reader both know the post did not go through."""
    from opendeur.runtime import refusal_status  # the runtime imports this module

    problem = FormProblem(refused.field, refused.message, refused.code)
    return page(env, name, status or refusal_status(refused), problem=problem, **context)


# -- staff -----------------------------------------------------------------------------------


def _gate(request: Request) -> Gate:
    gate = runtime(request).staff
    if gate is None:
        raise RuntimeError("this service has no staff sign-in: opendeur.staff.install(rt, app)")
    return gate


async def _current(request: Request) -> Staff | None:
    """The signed-in person on this service (the gate may look it up in a database)."""
    rt = runtime(request)
    if rt.staff is None:
        return None
    got: Staff | Awaitable[Staff | None] | None = rt.staff.current(request)
    return await got if inspect.isawaitable(got) else got


def staff_user(*roles: str) -> Callable[[Request], Awaitable[Staff]]:
    """For an API or a page's fetch: the signed-in staff member with one of `roles`; Refused
    401 `unauthorized` when nobody is signed in here (or a bearer token is not valid), 403
    `forbidden` with another role or with a valid machine token (people only here).
    `who: Annotated[Staff, Depends(web.staff_user("teamlid"))]`."""

    async def dependency(request: Request) -> Staff:
        scopes = runtime(request).machine_scopes(request)
        if scopes is not None:  # a bearer token: a machine, never a person (as runtime.require)
            if not scopes:
                raise Refused("unauthorized", "This token is not valid.", kind="unauthorized")
            raise Refused("forbidden", "This token may not do this.", kind="forbidden")
        staff = await _current(request)
        if staff is None:
            raise Refused("unauthorized", "Sign in first.", kind="unauthorized")
        if not staff.has(*roles):
            raise Refused(
                "forbidden", "Your account does not have the role for this.", kind="forbidden"
            )
        return staff

    return dependency


def staff_or_token(scope: str | None, *roles: str) -> Callable[[Request], Awaitable[Staff | None]]:
    """For an API machines may call too: a bearer machine token with `scope` (None: no machine
    may), giving None, or a staff member with one of `roles`; 401 without a valid credential,
    403 with one that lacks the scope or role."""

    async def dependency(request: Request) -> Staff | None:
        return runtime(request).require(request, scope, *roles)

    return dependency


def staff_page(*roles: str) -> Callable[[Request], Awaitable[Staff]]:
    """For a staff page: the signed-in person with one of `roles`; without a session here the
    303 hand-off to intake's sign-in (and back), without the role a 403 page."""

    async def dependency(request: Request) -> Staff:
        gate = _gate(request)
        staff = await _current(request)
        if staff is None:
            raise PageAnswer(gate.handoff(request))
        if not staff.has(*roles):
            raise PageAnswer(gate.refused(staff))
        return staff

    return dependency


def csrf_token(request: Request, staff: Staff) -> str:
    """The CSRF token a staff page puts in its forms (`<input type=hidden name=csrf>`)."""
    return _gate(request).csrf(staff)


@dataclass(frozen=True)
class StaffForm:
    """A staff form post: who posted it and the form, its CSRF token already checked."""

    staff: Staff
    form: FormData


def staff_form(*roles: str) -> Callable[[Request], Awaitable[StaffForm]]:
    """For a staff page's form post: the person with one of `roles` (401/403 as staff_user) and
    the form, its `csrf` field checked against the session (403 `csrf_failed`)."""
    who = staff_user(*roles)

    async def dependency(request: Request) -> StaffForm:
        staff = await who(request)
        form = await request.form()
        if not _gate(request).csrf_ok(staff, str(form.get("csrf", ""))):
            raise Refused(
                "csrf_failed", "The form is out of date; reload the page.", "csrf", "forbidden"
            )
        return StaffForm(staff, form)

    return dependency


async def check_first(request: Request) -> None:
    """Before any parameter is read: some valid credential, a machine token or a staff session
    (its scope or role is checked by the route's own dependency). Refused 401 otherwise."""
    scopes = runtime(request).machine_scopes(request)
    if scopes is not None:
        if not scopes:
            raise Refused("unauthorized", "This token is not valid.", kind="unauthorized")
        return
    if await _current(request) is None:
        raise Refused(
            "unauthorized", "A valid staff sign-in is needed for this page.", kind="unauthorized"
        )


class StaffFirstRoute(APIRoute):
    """Use as `APIRouter(route_class=web.StaffFirstRoute)`: a staff route (tags staff, audit or
    reports: an API, or a page's form post) checks for a credential before FastAPI reads any
    path, query, header or body parameter, so it answers 401 whatever parameters it got."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        from opendeur.runtime import is_staff_route  # the runtime imports this module

        handler = super().get_route_handler()
        if not is_staff_route(self):
            return handler

        async def checked(request: Request) -> Response:
            await check_first(request)
            return await handler(request)

        return checked


# -- signed links ----------------------------------------------------------------------------


class SignedLink:
    """A route's `{token}` as a signed link of `purpose` (opendeur.links): the link's data, or
    only `fields` of it when named. A dead link is Refused 410 `link_expired` / 403
    `link_invalid`; give `dead(request, lang, reason)` to answer with a page instead::

        Contact = Annotated[dict[str, str], Depends(web.SignedLink("contact", "c", dead=gone))]
    """

    def __init__(
        self,
        purpose: str,
        *fields: str,
        dead: Callable[[Request, str, str], Response] | None = None,
    ) -> None:
        self.purpose, self.fields, self.dead = purpose, fields, dead

    async def __call__(self, token: str, request: Request, lang: Lang) -> dict[str, Any]:
        reason = "invalid"
        try:
            data = links.verify(runtime(request).settings, self.purpose, token[:2000])
            if not self.fields:
                return data
            return {f: str(data[f]) for f in self.fields}
        except links.LinkInvalid as exc:
            reason = exc.reason
        except KeyError:  # a link of this purpose without the field: not one of ours
            pass
        if self.dead is not None:
            raise PageAnswer(self.dead(request, lang, reason))
        if reason == "expired":
            raise Refused("link_expired", "This link has expired.", "token", "gone")
        raise Refused("link_invalid", "This link is not valid.", "token", "forbidden")
