"""Least privilege on the broker: one NATS user per service, allowed only its own subjects."""

from __future__ import annotations

import base64
import json

from contracts.events import EVENT_TYPES
from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM, STREAMS, consumers_of
from opendeur.keys import derive
from opendeur.settings import SERVICES, Settings

ADMIN_USER = "opendeur-admin"


def owned_subjects(service: str) -> list[str]:
    """The event subjects a service publishes: those whose contract names it as source."""
    return [cls.subject for cls in EVENT_TYPES if cls.model_fields["source"].default == service]


def permissions(service: str) -> dict:
    durables = [c.durable for c in consumers_of(service)]
    publish = ["$JS.API.INFO", *(f"$JS.API.STREAM.INFO.{s.name}" for s in STREAMS)]
    for d in durables:
        publish += [
            f"$JS.API.CONSUMER.INFO.{EVENTS_STREAM}.{d}",
            f"$JS.API.CONSUMER.CREATE.{EVENTS_STREAM}.{d}",
            f"$JS.API.CONSUMER.CREATE.{EVENTS_STREAM}.{d}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{EVENTS_STREAM}.{d}",
            f"$JS.API.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.{d}",
            f"$JS.ACK.{EVENTS_STREAM}.{d}.>",
            f"deadletter.{d}",
        ]
    publish += owned_subjects(service)
    if service == "audit":  # the console shows the dead-letter count; it publishes no events
        publish += [f"$JS.API.STREAM.MSG.GET.{DEADLETTER_STREAM}"]
    return {"publish": {"allow": publish}, "subscribe": {"allow": ["_INBOX.>"]}}


def password(settings: Settings, user: str) -> str:
    return base64.urlsafe_b64encode(derive(settings, f"nats:{user}")).decode().rstrip("=")


def authorization_conf(settings: Settings) -> str:
    """The nats-server `authorization` block: the four services and an admin for provisioning."""
    users = [{"user": ADMIN_USER, "password": password(settings, ADMIN_USER)}]
    users += [
        {"user": s, "password": password(settings, s), "permissions": permissions(s)}
        for s in SERVICES
    ]
    return "authorization {\n  users = " + json.dumps(users, indent=2) + "\n}\n"
