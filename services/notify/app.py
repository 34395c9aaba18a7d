"""Notify service wiring: contact persons' addresses and the notifications sent to them."""

from __future__ import annotations

from opendeur.runtime import Runtime
from services.notify import handlers

rt = Runtime("notify")
handlers.register(rt)
app = rt.app(title="notify", description="Notifications to contact persons, without personal data.")
