"""Audit service wiring: the trail's one subscriber, retention, the API, the live stream and the
operators' pages."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles

from opendeur import staff
from opendeur.runtime import Runtime
from services.audit import api, handlers, jobs, stream
from services.audit.web import pages

rt = Runtime("audit")
handlers.register(rt)
jobs.register(rt)
app = rt.app(title="audit", description="Consent and timing, provable; never content.")
app.include_router(api.router)
app.include_router(stream.router)
staff.install(rt, app)
app.include_router(pages.router)
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
