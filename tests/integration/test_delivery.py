"""Delivery guarantees on the real broker and database: redelivery, outbox, dead letters, roles."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import nats
import psutil
import pytest

from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM
from opendeur.db import role_name
from opendeur.keys import role_password
from opendeur.settings import Settings
from tests.support import SECRET, System, question, received_event


async def drained(js, durables: list[str], timeout: float = 20) -> None:
    """Wait until these consumers have nothing pending and nothing unacknowledged."""
    deadline = time.monotonic() + timeout
    while True:
        infos = [await js.consumer_info(EVENTS_STREAM, d) for d in durables]
        if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
            return
        if time.monotonic() > deadline:
            raise TimeoutError([(i.name, i.num_pending, i.num_ack_pending) for i in infos])
        await asyncio.sleep(0.1)


async def test_the_same_event_delivered_twice_routes_and_mails_once(system: System) -> None:
    nc = await nats.connect(system.nats.url)
    js = nc.jetstream()
    event = received_event()
    # Two different Nats-Msg-Ids get past JetStream's de-duplication: the consumers must cope.
    for copy in ("a", "b"):
        await js.publish(
            event.subject, event.to_bytes(), headers={"Nats-Msg-Id": f"{event.event_id}-{copy}"}
        )
    await system.wait_mail(lambda m: event.reference in m.subject)
    await drained(js, ["routing-question-received-v1", "notify-question-routed-v1"])
    await system.wait_audit(str(event.question_id), ["contact.notified.v1"])
    events = await system.audit_events(str(event.question_id))
    assert [e["type"] for e in events].count("question.routed.v1") == 1
    assert [e["type"] for e in events].count("contact.notified.v1") == 1
    assert sum(event.reference in m.subject for m in system.smtp.mails) == 1
    await nc.close()


async def test_jetstream_drops_a_republished_message_with_the_same_msg_id(system: System) -> None:
    nc = await nats.connect(system.nats.url)
    js = nc.jetstream()
    event = received_event()
    first = await js.publish(
        event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
    )
    second = await js.publish(
        event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
    )
    assert second.duplicate and second.seq == first.seq
    await system.wait_mail(lambda m: event.reference in m.subject)
    await nc.close()


async def test_a_poison_message_is_dead_lettered_and_the_consumer_goes_on(system: System) -> None:
    nc = await nats.connect(system.nats.url)
    js = nc.jetstream()
    before = (await js.stream_info(DEADLETTER_STREAM)).state.messages
    await js.publish("question.received.v1", b'{"not": "an event", "story": "geheim"}')
    deadline = time.monotonic() + 20
    while (await js.stream_info(DEADLETTER_STREAM)).state.messages == before:
        assert time.monotonic() < deadline, "nothing was dead-lettered"
        await asyncio.sleep(0.1)
    last = await js.get_last_msg(DEADLETTER_STREAM, "deadletter.routing-question-received-v1")
    assert last.headers["Opendeur-Reason"].startswith("invalid")
    good = received_event()
    await js.publish(good.subject, good.to_bytes(), headers={"Nats-Msg-Id": str(good.event_id)})
    await system.wait_mail(lambda m: good.reference in m.subject)
    await nc.close()


async def test_the_door_stays_open_while_the_broker_is_down(system: System) -> None:
    system.nats.stop()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(
                system.url("intake") + "/api/v1/questions", json=question(topic="angst")
            )
            assert r.status_code == 202, r.text
            ref = r.json()["reference"]
            health = await client.get(system.url("intake") + "/healthz")
            assert health.status_code == 503 and health.json()["broker"] is False
            # ... and still ready for a load balancer: the door stays open (deploy/k8s).
            ready = await client.get(system.url("intake") + "/readyz")
            assert ready.status_code == 200 and ready.json()["database"] is True
        conn = await asyncpg.connect(system.pg.url(system.database))
        assert await conn.fetchval("select count(*) from intake.outbox") >= 1
        await conn.close()
    finally:
        system.nats.start()
    await system.wait_mail(lambda m: ref in m.subject, timeout=60)


@pytest.mark.parametrize("service", ["audit", "notify", "routing"])
async def test_a_service_role_cannot_read_another_schema(system: System, service: str) -> None:
    settings = Settings(secret_key=SECRET)
    url = system.pg.url(system.database).replace(
        f"postgres:{system.pg.password}@",
        f"{role_name(service)}:{role_password(settings, service)}@",
    )
    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("select * from intake.questions")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("select * from intake.question_pii")
        assert await conn.fetchval("select count(*) from outbox") >= 0  # its own schema works
    finally:
        await conn.close()


async def test_external_infrastructure_is_used_not_started(system: System) -> None:
    """The system fixture runs `opendeur up` with OPENDEUR_NATS_URL/DATABASE_URL/SMTP_URL set to a
    separately started nats-server and PostgreSQL: up must start only the services."""
    up = psutil.Process(system.proc.pid)
    names = {p.name() for p in up.children(recursive=True)}
    assert not names & {"nats-server", "postgres"}, names
    async with httpx.AsyncClient() as client:
        for service in ("intake", "routing", "notify", "audit"):
            r = await client.get(system.url(service) + "/healthz")
            assert r.status_code == 200 and r.json() == {
                "service": service,
                "database": True,
                "broker": True,
                "working": True,
            }
