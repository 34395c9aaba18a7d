"""What routing's routes declare they need: `Db`, `Lang`, `SignedLink(purpose)`, staff sign-in.

Shaped like the shared kit (opendeur/web.py) so the routes stay as they are when it lands:
module-level routes name these as typed dependencies, and an access check that refuses raises
`PageAnswer` with the page to send instead of returning it from the route.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from opendeur import links, outbox, timefmt
from opendeur.runtime import ApiError, Runtime, is_staff_route
from opendeur.settings import Settings
from opendeur.staff import Staff
from services.routing.web import i18n

NO_STORE = {"Cache-Control": "no-store"}


class PageAnswer(Exception):
    """A dependency's refusal as a whole page (a dead link, a sign-in hand-off)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _answer(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageAnswer)
    return exc.response


def install(app: FastAPI, rt: Runtime) -> None:
    """The app's runtime for `runtime(request)` and the handler that sends a `PageAnswer`."""
    app.state.runtime = rt
    app.add_exception_handler(PageAnswer, _answer)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _settings(request: Request) -> Settings:
    return runtime(request).settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _db(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the answer is sent (a redirect's next GET
    sees it), rolled back when the route raises."""
    async with runtime(request).sessions() as session, session.begin():
        yield session
    if request.method not in ("GET", "HEAD"):
        outbox.wake_relay()


Db = Annotated[AsyncSession, Depends(_db, scope="function")]


def _lang(request: Request) -> i18n.Lang:
    """`?lang=` (notify's link, the switch), else the browser's, else Dutch."""
    return i18n.pick(
        request.query_params.get("lang"),
        i18n.from_accept_language(request.headers.get("accept-language")),
    )


Lang = Annotated[i18n.Lang, Depends(_lang)]


COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def network(settings: Settings) -> dict[str, Any]:
    """The network's own name, colour and contact details (Settings), never the product name."""
    colour = str(getattr(settings, "network_colour", None) or "")
    return {
        "name": settings.network_name or "Zelfhulp Netwerk",
        "email": settings.network_email,
        "phone": settings.network_phone,
        "colour": colour if COLOUR.match(colour) else "#205080",
    }


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )
    env.filters.update(
        moment=timefmt.moment, deadline=timefmt.deadline, day=timefmt.day, clock=timefmt.clock
    )
    return env


TEMPLATES = _environment()


def render(
    request: Request, name: str, status: int = 200, lang: i18n.Lang = "nl", **ctx: object
) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(
        lang=lang,
        t=i18n.translator(lang),
        network=network(runtime(request).settings),
        **{"switch": None, **ctx},
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def message(
    request: Request, lang: i18n.Lang, status: int, heading: str, body: str | None = None
) -> PageAnswer:
    return PageAnswer(
        render(request, "message.html", status=status, lang=lang, heading=heading, body=body)
    )


class SignedLink:
    """The claims of a contact person's signed link (`/contact/{token}`, `/groups/self/{token}`),
    checked with the public key; a page instead: 410 when it expired, 403 when it is not one."""

    def __init__(self, purpose: str, *fields: str) -> None:
        self.purpose = purpose
        self.fields = fields

    def __call__(self, token: str, request: Request, lang: Lang) -> dict[str, str]:
        t = i18n.translator(lang)
        try:
            data = links.verify(runtime(request).settings, self.purpose, token)
            return {f: str(data[f]) for f in self.fields}
        except links.LinkInvalid as exc:
            if exc.reason == "expired":
                raise message(request, lang, 410, t("link_expired"), t("link_dead_body")) from None
        except KeyError:
            pass
        raise message(request, lang, 403, t("link_dead"), t("link_dead_body"))


def staff_page(*roles: str) -> Callable[[Request], Staff]:
    """For a staff page: the signed-in person with one of `roles`; without a session here, the
    hand-off to intake's sign-in (303); without the role, a 403 page."""

    def dependency(request: Request) -> Staff:
        gate = runtime(request).staff
        assert gate is not None
        staff = gate.current(request)
        if staff is None:
            raise PageAnswer(gate.handoff(request))
        if not staff.has(*roles):
            raise PageAnswer(gate.refused(staff))
        return staff

    return dependency


def staff_or_token(scope: str | None, *roles: str) -> Callable[[Request], Staff | None]:
    """For an API: a machine token with `scope` (None) or a staff member with one of `roles`;
    401 without a credential, 403 with the wrong one."""

    def dependency(request: Request) -> Staff | None:
        return runtime(request).require(request, scope, *roles)

    return dependency


@dataclass(frozen=True)
class StaffForm:
    staff: Staff
    form: FormData


def staff_form(*roles: str) -> Callable[..., Any]:
    """For a staff page's form post: the person with one of `roles` and the form, its CSRF token
    checked (403 csrf_failed)."""

    async def dependency(request: Request) -> StaffForm:
        rt = runtime(request)
        staff = rt.require(request, None, *roles)
        assert staff is not None and rt.staff is not None  # no machine client posts forms
        form = await request.form()
        if not rt.staff.csrf_ok(staff, str(form.get("csrf", ""))):
            raise ApiError(403, "csrf_failed", "The form is out of date; reload the page.", "csrf")
        return StaffForm(staff, form)

    return dependency


class StaffFirstRoute(APIRoute):
    """Staff routes check a credential before FastAPI reads any parameter (401 first)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()
        if not is_staff_route(self):
            return handler

        async def checked(request: Request) -> Response:
            runtime(request).check_first(request)
            return await handler(request)

        return checked
