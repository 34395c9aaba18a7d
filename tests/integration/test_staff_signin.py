"""One staff sign-in at intake for every staff page: the hand-off to routing and audit, roles,
`next` kept local, and an intake logout or a disabled account ending access elsewhere."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import (
    System,
    add_staff,
    csrf,
    question,
    staff_client,
    staff_sign_in,
    start_system,
    stop_system,
)

pytestmark = pytest.mark.timeout(300)
STAFF_ID = re.compile(r'<code id="staff-id">(st-[0-9a-f]+)</code>')


@pytest.fixture(scope="module")
async def staffed(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> AsyncIterator[System]:
    s = start_system(tmp_path_factory.mktemp("staff"), pg)
    yield s
    stop_system(s)


async def test_a_team_member_signs_in_at_intake_and_reaches_triage(staffed: System) -> None:
    routing, intake = staffed.url("routing"), staffed.url("intake")
    async with httpx.AsyncClient(timeout=30) as c:
        # Not signed in: triage sends the browser to intake's hand-off, which asks to sign in.
        r = await c.get(routing + "/triage")
        assert r.status_code == 303
        assert r.headers["location"].startswith(intake + "/staff/handoff?")
        r = await c.get(r.headers["location"])
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?")
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(c, intake, name, once)
        # Signed in: the same hand-off now comes back with an assertion for routing only.
        r = await c.get(routing + "/triage")
        r = await c.get(r.headers["location"])
        assert r.status_code == 303
        back = urlsplit(r.headers["location"])
        assert f"{back.scheme}://{back.netloc}" == routing and back.path == "/staff/accept"
        assertion = parse_qs(back.query)["assertion"][0]
        r = await c.get(r.headers["location"])
        assert r.status_code == 303 and r.headers["location"] == "/triage"
        cookie = r.headers["set-cookie"].lower()
        assert cookie.startswith("od_staff_routing=") and "httponly" in cookie
        page = await c.get(routing + "/triage")
        assert page.status_code == 200 and "Wachtrij van het netwerkteam" in page.text
        # The assertion works once, and only for the service it names.
        async with httpx.AsyncClient(timeout=30) as other:
            again = await other.get(
                routing + "/staff/accept", params={"assertion": assertion, "next": "/triage"}
            )
            # Back to a hand-off of its own (a fresh state cookie), no session.
            assert again.status_code == 303 and "/staff/handoff" in again.headers["location"]
            assert "od_staff_routing" not in again.headers.get("set-cookie", "")
            audit = await other.get(
                staffed.url("audit") + "/staff/accept", params={"assertion": assertion}
            )
            assert audit.status_code == 403 and "set-cookie" not in audit.headers


async def test_roles_decide_which_pages_open(staffed: System) -> None:
    routing, audit = staffed.url("routing"), staffed.url("audit")
    operator = await staff_client(staffed, "beheerder")
    viewer = await staff_client(staffed, "rapportage")
    team = await staff_client(staffed, "teamlid")
    try:
        r = await operator.get(audit + "/")
        assert r.status_code == 200 and f'href="{audit}/report?month=' in r.text  # header nav
        assert (await operator.get(routing + "/triage")).status_code == 403
        assert (await operator.get(audit + "/report")).status_code == 200
        r = await viewer.get(audit + "/report")
        assert r.status_code == 200 and "Maand" in r.text
        assert (await viewer.get(audit + "/")).status_code == 403
        assert (await viewer.get(routing + "/triage")).status_code == 403
        # The report viewer's session opens aggregates, not the trail.
        r = await viewer.get(audit + "/api/v1/audit/events")
        assert r.status_code == 403
        r = await viewer.get(audit + "/api/v1/reports/monthly", params={"month": "2026-11"})
        assert r.status_code == 200 and r.json()["month"] == "2026-11"
        assert (await team.get(audit + "/")).status_code == 403
        assert (await team.get(routing + "/triage")).status_code == 200
    finally:
        for c in (operator, viewer, team):
            await c.aclose()


async def test_next_is_only_a_local_path(staffed: System) -> None:
    intake = staffed.url("intake")
    async with httpx.AsyncClient(timeout=30) as c:
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(c, intake, name, once)
        for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "http:x"):
            r = await c.get(intake + "/staff/handoff", params={"to": "routing", "next": evil})
            assert r.status_code == 303
            target = parse_qs(urlsplit(r.headers["location"]).query)["next"][0]
            assert target == "/", evil
        r = await c.get(intake + "/staff/handoff", params={"to": "evil.example", "next": "/"})
        assert r.status_code == 400


async def test_logout_and_disable_end_access_everywhere(staffed: System) -> None:
    intake, routing = staffed.url("intake"), staffed.url("routing")
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as c:
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(c, intake, name, once)
        assert (await c.get(routing + "/triage")).url.path == "/triage"
        home = await c.get(intake + "/staff")
        assert "Triage" in home.text
        r = await c.post(intake + "/staff/logout", data={"csrf": csrf(home.text)})
        assert r.url.path == "/staff/login"
        # Routing's own short session still runs; when it is gone (here: dropped, as after its
        # ten minutes) the hand-off finds no intake session and asks to sign in again.
        c.cookies.delete("od_staff_routing")
        r = await c.get(routing + "/triage")
        assert r.url.path == "/staff/login"
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as c:
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(c, intake, name, once)
        assert (await c.get(routing + "/triage")).url.path == "/triage"
        result = staffed.opendeur("users", "disable", name)
        assert result.returncode == 0, result.stderr
        c.cookies.delete("od_staff_routing")
        r = await c.get(routing + "/triage")
        assert r.url.path == "/staff/login"


async def test_a_team_members_actions_are_in_the_trail_under_their_staff_id(
    staffed: System,
) -> None:
    """Assign and close on triage, a coordinator's group pause and address change: each an
    event with the person's pseudonymous id (never their name), shown in the console's trail."""
    intake, routing = staffed.url("intake"), staffed.url("routing")
    async with httpx.AsyncClient(timeout=30) as c:
        first = await c.post(intake + "/api/v1/questions", json=question(topic="depressie"))
        second = await c.post(intake + "/api/v1/questions", json=question(topic="autisme"))
    q1, q2 = first.json()["question_id"], second.json()["question_id"]
    for qid in (q1, q2):
        await staffed.wait_audit(qid, ["question.unmatched.v1"])

    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as team:
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(team, intake, name, once)
        staff_id = STAFF_ID.search((await team.get(intake + "/staff")).text).group(1)
        page = await team.get(routing + "/triage")
        token = csrf(page.text)
        r = await team.post(
            routing + f"/triage/{q1}/assign",
            data={"csrf": token, "group_id": "rouwgroep-eindhoven"},
        )
        assert r.status_code == 200 and r.url.path == "/triage"
        r = await team.post(
            routing + f"/triage/{q2}/close", data={"csrf": token, "reason": "duplicate"}
        )
        assert r.status_code == 200
    for qid, action in ((q1, "assign"), (q2, "close")):
        events = await staffed.wait_audit(qid, ["staff.acted.v1"])
        acted = [e for e in events if e["type"] == "staff.acted.v1"]
        assert len(acted) == 1 and acted[0]["action"] == action, acted
        assert acted[0]["staff_id"] == staff_id and acted[0]["source"] == "routing"
        assert name not in str(events)
    assigned = next(e for e in await staffed.audit_events(q1) if e["type"] == "staff.acted.v1")
    assert assigned["group_id"] == "rouwgroep-eindhoven"

    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as coord:
        name, once = add_staff(staffed, "coordinator")
        await staff_sign_in(coord, intake, name, once)
        coord_id = STAFF_ID.search((await coord.get(intake + "/staff")).text).group(1)
        for service in ("routing", "notify"):
            await coord.get(intake + "/staff/handoff", params={"to": service, "next": "/healthz"})
        r = await coord.post(
            routing + "/api/v1/groups/online-angst/status", json={"status": "paused"}
        )
        assert r.status_code == 204, r.text
        r = await coord.put(
            staffed.url("notify") + "/api/v1/contacts/c-attributed",
            json={"email": "nieuw.adres@example.org", "channel": "email", "language": "nl"},
        )
        assert r.status_code == 200, r.text
        r = await coord.post(
            routing + "/api/v1/groups/online-angst/status", json={"status": "active"}
        )
        assert r.status_code == 204

    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as operator:
        name, once = add_staff(staffed, "beheerder")
        await staff_sign_in(operator, intake, name, once)
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            page = (await operator.get(staffed.url("audit") + "/")).text
            if all(
                s in page
                for s in (
                    f"door medewerker {staff_id}",
                    "vraag aan een groep gegeven",
                    "status van een groep gewijzigd",
                    "adreswijziging aangevraagd",
                    f"door medewerker {coord_id}",
                )
            ):
                break
            assert asyncio.get_running_loop().time() < deadline, "not in the console's trail"
            await asyncio.sleep(0.5)
        assert "nieuw.adres" not in page and "example.org" not in page


async def test_up_prints_every_page_and_a_one_time_sign_in_for_the_first_coordinator(
    staffed: System,
) -> None:
    banner = (staffed.data_dir / "up.log").read_text()
    intake = staffed.url("intake")
    for line in (
        f"question form     {intake}/",
        f"phone console     {intake}/phone",
        f"staff sign-in     {intake}/staff/login",
        f"triage            {staffed.url('routing')}/triage",
        f"crisis callbacks  {intake}/staff/crisis",
        f"staff accounts    {intake}/staff/accounts",
        f"contact persons   {staffed.url('notify')}/contacts",
        f"console           {staffed.url('audit')}/",
        f"report            {staffed.url('audit')}/report",
    ):
        assert line in banner, line
    link = re.search(r"first coordinator (http://\S+/staff/first/\S+)", banner).group(1)
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(link)  # a page with one button: opening it spends nothing
        assert r.status_code == 200 and "Aanmelden als coordinator" in r.text
        r = await c.post(link)
        assert r.status_code == 303 and r.headers["location"] == "/staff/password"
        # Until a password is chosen, nothing else opens.
        r = await c.get(intake + "/staff")
        assert r.status_code == 303 and r.headers["location"] == "/staff/password"
        page = await c.get(intake + "/staff/password")
        password = "een-lang-wachtwoord-voor-de-coordinator"
        r = await c.post(
            intake + "/staff/password",
            data={"csrf": csrf(page.text), "password": password, "password2": password},
        )
        assert r.status_code == 303
        home = await c.get(intake + "/staff")
        assert home.status_code == 200 and "Coördinator" in home.text
    async with httpx.AsyncClient(timeout=30) as later:
        r = await later.get(link)  # used once: worth nothing now
        assert r.status_code == 410 and "set-cookie" not in r.headers
        await staff_sign_in(later, intake, "coordinator", password)


async def test_the_phone_console_opens_with_the_one_sign_in_and_only_for_its_role(
    staffed: System,
) -> None:
    intake = staffed.url("intake")
    async with httpx.AsyncClient(base_url=intake, timeout=30) as volunteer:
        name, once = add_staff(staffed)  # no --role: a phone volunteer, as before
        await staff_sign_in(volunteer, intake, name, once)
        home = await volunteer.get("/staff")
        assert '<a href="/phone">Telefoonconsole</a>' in home.text
        console = await volunteer.get("/phone")
        assert console.status_code == 200 and name in console.text
        r = await volunteer.post("/phone/logout", data={"csrf": csrf(console.text)})
        assert r.status_code == 303
        # Logged out there is logged out everywhere: the server-side session is gone.
        assert (await volunteer.get("/phone")).status_code == 303
        assert (await volunteer.get("/staff")).headers["location"] == "/staff/login"
    async with httpx.AsyncClient(base_url=intake, timeout=30) as team:
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(team, intake, name, once)
        r = await team.get("/phone")  # signed in, without the role: refused, not a 2nd login
        assert r.status_code == 403 and "Geen toegang" in r.text


async def test_a_hand_off_costs_a_person_well_under_a_second(staffed: System) -> None:
    """What a signed-in person waits when a service's ten minutes run out: intake's session
    check, the assertion, routing's check and the page (three requests)."""
    intake, routing = staffed.url("intake"), staffed.url("routing")
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as c:
        name, once = add_staff(staffed, "teamlid")
        await staff_sign_in(c, intake, name, once)
        times = []
        for _ in range(20):
            c.cookies.delete("od_staff_routing")
            start = time.perf_counter()
            r = await c.get(routing + "/triage")
            times.append(time.perf_counter() - start)
            assert r.url.path == "/triage" and len(r.history) == 3
    times.sort()
    print(
        f"\nhand-off + triage page: median {times[10] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )
    assert times[10] < 1.0
