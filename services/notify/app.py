"""Notify service wiring: contact persons' addresses and the notifications sent to them."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles

from opendeur import staff
from opendeur.runtime import Runtime
from services.notify import address_mail, api, handlers, jobs
from services.notify.web import pages

rt = Runtime("notify")
dispatcher = handlers.register(rt)
jobs.register(rt)
rt.background.append(lambda: address_mail.run(dispatcher))
app = rt.app(title="notify", description="Notifications to contact persons, without personal data.")
app.state.runtime = rt
# Addresses are a coordinator's (signed in at intake, opendeur/staff.py) or a machine client's
# with the contacts-write scope; the read-only admin token changes nothing here.
staff.install(rt, app)
app.include_router(api.router)
app.include_router(pages.router)
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
