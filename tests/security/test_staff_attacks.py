"""The staff side attacked as an attacker would (issue #14), on a running system: another role's
pages, a hand-off assertion replayed elsewhere, forged and stale confirmation links, cross-site
posts, enumerating references, personal data where it does not belong, one's own roles, the last
coordinator, locking a person out by name, a disabled account's old ways in, and the team's
outcome on a question that is not the team's to close. Each test passes because the attack fails."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opendeur.embedded import Postgres
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from services.notify import addresses
from tests.support import (
    ADMIN,
    GROUPS_CSV,
    SECRET,
    System,
    add_staff,
    csrf,
    question,
    staff_sign_in,
    start_system,
    stop_system,
)

pytestmark = pytest.mark.timeout(300)
ERIK = "erik.eet@example.org"
FRED = "fred.feest@example.org"
GROUPS = (
    GROUPS_CSV
    + f"Eetstoornis Online,eetstoornis,,yes,Erik Eet,{ERIK},100\n"
    + f"Feest Online,schulden,,yes,Fred Feest,{FRED},100\n"
)
CONFIRM = re.compile(r"(http://127\.0\.0\.1:\d+/contacts/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
STAFF_ID = re.compile(r'<code id="staff-id">(st-[0-9a-f]+)</code>')
CRISIS_WORDS = "Ik wil niet meer leven."


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    # Behind a proxy on loopback, as in a deployment: X-Forwarded-For then names the person's
    # address, so the lock-out test can speak from several addresses.
    s = start_system(
        tmp_path_factory.mktemp("attacked"),
        pg,
        groups_csv=GROUPS,
        OPENDEUR_TRUSTED_PROXIES="127.0.0.1",
    )
    yield s
    stop_system(s)


class Person:
    """A signed-in staff member: a browser-like client, the account's name and password."""

    def __init__(self, system: System, c: httpx.AsyncClient, name: str, password: str) -> None:
        self.system, self.c, self.name, self.password = system, c, name, password

    @property
    def intake(self) -> str:
        return self.system.url("intake")

    async def csrf(self, path: str = "/staff") -> str:
        return csrf((await self.c.get(self.intake + path)).text)

    async def staff_id(self) -> str:
        return STAFF_ID.search((await self.c.get(self.intake + "/staff")).text).group(1)

    async def on(self, service: str) -> None:
        """Hand off to `service` (its own session cookie)."""
        hop = await self.c.get(
            self.intake + "/staff/handoff",
            params={"to": service, "next": "/healthz"},
            follow_redirects=True,
        )
        assert hop.status_code == 200 and self.c.cookies.get(f"od_staff_{service}"), hop.url


async def person(system: System, *roles: str) -> Person:
    c = httpx.AsyncClient(timeout=30, follow_redirects=True)
    name, once = add_staff(system, *roles)
    password = await staff_sign_in(c, system.url("intake"), name, once)
    return Person(system, c, name, password)


@pytest.fixture
async def people() -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for p in made:
        await p.c.aclose()


async def signed(made: list[Person], system: System, *roles: str) -> Person:
    p = await person(system, *roles)
    made.append(p)
    return p


def mobile() -> str:
    return "0612" + "".join(random.choice("0123456789") for _ in range(6))


async def ask(system: System, crisis: bool, **overrides: object) -> tuple[str, str, str, str]:
    """A new question; (question id, reference, phone as typed, story canary)."""
    phone, canary = mobile(), f"kanarie-{uuid.uuid4().hex[:12]}"
    story = f"{CRISIS_WORDS if crisis else 'Ik mis mijn moeder.'} {canary}"
    body = question(phone=phone, story=story, **overrides)
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(system.url("intake") + "/api/v1/questions", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["advice"]["professional_help"] is crisis
    return r.json()["question_id"], r.json()["reference"], phone, canary


async def db(system: System, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(system.pg.url(system.database))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def question_row(system: System, qid: str) -> asyncpg.Record:
    rows = await db(
        system,
        "select q.status, q.erase_after, (select count(*) from intake.question_pii p"
        " where p.question_id = q.question_id) as pii from intake.questions q"
        " where q.question_id = $1",
        uuid.UUID(qid),
    )
    return rows[0]


async def untouched(system: System, qid: str) -> None:
    """The question is not done, its number and story are still there, no team try recorded."""
    row = await question_row(system, qid)
    assert row["status"] != "done" and row["pii"] == 1, dict(row)
    tries = await db(
        system, "select 1 from intake.crisis_attempts where question_id = $1", uuid.UUID(qid)
    )
    assert tries == []


async def account(system: System, name: str) -> asyncpg.Record | None:
    rows = await db(system, "select roles, disabled_at from intake.users where name = $1", name)
    return rows[0] if rows else None


def contact(email: str) -> str:
    return pseudonym(Settings(secret_key=SECRET), "contact", email)


# -- another role's pages ---------------------------------------------------------------------


async def test_other_roles_open_no_crisis_account_or_address_page(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    qid, ref, phone, canary = await ask(s, crisis=True)
    cid = contact(ERIK)
    victim = f"slachtoffer-{uuid.uuid4().hex[:6]}"
    for role in ("telefoonvrijwilliger", "rapportage", "beheerder"):
        p = await signed(people, s, role)
        token = await p.csrf()
        for url in (f"/staff/crisis/{ref}", "/staff/crisis", "/staff/accounts"):
            r = await p.c.get(intake + url)
            assert r.status_code == 403, (role, url, r.status_code)
            assert "Geen toegang" in r.text and phone[1:] not in r.text and canary not in r.text
        r = await p.c.post(
            intake + f"/staff/crisis/{ref}", data={"csrf": token, "outcome": "reached"}
        )
        assert r.status_code == 403
        for form in (
            {"action": "add", "name": victim, "roles": "coordinator"},
            {"action": "roles", "name": p.name, "roles": "coordinator"},
            {"action": "link", "name": p.name},
        ):
            r = await p.c.post(intake + "/staff/accounts", data={"csrf": token, **form})
            assert r.status_code == 403, (role, form)
        await p.on("notify")
        r = await p.c.get(s.url("notify") + "/contacts")
        assert r.status_code == 403 and ERIK not in r.text and "e***@" not in r.text
        r = await p.c.put(
            s.url("notify") + f"/api/v1/contacts/{cid}",
            json={"email": "indringer@evil.example", "channel": "email"},
        )
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        # Audit's dead-letter replay: only an operator, and only with the console's token.
        await p.on("audit")
        r = await p.c.post(s.url("audit") + "/deadletters/1/replay", data={"csrf": "x" * 64})
        assert r.status_code == 403, (role, r.status_code)
    await untouched(s, qid)
    assert await account(s, victim) is None
    assert not await db(s, "select 1 from notify.address_changes where contact_id = $1", cid)


# -- the hand-off -----------------------------------------------------------------------------


async def test_a_hand_off_assertion_opens_only_its_own_service_and_only_once(
    attacked: System, people: list[Person]
) -> None:
    s = attacked
    team = await signed(people, s, "teamlid")
    start = await team.c.get(s.url("routing") + "/triage", follow_redirects=False)
    hop = await team.c.get(start.headers["location"], follow_redirects=False)
    assert hop.status_code == 303
    assertion = parse_qs(urlsplit(hop.headers["location"]).query)["assertion"][0]
    async with httpx.AsyncClient(timeout=30) as thief:
        for other in ("audit", "notify"):  # the same assertion at another service
            r = await thief.get(
                s.url(other) + "/staff/accept", params={"assertion": assertion, "next": "/"}
            )
            assert r.status_code == 403 and "Aanmelden mislukt" in r.text
            assert not thief.cookies.get(f"od_staff_{other}")
    r = await team.c.get(hop.headers["location"], follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/triage"
    assert team.c.cookies.get("od_staff_routing")
    # A copied URL, used a second time by someone else: no session, back to the sign-in.
    async with httpx.AsyncClient(timeout=30) as thief:
        r = await thief.get(hop.headers["location"], follow_redirects=False)
        assert r.status_code == 303 and "/staff/handoff" in r.headers["location"]
        assert not thief.cookies.get("od_staff_routing")
        r = await thief.get(s.url("routing") + "/triage", follow_redirects=True)
        assert r.url.path == "/staff/login" and "Triage" not in r.text
        # Roles raised in a re-signed body without intake's key: refused.
        body, _, sig = assertion.partition(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["roles"] = ["beheerder", "coordinator", "teamlid"]
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        for token in (f"{forged}.{sig}", f"{forged}.{_sign(Ed25519PrivateKey.generate(), forged)}"):
            r = await thief.get(
                s.url("audit") + "/staff/accept", params={"assertion": token, "next": "/"}
            )
            assert r.status_code == 403 and not thief.cookies.get("od_staff_audit")


def _sign(key: Ed25519PrivateKey, body: str) -> str:
    raw = key.sign(b"opendeur-staff/v1:" + body.encode())
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# -- address changes --------------------------------------------------------------------------


async def test_a_confirmation_link_cannot_be_moved_forged_outlived_or_replayed(
    attacked: System, people: list[Person]
) -> None:
    s, notify = attacked, attacked.url("notify")
    erik, fred = contact(ERIK), contact(FRED)
    coordinator = await signed(people, s, "coordinator")
    await coordinator.on("notify")
    first = "xaver@first.example"
    r = await coordinator.c.put(
        notify + f"/api/v1/contacts/{erik}", json={"email": first, "channel": "email"}
    )
    assert r.is_success and r.json()["pending"] is True, r.text
    link = CONFIRM.search((await s.wait_mail(lambda m: m.to == [first])).text).group(1)
    token = link.rsplit("/", 1)[1]
    body, _, sig = token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    def token_of(data: dict, signature: str | None = None, key=None) -> str:
        b = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        if signature is None:
            raw = (key or Ed25519PrivateKey.generate()).sign(
                b"opendeur-address-confirm/v1:" + b.encode()
            )
            signature = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{b}.{signature}"

    settings = Settings(secret_key=SECRET)
    attempts = {
        "moved to another contact": token_of({**claims, "c": fred}, sig),
        "signed with the attacker's key": token_of({**claims, "c": fred}),
        "lifetime stretched": token_of({**claims, "e": claims["e"] + 10**6}, sig),
        # As if 72 hours had passed (signed with notify's real key, the end in the past).
        "expired": addresses.sign(settings, erik, claims["n"], int(time.time()) - 60),
    }
    async with httpx.AsyncClient(timeout=30) as attacker:
        for why, forged in attempts.items():
            page = await attacker.get(f"{notify}/contacts/confirm/{forged}")
            assert page.status_code == 404, why
            r = await attacker.post(f"{notify}/contacts/confirm/{forged}")
            assert r.status_code == 404, why
        # A second change replaces the first: the first link confirms nothing any more.
        second = "yara@second.example"
        r = await coordinator.c.put(
            notify + f"/api/v1/contacts/{erik}", json={"email": second, "channel": "email"}
        )
        assert r.is_success and r.json()["pending"] is True, r.text
        assert (await attacker.get(link)).status_code == 410
        r = await attacker.post(link, follow_redirects=True)
        assert r.status_code == 410
        now = (await coordinator.c.get(notify + f"/api/v1/contacts/{erik}")).json()
        assert now["email"] == "e***@example.org" and now["pending_email"] == "y***@second.example"
        link2 = CONFIRM.search((await s.wait_mail(lambda m: m.to == [second])).text).group(1)
        assert (await attacker.post(link2)).status_code == 303
        # Used once: the old link still does nothing, the used one changes nothing again.
        for used in (link, link2):
            await attacker.post(used)
        now = (await coordinator.c.get(notify + f"/api/v1/contacts/{erik}")).json()
        assert now["email"] == "y***@second.example" and now["pending"] is False
    theirs = (await coordinator.c.get(notify + f"/api/v1/contacts/{fred}")).json()
    assert theirs["email"] == "f***@example.org" and theirs["pending"] is False
    assert first not in s.logs() and second not in s.logs()


# -- cross-site posts -------------------------------------------------------------------------


async def test_cross_site_posts_without_or_with_a_stale_csrf_token_change_nothing(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    qid, ref, _, _ = await ask(s, crisis=True)
    team = await signed(people, s, "teamlid")
    stale = await team.csrf(f"/staff/crisis/{ref}")
    # The same person signs out and in again: the old page's token belongs to the old session.
    r = await team.c.post(intake + "/staff/logout", data={"csrf": await team.csrf()})
    assert r.url.path == "/staff/login"
    await staff_sign_in(team.c, intake, team.name, team.password)
    for token in (None, "", stale, "0" * 64):
        data = {"outcome": "reached"} | ({"csrf": token} if token is not None else {})
        r = await team.c.post(
            f"{intake}/staff/crisis/{ref}",
            data=data,
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert r.status_code == 403, (token, r.status_code)
    await untouched(s, qid)

    boss = await signed(people, s, "coordinator")
    stale = await boss.csrf("/staff/accounts")
    await boss.c.post(intake + "/staff/logout", data={"csrf": await boss.csrf()})
    await staff_sign_in(boss.c, intake, boss.name, boss.password)
    for token in (None, stale):
        data = {"action": "add", "name": "sluiper", "roles": "coordinator"}
        data |= {"csrf": token} if token is not None else {}
        r = await boss.c.post(intake + "/staff/accounts", data=data)
        assert r.status_code == 403
        r = await boss.c.post(
            intake + "/staff/accounts",
            data={"action": "disable", "name": team.name} | ({"csrf": token} if token else {}),
        )
        assert r.status_code == 403
    assert await account(s, "sluiper") is None
    assert (await account(s, team.name))["disabled_at"] is None

    # Notify's change form: a token of the coordinator's earlier notify session is worth nothing.
    await boss.on("notify")
    page = await boss.c.get(s.url("notify") + "/contacts")
    stale = csrf(page.text)
    boss.c.cookies.delete("od_staff_notify")
    await boss.on("notify")
    cid = contact(FRED)
    for token in (None, stale):
        data = {"email": "indringer@evil.example", "channel": "email", "language": "nl"}
        r = await boss.c.post(
            s.url("notify") + f"/contacts/{cid}",
            data=data | ({"csrf": token} if token else {}),
        )
        assert r.status_code == 403, r.text
    assert not await db(s, "select 1 from notify.address_changes where contact_id = $1", cid)


# -- enumeration ------------------------------------------------------------------------------


def _same(a: httpx.Response, b: httpx.Response, ref_a: str, ref_b: str) -> bool:
    return (a.status_code, a.text.replace(ref_a, "REF")) == (
        b.status_code,
        b.text.replace(ref_b, "REF"),
    )


async def test_crisis_references_cannot_be_told_apart_from_made_up_ones(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    _, crisis_ref, _, _ = await ask(s, crisis=True)
    _, plain_ref, _, _ = await ask(s, crisis=False)
    made_up = "OD-ZZZZ-ZZZZ"
    # Someone without the team's role: the same 403 for a real crisis reference and a made-up one.
    volunteer = await signed(people, s, "telefoonvrijwilliger")
    real = await volunteer.c.get(f"{intake}/staff/crisis/{crisis_ref}")
    fake = await volunteer.c.get(f"{intake}/staff/crisis/{made_up}")
    assert real.status_code == 403 and _same(real, fake, crisis_ref, made_up)
    async with httpx.AsyncClient(timeout=30) as stranger:
        real = await stranger.get(f"{intake}/staff/crisis/{crisis_ref}")
        fake = await stranger.get(f"{intake}/staff/crisis/{made_up}")
        assert real.status_code == fake.status_code == 303
        assert "login" in real.headers["location"] and real.text == fake.text == ""
    # A team member: a question that is no crisis answers as one that does not exist.
    team = await signed(people, s, "teamlid")
    plain = await team.c.get(f"{intake}/staff/crisis/{plain_ref}")
    fake = await team.c.get(f"{intake}/staff/crisis/{made_up}")
    assert plain.status_code == 404 and _same(plain, fake, plain_ref, made_up)
    token = await team.csrf()
    plain = await team.c.post(
        f"{intake}/staff/crisis/{plain_ref}", data={"csrf": token, "outcome": "reached"}
    )
    fake = await team.c.post(
        f"{intake}/staff/crisis/{made_up}", data={"csrf": token, "outcome": "reached"}
    )
    assert plain.status_code == 404 and _same(plain, fake, plain_ref, made_up)


# -- personal data where it does not belong ---------------------------------------------------


async def test_the_number_and_story_stay_on_the_team_members_screen(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    qid, ref, phone, canary = await ask(s, crisis=True)
    digits = phone[1:]
    team = await signed(people, s, "teamlid")
    seen: list[httpx.Response] = []
    page = await team.c.get(f"{intake}/staff/crisis/{ref}")
    assert page.status_code == 200 and canary in page.text
    for r in (page, await team.c.get(intake + "/staff/crisis")):
        assert r.headers["cache-control"].startswith("no-store"), r.url
    bad = await team.c.post(
        f"{intake}/staff/crisis/{ref}", data={"csrf": csrf(page.text), "outcome": digits}
    )
    assert bad.status_code == 422 and canary not in bad.text and digits not in bad.text
    for outcome in ("unreachable", "reached"):
        r = await team.c.post(
            f"{intake}/staff/crisis/{ref}",
            data={"csrf": csrf(page.text), "outcome": outcome},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["cache-control"].startswith("no-store")
        seen.append(r)
        if outcome == "unreachable":
            page = await team.c.get(intake + r.headers["location"])
            assert page.headers["cache-control"].startswith("no-store")
    for r in seen:
        assert digits not in r.headers["location"] and canary not in r.headers["location"]
    events = await s.wait_audit(qid, ["pii.accessed.v1", "callback.done.v1", "staff.acted.v1"])
    trail = json.dumps(events)
    assert digits not in trail and canary not in trail
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        r = await c.get(s.url("audit") + "/api/v1/audit/events", params={"type": "staff.acted.v1"})
        assert digits not in r.text and canary not in r.text
    logs = s.logs()
    assert digits not in logs and canary not in logs and ref in page.text


# -- accounts ---------------------------------------------------------------------------------


async def test_nobody_gives_themselves_a_role(attacked: System, people: list[Person]) -> None:
    s, intake = attacked, attacked.url("intake")
    for role in ("teamlid", "telefoonvrijwilliger", "beheerder"):
        p = await signed(people, s, role)
        r = await p.c.post(
            intake + "/staff/accounts",
            data={
                "csrf": await p.csrf(),
                "action": "roles",
                "name": p.name,
                "roles": "coordinator",
            },
        )
        assert r.status_code == 403
        assert list((await account(s, p.name))["roles"]) == [role]
        home = await p.c.get(intake + "/staff")
        assert "Accounts" not in home.text and "/staff/accounts" not in home.text


async def only_these_coordinators(system: System, *names: str) -> None:
    """Set-up: every other coordinator of this system disabled (earlier tests made some)."""
    await db(
        system,
        "update intake.users set disabled_at = now() where 'coordinator' = any(roles)"
        " and disabled_at is null and not (name = any($1::text[]))",
        list(names),
    )


async def enabled_coordinators(system: System) -> int:
    rows = await db(
        system,
        "select count(*) as n from intake.users where 'coordinator' = any(roles)"
        " and disabled_at is null",
    )
    return rows[0]["n"]


async def test_the_last_coordinator_cannot_be_removed_not_even_by_two_at_once(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    for round_ in range(6):
        a = await signed(people, s, "coordinator")
        b = await signed(people, s, "coordinator")
        await only_these_coordinators(s, a.name, b.name)
        ta, tb = await a.csrf("/staff/accounts"), await b.csrf("/staff/accounts")
        # Each disables the other at the same moment; or each drops the other's role.
        action = ("disable", "roles")[round_ % 2]
        extra = {"roles": "teamlid"} if action == "roles" else {}
        ra, rb = await asyncio.gather(
            a.c.post(
                intake + "/staff/accounts",
                data={"csrf": ta, "action": action, "name": b.name, **extra},
            ),
            b.c.post(
                intake + "/staff/accounts",
                data={"csrf": tb, "action": action, "name": a.name, **extra},
            ),
        )
        assert await enabled_coordinators(s) == 1, (round_, ra.status_code, rb.status_code)
        # One change went through; the other was refused, or found its maker's session ended
        # by it (disabled, or roles changed) and asked them to sign in again.
        done = [r for r in (ra, rb) if r.url.path == "/staff/accounts" and r.status_code == 200]
        assert len(done) == 1, (ra.status_code, ra.url, rb.status_code, rb.url)
        other = rb if done[0] is ra else ra
        assert (other.status_code == 422 and "coördinator" in other.text) or (
            other.url.path == "/staff/login"
        ), (other.status_code, other.url)
    # The one left cannot disable themselves nor drop their own role.
    last = await signed(people, s, "coordinator")
    await only_these_coordinators(s, last.name)
    token = await last.csrf("/staff/accounts")
    for form in (
        {"action": "disable", "name": last.name},
        {"action": "roles", "name": last.name, "roles": "teamlid"},
    ):
        r = await last.c.post(intake + "/staff/accounts", data={"csrf": token, **form})
        assert r.status_code == 422, form
    row = await account(s, last.name)
    assert row["disabled_at"] is None and "coordinator" in row["roles"]


async def test_a_name_cannot_be_locked_out_from_another_address(attacked: System) -> None:
    s, intake = attacked, attacked.url("intake")
    name, once = add_staff(s, "teamlid")
    async with (
        httpx.AsyncClient(timeout=30, headers={"X-Forwarded-For": "203.0.113.9"}) as attacker,
        httpx.AsyncClient(timeout=30, headers={"X-Forwarded-For": "198.51.100.7"}) as victim,
    ):
        statuses = []
        for _ in range(12):
            for who in (name, name.upper(), f"  {name} "):
                page = await attacker.get(intake + "/staff/login")
                r = await attacker.post(
                    intake + "/staff/login",
                    data={"csrf": csrf(page.text), "name": who, "password": "fout-wachtwoord-1"},
                )
                statuses.append(r.status_code)
        assert 429 in statuses and 303 not in statuses
        page = await victim.get(intake + "/staff/login")
        r = await victim.post(
            intake + "/staff/login",
            data={"csrf": csrf(page.text), "name": name, "password": once},
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/password")


async def test_a_disabled_account_keeps_no_session_and_no_sign_in_link(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    boss = await signed(people, s, "coordinator")
    member = await signed(people, s, "teamlid")
    token = await boss.csrf("/staff/accounts")
    r = await boss.c.post(
        intake + "/staff/accounts", data={"csrf": token, "action": "link", "name": member.name}
    )
    assert r.status_code == 200 and r.headers["cache-control"].startswith("no-store")
    link = re.search(r"(http://127\.0\.0\.1:\d+/staff/first/[A-Za-z0-9_\-]+)", r.text).group(1)
    r = await boss.c.post(
        intake + "/staff/accounts", data={"csrf": token, "action": "disable", "name": member.name}
    )
    assert r.status_code == 200
    # The old session, the password and the link: nothing opens.
    r = await member.c.get(intake + "/staff/crisis")
    assert r.url.path == "/staff/login"
    async with httpx.AsyncClient(timeout=30) as c:
        page = await c.get(intake + "/staff/login")
        r = await c.post(
            intake + "/staff/login",
            data={"csrf": csrf(page.text), "name": member.name, "password": member.password},
        )
        assert r.status_code == 401
    # Enabled again (say, by mistake or much later): the link made before disabling stays dead,
    # and so does the session from before.
    r = await boss.c.post(
        intake + "/staff/accounts", data={"csrf": token, "action": "enable", "name": member.name}
    )
    assert r.status_code == 200
    async with httpx.AsyncClient(timeout=30) as finder:
        r = await finder.get(link, follow_redirects=False)
        assert r.status_code == 410 and not finder.cookies.get("od_staff_in")
    r = await member.c.get(intake + "/staff/crisis")
    assert r.url.path == "/staff/login"


# -- the crisis outcome -----------------------------------------------------------------------


async def test_the_team_outcome_closes_no_other_question(
    attacked: System, people: list[Person]
) -> None:
    s, intake = attacked, attacked.url("intake")
    team = await signed(people, s, "teamlid")
    token = await team.csrf()
    # A question without crisis words.
    plain_id, plain_ref, _, _ = await ask(s, crisis=False)
    for outcome in ("reached", "referred_professional"):
        r = await team.c.post(
            f"{intake}/staff/crisis/{plain_ref}", data={"csrf": token, "outcome": outcome}
        )
        assert r.status_code == 404
    await untouched(s, plain_id)
    # A crisis question the team gave to a group's contact person in triage.
    qid, ref, _, _ = await ask(s, crisis=True, topic="eetstoornis")
    await team.on("routing")
    deadline = time.monotonic() + 30
    while qid not in (triage := await team.c.get(s.url("routing") + "/triage")).text:
        assert time.monotonic() < deadline, "the crisis question never reached triage"
        await asyncio.sleep(0.1)
    group = re.search(r'<option value="(eetstoornis[^"]*)"', triage.text).group(1)
    r = await team.c.post(
        s.url("routing") + f"/triage/{qid}/assign",
        data={"csrf": csrf(triage.text), "group_id": group},
    )
    assert r.status_code == 200 and r.url.path == "/triage"
    deadline = time.monotonic() + 30
    while (await question_row(s, qid))["status"] != "routed":
        assert time.monotonic() < deadline, "intake never heard of the routing"
        await asyncio.sleep(0.1)
    before = await question_row(s, qid)
    r = await team.c.get(f"{intake}/staff/crisis/{ref}")
    assert r.status_code == 409
    for outcome in ("reached", "referred_professional", "unreachable"):
        r = await team.c.post(
            f"{intake}/staff/crisis/{ref}", data={"csrf": token, "outcome": outcome}
        )
        assert r.status_code == 409
    row = await question_row(s, qid)
    assert row["status"] == "routed" and row["pii"] == 1 and row == before
    tries = await db(
        s, "select 1 from intake.crisis_attempts where question_id = $1", uuid.UUID(qid)
    )
    assert tries == []


async def test_a_session_id_planted_before_sign_in_opens_nothing_after_it(attacked: System) -> None:
    s, intake = attacked, attacked.url("intake")
    name, once = add_staff(s, "teamlid")
    async with httpx.AsyncClient(timeout=30) as victim:
        page = await victim.get(intake + "/staff/login")
        planted = victim.cookies.get("od_staff_in")  # what an attacker could have set
        assert planted
        r = await victim.post(
            intake + "/staff/login",
            data={"csrf": csrf(page.text), "name": name, "password": once},
        )
        assert r.status_code == 303 and victim.cookies.get("od_staff_in") != planted
    async with httpx.AsyncClient(timeout=30, cookies={"od_staff_in": planted}) as attacker:
        r = await attacker.get(intake + "/staff/crisis")
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")


async def test_a_disabled_or_demoted_person_loses_routing_notify_and_audit_at_once(
    attacked: System, people: list[Person]
) -> None:
    """The attack: disabled at intake, a person kept triage, notify's contacts page and the
    address change for the rest of each service's 10-minute cookie (seen: 200 one second
    later). Now every service hears the account change and ends her sessions there."""
    gone = await signed(people, attacked, "teamlid", "coordinator", "beheerder")
    demoted = await signed(people, attacked, "teamlid", "coordinator", "beheerder")
    pages = {"routing": "/triage", "notify": "/contacts", "audit": "/"}
    for p in (gone, demoted):
        for service, path in pages.items():
            await p.on(service)
            r = await p.c.get(attacked.url(service) + path, follow_redirects=False)
            assert r.status_code == 200, (service, r.status_code)

    # The attack on the live trail: an operator's stream, opened before she is disabled, went
    # on delivering (seen 650 s later). Now it ends once audit hears the change.
    async def read_stream() -> int:
        chunks = 0
        async with gone.c.stream("GET", attacked.url("audit") + "/api/v1/audit/stream") as live:
            assert live.status_code == 200
            async for _ in live.aiter_bytes():
                chunks += 1
        return chunks

    stream = asyncio.create_task(read_stream())
    await asyncio.sleep(1)
    assert not stream.done()
    assert attacked.opendeur("users", "disable", gone.name).returncode == 0
    assert await asyncio.wait_for(stream, 30) >= 1  # it ended by itself
    coordinator = await signed(people, attacked, "coordinator")
    r = await coordinator.c.post(
        coordinator.intake + "/staff/accounts",
        data={
            "csrf": await coordinator.csrf("/staff/accounts"),
            "action": "roles",
            "name": demoted.name,
            "roles": "rapportage",
        },
    )
    assert r.status_code == 200, r.text[:300]

    deadline = time.monotonic() + 30
    for p in (gone, demoted):
        for service, path in pages.items():
            while True:
                r = await p.c.get(attacked.url(service) + path, follow_redirects=False)
                if r.status_code == 303:
                    break
                assert time.monotonic() < deadline, (service, path, r.status_code)
                await asyncio.sleep(0.2)
            assert "/staff/handoff" in r.headers["location"], r.headers["location"]
        # Back through intake: both must sign in again (a change of roles ends the intake
        # session too), the disabled one cannot.
        r = await p.c.get(attacked.url("notify") + "/contacts", follow_redirects=True)
        assert "/staff/login" in str(r.url), r.url
    r = await gone.c.put(
        attacked.url("notify") + "/api/v1/contacts/c-revoked",
        json={"email": "zed@evil.example", "channel": "email", "language": "nl"},
        follow_redirects=False,
    )
    assert r.status_code == 401, r.text


async def test_signing_out_at_intake_signs_out_of_triage_too(
    attacked: System, people: list[Person]
) -> None:
    """The walk: after "Uitloggen" at intake, triage on a shared device still opened with the
    assign and close forms under the team member's code for the rest of routing's cookie."""
    team = await signed(people, attacked, "teamlid")
    await team.on("routing")
    triage = attacked.url("routing") + "/triage"
    assert (await team.c.get(triage, follow_redirects=False)).status_code == 200
    r = await team.c.post(team.intake + "/staff/logout", data={"csrf": await team.csrf()})
    assert "/staff/login" in str(r.url)
    deadline = time.monotonic() + 30
    while (r := await team.c.get(triage, follow_redirects=False)).status_code != 303:
        assert r.status_code == 200 and time.monotonic() < deadline, r.status_code
        await asyncio.sleep(0.2)
    assert "/staff/handoff" in r.headers["location"]
    r = await team.c.get(triage, follow_redirects=True)
    assert "/staff/login" in str(r.url) and "Kies een groep" not in r.text


async def test_a_new_password_ends_a_thiefs_copied_session_on_the_other_services(
    attacked: System, people: list[Person]
) -> None:
    """The attack: a copied routing cookie kept triage open after its owner, suspecting a
    theft, chose a new password at intake (only intake's sessions ended). Now the password
    change is announced (staff.acted account_change password) and ends them everywhere."""
    team = await signed(people, attacked, "teamlid")
    await team.on("routing")
    triage = attacked.url("routing") + "/triage"
    copied = team.c.cookies.get("od_staff_routing")
    async with httpx.AsyncClient(timeout=30, cookies={"od_staff_routing": copied}) as thief:
        assert (await thief.get(triage, follow_redirects=False)).status_code == 200
        new = "een-ander-lang-wachtwoord-na-de-diefstal"
        r = await team.c.post(
            team.intake + "/staff/password",
            data={"csrf": await team.csrf("/staff/password"), "password": new, "password2": new},
        )
        assert r.status_code == 200, r.text[:300]
        deadline = time.monotonic() + 30
        while (r := await thief.get(triage, follow_redirects=False)).status_code != 303:
            assert r.status_code == 200 and time.monotonic() < deadline, r.status_code
            await asyncio.sleep(0.2)
    # The owner, signed in again with her new password, still gets in.
    await team.on("routing")
    assert (await team.c.get(triage, follow_redirects=False)).status_code == 200


async def test_a_coordinator_does_not_see_crisis_numbers(
    attacked: System, people: list[Person]
) -> None:
    """Least privilege: the team calls back; a coordinator manages groups, addresses and
    accounts, and her home links to the contact persons' addresses instead."""
    coordinator = await signed(people, attacked, "coordinator")
    r = await coordinator.c.get(coordinator.intake + "/staff/crisis", follow_redirects=False)
    assert r.status_code == 403
    home = (await coordinator.c.get(coordinator.intake + "/staff")).text
    assert "/staff/crisis" not in home
    assert attacked.url("notify") + "/contacts" in home
