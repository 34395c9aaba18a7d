"""Events forged straight onto the stream with the admin account: extra fields, wrong types,
invalid JSON, a body near NATS's max_payload, another event's body, an unknown subject version.
Each is dead-lettered by every consumer of its subject (or refused by the broker), no service
process dies, and a real question afterwards still ends in a mail."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import orjson
import pytest
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from contracts.streams import CONSUMERS, DEADLETTER_STREAM, EVENTS_STREAM
from tests.hostile.conftest import PAD, XSS, admin_js, dead_letters_since
from tests.support import System, question, received_event, staff_client


def valid_received() -> dict:
    now = datetime.now(UTC)
    return received_event(
        reference="ZH-AB12-CD34",
        topic="rouw",
        pc4="5611",
        consent_version="v1",
        consent_statistics=True,
        respond_before=now,
        received_at=now,
    ).model_dump(mode="json")


def consumers_of_subject(subject: str) -> set[str]:
    """The durables that dead-letter what they cannot decode. Audit's catch-all consumer does not:
    by design it records an invalid message in the trail as type + id only, flagged invalid
    (services/audit/allowlist.py), which is checked separately below."""
    return {c.durable for c in CONSUMERS if c.subject == subject}


@pytest.fixture
async def js(hostile: System):
    async with admin_js(hostile) as pair:
        yield pair


async def test_forged_events_are_dead_lettered_and_the_consumers_keep_going(
    hostile: System, js
) -> None:
    js, nc = js
    max_payload = nc.max_payload
    start = (await js.stream_info(DEADLETTER_STREAM)).state.last_seq
    forged: dict[str, tuple[str, bytes]] = {
        "extra field": (
            "question.received.v1",
            orjson.dumps({**valid_received(), "story": f"mijn verhaal {XSS}"}),
        ),
        "wrong types": (
            "question.received.v1",
            orjson.dumps({**valid_received(), "consent_share": "ja", "pc4": 5611}),
        ),
        "invalid json": ("callback.done.v1", b'{"type": "callback.done.v1", '),
        "not utf-8": ("question.routed.v1", b"\xff\xfe\xfd" * 100),
        "another event's body": ("callback.done.v1", orjson.dumps(valid_received())),
        "huge": (
            "question.received.v1",
            b'{"pad": "' + PAD * (max_payload - 1024) + b'"}',
        ),
    }
    seqs: dict[str, int] = {}
    for name, (subject, data) in forged.items():
        ack = await js.publish(
            subject, data, headers={"Nats-Msg-Id": f"forged-{uuid.uuid4()}"}, timeout=10
        )
        assert ack.stream == EVENTS_STREAM
        seqs[name] = ack.seq

    # A subject version the contract does not know is refused by the broker: no stream takes it.
    with pytest.raises((JsError, NatsError)):
        await js.publish("question.received.v2", orjson.dumps(valid_received()), timeout=3)

    expected = {
        (str(seqs[name]), durable)
        for name, (subject, _) in forged.items()
        for durable in consumers_of_subject(subject)
    }
    deadline = time.monotonic() + 60
    while True:
        got = await dead_letters_since(js, start)
        seen = {(d.get("Opendeur-Stream-Seq"), d.get("Opendeur-Consumer")) for d in got}
        if expected <= seen:
            break
        assert time.monotonic() < deadline, f"not dead-lettered: {sorted(expected - seen)}"
        await asyncio.sleep(0.5)
    for d in got:
        assert d["Opendeur-Reason"].startswith("invalid:"), d

    # Audit kept a trace of each without its content: allow-listed fields or "invalid".
    conn = await asyncpg.connect(hostile.pg.url(hostile.database))
    try:
        deadline = time.monotonic() + 30
        while True:
            invalid = await conn.fetchval(
                "select count(*) from audit.events where record->>'invalid' = 'true'"
            )
            if invalid >= len(forged) - 1:  # all but the one that is valid without its extra
                break
            assert time.monotonic() < deadline, f"audit recorded {invalid} invalid events"
            await asyncio.sleep(0.5)
        leaked = await conn.fetchval(
            "select count(*) from audit.events where record::text like '%mijn verhaal%'"
            " or record::text like '%pppppppp%' or record::text like '%<script>%'"
        )
    finally:
        await conn.close()
    assert leaked == 0

    # Nothing crashed: no child was restarted by the supervisor, and the flow still works.
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(hostile.url("intake") + "/api/v1/questions", json=question())
        assert r.status_code == 202, r.text
        reference = r.json()["reference"]
    await hostile.wait_mail(lambda m: reference in m.subject, timeout=30)
    up_log = (hostile.data_dir / "up.log").read_text(errors="replace")
    assert "exited" not in up_log, up_log[-2000:]
    for service in ("intake", "routing", "notify", "audit"):
        assert httpx.get(hostile.url(service) + "/healthz", timeout=5).status_code == 200
    # The audit console lists them without their content, to an operator signed in as staff.
    operator = await staff_client(hostile, "beheerder")
    try:
        page = await operator.get(hostile.url("audit") + "/")
    finally:
        await operator.aclose()
    assert page.status_code == 200 and str(page.url) == hostile.url("audit") + "/", page.url
    assert "invalid:validationerror" in page.text
    assert XSS not in page.text and "mijn verhaal" not in page.text
