"""Two routing processes on one database and one durable consumer: capacity holds, nothing twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from opendeur.embedded import Postgres, free_port
from tests.integration.test_routing_clock import audit_of_type, poll
from tests.support import ROOT, System, question, start_system, stop_system

QUESTIONS = 30


@pytest.fixture
async def two_routers(tmp_path: Path, pg: Postgres) -> AsyncIterator[System]:
    # Thirty questions from one address would hit the front door's flood brake.
    s = start_system(tmp_path, pg, OPENDEUR_RESPONSE_DEADLINE="12s", OPENDEUR_INTAKE_RATE="off")
    port = free_port()
    log = open(tmp_path / "routing-2.log", "ab")
    second = subprocess.Popen(
        [sys.executable, "-m", "opendeur", "serve", "routing"],
        env={**s.env, "OPENDEUR_ROUTING_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )

    async def healthy() -> bool:
        assert second.poll() is None, s.logs()
        try:
            async with httpx.AsyncClient() as c:
                r = await c.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return r.status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await poll(healthy, 60, "second routing instance did not become healthy")
        yield s
    finally:
        second.terminate()
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()
        log.close()
        stop_system(s)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_two_instances_never_exceed_capacity_and_decide_each_question_once(
    two_routers: System,
) -> None:
    s = two_routers
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(s.url("intake") + "/api/v1/questions", json=question())
                for _ in range(QUESTIONS)
            )
        )
    assert [r.status_code for r in responses] == [202] * QUESTIONS
    qids = {r.json()["question_id"] for r in responses}

    async def decided() -> tuple[list[dict], list[dict]] | None:
        routed = await audit_of_type(s, "question.routed.v1")
        unmatched = await audit_of_type(s, "question.unmatched.v1")
        return (routed, unmatched) if len(routed) + len(unmatched) >= QUESTIONS else None

    routed, unmatched = await poll(decided, 60, "not every question was decided")
    assert len(routed) == 3
    assert len({e["contact_id"] for e in routed}) == 1
    assert {e["group_id"] for e in routed} == {"rouwgroep-eindhoven"}
    assert {e["reason"] for e in unmatched} == {"all_full"}
    decisions = Counter(e["question_id"] for e in routed + unmatched)
    assert set(decisions) == qids
    assert set(decisions.values()) == {1}

    async def all_timers() -> list[dict] | None:
        escalated = await audit_of_type(s, "question.escalated.v1")
        return escalated if len(escalated) >= 3 * len(routed) else None

    escalated = await poll(all_timers, 60, "not every timer fired")
    await asyncio.sleep(2)  # a second firing would come within the next timer ticks
    escalated = await audit_of_type(s, "question.escalated.v1")
    fired = Counter((e["question_id"], e["level"]) for e in escalated)
    assert set(fired) == {
        (e["question_id"], level) for e in routed for level in ("reminder", "team", "breach")
    }
    assert set(fired.values()) == {1}
