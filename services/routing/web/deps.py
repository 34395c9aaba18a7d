"""Routing's side of the web kit (opendeur/web.py): its templates with the contact catalogue, and
the page a dead contact link answers with."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from opendeur import web
from services.routing.web import i18n

TEMPLATES = web.templates(__file__)


def render(name: str, status: int = 200, lang: str = "nl", **ctx: object) -> HTMLResponse:
    """A routing page in `lang`, with `t` its catalogue (web/i18n.py)."""
    t = i18n.translator(i18n.pick(lang))
    return web.page(TEMPLATES, name, status, lang=lang, t=t, **{"switch": None, **ctx})


def message(lang: str, status: int, heading: str, body: str | None = None) -> web.PageAnswer:
    """A whole page instead of the one asked for (raise it from a route or a dependency)."""
    return web.PageAnswer(render("message.html", status, lang, heading=heading, body=body))


def dead_link(_request: Request, lang: str, reason: str) -> Response:
    """A contact's link that expired (410) or is not one of ours (403), in her language."""
    t = i18n.translator(i18n.pick(lang))
    heading, status = (t("link_expired"), 410) if reason == "expired" else (t("link_dead"), 403)
    return render("message.html", status, lang, heading=heading, body=t("link_dead_body"))
