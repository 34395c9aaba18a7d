"""Notify service wiring: contact persons' addresses and the notifications sent to them."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles

from opendeur import staff
from opendeur.runtime import Runtime
from services.notify import api, handlers, jobs
from services.notify.web import pages

rt = Runtime("notify")
dispatcher = jobs.register(rt)
handlers.register(rt, wake=dispatcher.wake.set)
app = rt.app(title="notify", description="Notifications to contact persons, without personal data.")
# Addresses are a coordinator's (signed in at intake, opendeur/staff.py) or a machine client's
# with the contacts-write scope; the read-only admin token changes nothing here.
staff.install(rt, app)
app.include_router(api.router)
app.include_router(pages.router)
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
