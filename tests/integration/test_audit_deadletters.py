"""Dead letters on the real broker: listed on the console (headers only), replayed by replay()."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime

import httpx
import nats
import pytest

from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM, deadletter_subject
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
    assert f'action="/deadletters/{row["seq"]}/replay"' in page
    # The consumer and the reason in words, not as codes.
    assert "doorsturen (routing): vraag binnengekomen" in page
    assert "onleesbaar of geen geldig bericht" in page
    # The code itself only for whoever opens "Code voor de technici".
    assert "<summary>Code voor de technici</summary><code>invalid:validationerror</code>" in page
    assert "an event" not in page, "the console must never show a dead letter's payload"


async def published(js, event) -> int:
    """The event in OPENDEUR_EVENTS, as its service publishes it; its stream sequence."""
    ack = await js.publish(
        event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
    )
    assert ack.stream == EVENTS_STREAM
    return ack.seq


async def dead_letter(js, body: bytes, subject: str, stream_seq: int | None) -> int:
    """A dead letter as messaging.dead_letter records it (or as a compromised service could
    write one: any body, any claimed subject and sequence); its sequence."""
    headers = {
        "Opendeur-Consumer": CONSUMER,
        "Opendeur-Reason": "max_deliveries",
        "Opendeur-Subject": subject,
        "Nats-Msg-Id": str(uuid.uuid4()),
    }
    if stream_seq is not None:
        headers["Opendeur-Stream-Seq"] = str(stream_seq)
    ack = await js.publish(deadletter_subject(CONSUMER), body, headers=headers)
    assert ack.stream == DEADLETTER_STREAM
    return ack.seq


async def test_replay_republishes_the_original_event_never_the_dead_letters_body(
    system: System,
) -> None:
    event = received_event()
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        where = await published(js, event)
        await system.wait_audit(
            str(event.question_id), ["question.received.v1", "question.routed.v1"], timeout=SLOW
        )
        # A dead letter for it whose body was swapped (a compromised routing may write dead
        # letters for its own consumers): the replay publishes the original, not the body.
        swapped = received_event()
        seq = await dead_letter(js, swapped.to_bytes(), event.subject, where)
        assert any(r["seq"] == seq for r in await list_dead(js))
        assert await replay(js, seq) == "question.received.v1"
        await asyncio.sleep(2)
        assert await system.audit_events(str(swapped.question_id)) == []
        # Replayed again and again: consumers and the trail are idempotent on the event id.
        await replay(js, seq)
        await asyncio.sleep(2)
        types = [e["type"] for e in await system.audit_events(str(event.question_id))]
        assert types.count("question.received.v1") == 1 and types.count("question.routed.v1") == 1

        # A dead letter that claims another subject than its original's, or points nowhere, is
        # refused: no follow-up answer or outcome can be laundered through the admin account.
        claims = await dead_letter(js, b'{"answer": "no"}', "followup.answered.v1", where)
        with pytest.raises(ReplayRefused, match="but its original"):
            await replay(js, claims)
        nowhere = await dead_letter(js, swapped.to_bytes(), event.subject, None)
        with pytest.raises(ReplayRefused, match="does not say where"):
            await replay(js, nowhere)
        beyond = (await js.stream_info(EVENTS_STREAM)).state.last_seq + 1000
        gone = await dead_letter(js, swapped.to_bytes(), event.subject, beyond)
        with pytest.raises(ReplayRefused, match="no longer kept"):
            await replay(js, gone)
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


async def forge_dead_letter(js) -> int:
    """A dead letter for a valid event (its original in OPENDEUR_EVENTS), as
    messaging.dead_letter records it; its sequence."""
    event = received_event()
    return await dead_letter(js, event.to_bytes(), event.subject, await published(js, event))


def replay_records(events: list[dict], seq: int) -> list[dict]:
    return [
        e
        for e in events
        if e["type"] == "staff.acted.v1"
        and e.get("action") == "deadletter_replay"
        and e.get("deadletter_seq") == seq
    ]


async def trail(client: httpx.AsyncClient, system: System) -> list[dict]:
    r = await client.get(
        system.url("audit") + "/api/v1/audit/events",
        params={"type": "staff.acted.v1", "limit": 5000},
        headers=bearer(ADMIN),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_operators_replay_request_is_in_the_chain_with_their_staff_id(
    system: System,
) -> None:
    nc = await nats.connect(system.nats.url)
    try:
        seq = await forge_dead_letter(nc.jetstream())
    finally:
        await nc.close()
    url = system.url("audit")
    anonymous = httpx.AsyncClient(timeout=30)
    other = await staff_client(system, "teamlid", "rapportage")
    operator = await staff_client(system, "beheerder")
    try:
        page = (await operator.get(url + "/")).text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        action = f"{url}/deadletters/{seq}/replay"
        assert action.removeprefix(url) in page

        # Refused before anything is written: nobody signed in, the wrong role, no CSRF token.
        assert (await anonymous.post(action, data={"csrf": csrf})).status_code == 401
        await other.get(url + "/")  # a session at audit, without the role
        assert (await other.post(action, data={"csrf": csrf})).status_code == 403
        r = await operator.post(action, data={"csrf": "0" * 64}, follow_redirects=False)
        assert r.status_code == 403
        async with httpx.AsyncClient(timeout=30) as reader:
            assert replay_records(await trail(reader, system), seq) == []

        missing = await operator.post(
            f"{url}/deadletters/{seq + 100000}/replay", data={"csrf": csrf}
        )
        assert missing.status_code == 404 and "geen vastgelopen bericht" in missing.text

        r = await operator.post(action, data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/?replayed={seq}#dead"
        shown = await operator.get(url + r.headers["location"])
        assert shown.status_code == 200
    finally:
        await anonymous.aclose()
        await other.aclose()
        await operator.aclose()

    async with httpx.AsyncClient(timeout=30) as reader:
        records = replay_records(await trail(reader, system), seq)
        verified = await reader.get(url + "/api/v1/audit/verify", headers=bearer(ADMIN))
    assert len(records) == 1, records
    asked = records[0]
    assert asked["source"] == "audit" and asked["deadletter_subject"] == "question.received.v1"
    assert re.fullmatch(r"st-[0-9a-f]{16}", asked["staff_id"])
    # The chain still holds together with audit's own record in it.
    assert verified.json()["ok"] is True
    page = shown.text
    assert "opnieuw aanbieden is aangevraagd" in page
    assert f"Aangevraagd door medewerker {asked['staff_id']}" in page
    assert f"door medewerker {asked['staff_id']}" in page.split('id="events"')[1]
