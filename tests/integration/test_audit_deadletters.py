"""Dead letters on the real broker: listed on the console (headers only), replayed by replay()."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import httpx
import nats
import pytest

from contracts.streams import DEADLETTER_STREAM, deadletter_subject
from services.audit.deadletters import ReplayRefused, list_dead, replay
from tests.support import ADMIN, System, received_event, staff_client

POISON = b'{"not": "an event"}'
CONSUMER = "routing-question-received-v1"
SLOW = 60


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_dead(js, stream_seq: int) -> dict:
    deadline = time.monotonic() + SLOW
    while True:
        for row in await list_dead(js, limit=200):
            if row["consumer"] == CONSUMER and row["stream_seq"] == str(stream_seq):
                return row
        if time.monotonic() > deadline:
            raise TimeoutError(f"event stream seq {stream_seq} was not dead-lettered")
        await asyncio.sleep(0.1)


async def test_poison_message_is_listed_on_the_console_without_its_payload(
    system: System,
) -> None:
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        ack = await js.publish(
            "question.received.v1", POISON, headers={"Nats-Msg-Id": str(uuid.uuid4())}
        )
        row = await wait_dead(js, ack.seq)
    finally:
        await nc.close()

    assert row["subject"] == "question.received.v1"
    assert row["reason"] == "invalid:validationerror"
    assert row["time"] is not None and datetime.fromisoformat(row["time"]).tzinfo is not None
    assert set(row) == {"seq", "time", "consumer", "reason", "subject", "stream_seq"}

    url = system.url("audit") + "/"
    async with httpx.AsyncClient(timeout=30) as client:
        anonymous = await client.get(url)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith(system.url("intake") + "/staff/handoff?")
        # The shared token opens no page for people, in its old cookie or as a bearer.
    for old in ({"cookies": {"od_admin": ADMIN}}, {"headers": bearer(ADMIN)}):
        async with httpx.AsyncClient(timeout=30, **old) as client:
            r = await client.get(url)
            assert r.status_code == 303 and "opendeur deadletters" not in r.text, old
    other = await staff_client(system, "teamlid", "rapportage")
    try:
        refused = await other.get(url)
        assert refused.status_code == 403 and CONSUMER not in refused.text
    finally:
        await other.aclose()
    operator = await staff_client(system, "beheerder")
    try:
        r = await operator.get(url)
        assert r.status_code == 200 and str(r.url) == url, (r.status_code, r.url)
        page = r.text
    finally:
        await operator.aclose()
    assert f"opendeur deadletters replay {row['seq']}</code>" in page
    assert CONSUMER in page and "invalid:validationerror" in page
    assert "an event" not in page, "the console must never show a dead letter's payload"


async def test_replay_republishes_a_dead_letter_to_its_event_subject(system: System) -> None:
    event = received_event()
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        # A valid event that a consumer gave up on (as messaging.dead_letter records it).
        forged = await js.publish(
            deadletter_subject(CONSUMER),
            event.to_bytes(),
            headers={
                "Opendeur-Consumer": CONSUMER,
                "Opendeur-Reason": "max_deliveries",
                "Opendeur-Subject": event.subject,
                "Nats-Msg-Id": str(uuid.uuid4()),
            },
        )
        assert forged.stream == DEADLETTER_STREAM
        assert any(r["seq"] == forged.seq for r in await list_dead(js))
        assert await system.audit_events(str(event.question_id)) == []

        assert await replay(js, forged.seq) == "question.received.v1"
        events = await system.wait_audit(
            str(event.question_id), ["question.received.v1", "question.routed.v1"], timeout=SLOW
        )
        assert [e["type"] for e in events].count("question.received.v1") == 1

        # Replaying twice publishes again (fresh Nats-Msg-Id) but consumers are idempotent.
        await replay(js, forged.seq)
        await asyncio.sleep(2)
        events = await system.audit_events(str(event.question_id))
        assert [e["type"] for e in events].count("question.routed.v1") == 1
    finally:
        await nc.close()


async def test_replay_refuses_what_is_not_an_event(system: System) -> None:
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        bad = await js.publish(
            deadletter_subject(CONSUMER),
            received_event().to_bytes(),
            headers={
                "Opendeur-Consumer": CONSUMER,
                "Opendeur-Reason": "max_deliveries",
                "Opendeur-Subject": "$JS.API.STREAM.DELETE.OPENDEUR_EVENTS",
            },
        )
        with pytest.raises(ReplayRefused, match="not an event subject"):
            await replay(js, bad.seq)
        missing = (await js.stream_info(DEADLETTER_STREAM)).state.last_seq + 1000
        with pytest.raises(ReplayRefused, match="no dead letter"):
            await replay(js, missing)
    finally:
        await nc.close()


def test_the_cli_lists_and_refuses_what_it_may_not_replay(system: System) -> None:
    listed = system.opendeur("deadletters", "list")
    assert listed.returncode == 0, listed.stderr
    refused = system.opendeur("deadletters", "replay", "999999")
    assert refused.returncode == 2 and "refused" in refused.stderr
