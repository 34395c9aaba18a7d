"""A question in English: to a contact who speaks English while one has room, else in Dutch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from opendeur.db import make_engine, sessionmaker
from opendeur.embedded import Postgres
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from services.routing import store
from tests.integration.test_routing_capacity import decided, post
from tests.support import SECRET, System, start_system, stop_system

# Daan (Dutch) nearby in Eindhoven; Emma (English first, and Dutch) online with room for one.
GROUPS = """group_name,topics,municipalities,online,contact_name,contact_email,max_open,languages
Rouwgroep Eindhoven,rouw,Eindhoven,no,Daan Dutch,daan.dutch@example.org,10,nl
Rouw Online,rouw,,yes,Emma English,emma.english@example.org,1,en;nl
"""


@pytest.fixture
async def bilingual(tmp_path: Path, pg: Postgres) -> AsyncIterator[System]:
    s = start_system(tmp_path, pg, GROUPS, OPENDEUR_RESPONSE_DEADLINE="1h")
    try:
        yield s
    finally:
        stop_system(s)


def contact_id(email: str) -> str:
    return pseudonym(Settings(secret_key=SECRET), "contact", email)


@pytest.mark.timeout(300)
async def test_english_questions_go_to_the_english_speaker_while_she_has_room_then_in_dutch(
    bilingual: System,
) -> None:
    s = bilingual
    emma = contact_id("emma.english@example.org")
    daan = contact_id("daan.dutch@example.org")

    # A Dutch question from Eindhoven stays with the group in Eindhoven, as before.
    await post(s, 1)
    (dutch,), _ = await decided(s, 1)
    assert (dutch["contact_id"], dutch["reason"]) == (daan, "topic+municipality")
    assert (dutch["language"], dutch["language_matched"]) == ("nl", True)

    # English: Emma, although online and Daan is in the asker's own town.
    first = await post(s, 1, language="en")
    routed, unmatched = await decided(s, 2)
    (to_emma,) = [e for e in routed if e["question_id"] in first]
    assert to_emma["contact_id"] == emma and to_emma["reason"] == "topic+online+in_en"
    assert (to_emma["language"], to_emma["language_matched"]) == ("en", True)

    # Emma is full: the next English question is not left waiting, Daan calls in Dutch and his
    # mail and pages can say the asker prefers English.
    second = await post(s, 1, language="en")
    routed, unmatched = await decided(s, 3)
    assert unmatched == []
    (to_daan,) = [e for e in routed if e["question_id"] in second]
    assert to_daan["contact_id"] == daan
    assert to_daan["reason"] == "topic+municipality+in_nl_not_en"
    assert (to_daan["language"], to_daan["language_matched"]) == ("en", False)

    # Each contact's pages speak her first language; the directory lists what a group speaks.
    engine = make_engine(s.pg.url(s.database), pool_size=1, schema="routing")
    try:
        async with sessionmaker(engine)() as session:
            assert await store.contact_language(session, emma) == "en"
            assert await store.contact_language(session, daan) == "nl"
            assert await store.contact_language(session, "no-such-contact") == "nl"
    finally:
        await engine.dispose()
    async with httpx.AsyncClient() as c:
        doc = (await c.get(s.url("routing") + "/api/v1/directory")).json()
    spoken = {svc["name"]: {lang["code"] for lang in svc["languages"]} for svc in doc["services"]}
    assert spoken == {"Rouwgroep Eindhoven": {"nl"}, "Rouw Online": {"en", "nl"}}
