"""Least privilege on the broker: each service's NATS user may publish only its own events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig

from contracts.events import QuestionRouted
from contracts.streams import CONSUMERS, EVENTS_STREAM
from opendeur.embedded import NatsServer
from opendeur.messaging import provision_broker
from opendeur.natsauth import authorization_conf, inbox_prefix, password
from opendeur.settings import Settings
from tests.support import SECRET

SETTINGS = Settings(secret_key=SECRET, nats_auth="derived")


@pytest.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    server = NatsServer(
        Path(tmp_path_factory.mktemp("nats-auth")), extra_conf=authorization_conf(SETTINGS)
    )
    server.start()
    await provision_broker(Settings(secret_key=SECRET, nats_auth="derived", nats_url=server.url))
    yield server
    server.stop()


def routed() -> QuestionRouted:
    now = datetime.now(UTC)
    return QuestionRouted(
        question_id=uuid4(),
        reference="OD-ABCD-2345",
        group_id="g",
        contact_id="c-1",
        reason="topic+online",
        attempt=1,
        topic="angst",
        municipality=None,
        priority=False,
        channel="web",
        received_at=now,
        respond_before=now,
    )


async def connect(server: NatsServer, user: str, on_error: Callable) -> Client:
    """As the service connects: its own account and its own inbox prefix."""
    return await nats.connect(
        server.url,
        user=user,
        password=password(SETTINGS, user),
        error_cb=on_error,
        inbox_prefix=inbox_prefix(user),
    )


async def publish_as(server: NatsServer, user: str, subject: str) -> tuple[bool, list[str]]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await connect(server, user, on_error)
    try:
        await nc.jetstream().publish(subject, routed().to_bytes(), timeout=1.5)
        return True, errors
    except NatsTimeout:
        return False, errors
    finally:
        await nc.close()


async def test_routing_may_publish_its_own_event(secured: NatsServer) -> None:
    ok, errors = await publish_as(secured, "routing", "question.routed.v1")
    assert ok and not errors


async def test_intake_cannot_publish_routings_event(secured: NatsServer) -> None:
    ok, errors = await publish_as(secured, "intake", "question.routed.v1")
    assert not ok
    assert any("permissions violation" in e.lower() for e in errors)


@pytest.mark.parametrize("subject", ["question.routed.v1", "callback.done.v1", "group.changed.v1"])
async def test_audit_cannot_publish_at_all(secured: NatsServer, subject: str) -> None:
    ok, errors = await publish_as(secured, "audit", subject)
    assert not ok and any("permissions violation" in e.lower() for e in errors)


async def test_a_wrong_password_is_refused(secured: NatsServer) -> None:
    with pytest.raises((nats.errors.Error, OSError, asyncio.TimeoutError)):
        await nats.connect(
            secured.url,
            user="intake",
            password="guess",
            max_reconnect_attempts=0,
            allow_reconnect=False,
            connect_timeout=2,
        )


async def test_a_service_may_subscribe_only_to_its_own_inboxes(secured: NatsServer) -> None:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await connect(secured, "routing", on_error)
    try:
        await nc.subscribe("_INBOX_routing.x")
        await nc.flush()
        assert not errors
        await nc.subscribe("_INBOX.>")
        await nc.subscribe("_INBOX_notify.>")
        await nc.flush()
        await asyncio.sleep(0.3)
        assert sum("permissions violation for subscription" in e for e in errors) == 2, errors
    finally:
        await nc.close()


async def create_as(server: NatsServer, user: str, config: ConsumerConfig) -> bool:
    async def ignore(_exc: Exception) -> None:
        return None

    nc = await connect(server, user, ignore)
    try:
        await nc.jetstream(timeout=1.5).add_consumer(EVENTS_STREAM, config)
        return True
    except (TimeoutError, NatsTimeout, nats.errors.Error):
        return False
    finally:
        await nc.close()


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda c: c.durable)
async def test_each_service_can_create_its_own_durables_as_provisioned(
    secured: NatsServer, spec
) -> None:
    from opendeur.messaging import consumer_config

    assert await create_as(secured, spec.service, consumer_config(spec))


async def test_a_durable_cannot_be_widened_or_taken(secured: NatsServer) -> None:
    def config(durable: str, subject: str, named: bool = True) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=durable,
            name=durable if named else None,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
        )

    own = "intake-question-routed-v1"
    assert not await create_as(secured, "intake", config(own, "question.received.v1"))
    assert not await create_as(secured, "intake", config(own, ">"))
    assert not await create_as(secured, "intake", config(own, "question.received.v1", False))
    assert not await create_as(
        secured, "intake", config("routing-question-received-v1", "question.received.v1")
    )
