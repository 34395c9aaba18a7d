"""The 24-hour clock end to end, shortened to 20 seconds: reminder, team, breach, in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import ADMIN, System, question, start_system, stop_system


async def audit_of_type(s: System, event_type: str) -> list[dict]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        r = await c.get(s.url("audit") + "/api/v1/audit/events", params={"type": event_type})
        r.raise_for_status()
        return r.json()


async def poll(check, timeout: float, what: str):
    """Call `check()` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


@pytest.fixture
async def clock_system(tmp_path: Path, pg: Postgres) -> AsyncIterator[System]:
    s = start_system(tmp_path, pg, OPENDEUR_RESPONSE_DEADLINE="20s")
    yield s
    stop_system(s)


async def test_unanswered_question_escalates_reminder_then_team_then_breach(
    clock_system: System,
) -> None:
    s = clock_system
    async with httpx.AsyncClient() as client:
        r = await client.post(s.url("intake") + "/api/v1/questions", json=question())
        assert r.status_code == 202, r.text
    qid, ref = r.json()["question_id"], r.json()["reference"]
    await s.wait_mail(lambda m: ref in m.subject and not m.subject.startswith("Herinnering"))

    async def all_levels() -> list[dict] | None:
        events = await s.audit_events(qid)
        escalated = [e for e in events if e["type"] == "question.escalated.v1"]
        return escalated if len(escalated) >= 3 else None

    escalated = await poll(all_levels, 60, "three escalations did not arrive")
    assert [e["level"] for e in escalated] == ["reminder", "team", "breach"]
    at = [datetime.fromisoformat(e["occurred_at"]) for e in escalated]
    assert at[0] < at[1] < at[2]
    assert at[2] >= datetime.fromisoformat(escalated[2]["respond_before"])
    assert all(e["contact_id"] and e["group_id"] == "rouwgroep-eindhoven" for e in escalated)

    reminder = await s.wait_mail(lambda m: m.subject.startswith("Herinnering") and ref in m.subject)
    assert reminder.to == ["anna.rouw@example.org"]

    async def reminder_notified() -> list[dict] | None:
        events = await s.audit_events(qid)
        notified = [
            e for e in events if e["type"] == "contact.notified.v1" and e["purpose"] == "reminder"
        ]
        return events if notified else None

    events = await poll(reminder_notified, 30, "the reminder was not recorded as notified")
    assert [e["type"] for e in events].count("question.escalated.v1") == 3
