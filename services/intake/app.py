"""Intake service wiring: the front door, the only holder of a help-seeker's data."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles

from opendeur.keystore import open_keystore
from opendeur.runtime import Runtime
from services.intake import api, handlers, jobs, store
from services.intake.guard import FrontDoorGuard
from services.intake.ratelimit import Limiter, parse_frontends, parse_rate
from services.intake.topics import TopicCatalogue
from services.intake.web import callback, pages, phone, staff

rt = Runtime("intake")
store.configure(open_keystore(rt.settings))  # a key store that cannot be opened stops the start
handlers.register(rt)
jobs.register(rt)

app = rt.app(title="intake", description="The front door: questions, consent, callback pages.")
app.state.topics = TopicCatalogue(rt.settings.base_url("routing"))
app.include_router(api.router)
app.include_router(pages.router)
app.include_router(callback.router)
app.include_router(phone.router)
app.include_router(staff.router)
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
app.add_middleware(
    FrontDoorGuard,
    limiter=Limiter(parse_rate(rt.settings.intake_rate)),
    frontends=parse_frontends(rt.settings.intake_frontend_keys),
)
