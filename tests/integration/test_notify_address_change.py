"""A contact person's address change on a real system (SMTP sink, broker, database, audit): the old
address is told, the new one confirms, and only then do questions go there; who asked is in the
trail; an operator or a report viewer may not ask."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from opendeur.embedded import Postgres
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.support import (
    ADMIN,
    GROUPS_CSV,
    LINK,
    SECRET,
    System,
    add_staff,
    question,
    staff_sign_in,
    start_system,
    stop_system,
)

pytestmark = pytest.mark.timeout(300)
OLD = "eva.eet@example.org"
NEW = "eva.nieuw@example.org"
GROUPS = GROUPS_CSV + f"Eetstoornis Online,eetstoornis,,yes,Eva Eet,{OLD},100\n"
CONFIRM = re.compile(r"(http://127\.0\.0\.1:\d+/contacts/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
STAFF_ID = re.compile(r'<code id="staff-id">(st-[0-9a-f]+)</code>')


@pytest.fixture(scope="module")
async def own(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> AsyncIterator[System]:
    """A system of its own: the test moves a contact person's address for good."""
    s = start_system(tmp_path_factory.mktemp("address"), pg, groups_csv=GROUPS)
    yield s
    stop_system(s)


async def signed_in(s: System, *roles: str) -> tuple[httpx.AsyncClient, str]:
    """A person with these roles, handed off to notify; (client on notify, their staff id)."""
    c = httpx.AsyncClient(base_url=s.url("notify"), timeout=30)
    name, once = add_staff(s, *roles)
    await staff_sign_in(c, s.url("intake"), name, once)
    staff_id = STAFF_ID.search((await c.get(s.url("intake") + "/staff")).text).group(1)
    hop = await c.get(
        s.url("intake") + "/staff/handoff",
        params={"to": "notify", "next": "/healthz"},
        follow_redirects=True,
    )
    assert hop.status_code == 200 and c.cookies.get("od_staff_notify"), hop.url
    return c, staff_id


async def ask(s: System) -> str:
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(s.url("intake") + "/api/v1/questions", json=question(topic="eetstoornis"))
        assert r.status_code == 202, r.text
        return r.json()["reference"]


async def staff_acted(s: System, wanted: set[str], timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        while True:
            r = await c.get(
                s.url("audit") + "/api/v1/audit/events", params={"type": "staff.acted.v1"}
            )
            r.raise_for_status()
            got = [e for e in r.json() if e.get("action") in wanted]
            if {e["action"] for e in got} >= wanted or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.2)


async def test_a_new_address_takes_effect_only_once_it_confirms(own: System) -> None:
    cid = pseudonym(Settings(secret_key=SECRET), "contact", OLD)
    api = f"/api/v1/contacts/{cid}"
    coordinator, coordinator_id = await signed_in(own, "coordinator")
    operator, _ = await signed_in(own, "beheerder")
    viewer, _ = await signed_in(own, "rapportage")
    try:
        change = {"email": NEW, "channel": "email", "language": "en"}
        for refused in (operator, viewer):
            r = await refused.put(api, json=change)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text

        r = await coordinator.put(api, json=change)
        assert r.status_code == 200, r.text
        body = r.json()
        # Still the old address in effect (masked), the new one pending (masked).
        assert body["pending"] is True and body["language"] == "nl"
        assert body["email"] == "e***@example.org" and body["pending_email"] == "e***@example.org"
        assert OLD not in r.text and NEW not in r.text

        confirm = await own.wait_mail(lambda m: m.to == [NEW])
        assert confirm.subject == "Please confirm your new address for the self-help network"
        notice = await own.wait_mail(lambda m: m.to == [OLD] and "gewijzigd" in m.subject)
        assert "Tot het nieuwe adres bevestigd is" in notice.text
        assert "team@zelfhulpnetwerk.invalid" in notice.text  # whom to call: from settings
        assert CONFIRM.search(notice.text) is None  # the old address cannot confirm it

        # Until it is confirmed, a question still goes to the old address.
        before = await ask(own)
        mail = await own.wait_mail(lambda m: before in m.subject)
        assert mail.to == [OLD] and "Iemand vraagt je groep" in mail.subject

        link = CONFIRM.search(confirm.text).group(1)
        async with httpx.AsyncClient(timeout=30) as person:
            page = await person.get(link)
            assert page.status_code == 200 and '<html lang="en">' in page.text
            assert "Yes, confirm this address" in page.text
            # Opening the link (a mail scanner does) changes nothing.
            assert (await coordinator.get(api)).json()["pending"] is True
            r = await person.post(link)
            assert r.status_code == 303 and r.headers["location"].startswith("/contacts/confirm/")
            done = await person.get(link)
            assert done.status_code == 200 and "Address confirmed" in done.text
            # A second press confirms nothing more and says it is done.
            assert (await person.post(link)).status_code == 303

        now = (await coordinator.get(api)).json()
        assert now["pending"] is False and now["language"] == "en"

        after = await ask(own)
        mail = await own.wait_mail(lambda m: after in m.subject)
        assert mail.to == [NEW] and mail.subject.startswith("Someone asks your group")
        assert LINK.search(mail.text) and "?lang=en" in mail.text

        acted = await staff_acted(own, {"address_change", "address_confirmed"})
        mine = [e for e in acted if e.get("contact_id") == cid]
        assert {e["action"] for e in mine} == {"address_change", "address_confirmed"}, acted
        # Asked for by the coordinator; confirmed by the new address's owner, not by her.
        by = {e["action"]: e for e in mine}
        assert by["address_change"]["staff_id"] == coordinator_id, mine
        assert by["address_confirmed"]["staff_id"] == "new-address", mine
        assert by["address_confirmed"]["requested_by"] == coordinator_id, mine
        assert OLD not in own.logs() and NEW not in own.logs()
    finally:
        for c in (coordinator, operator, viewer):
            await c.aclose()


async def test_a_first_address_and_a_language_change_need_no_confirmation(own: System) -> None:
    coordinator, _ = await signed_in(own, "coordinator")
    try:
        first = "c-first-address"
        r = await coordinator.put(
            f"/api/v1/contacts/{first}",
            json={"email": "eerste@example.org", "channel": "email", "language": "nl"},
        )
        assert r.status_code == 200 and r.json()["pending"] is False, r.text
        # Only the language: every address it sends to was stored before.
        r = await coordinator.put(
            f"/api/v1/contacts/{first}",
            json={"email": "eerste@example.org", "channel": "email", "language": "en"},
        )
        assert r.status_code == 200 and r.json()["language"] == "en", r.text
        assert not [m for m in own.smtp.mails if m.to == ["eerste@example.org"]]
        # A confirmation link that was tampered with opens nothing.
        r = await coordinator.get("/contacts/confirm/abc.def")
        assert r.status_code == 404 and "Deze link klopt niet" in r.text
    finally:
        await coordinator.aclose()


async def test_a_confirmation_that_cannot_be_sent_is_shown_to_the_coordinator(own: System) -> None:
    coordinator, _ = await signed_in(own, "coordinator")
    try:
        cid = "c-bounced-address"
        body = {"email": "was.goed@example.org", "channel": "email", "language": "nl"}
        assert (await coordinator.put(f"/api/v1/contacts/{cid}", json=body)).status_code == 200
        # The mail server refuses both mails of the change for good (a mistyped domain).
        own.smtp.reply_codes += ["550 5.1.1 no such user", "550 5.1.1 no such user"]
        body["email"] = "tikfout@example.org"
        r = await coordinator.put(f"/api/v1/contacts/{cid}", json=body)
        assert r.status_code == 200 and r.json()["pending"] is True, r.text
        deadline = time.monotonic() + 60
        while True:
            page = (await coordinator.get("/contacts")).text
            card = page[page.index(f'id="c-{cid}"') :]
            card = card[: card.index("</li>")]
            if "Het bevestigingsbericht kon niet worden verstuurd" in card:
                break
            assert time.monotonic() < deadline, card
            await asyncio.sleep(0.2)
        assert "tikfout" not in page and "Wacht op bevestiging" in card
        # The old address stays in effect.
        assert (await coordinator.get(f"/api/v1/contacts/{cid}")).json()[
            "email"
        ] == "w***@example.org"
    finally:
        own.smtp.reply_codes.clear()
        await coordinator.aclose()


async def test_a_machine_clients_address_change_is_in_the_trail_by_its_token(own: System) -> None:
    """A machine token with contacts-write may change an address; the trail says which token
    asked (`token.<name>`), as it says which person did (the attack: a machine's change left
    nothing in the trail)."""
    contact = "c-machine-change"
    async with httpx.AsyncClient(
        base_url=own.url("notify"), headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
    ) as machine:
        r = await machine.put(
            f"/api/v1/contacts/{contact}",
            json={"email": "machine.oud@example.org", "channel": "email", "language": "nl"},
        )
        assert r.status_code == 200 and r.json()["pending"] is False, r.text
        r = await machine.put(
            f"/api/v1/contacts/{contact}",
            json={"email": "machine.nieuw@example.org", "channel": "email", "language": "nl"},
        )
        assert r.status_code == 200 and r.json()["pending"] is True, r.text
    deadline = time.monotonic() + 60
    mine: list[dict] = []
    while not mine and time.monotonic() < deadline:
        mine = [
            e
            for e in await staff_acted(own, {"address_change"}, timeout=1)
            if e.get("contact_id") == contact
        ]
        await asyncio.sleep(0.2)
    assert mine and {e["staff_id"] for e in mine} == {"token.tests"}, mine
