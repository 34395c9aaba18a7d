"""What intake's routes ask for by name: the runtime, the topic list, the page's language.

app.py puts the runtime and the topic catalogue on `app.state`; routes are module functions
that declare `Rt`, `Topics` or `Lang` instead of closing over them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opendeur.runtime import Runtime
from services.intake.topics import TopicCatalogue


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def topic_catalogue(request: Request) -> TopicCatalogue:
    return request.app.state.topics


def lang_of(request: Request) -> str:
    """The page's language: ?lang=en, else Dutch."""
    return "en" if request.query_params.get("lang") == "en" else "nl"


def contact_lang(request: Request) -> str:
    """A contact person's language: ?lang= (notify puts hers on every link), else the browser's
    first language, en or nl; never the help-seeker's."""
    if "lang" in request.query_params:
        return lang_of(request)
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "nl"


def secure_cookies(rt: Runtime) -> bool:
    return rt.settings.base_url("intake").startswith("https://")


Rt = Annotated[Runtime, Depends(runtime)]
Topics = Annotated[TopicCatalogue, Depends(topic_catalogue)]
Lang = Annotated[str, Depends(lang_of)]
ContactLang = Annotated[str, Depends(contact_lang)]
