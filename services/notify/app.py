"""Notify service wiring: contact persons' addresses and the notifications sent to them."""

from __future__ import annotations

from opendeur.runtime import Runtime
from services.notify import api, handlers, jobs

rt = Runtime("notify")
dispatcher = handlers.register(rt)
jobs.register(rt)
app = rt.app(title="notify", description="Notifications to contact persons, without personal data.")
api.install(app, rt)
