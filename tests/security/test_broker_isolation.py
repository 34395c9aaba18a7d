"""Least privilege on the broker, attacked with notify's own NATS credentials (from its process
environment): read routing's deliveries off the shared inbox space, widen a durable consumer to
other subjects, take over another service's durable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from contracts.streams import EVENTS_STREAM
from opendeur.natsauth import inbox_prefix, password
from opendeur.settings import Settings
from tests.security.conftest import UpSystem, environ
from tests.support import question


def credentials(env: dict[str, str], service: str) -> tuple[str, str]:
    """The user and password a service connects with, as its own process finds them."""
    if env.get("OPENDEUR_NATS_PASSWORD"):
        return env["OPENDEUR_NATS_USER"], env["OPENDEUR_NATS_PASSWORD"]
    settings = Settings(secret_key=env["OPENDEUR_SECRET_KEY"])  # the old, derived way
    return service, password(settings, service)


async def connect_as(up_system: UpSystem, service: str, errors: list[str]) -> Client:
    env = environ(up_system.children()[service].pid)
    user, pw = credentials(env, service)

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    return await nats.connect(
        up_system.nats_url,
        user=user,
        password=pw,
        error_cb=on_error,
        inbox_prefix=inbox_prefix(service) if "OPENDEUR_NATS_PASSWORD" in env else "_INBOX",
        allow_reconnect=False,
    )


@pytest.fixture
async def notify_conn(up_system: UpSystem) -> AsyncIterator[tuple[Client, list[str]]]:
    errors: list[str] = []
    nc = await connect_as(up_system, "notify", errors)
    try:
        yield nc, errors
    finally:
        await nc.close()


async def wait_for(errors: list[str], text: str, timeout: float = 3.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if any(text in e for e in errors):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("subject", ["_INBOX.>", "_INBOX_routing.>", ">"])
async def test_notify_may_not_subscribe_to_other_inboxes(
    notify_conn: tuple[Client, list[str]], subject: str
) -> None:
    nc, errors = notify_conn
    await nc.subscribe(subject)
    await nc.flush()
    assert await wait_for(errors, "permissions violation for subscription"), errors


async def test_notify_sees_none_of_routings_deliveries(
    up_system: UpSystem, notify_conn: tuple[Client, list[str]]
) -> None:
    nc, _errors = notify_conn
    seen: list[bytes] = []

    async def grab(msg: object) -> None:
        seen.append(msg.data)  # type: ignore[attr-defined]

    for subject in ("_INBOX.>", "_INBOX_routing.>", ">"):
        await nc.subscribe(subject, cb=grab)
    await nc.flush()
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(up_system.url("intake") + "/api/v1/questions", json=question())
        assert r.status_code == 202
        q = r.json()
    await up_system.wait_mail(lambda m: q["reference"] in m.subject, timeout=60)  # it flowed
    await asyncio.sleep(0.5)
    received = [json.loads(d) for d in seen if d.startswith(b"{")]
    leaked = [e for e in received if e.get("question_id") == q["question_id"]]
    assert not leaked, [e.get("type") for e in leaked]


async def create_consumer(
    up_system: UpSystem, service: str, durable: str, filter_subject: str
) -> list[str]:
    """Try both forms nats-py knows (named, and the legacy durable create) and return the
    errors; an empty list means the broker let it through."""
    errors: list[str] = []
    nc = await connect_as(up_system, service, errors)
    try:
        js = nc.jetstream(timeout=2)
        for name in (durable, None):
            config = ConsumerConfig(
                durable_name=durable,
                name=name,
                filter_subject=filter_subject,
                ack_policy=AckPolicy.EXPLICIT,
            )
            try:
                await js.add_consumer(EVENTS_STREAM, config)
                return []
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        return errors
    finally:
        await nc.close()


async def test_a_service_cannot_widen_its_own_durable(up_system: UpSystem) -> None:
    errors = await create_consumer(
        up_system, "notify", "notify-question-routed-v1", "question.received.v1"
    )
    assert errors, "notify re-filtered its durable to routing's subject"


async def test_a_service_cannot_take_another_services_durable(up_system: UpSystem) -> None:
    errors = await create_consumer(
        up_system, "notify", "routing-question-received-v1", "question.received.v1"
    )
    assert errors, "notify created routing's durable"


async def test_a_service_can_still_create_its_own_durable(up_system: UpSystem) -> None:
    """The allowed form keeps working (a service recreates its consumer after a broker loss)."""
    errors: list[str] = []
    nc = await connect_as(up_system, "notify", errors)
    try:
        js = nc.jetstream(timeout=2)
        info = await js.consumer_info(EVENTS_STREAM, "notify-question-routed-v1")
        info.config.name = info.config.durable_name
        await js.add_consumer(EVENTS_STREAM, info.config)
    finally:
        await nc.close()
