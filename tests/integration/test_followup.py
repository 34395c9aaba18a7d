"""The help-seeker's one follow-up question after her call, through her own link: asked once,
only after a talk, counted anonymously, on the real system."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from opendeur.db import make_engine
from opendeur.embedded import Postgres
from tests.support import ADMIN, LINK, System, question, start_system, stop_system

AUTH = {"Authorization": f"Bearer {ADMIN}"}
SLOW = 90  # seconds; other systems may share the machine
ASKED = "Heeft het gesprek je geholpen?"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    """Its own system: answers are published every 2 s here (a day by default)."""
    s = start_system(tmp_path_factory.mktemp("followup"), pg, OPENDEUR_FOLLOWUP_BATCH="2s")
    yield s
    stop_system(s)


async def intake_rows(system: System, sql: str, **params: object) -> list:
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql), params))
    finally:
        await engine.dispose()


async def answers_in_trail(client: httpx.AsyncClient, system: System) -> list[dict]:
    r = await client.get(
        system.url("audit") + "/api/v1/audit/events",
        params={"type": "followup.answered.v1"},
        headers=AUTH,
    )
    r.raise_for_status()
    return r.json()


async def test_after_the_call_her_own_link_asks_once_whether_it_helped(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(topic="angst")
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
        own = f"{system.url('intake')}/intrekken/{accepted['question_id']}"
        token = {"token": accepted["withdraw_token"]}

        # Before the call her link withdraws; it asks nothing.
        before = await client.get(own, params=token)
        assert before.status_code == 200 and ASKED not in before.text

        mail = await system.wait_mail(lambda m: accepted["reference"] in m.subject, timeout=SLOW)
        link = LINK.search(mail.text).group(1)
        assert (await client.post(link, data={"outcome": "reached"})).status_code == 200

        # Someone else's token (or none) never sees the question; hers does, in her language.
        for wrong in ({"token": "x" * 43}, {}):
            page = await client.get(own, params=wrong)
            assert page.status_code == 404 and ASKED not in page.text
            assert "Je hoeft niets meer te doen" in page.text
        page = await client.get(own, params=token)
        assert page.status_code == 200 and ASKED in page.text
        for label in ("Ja", "Een beetje", "Nee", "Wis mijn gegevens nu", "Zeker weten?", "anoniem"):
            assert label in page.text
        english = await client.get(own, params={**token, "lang": "en"})
        assert "Did the conversation help you?" in english.text

        seen_before = len(await answers_in_trail(client, system))
        answer = f"{system.url('intake')}/na-het-gesprek/{accepted['question_id']}"
        odd = await client.post(answer, params=token, data={"answer": "misschien"})
        assert odd.status_code == 410
        r = await client.post(answer, params=token, data={"answer": "yes"})
        assert r.status_code == 303 and r.headers["location"] == "/na-het-gesprek?lang=nl"
        thanks = await client.get(system.url("intake") + r.headers["location"])
        assert "Dank je wel voor je antwoord." in thanks.text
        # Once: a reload of the POST, or a second tap, counts nothing more.
        again = await client.post(answer, params=token, data={"answer": "no"})
        assert again.status_code == 410
        after = await client.get(own, params=token)
        assert ASKED not in after.text and "Je bent al gebeld" in after.text
        assert "Niemand belt je dan terug" not in after.text  # she was called: no withdraw text
        # The answer waits for the next batch without anything that names her question.
        columns = await intake_rows(
            system,
            "select column_name from information_schema.columns "
            "where table_schema = 'intake' and table_name = 'followup_pending'",
        )
        assert {c[0] for c in columns} == {"id", "answer"}

        deadline = time.monotonic() + SLOW
        while len(got := await answers_in_trail(client, system)) <= seen_before:
            assert time.monotonic() < deadline, "the answer never reached the trail"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # a second event would have arrived by now
        got = await answers_in_trail(client, system)
        assert len(got) == seen_before + 1
        # Anonymous: the answer names no question, reference, contact or topic.
        record = got[-1]
        assert record["answer"] == "yes" and record.get("question_id") is None
        assert not {"reference", "contact_id", "group_id", "topic"} & set(record)
        assert accepted["reference"] not in str(record)

        month = datetime.now(UTC).strftime("%Y-%m")
        r = await client.get(
            system.url("audit") + "/api/v1/reports/monthly", params={"month": month}, headers=AUTH
        )
        cells = r.json()["followup"]["cells"]
        assert cells.get("yes") == "<5" or cells.get("yes", 0) >= 5, cells
        r = await client.get(
            system.url("audit") + "/api/v1/reports/monthly",
            params={"month": month, "format": "csv"},
            headers=AUTH,
        )
        assert "Heeft het gesprek geholpen? (antwoord van de hulpvrager zelf)" in r.text
        assert "het gesprek hielp" in r.text

        # Her data can still be erased at once from the same link; nothing then says she answered.
        erased = await client.post(own, params=token)
        assert erased.status_code == 303 and erased.headers["location"] == "/gewist?lang=nl"
        gone = await client.get(system.url("intake") + erased.headers["location"])
        assert "Je nummer en je verhaal zijn gewist." in gone.text
        flag = await intake_rows(
            system,
            "select followup_answered, status from intake.questions where question_id = :q",
            q=accepted["question_id"],
        )
        assert [tuple(r) for r in flag] == [(False, "erased")]
        page = await client.get(own, params=token)  # gone: said before she presses anything
        assert page.status_code == 404 and "al ingetrokken of gewist" in page.text
