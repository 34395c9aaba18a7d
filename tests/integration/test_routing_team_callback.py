"""A team member's callback of a crisis question (callback.done.v1 by team) in routing's queue."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import nats

from contracts.events import CallbackDone
from tests.integration.test_routing_clock import poll
from tests.support import System, question


async def row(system: System, qid: str) -> asyncpg.Record:
    conn = await asyncpg.connect(system.pg.url(system.database))
    try:
        return await conn.fetchrow(
            "select state, reason, unreachable_count, contact_id, "
            "(select count(*) from routing.timers t where t.question_id = q.question_id "
            " and t.fired_at is null) as running "
            "from routing.questions q where question_id = $1",
            uuid.UUID(qid),
        )
    finally:
        await conn.close()


async def team_outcome(system: System, qid: str, outcome: str) -> None:
    nc = await nats.connect(system.nats.url)
    try:
        event = CallbackDone(
            question_id=uuid.UUID(qid), outcome=outcome, by="team", staff_id="s-test"
        )
        await nc.jetstream().publish(
            event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
        )
    finally:
        await nc.close()


async def test_a_team_callback_counts_a_try_then_takes_the_question_out_of_triage(
    system: System,
) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(
            system.url("intake") + "/api/v1/questions",
            json=question(story="Ik wil niet meer leven.", topic=None),
        )
    assert r.status_code == 202, r.text
    qid = r.json()["question_id"]

    async def queued() -> asyncpg.Record | None:
        got = await row(system, qid)
        return got if got is not None and got["state"] == "unmatched" else None

    first = await poll(queued, 30, "the crisis question did not reach the team's queue")
    assert first["reason"] == "professional_help_advised"

    # Not reached: an attempt is counted, the question stays in the team's queue.
    await team_outcome(system, qid, "unreachable")

    async def counted() -> asyncpg.Record | None:
        got = await row(system, qid)
        return got if got["unreachable_count"] == 1 else None

    tried = await poll(counted, 30, "the team's try was not counted")
    assert tried["state"] == "unmatched" and tried["contact_id"] is None

    # Reached: the question is done, out of triage, its clock stopped.
    await team_outcome(system, qid, "reached")

    async def closed() -> asyncpg.Record | None:
        got = await row(system, qid)
        return got if got["state"] == "done" else None

    done = await poll(closed, 30, "the team's callback did not close the question")
    assert (done["reason"], done["running"], done["unreachable_count"]) == ("reached", 0, 1)
