"""Routing service wiring: the group network, matching, the 24-hour clock, the team's queue."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles

from opendeur import staff
from opendeur.runtime import Runtime
from services.routing import api, handlers, jobs
from services.routing.web import pages, triage

rt = Runtime("routing")
handlers.register(rt)
jobs.register(rt)
app = rt.app(title="routing", description="Groups, topics, matching and the 24-hour clock.")
staff.install(rt, app)
app.include_router(triage.router)
app.include_router(pages.router)
app.include_router(api.router)
app.include_router(api.hsds)
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
