"""What intake's routes ask for by name, on top of the kit (opendeur/web.py): the runtime, the
topic list, the help-seeker's language (the kit's `QueryLang`) and the contact person's.

app.py puts the topic catalogue on `app.state`; the runtime is there through the kit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opendeur import web
from opendeur.runtime import Runtime
from services.intake.topics import TopicCatalogue


async def topic_catalogue(request: Request) -> TopicCatalogue:
    return request.app.state.topics


def contact_lang(request: Request) -> str:
    """A contact person's language: ?lang= (notify puts hers on every link), else her browser's
    preference (the kit's rule); never the help-seeker's."""
    return web.pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))


def secure_cookies(rt: Runtime) -> bool:
    return rt.settings.base_url("intake").startswith("https://")


# async: FastAPI runs a plain `def` dependency in a worker thread (see opendeur/web.py).
async def _runtime(request: Request) -> Runtime:
    return web.runtime(request)


Rt = Annotated[Runtime, Depends(_runtime)]
Topics = Annotated[TopicCatalogue, Depends(topic_catalogue)]
Lang = web.QueryLang
ContactLang = web.Lang
