"""Sign-in attacks that work without anyone's password (issue #14): an attacker's own hand-off
signs a victim's browser in as the attacker (login CSRF), and a link preview spends a person's
one-time sign-in link before they click it. Each test passes because the attack fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import System, add_staff, csrf, staff_sign_in, start_system, stop_system

pytestmark = pytest.mark.timeout(300)
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/staff/first/[A-Za-z0-9_\-]+)")


@pytest.fixture(scope="module")
def staffed(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("login-csrf"), pg)
    yield s
    stop_system(s)


async def signed_in(system: System, *roles: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(timeout=30)
    name, once = add_staff(system, *roles)
    await staff_sign_in(c, system.url("intake"), name, once)
    return c


async def own_assertion_url(attacker: httpx.AsyncClient, routing: str) -> str:
    """The attacker opens triage in his own browser and stops at the hand-off's way back."""
    r = await attacker.get(routing + "/triage")
    while r.status_code == 303 and "/staff/accept" not in r.headers["location"]:
        r = await attacker.get(r.headers["location"])
    assert r.status_code == 303, (r.status_code, r.text[:300])
    back = r.headers["location"]
    assert urlsplit(back).path == "/staff/accept" and parse_qs(urlsplit(back).query)["assertion"]
    return back


async def test_an_attackers_fresh_assertion_signs_no_victim_in_as_the_attacker(
    staffed: System,
) -> None:
    routing = staffed.url("routing")
    attacker = await signed_in(staffed, "teamlid")
    # The victim may read reports only. Signed in at intake, her browser first holds the state
    # of a hand-off of her own to routing (not the attacker's), then none (her own hand-off
    # used it up).
    victim = await signed_in(staffed, "rapportage")
    try:
        first = await victim.get(routing + "/triage")
        assert first.status_code == 303 and "/staff/handoff" in first.headers["location"]
        for url in (
            await own_assertion_url(attacker, routing),
            await own_assertion_url(attacker, routing),
        ):
            before = victim.cookies.get("od_staff_routing")  # none, then her own session
            r = await victim.get(url)  # a link in a mail, an image, a redirect from his site
            assert r.status_code == 403, (r.status_code, r.headers.get("location"))
            assert "Aanmelden mislukt" in r.text and "/staff/login" in r.text
            assert victim.cookies.get("od_staff_routing") == before
            triage = await victim.get(routing + "/triage", follow_redirects=True)
            # Her own hand-off: she is herself, without the team's role.
            assert triage.status_code == 403 and "Wachtrij" not in triage.text
        # The attacker's own browser still gets in with his own hand-off.
        back = await own_assertion_url(attacker, routing)
        r = await attacker.get(back)
        assert r.status_code == 303 and attacker.cookies.get("od_staff_routing")
        assert "Wachtrij" in (await attacker.get(routing + "/triage")).text
    finally:
        await attacker.aclose()
        await victim.aclose()


async def test_a_link_preview_does_not_spend_a_one_time_sign_in_link(staffed: System) -> None:
    intake = staffed.url("intake")
    name, _ = add_staff(staffed, "teamlid")
    boss = await signed_in(staffed, "coordinator")
    try:
        page = await boss.get(intake + "/staff/accounts")
        r = await boss.post(
            intake + "/staff/accounts",
            data={"csrf": csrf(page.text), "action": "link", "name": name},
            follow_redirects=True,
        )
        link = LINK.search(r.text).group(1)
    finally:
        await boss.aclose()
    # A chat app's preview fetches the link, twice: a page with one button, no session.
    for _ in range(2):
        async with httpx.AsyncClient(timeout=30) as preview:
            r = await preview.get(link)
            assert r.status_code == 200 and f"Aanmelden als {name}" in r.text
            assert not preview.cookies.get("od_staff_in")
            assert r.headers["cache-control"].startswith("no-store")
    # Another site's form posting to it spends nothing either.
    async with httpx.AsyncClient(timeout=30) as other:
        r = await other.post(link, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and not other.cookies.get("od_staff_in")
        r = await other.post(link, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403 and not other.cookies.get("od_staff_in")
    # The person's click: signed in, to choose a password.
    async with httpx.AsyncClient(timeout=30) as person:
        r = await person.post(link, headers={"Origin": intake, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303 and r.headers["location"] == "/staff/password"
        assert person.cookies.get("od_staff_in")
    # Spent: a second click or a later preview finds nothing.
    async with httpx.AsyncClient(timeout=30) as later:
        assert (await later.post(link, headers={"Origin": intake})).status_code == 410
        assert (await later.get(link)).status_code == 410
        assert not later.cookies.get("od_staff_in")
