"""The network team's queue (sign-in with the teamlid role, CSRF, assign, close), buddy signals,
self-pause, HSDS."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from opendeur import links
from opendeur.embedded import Postgres
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from services.routing import directory as directory_module
from tests.integration.test_routing_clock import audit_of_type, poll
from tests.support import (
    ADMIN,
    ROOT,
    SECRET,
    System,
    add_staff,
    question,
    staff_sign_in,
    start_system,
    stop_system,
)

GROUPS = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven;Veldhoven,no,Anna Rouw,anna.rouw@example.org,3
Online Angst,angst,,yes,Bram Angst,bram.angst@example.org,2
Mantelzorg Helmond,mantelzorg,Helmond,no,Carla Zorg,carla.zorg@example.org,2
"""
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
pytestmark = pytest.mark.timeout(300)
BEARER = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
async def team(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> AsyncIterator[System]:
    s = start_system(tmp_path_factory.mktemp("team"), pg, groups_csv=GROUPS)
    yield s
    stop_system(s)


async def ask(s: System, **overrides) -> tuple[str, str]:
    async with httpx.AsyncClient() as c:
        r = await c.post(s.url("intake") + "/api/v1/questions", json=question(**overrides))
    assert r.status_code == 202, r.text
    return r.json()["question_id"], r.json()["reference"]


@asynccontextmanager
async def staff(s: System, *roles: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of a team member, signed in at intake and handed off to routing."""
    async with httpx.AsyncClient(base_url=s.url("routing"), timeout=30) as client:
        name, once = add_staff(s, *(roles or ("teamlid",)))
        await staff_sign_in(client, s.url("intake"), name, once)
        r = await client.get("/triage", follow_redirects=True)
        assert r.url.path == "/triage", r.url
        cookie = client.cookies.get("od_staff_routing")
        assert cookie and ADMIN not in cookie
        yield client


async def test_triage_page_needs_a_team_members_sign_in(team: System) -> None:
    intake = team.url("intake")
    async with httpx.AsyncClient(base_url=team.url("routing")) as anon:
        r = await anon.get("/triage")
        assert r.status_code == 303 and r.headers["location"].startswith(
            intake + "/staff/handoff?to=routing&next=%2Ftriage"
        )
        r = await anon.get("/login")  # an old bookmark: to the one sign-in
        assert r.status_code == 303 and r.headers["location"].startswith(intake + "/staff/login")
        r = await anon.post("/login", data={"token": ADMIN})
        assert r.status_code == 405 and "set-cookie" not in r.headers
        r = await anon.post("/triage/" + str(uuid.uuid4()) + "/close", data={"reason": "duplicate"})
        assert r.status_code == 401
    async with staff(team) as client:
        r = await client.get("/triage")
        assert r.status_code == 200 and "Wachtrij" in r.text
        assert "<script" not in r.text and "style=" not in r.text
    # A machine token is for APIs: it opens no page for a person.
    async with httpx.AsyncClient(base_url=team.url("routing"), headers=BEARER) as api:
        r = await api.get("/triage")
        assert r.status_code == 303 and "/staff/handoff" in r.headers["location"]
    # Signed in without the role: refused, and the form posts too.
    async with httpx.AsyncClient(base_url=team.url("routing"), timeout=30) as other:
        name, once = add_staff(team, "rapportage")
        await staff_sign_in(other, intake, name, once)
        r = await other.get("/triage", follow_redirects=True)
        assert r.status_code == 403 and "Geen toegang" in r.text


async def test_assign_by_hand_routes_to_the_group_and_mails_its_contact(team: System) -> None:
    qid, ref = await ask(team, topic="depressie")
    events = await team.wait_audit(qid, ["question.unmatched.v1"])
    assert next(e for e in events if e["type"] == "question.unmatched.v1")["reason"] == "no_group"
    async with staff(team) as client:
        page = await client.get("/triage")
        assert ref in page.text and "Kies een groep" in page.text
        # Plain Dutch: why it waits, where, and closing asks first.
        assert "Geen groep voor dit onderwerp in de buurt" in page.text
        assert "no_group" not in page.text and "Ja, sluiten" in page.text
        csrf = CSRF.search(page.text).group(1)
        url = f"/triage/{qid}/assign"
        r = await client.post(url, data={"group_id": "mantelzorg-helmond"})
        assert r.status_code == 403 and r.json()["field"] == "csrf"
        r = await client.post(url, data={"group_id": "mantelzorg-helmond", "csrf": "0" * 64})
        assert r.status_code == 403
        r = await client.post(url, data={"group_id": "no-such-group", "csrf": csrf})
        assert r.status_code == 422 and r.json()["field"] == "group_id"
        # A browser's post gets a Dutch page with the way back, not the API's JSON.
        html = {"Accept": "text/html,application/xhtml+xml"}
        r = await client.post(url, data={"group_id": "no-such-group", "csrf": csrf}, headers=html)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
        assert "Deze groep bestaat niet" in r.text and 'href="/triage"' in r.text
        r = await client.post(url, data={"csrf": csrf}, headers=html)
        assert r.status_code == 422 and "Kies eerst een groep." in r.text
        r = await client.post("/triage/not-a-uuid/assign", data={"group_id": "x", "csrf": csrf})
        assert r.status_code == 422 and r.json()["field"] == "question_id"
        r = await client.post(url, data={"group_id": "mantelzorg-helmond", "csrf": csrf})
        assert r.status_code == 303, r.text
        done = await client.get(r.headers["location"])
        assert "De vraag is naar de groep gestuurd" in done.text
        r = await client.post(url, data={"group_id": "mantelzorg-helmond", "csrf": csrf})
        assert r.status_code == 409 and r.json()["error"] == "not_in_queue"
        assert ref not in (await client.get("/triage")).text

    mail = await team.wait_mail(lambda m: ref in m.subject)
    assert mail.to == ["carla.zorg@example.org"]
    events = await team.wait_audit(qid, ["question.routed.v1", "contact.notified.v1"])
    routed = [e for e in events if e["type"] == "question.routed.v1"]
    assert len(routed) == 1
    assert routed[0]["reason"] == "manual" and routed[0]["group_id"] == "mantelzorg-helmond"


async def test_close_takes_a_question_out_of_the_queue(team: System) -> None:
    qid, _ref = await ask(team, topic="depressie", postcode="5701")
    await team.wait_audit(qid, ["question.unmatched.v1"])
    async with staff(team) as client:
        csrf = CSRF.search((await client.get("/triage")).text).group(1)
        url = f"/triage/{qid}/close"
        r = await client.post(url, data={"reason": "because", "csrf": csrf})
        assert r.status_code == 422 and r.json()["field"] == "reason"
        r = await client.post(url, data={"reason": "duplicate", "csrf": csrf})
        assert r.status_code == 303
        r = await client.post(url, data={"reason": "duplicate", "csrf": csrf})
        assert r.status_code == 409
        r = await client.post(
            f"/triage/{uuid.uuid4()}/close", data={"reason": "duplicate", "csrf": csrf}
        )
        assert r.status_code == 404
    async with httpx.AsyncClient(headers=BEARER) as api:
        queue = (await api.get(team.url("routing") + "/api/v1/triage")).json()
    assert qid not in {q["question_id"] for q in queue}
    events = await team.wait_audit(qid, ["question.closed.v1"])
    closed = [e for e in events if e["type"] == "question.closed.v1"]
    assert len(closed) == 1 and closed[0]["reason"] == "duplicate" and closed[0]["by"] == "team"


async def test_buddy_signals_count_who_would_start_a_group_per_topic_and_municipality(
    team: System,
) -> None:
    helmond = [
        await ask(team, topic="eetstoornis", postcode="5701", wants_to_start_group=True)
        for _ in range(2)
    ]
    eindhoven = await ask(team, topic="eetstoornis", postcode="5611", wants_to_start_group=True)
    not_offered = await ask(team, topic="eetstoornis", postcode="5611")
    for qid, _ref in [*helmond, eindhoven, not_offered]:
        await team.wait_audit(qid, ["question.unmatched.v1"])

    async with httpx.AsyncClient(base_url=team.url("routing")) as anon:
        assert (await anon.get("/api/v1/buddy-signals")).status_code == 401
    async with httpx.AsyncClient(base_url=team.url("routing"), headers=BEARER) as api:
        r = await api.get("/api/v1/buddy-signals")
        assert r.status_code == 200
        signals = [x for x in r.json() if x["topic"] == "eetstoornis"]
        assert [(x["municipality"], x["waiting"]) for x in signals] == [("helmond", 2)]
    async with staff(team) as client:
        page = (await client.get("/triage")).text
    assert "Samen een groep starten" in page and "Helmond</span>" in page


async def test_contact_pauses_own_group_by_link_and_it_gets_no_questions(team: System) -> None:
    settings = Settings(secret_key=SECRET)
    contact = pseudonym(settings, "contact", "bram.angst@example.org")
    token = links.sign(settings, "group", {"g": "online-angst", "c": contact})
    page_url = team.url("routing") + f"/groups/self/{token}"
    async with httpx.AsyncClient() as c:
        r = await c.get(page_url)
        assert r.status_code == 200 and "Online Angst" in r.text and "actief" in r.text
        assert (await c.get(team.url("routing") + "/groups/self/forged.token")).status_code == 403
        other = links.sign(settings, "group", {"g": "rouwgroep-eindhoven", "c": contact})
        assert (await c.get(team.url("routing") + f"/groups/self/{other}")).status_code == 404
        r = await c.post(page_url, data={"action": "resume"})
        assert r.status_code == 422 and r.json()["field"] == "action"
        r = await c.post(page_url, data={"action": "pause"})
        assert r.status_code == 303
        assert "gepauzeerd" in (await c.get(page_url)).text

        qid, _ref = await ask(team, topic="angst", postcode="5611")
        events = await team.wait_audit(qid, ["question.unmatched.v1"])
        assert (
            next(e for e in events if e["type"] == "question.unmatched.v1")["reason"] == "no_group"
        )
        assert "question.routed.v1" not in [e["type"] for e in events]

        r = await c.post(page_url, data={"action": "resume"})
        assert r.status_code == 303
    changes = await poll(
        lambda: _changes(team, "online-angst", 2), 30, "group.changed.v1 did not reach audit"
    )
    assert [(e["change"], e["status"], e["by"]) for e in changes] == [
        ("paused", "paused", "contact"),
        ("resumed", "active", "contact"),
    ]
    qid, _ref = await ask(team, topic="angst", postcode="5611")
    await team.wait_audit(qid, ["question.routed.v1"])


async def _changes(s: System, group_id: str, n: int) -> list[dict] | None:
    events = [
        e
        for e in await audit_of_type(s, "group.changed.v1")
        if e["group_id"] == group_id and e["by"] == "contact"
    ]
    return events if len(events) >= n else None


HSDS = ROOT.parent / "shared" / "hsds-3.0"


def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


async def test_directory_services_validate_against_hsds_3(team: System) -> None:
    if not (HSDS / "service.json").exists():
        reason = f"HSDS 3.0 schemas not found at {HSDS}"
        print(reason)
        pytest.skip(reason)
    registry = Registry()
    for path in HSDS.glob("*.json"):
        schema = json.loads(path.read_text())
        registry = registry.with_resource(
            path.name, Resource.from_contents(schema, default_specification=DRAFT202012)
        )
    formats = FormatChecker()
    formats.checks("uri")(_uri)
    service = Draft202012Validator(
        {"$ref": "service.json"}, registry=registry, format_checker=formats
    )
    organization = Draft202012Validator(
        {"$ref": "organization.json"}, registry=registry, format_checker=formats
    )
    async with httpx.AsyncClient() as c:
        directory = (await c.get(team.url("routing") + "/api/v1/directory")).json()
        # The same services in HSDS 3.0's API shape, paged, and one by one.
        paged = (await c.get(team.url("routing") + "/api/v1/services?full=true&per_page=2")).json()
        rest = await c.get(team.url("routing") + "/api/v1/services?full=true&per_page=2&page=2")
        one = await c.get(team.url("routing") + f"/api/v1/services/{paged['contents'][0]['id']}")
    assert paged["total_items"] == 3 and paged["total_pages"] == 2 and paged["size"] == 2
    assert paged["contents"] + rest.json()["contents"] == directory["services"]
    assert one.status_code == 200 and one.json() == directory["services"][0]
    assert len(directory["services"]) == 3
    for s in directory["services"]:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in service.iter_errors(s)]
        assert errors == [], errors
    errors = [e.message for e in organization.iter_errors(directory["organization"])]
    assert errors == [], errors
    text = json.dumps(directory)
    settings = Settings(
        secret_key=SECRET,
        database_url=team.env["OPENDEUR_DATABASE_URL"],
        public_base_url=team.env["OPENDEUR_PUBLIC_BASE_URL"],
    )
    assert await directory_module.export(settings) == directory
    for private in ("example.org", "Anna", "Rouw <", "@example"):
        assert private not in text, text[max(0, text.find(private) - 200) : text.find(private) + 50]
    assert not re.search(r"\bc-[0-9a-f]{20}\b", text)


def test_groups_export_writes_the_public_directory(system: System, tmp_path) -> None:
    target = tmp_path / "directory.json"
    result = system.opendeur("groups", "export", "--hsds", str(target))
    assert result.returncode == 0, result.stderr
    doc = json.loads(target.read_text())
    assert {s["name"] for s in doc["services"]} >= {"Rouwgroep Eindhoven", "Online Angst"}
    assert "example.org" not in target.read_text()  # contact persons' addresses never leave notify
