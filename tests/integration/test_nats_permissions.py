"""Least privilege on the broker: each service's NATS user may publish only its own events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from contracts.events import QuestionRouted
from opendeur.embedded import NatsServer
from opendeur.messaging import provision_broker
from opendeur.natsauth import authorization_conf, password
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


async def publish_as(server: NatsServer, user: str, subject: str) -> tuple[bool, list[str]]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        server.url, user=user, password=password(SETTINGS, user), error_cb=on_error
    )
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
