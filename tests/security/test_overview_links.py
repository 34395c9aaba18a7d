"""Whoever holds only a contact's overview link (a forwarded mail is enough) opens the callback
links her overview page shows: without her PIN they show no phone number and no story; with a
PIN set they show the PIN form until it is entered; the mailed per-question link still opens."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import System, question, start_system, stop_system

ANNA = "anna.rouw@example.org"
GROUPS = f"""group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven;Veldhoven,no,Anna Rouw,{ANNA},20
"""
PIN = "739104"
OVERVIEW = re.compile(r"(http://127\.0\.0\.1:\d+/contact/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+))")
CALLBACK = re.compile(r"(http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_.\-]+)")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("overview-links"), pg, GROUPS)
    yield s
    stop_system(s)


async def ask(s: System, c: httpx.AsyncClient, n: int) -> dict:
    phone, story = f"06 1357{n:04d}", f"verhaal-overzicht-{n}-{time.time_ns()}"
    r = await c.post(
        s.url("intake") + "/api/v1/questions", json=question(phone=phone, story=story, topic="rouw")
    )
    assert r.status_code == 202, r.text
    q = r.json()
    mail = await s.wait_mail(lambda m: q["reference"] in m.subject and m.to == [ANNA], 40)
    q.update(phone=phone.replace(" ", ""), story=story, mail=mail.text)
    return q


def shows_nothing_of(q: dict, text: str) -> bool:
    return q["story"] not in text and q["phone"][-6:] not in text


def delegated(page: str, reference: str) -> str:
    found = re.search(r'<a href="([^"]+/c/[^"]+)" class="ref">' + re.escape(reference), page)
    assert found, f"the overview does not list {reference} with a link"
    return html.unescape(found.group(1))


async def test_the_overview_link_alone_opens_no_question(system: System) -> None:
    async with (
        httpx.AsyncClient(timeout=20) as asker,
        httpx.AsyncClient(timeout=20) as attacker,
        httpx.AsyncClient(timeout=20) as anna,
    ):
        asked = [await ask(system, asker, n) for n in range(2)]
        # The attacker has one forwarded mail: its overview link, nothing else.
        overview_url, overview = OVERVIEW.search(asked[0]["mail"]).groups()
        page = await attacker.get(overview_url)
        assert page.status_code == 200
        links = {q["reference"]: delegated(page.text, q["reference"]) for q in asked}
        for q in asked:
            r = await attacker.get(links[q["reference"]])
            assert shows_nothing_of(q, r.text), "the overview link opened a question's details"
            assert r.status_code == 403
            # ...and it says what to do: the mail's own link, or a PIN (linked).
            assert "in de mail" in r.text and f"/pin/{overview}" in r.text
            # Nor can it record an outcome (a final one erases the data).
            r = await attacker.post(links[q["reference"]], data={"outcome": "reached"})
            assert r.status_code == 403 and shows_nothing_of(q, r.text)
        # Pretending to have entered a PIN changes nothing while none is set.
        r = await attacker.post(links[asked[0]["reference"]] + "/pin", data={"pin": "1234"})
        r = await attacker.get(links[asked[0]["reference"]])
        assert r.status_code == 403 and shows_nothing_of(asked[0], r.text)

        # The mailed per-question link still opens its one question, no PIN asked.
        real = CALLBACK.search(asked[0]["mail"]).group(1)
        r = await anna.get(real)
        assert r.status_code == 200 and asked[0]["story"] in r.text

        # Anna sets a PIN from her overview: the overview's links ask for it, then open.
        r = await anna.post(
            f"{system.url('intake')}/pin/{overview}", data={"pin": PIN, "repeat": PIN}
        )
        assert r.status_code == 200, r.text[:300]
        for q in asked:
            r = await attacker.get(links[q["reference"]])
            assert r.status_code == 401 and 'name="pin"' in r.text
            assert shows_nothing_of(q, r.text) and q["reference"] not in r.text
        r = await anna.get(links[asked[1]["reference"]])  # the PIN cookie from setting it
        assert r.status_code == 200 and asked[1]["story"] in r.text

        # On another device: the PIN form, then the question.
        async with httpx.AsyncClient(timeout=20) as phone:
            link = links[asked[1]["reference"]]
            r = await phone.get(link)
            assert r.status_code == 401 and shows_nothing_of(asked[1], r.text)
            action = re.search(r'action="([^"]+)"', r.text).group(1).replace("&amp;", "&")
            r = await phone.post(system.url("intake") + action, data={"pin": PIN})
            assert r.status_code == 303, r.text[:300]
            r = await phone.get(link)
            assert r.status_code == 200 and asked[1]["story"] in r.text
            assert asked[1]["phone"][-6:] in r.text.replace(" ", "")
