"""The phone-line console through HTTP: accounts, login, CSRF, entering a caller's question."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.db import make_engine, sessionmaker
from services.intake import store, users
from tests.support import System, csrf, login, new_volunteer


@pytest.fixture(scope="module")
async def sessions(system: System) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(system.pg.url(system.database), pool_size=2, schema="intake")
    yield sessionmaker(engine)
    await engine.dispose()


def client(system: System) -> httpx.AsyncClient:
    # No X-Forwarded-For: the system trusts no proxy, so every test comes from 127.0.0.1.
    return httpx.AsyncClient(base_url=system.url("intake"))


async def test_add_user_rules(sessions: async_sessionmaker[AsyncSession]) -> None:
    name = f"Piet-{uuid.uuid4().hex[:6]}"
    once = await users.add_user(sessions, name, "phone")
    assert len(once) >= 16
    async with sessions() as s:
        stored = await users.get_user(s, name)
    assert stored is not None and stored.must_change and stored.name == name.lower()
    assert stored.password_hash.startswith("$argon2") and once not in stored.password_hash
    with pytest.raises(users.UserError):
        await users.add_user(sessions, name, "phone")
    with pytest.raises(users.UserError):
        await users.add_user(sessions, "x y", "phone")
    with pytest.raises(users.UserError):
        await users.add_user(sessions, f"ok-{uuid.uuid4().hex[:6]}", "god")


async def test_console_opens_with_the_one_staff_sign_in(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with client(system) as c:
        r = await c.get("/phone")
        assert r.status_code == 303 and r.headers["location"] == "/staff/login?next=%2Fphone"
        r = await c.post("/phone", data={"phone": "0612345678"})
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?")
        # The console's old sign-in address (a bookmark): the one sign-in, back to the console.
        for old in ("/phone/login", "/phone/login?lang=en"):
            r = await c.get(old)
            assert r.status_code == 303 and r.headers["location"].startswith(
                "/staff/login?next=%2Fphone"
            )
        page = await c.get("/staff/login", params={"next": "/phone"})
        cookie = page.headers["set-cookie"].lower()
        assert cookie.startswith("od_staff_in=") and "httponly" in cookie
        assert "samesite=lax" in cookie and "path=/" in cookie and "max-age=43200" in cookie

        name = f"vw-{uuid.uuid4().hex[:8]}"
        once = await users.add_user(sessions, name, "phone")
        no_csrf = await c.post("/staff/login", data={"name": name, "password": once})
        assert no_csrf.status_code == 403
        wrong = await login(c, name, once + "x")
        assert wrong.status_code == 401 and "klopt niet" in wrong.text
        unknown = await login(c, "niemand-" + uuid.uuid4().hex[:6], once)
        assert unknown.status_code == 401
        # A one-time password leads to the password page first, not to the console.
        ok = await login(c, name, once)
        assert ok.status_code == 303 and ok.headers["location"].startswith("/staff/password")
        assert (await c.get("/phone")).headers["location"].startswith("/staff/password")
        page = await c.get(ok.headers["location"])
        short = await c.post(
            "/staff/password",
            data={"csrf": csrf(page.text), "password": "kort", "password2": "kort"},
        )
        assert short.status_code == 422 and 'id="password-error"' in short.text
        # Once changed, the old session (tied to the old hash) and the one-time password are void.
        old_cookie = c.cookies.get("od_staff_in")
        new = "een-veel-langer-wachtwoord"
        r = await c.post(
            "/staff/password",
            data={"csrf": csrf(page.text), "password": new, "password2": new, "next": "/phone"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/phone"
        assert (await c.get("/phone")).status_code == 200
    async with client(system) as other:
        other.cookies.set("od_staff_in", old_cookie, domain="127.0.0.1", path="/")
        assert (await other.get("/phone")).status_code == 303
        assert (await login(other, name, once)).status_code == 401
        assert (await login(other, name, new)).status_code == 303


async def test_volunteer_enters_a_question_with_the_script(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    async with client(system) as c:
        await new_volunteer(c, sessions)
        page = await c.get("/phone")
        assert page.status_code == 200
        # The script, read aloud in the volunteer's voice.
        assert "Ik schrijf je telefoonnummer op" in page.text
        assert "autofocus" in page.text
        token = csrf(page.text)

        forged = await c.post("/phone", data={"csrf": "0" * 64, "phone": "0" + digits})
        assert forged.status_code == 403

        errors = await c.post(
            "/phone", data={"csrf": token, "phone": "12", "postcode": "xx", "story": canary}
        )
        assert errors.status_code == 422
        ids = re.findall(r'<a href="#([a-z_]+)">', errors.text.split('id="errors"')[1])
        assert ids == ["consent_read", "phone", "postcode", "consent"]

        r = await c.post(
            "/phone",
            data={
                "csrf": token,
                "language": "nl",
                "consent_read": "yes",
                "share_with_contact": "yes",
                "for_self": "yes",
                "topic": "angst",
                "story": f"Ik durf de deur niet meer uit. {canary}",
                "phone": "0" + digits,
                "postcode": "",
            },
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/phone/klaar"), r.text
        done = await c.get(r.headers["location"])
        ref = re.search(r"<strong>(OD-[A-Z0-9-]+)</strong>", done.text).group(1)
        assert "Lees dit nu voor" not in done.text
        assert canary not in done.text and digits not in done.text

        crisis = await c.post(
            "/phone",
            data={
                "csrf": token,
                "language": "en",
                "consent_read": "yes",
                "share_with_contact": "yes",
                "for_self": "yes",
                "story": "I want to kill myself",
                "phone": "+32 470 12 34 56",
            },
        )
        assert crisis.status_code == 303
        crisis = await c.get(crisis.headers["location"])
        main = crisis.text.split('<main id="main">')[1]
        assert main.index("Lees dit nu voor") < main.index("De vraag is ingevoerd")
        assert "0800-0113" in main and 'lang="en"' in main

        other = await c.post(
            "/phone",
            data={"csrf": token, "for_self": "no", "phone": "0" + digits, "story": canary},
        )
        assert other.status_code == 303
        other = await c.get(other.headers["location"])
        assert "Zo beslist die persoon zelf" in other.text and canary not in other.text

        out = await c.post("/phone/logout", data={"csrf": token})
        assert out.status_code == 303
        assert (await c.get("/phone")).status_code == 303

    mail = await system.wait_mail(lambda m: ref in m.subject)
    assert canary not in mail.text
    dump = system.pg.dump(system.database)
    assert canary not in dump and digits not in dump
    assert canary not in system.logs() and digits not in system.logs()


async def test_login_attempts_are_rate_limited(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    name = f"vw-{uuid.uuid4().hex[:8]}"
    once = await users.add_user(sessions, name, "phone")
    statuses = []
    async with client(system) as c:
        for _ in range(7):
            statuses.append((await login(c, name, "fout-wachtwoord")).status_code)
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
        # From the same address even the right password waits (the bucket is per name and
        # address; a flood from elsewhere cannot lock the volunteer out: tests/security).
    async with client(system) as c2:
        limited = await login(c2, name, once)
        assert limited.status_code == 429 and "Te veel pogingen" in limited.text


async def test_opendeur_users_add_prints_a_one_time_password_that_logs_in(system: System) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = system.opendeur("users", "add", name, "--role", "phone")
    assert result.returncode == 0, result.stderr
    once = result.stdout.strip().rsplit(" ", 1)[-1]
    again = system.opendeur("users", "add", name, "--role", "phone")
    assert again.returncode == 2 and once not in again.stderr
    async with httpx.AsyncClient(base_url=system.url("intake")) as c:
        r = await login(c, name, once)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/password")


async def test_a_caller_withdraws_by_phone_with_the_reference_and_number(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    canary = f"kanarie-{uuid.uuid4().hex}"
    async with client(system) as c:
        asked = await c.post(
            "/api/v1/questions",
            json={
                "channel": "web",
                "for_self": True,
                "topic": "angst",
                "story": canary,
                "phone": "0" + digits,
                "consent": {"share_with_contact": True},
            },
        )
        assert asked.status_code == 202, asked.text
        qid, ref = asked.json()["question_id"], asked.json()["reference"]

        assert (await c.get("/phone/intrekken")).status_code == 303  # signed in only
        volunteer, _ = await new_volunteer(c, sessions)
        async with sessions() as session:
            staff_id = (await users.get_user(session, volunteer)).staff_id
        page = await c.get("/phone/intrekken")
        assert page.status_code == 200 and "Een vraag intrekken" in page.text
        token = csrf(page.text)
        forged = await c.post(
            "/phone/intrekken", data={"csrf": "0" * 64, "reference": ref, "phone": "0" + digits}
        )
        assert forged.status_code == 403
        bad = await c.post("/phone/intrekken", data={"csrf": token, "reference": "x", "phone": ""})
        assert bad.status_code == 422
        ids = re.findall(r'<a href="#([a-z_]+)">', bad.text.split('id="errors"')[1])
        assert ids == ["reference", "phone"]
        # The right reference with another number erases nothing.
        wrong = await c.post(
            "/phone/intrekken", data={"csrf": token, "reference": ref, "phone": "0612345678"}
        )
        assert wrong.status_code == 404 and "Geen vraag gevonden" in wrong.text
        async with sessions() as session:
            assert (await store.get_question(session, uuid.UUID(qid)))["erased_at"] is None

        spelled = ref.replace("-", " ").lower()  # as a caller spells it
        r = await c.post(
            "/phone/intrekken",
            data={"csrf": token, "reference": spelled, "phone": f"+31 {digits}"},
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/phone/ingetrokken")
        done = await c.get(r.headers["location"])
        assert "De vraag is ingetrokken en de gegevens zijn gewist." in done.text
        assert "Niemand belt je hierover terug" in done.text
        again = await c.post(
            "/phone/intrekken", data={"csrf": token, "reference": ref, "phone": "0" + digits}
        )
        assert again.status_code == 404  # erased already

    wanted = ["consent.withdrawn.v1", "question.erased.v1", "staff.acted.v1"]
    events = await system.wait_audit(qid, wanted)
    erased = next(e for e in events if e["type"] == "question.erased.v1")
    assert erased["reason"] == "withdrawn"
    # In the trail: which volunteer withdrew it (pseudonymous id, never the name), once.
    acted = [e for e in events if e["type"] == "staff.acted.v1"]
    assert len(acted) == 1 and acted[0]["action"] == "withdrawn_by_phone", acted
    assert acted[0]["staff_id"] == staff_id and acted[0]["source"] == "intake"
    assert volunteer not in str(events)
    dump = system.pg.dump(system.database)
    assert canary not in dump and digits not in dump
    assert canary not in system.logs() and digits not in system.logs()
