"""Intake's JSON API through HTTP: every refusal code, withdrawal, body limit, no personal data kept."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import datetime

import httpx
import nats
import pytest

from contracts.streams import EVENTS_STREAM
from tests.support import System, question


def client(system: System) -> httpx.AsyncClient:
    # The shared system runs without a question rate limit (OPENDEUR_INTAKE_RATE=off) and trusts
    # no proxy: X-Forwarded-For would change nothing (tests/security/test_door.py).
    return httpx.AsyncClient(base_url=system.url("intake"))


def canary_phone() -> tuple[str, str]:
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    return "0" + digits, digits


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        (
            {"consent": {"share_with_contact": False, "statistics": True}},
            "consent_required",
            "consent.share_with_contact",
        ),
        ({"phone": "12345"}, "invalid_phone", "phone"),
        ({"phone": "call me maybe"}, "invalid_phone", "phone"),
        ({"phone": None}, "invalid_phone", "phone"),
        ({"postcode": "56"}, "invalid_postcode", "postcode"),
        ({"postcode": "AB 5611"}, "invalid_postcode", "postcode"),
        ({"story": "x" * 4001}, "story_too_long", "story"),
        ({"topic": "breien-op-maandag"}, "unknown_topic", "topic"),
        ({"shoe_size": 44}, "unknown_field", "shoe_size"),
        ({"consent": {"share_with_contact": True, "extra": 1}}, "unknown_field", "consent.extra"),
        # An unknown key that is not a field's name is not echoed: it may be anything typed.
        ({"Anna de Vries belt 06 12345678": "x"}, "unknown_field", None),
        ({"consent": {"share_with_contact": True, "mijn verhaal": 1}}, "unknown_field", "consent"),
        ({"for_self": "yes"}, "invalid_value", "for_self"),
        ({"for_self": 1}, "invalid_value", "for_self"),
        ({"story": 42}, "invalid_value", "story"),
        ({"consent": "yes"}, "invalid_value", "consent"),
        ({"channel": "fax"}, "invalid_value", "channel"),
        ({"language": "de"}, "invalid_value", "language"),
    ],
)
async def test_each_refusal_has_its_code_and_field(
    system: System, overrides: dict, code: str, field: str
) -> None:
    async with client(system) as c:
        r = await c.post("/api/v1/questions", json=question(**overrides))
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "message", "field"}
    assert (body["error"], body["field"]) == (code, field)
    assert body["message"]


async def test_missing_required_field(system: System) -> None:
    body = question()
    del body["consent"]
    async with client(system) as c:
        r = await c.post("/api/v1/questions", json=body)
    assert r.status_code == 422
    assert r.json()["error"] == "missing_field" and r.json()["field"] == "consent"


@pytest.mark.parametrize(
    "content", [b"", b"{", b"not json", b"[1, 2]", b"null", b'"text"', b"\xff\xfe"]
)
async def test_empty_or_malformed_body_is_invalid_json(system: System, content: bytes) -> None:
    async with client(system) as c:
        r = await c.post(
            "/api/v1/questions", content=content, headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 422, r.text
    assert r.json()["error"] in ("invalid_json", "invalid_value"), r.text
    if content in (b"", b"{", b"not json", b"\xff\xfe"):
        assert r.json()["error"] == "invalid_json"


async def test_errors_never_echo_what_was_typed(system: System) -> None:
    marker = f"echo{uuid.uuid4().hex[:10]}"
    async with client(system) as c:
        for overrides in (
            {"phone": marker},
            {"postcode": marker},
            {"topic": marker},
            {"for_self": marker},
            {marker: True},
        ):
            r = await c.post("/api/v1/questions", json=question(**overrides))
            assert r.status_code == 422
            assert marker not in r.json()["message"]
    assert marker not in system.logs()


async def test_body_over_64_kib_is_413_with_the_error_shape(system: System) -> None:
    async with client(system) as c:
        r = await c.post("/api/v1/questions", json=question(story="x" * (70 * 1024)))
        assert r.status_code == 413
        assert r.json()["error"] == "request_too_large"
        assert set(r.json()) == {"error", "message", "field"}

        async def chunks():
            for _ in range(80):
                yield b"x" * 1024

        r = await c.post(
            "/api/v1/questions", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        r = await c.post("/", content=chunks())
        assert r.status_code == 413


async def last_referral(url: str) -> dict | None:
    nc = await nats.connect(url)
    try:
        msg = await nc.jetstream().get_last_msg(EVENTS_STREAM, "referral.noted.v1")
        return json.loads(msg.data)
    except nats.js.errors.NotFoundError:
        return None
    finally:
        await nc.close()


async def test_must_self_contact_keeps_nothing_personal_and_notes_a_referral(
    system: System,
) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    phone, digits = canary_phone()
    started = time.time()
    async with client(system) as c:
        r = await c.post(
            "/api/v1/questions",
            json=question(
                for_self=False,
                phone=phone,
                story=canary,
                topic="angst",
                referrer_kind="professional",
            ),
        )
    assert r.status_code == 422
    assert r.json()["error"] == "must_self_contact" and r.json()["field"] == "for_self"
    assert "/verwijzen" in r.json()["message"]

    deadline = time.monotonic() + 15
    while True:
        event = await last_referral(system.nats.url)
        if event and datetime.fromisoformat(event["occurred_at"]).timestamp() >= started - 1:
            break
        assert time.monotonic() < deadline, "no referral.noted.v1 was published"
        await asyncio.sleep(0.1)
    assert event["referrer_kind"] == "professional"
    assert event["topic"] == "angst" and event["channel"] == "web"
    assert "question_id" not in event or event["question_id"] is None

    dump = system.pg.dump(system.database)
    assert canary not in dump and digits not in dump
    assert canary not in system.logs() and digits not in system.logs()


async def test_withdraw_erases_at_once_and_a_second_delete_is_404(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    phone, digits = canary_phone()
    async with client(system) as c:
        r = await c.post("/api/v1/questions", json=question(phone=phone, story=canary))
        assert r.status_code == 202, r.text
        accepted = r.json()
        qid, token = accepted["question_id"], accepted["withdraw_token"]

        wrong = await c.delete(f"/api/v1/questions/{qid}", headers={"X-Withdraw-Token": "nope"})
        assert wrong.status_code == 404
        assert wrong.json()["error"] == "not_found"

        r = await c.delete(f"/api/v1/questions/{qid}", headers={"X-Withdraw-Token": token})
        assert r.status_code == 204 and r.content == b""
        again = await c.delete(f"/api/v1/questions/{qid}", headers={"X-Withdraw-Token": token})
        assert again.status_code == 404
        assert set(again.json()) == {"error", "message", "field"}

        missing = await c.delete(f"/api/v1/questions/{qid}")
        assert missing.status_code == 422
        assert missing.json()["field"].endswith("x-withdraw-token")
        not_a_uuid = await c.delete("/api/v1/questions/abc", headers={"X-Withdraw-Token": token})
        assert not_a_uuid.status_code == 422

    events = await system.wait_audit(qid, ["consent.withdrawn.v1", "question.erased.v1"])
    erased = next(e for e in events if e["type"] == "question.erased.v1")
    assert erased["reason"] == "withdrawn"
    dump = system.pg.dump(system.database)
    assert canary not in dump and digits not in dump
    assert str(uuid.UUID(qid)) in dump  # the non-personal shell stays, for the audit's sake


async def test_accepted_shape_and_crisis_advice(system: System) -> None:
    async with client(system) as c:
        r = await c.post(
            "/api/v1/questions",
            json=question(story="Ik wil niet meer leven.", language="en", topic=None),
        )
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"question_id", "reference", "respond_before", "withdraw_token", "advice"}
    assert body["advice"]["professional_help"] is True
    assert "113" in body["advice"]["message"] and "112" in body["advice"]["message"]
