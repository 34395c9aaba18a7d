"""The team calls back a crisis question (issue #14 item 4), and a coordinator manages staff
accounts (items 1, 2), on the real system: who sees the number, what the trail records, that
the data goes afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import ADMIN, System, add_staff, csrf, question, staff_client, start_system
from tests.support import stop_system as stop


@pytest.fixture(scope="module")
def crisis_system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("crisis"),
        pg,
        OPENDEUR_PII_RETENTION="2s",
        OPENDEUR_SWEEP_INTERVAL="0.5",
    )
    yield s
    stop(s)


@contextlib.asynccontextmanager
async def signed_in(system: System, *roles: str) -> AsyncIterator[httpx.AsyncClient]:
    c = await staff_client(system, *roles)
    try:
        yield c
    finally:
        await c.aclose()


def mobile() -> tuple[str, str]:
    """A random Dutch mobile number as typed, and its digits as the page shows them."""
    digits = "612" + "".join(random.choice("0123456789") for _ in range(6))  # a real range
    return "0" + digits, digits[3:]


async def pii_rows(system: System, qid: str) -> int:
    conn = await asyncpg.connect(system.pg.url(system.database))
    try:
        return await conn.fetchval(
            "select count(*) from intake.question_pii where question_id = $1", uuid.UUID(qid)
        )
    finally:
        await conn.close()


async def staff_id_of(c: httpx.AsyncClient, system: System) -> str:
    home = await c.get(system.url("intake") + "/staff")
    return re.search(r'id="staff-id">([^<]+)<', home.text).group(1)


async def trail(system: System, kind: str) -> list[dict]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        r = await c.get(system.url("audit") + "/api/v1/audit/events", params={"type": kind})
        r.raise_for_status()
        return r.json()


async def wait_trail(
    system: System, kind: str, check, n: int = 1, timeout: float = 30
) -> list[dict]:
    """The trail's events of `kind` that pass `check`, once there are `n` (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in await trail(system, kind) if check(e)]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_team_member_calls_back_a_crisis_question(crisis_system: System) -> None:
    s, intake = crisis_system, crisis_system.url("intake")
    typed, tail = mobile()
    canary = f"kanarie-{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient() as anon:
        r = await anon.post(
            intake + "/api/v1/questions",
            json=question(phone=typed, story=f"Ik wil niet meer leven. {canary}", topic=None),
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["advice"]["professional_help"] is True
        qid, ref = body["question_id"], body["reference"]
        page_url = f"{intake}/staff/crisis/{ref}"

        # Not signed in: to the sign-in, nothing of the question.
        for url in (page_url, intake + "/staff/crisis"):
            r = await anon.get(url)
            assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")
            assert tail not in r.text and canary not in r.text
        r = await anon.post(page_url, data={"outcome": "reached"})
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")

    # Other roles are refused, see no number and cannot record an outcome.
    for role in ("telefoonvrijwilliger", "beheerder", "rapportage"):
        async with signed_in(s, role) as other:
            for url in (page_url, intake + "/staff/crisis"):
                r = await other.get(url)
                assert r.status_code == 403, (role, r.status_code)
                assert "Geen toegang" in r.text and tail not in r.text and canary not in r.text
            r = await other.post(page_url, data={"outcome": "reached", "csrf": "x"})
            assert r.status_code == 403 and tail not in r.text

    async with signed_in(s, "teamlid") as team:
        me = await staff_id_of(team, s)
        home = await team.get(intake + "/staff")
        assert 'href="/staff/crisis"' in home.text
        listing = await team.get(intake + "/staff/crisis")
        assert listing.status_code == 200 and ref in listing.text
        assert "Nog niet gebeld" in listing.text and tail not in listing.text

        page = await team.get(page_url)
        assert page.status_code == 200
        assert page.headers["cache-control"].startswith("no-store")
        assert f'href="tel:+31{typed[1:]}"' in page.text or f"tel:{typed}" in page.text
        assert canary in page.text and "0800-0113" in page.text and "112" in page.text

        # Not reached: the question stays, with the try shown.
        r = await team.post(
            page_url,
            data={"csrf": csrf(page.text), "outcome": "unreachable"},
            follow_redirects=False,
        )
        assert (
            r.status_code == 303
            and r.headers["location"] == f"/staff/crisis/{ref}?done=unreachable"
        )
        again = await team.get(intake + r.headers["location"])
        assert (
            "Genoteerd: niet bereikt" in again.text
            and f"niet bereikt (medewerker {me})" in again.text
        )
        listing = await team.get(intake + "/staff/crisis")
        assert f"/staff/crisis/{ref}" in listing.text and "1 keer niet bereikt" in listing.text

        # A bad outcome changes nothing.
        r = await team.post(page_url, data={"csrf": csrf(again.text), "outcome": "wrong_group"})
        assert r.status_code == 422 and "Kies hoe het ging" in r.text

        # Reached: done, off the list, the data goes.
        r = await team.post(
            page_url, data={"csrf": csrf(again.text), "outcome": "reached"}, follow_redirects=False
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/crisis?")
        listing = await team.get(intake + r.headers["location"])
        assert f"Genoteerd voor {ref}: Bereikt" in listing.text
        assert f'href="/staff/crisis/{ref}"' not in listing.text

        events = await s.wait_audit(
            qid,
            ["pii.accessed.v1", "callback.done.v1", "staff.acted.v1", "question.erased.v1"],
            timeout=30,
        )
        views = [e for e in events if e["type"] == "pii.accessed.v1"]
        assert len(views) == 2  # the page before and after the first try
        assert all(v["purpose"] == "team_callback" and v["staff_id"] == me for v in views)
        assert all(v.get("contact_id") is None for v in views)
        done = [e for e in events if e["type"] == "callback.done.v1"]
        assert [(e["outcome"], e["by"], e["staff_id"]) for e in done] == [
            ("unreachable", "team", me),
            ("reached", "team", me),
        ]
        acted = [e for e in events if e["type"] == "staff.acted.v1"]
        assert {(e["action"], e["staff_id"]) for e in acted} == {("crisis_outcome", me)}
        assert await pii_rows(s, qid) == 0

        gone = await team.get(page_url)
        assert gone.status_code in (404, 410) and tail not in gone.text
    dump = s.pg.dump(s.database)
    assert canary not in dump and typed[1:] not in dump


async def test_a_question_without_crisis_words_does_not_open_for_the_team(
    crisis_system: System,
) -> None:
    s, intake = crisis_system, crisis_system.url("intake")
    typed, tail = mobile()
    async with httpx.AsyncClient() as anon:
        r = await anon.post(intake + "/api/v1/questions", json=question(phone=typed))
        assert r.status_code == 202
    ref = r.json()["reference"]
    async with signed_in(s, "teamlid") as team:
        for bad in (ref, "OD-0000-0000", "not-a-reference", "%2e%2e"):
            r = await team.get(f"{intake}/staff/crisis/{bad}")
            assert r.status_code == 404 and tail not in r.text
        assert ref not in (await team.get(intake + "/staff/crisis")).text


async def test_a_coordinator_manages_accounts(crisis_system: System) -> None:
    s, intake = crisis_system, crisis_system.url("intake")
    newbie = f"nieuw-{uuid.uuid4().hex[:6]}"
    async with signed_in(s, "coordinator") as coordinator:
        me = await staff_id_of(coordinator, s)
        page = await coordinator.get(intake + "/staff/accounts")
        assert page.status_code == 200 and "Medewerkers en rollen" in page.text

        # Bad input: 422, nothing made.
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={"csrf": csrf(page.text), "action": "add", "name": newbie},
        )
        assert r.status_code == 422 and "Kies minstens één rol" in r.text
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={"csrf": csrf(page.text), "action": "add", "name": "A B", "roles": "teamlid"},
        )
        assert r.status_code == 422 and "Kies een gebruikersnaam" in r.text
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={"csrf": "wrong", "action": "add", "name": newbie, "roles": "teamlid"},
        )
        assert r.status_code == 403
        assert (
            f'id="account-{newbie}"' not in (await coordinator.get(intake + "/staff/accounts")).text
        )

        # Added: the one-time link is shown once, after the redirect.
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={"csrf": csrf(page.text), "action": "add", "name": newbie, "roles": "teamlid"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/staff/accounts"
        shown = await coordinator.get(intake + "/staff/accounts")
        link = re.search(r'value="(http://[^"]+/staff/first/[^"]+)"', shown.text).group(1)
        assert f'id="account-{newbie}"' in shown.text
        again = await coordinator.get(intake + "/staff/accounts")
        assert "/staff/first/" not in again.text

        # The link signs the new person in once, to choose a password.
        async with httpx.AsyncClient() as person:
            r = await person.post(link)  # its page's one button
            assert r.status_code == 303 and r.headers["location"] == "/staff/password"
            assert (await person.get(link)).status_code == 410

        # Roles changed, then disabled (the last coordinator cannot be).
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={
                "csrf": csrf(again.text),
                "action": "roles",
                "name": newbie,
                "roles": ["teamlid", "rapportage"],
            },
        )
        assert r.status_code == 200 and f"Opgeslagen: rollen van {newbie}" in r.text
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={"csrf": csrf(again.text), "action": "disable", "name": newbie},
        )
        assert r.status_code == 200 and f"{newbie} is uitgezet" in r.text
        name = re.search(r"<h3>([^<]+) \(jij\)</h3>", r.text).group(1)
        r = await coordinator.post(
            intake + "/staff/accounts",
            data={"csrf": csrf(again.text), "action": "disable", "name": name},
        )
        assert r.status_code == 422 and "eigen account" in r.text

    mine = await wait_trail(
        s, "staff.acted.v1", lambda e: e["staff_id"] == me and e["action"] == "account_change", 4
    )
    # Her own first password (chosen after her one-time link) is in the trail as hers.
    assert [e["target_staff_id"] for e in mine if e["change"] == "password"] == [me], mine
    acted = [e for e in mine if e["change"] != "password"]
    assert len(acted) == 3  # added, roles, disabled
    # Whose account, and what changed: the same person's pseudonymous id on all three.
    assert [e["change"] for e in acted] == ["added", "roles", "disabled"], acted
    assert len({e["target_staff_id"] for e in acted}) == 1 and acted[0]["target_staff_id"] != me

    # The command line's changes are in the trail too, as "cli".
    def by_cli(e: dict) -> bool:
        return e["staff_id"] == "cli"

    before = len([e for e in await trail(s, "staff.acted.v1") if by_cli(e)])
    add_staff(s, "teamlid")
    cli = await wait_trail(s, "staff.acted.v1", by_cli, before + 1)
    assert len(cli) == before + 1 and cli[-1]["change"] == "added", cli


async def test_only_a_coordinator_opens_the_accounts_page(crisis_system: System) -> None:
    s, intake = crisis_system, crisis_system.url("intake")
    async with httpx.AsyncClient() as anon:
        r = await anon.get(intake + "/staff/accounts")
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")
        r = await anon.post(intake + "/staff/accounts", data={"action": "add", "name": "x1"})
        assert r.status_code == 303
    for role in ("teamlid", "beheerder", "telefoonvrijwilliger"):
        async with signed_in(s, role) as c:
            r = await c.get(intake + "/staff/accounts")
            # Refused: the header names only the person herself, no account of anyone else.
            assert r.status_code == 403 and "Geen toegang" in r.text
            own = re.search(r'id="staff-name">([^<]+)<', r.text).group(1)
            assert set(re.findall(r"staf-[0-9a-f]+", r.text)) == {own}
