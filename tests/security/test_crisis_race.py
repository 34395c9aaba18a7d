"""A team member's crisis outcome at intake and a hand assignment in triage at the same moment
(issue #14): both used to be accepted and the question ended closed by the team while triage had
just given it to a contact person (who got a mail whose link said the question had ended).
Routing decides which came first (its row lock): the hand assignment it accepted stands; an
assignment after it heard the team's outcome is refused. Intake and routing agree either way."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator

import pytest
from httpx import Response

from opendeur.embedded import Postgres
from tests.security.test_staff_attacks import GROUPS, Person, ask, db, person
from tests.support import System, csrf, start_system, stop_system

pytestmark = pytest.mark.timeout(600)
ROUNDS = 8


@pytest.fixture(scope="module")
def raced(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("raced"), pg, groups_csv=GROUPS)
    yield s
    stop_system(s)


@pytest.fixture
async def team(raced: System) -> AsyncIterator[Person]:
    p = await person(raced, "teamlid")
    await p.on("routing")
    yield p
    await p.c.aclose()


async def states(s: System, qid: str) -> tuple[str, str]:
    """(intake's status, routing's state) of the question."""
    q = uuid.UUID(qid)
    intake = await db(s, "select status from intake.questions where question_id = $1", q)
    routing = await db(s, "select state from routing.questions where question_id = $1", q)
    return intake[0]["status"], routing[0]["state"] if routing else "-"


async def in_triage(s: System, team: Person, qid: str) -> str:
    """The triage page once the question is in the team's queue at routing and at intake."""
    deadline = time.monotonic() + 30
    while True:
        triage = await team.c.get(s.url("routing") + "/triage")
        if qid in triage.text and await states(s, qid) == ("unmatched", "unmatched"):
            return triage.text
        assert time.monotonic() < deadline, "the crisis question never reached triage"
        await asyncio.sleep(0.1)


async def after(delay: float, call: Awaitable[Response]) -> Response:
    await asyncio.sleep(delay)
    return await call


async def settled(s: System, qid: str, want: tuple[str, str]) -> None:
    deadline = time.monotonic() + 30
    while (now := await states(s, qid)) != want:
        assert time.monotonic() < deadline, f"{qid}: {now}, expected {want}"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # and it stays so once every event is heard
    assert await states(s, qid) == want


async def test_the_first_of_a_crisis_outcome_and_a_hand_assignment_wins(
    raced: System, team: Person
) -> None:
    s, intake, routing = raced, raced.url("intake"), raced.url("routing")
    token = await team.csrf()
    seen, refusals = [], []
    for i in range(ROUNDS):
        qid, ref, _, _ = await ask(s, crisis=True, topic="eetstoornis")
        triage = await in_triage(s, team, qid)
        group = re.search(r'<option value="(eetstoornis[^"]*)"', triage).group(1)
        # At once, or the assignment up to a second later (routing hears the team's outcome
        # within that second, so both orders happen).
        delay = (i % 4) * 0.35

        outcome, assigned = await asyncio.gather(
            team.c.post(
                f"{intake}/staff/crisis/{ref}",
                data={"csrf": token, "outcome": "reached"},
                follow_redirects=False,
            ),
            after(
                delay,
                team.c.post(
                    f"{routing}/triage/{qid}/assign",
                    data={"csrf": csrf(triage), "group_id": group},
                    follow_redirects=False,
                ),
            ),
        )
        assert outcome.status_code in (303, 409), outcome.status_code
        assert assigned.status_code in (303, 409), assigned.status_code
        seen.append((outcome.status_code, assigned.status_code))
        if assigned.status_code == 303:
            # Routing gave it to a contact before it heard the team: the contact calls back,
            # intake lets her open it (its status follows), routing keeps her assignment.
            await settled(s, qid, ("routed", "routed"))
            r = await team.c.get(f"{intake}/staff/crisis/{ref}")
            assert r.status_code == 409  # "given to a contact person": nobody else calls
        else:
            # Routing heard the team's outcome first: nobody is assigned, nothing changed.
            assert outcome.status_code == 303
            refusals.append(assigned.text)
            assert "net door een collega afgehandeld of toegewezen" in assigned.text
            await settled(s, qid, ("done", "done"))
            rows = await db(
                s,
                "select contact_id from routing.questions where question_id = $1",
                uuid.UUID(qid),
            )
            assert rows[0]["contact_id"] is None
    print("(intake, routing) answers per round:", seen)
    print("triage's refusal:", refusals[:1])
    assert refusals and (303, 303) in seen, "both orders should have happened"
