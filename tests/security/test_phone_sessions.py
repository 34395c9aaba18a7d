"""Phone-console sessions attacked: a cookie copied before logout, a disabled volunteer's open
session, a session left idle, the session table read by someone with the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.db import make_engine, sessionmaker
from services.intake import users
from tests.support import System, csrf, login, new_volunteer

COOKIE = "od_staff_in"  # the one staff sign-in's session (web/staff.py)


@pytest.fixture(scope="module")
async def sessions(system: System) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(system.pg.url(system.database), pool_size=2, schema="intake")
    yield sessionmaker(engine)
    await engine.dispose()


def thief(system: System, cookie: str) -> httpx.AsyncClient:
    """Another browser holding a copy of the volunteer's cookie."""
    c = httpx.AsyncClient(base_url=system.url("intake"), timeout=20)
    c.cookies.set(COOKIE, cookie, domain="127.0.0.1", path="/")
    return c


async def test_a_cookie_copied_before_logout_is_worth_nothing_after_it(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as volunteer:
        await new_volunteer(volunteer, sessions)
        copied = volunteer.cookies.get(COOKIE)
        async with thief(system, copied) as other:
            assert (await other.get("/phone")).status_code == 200  # the copy works, for now
            page = await volunteer.get("/phone")
            out = await volunteer.post("/phone/logout", data={"csrf": csrf(page.text)})
            assert out.status_code == 303
            r = await other.get("/phone")
            assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")
            # Nor can the copy post a question with the CSRF token it saw.
            r = await other.post("/phone", data={"csrf": csrf(page.text), "phone": "0612345678"})
            assert r.status_code == 303


async def test_disabling_a_volunteer_ends_their_open_session_at_once(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as volunteer:
        name, password = await new_volunteer(volunteer, sessions)
        assert (await volunteer.get("/phone")).status_code == 200
        done = system.opendeur("users", "disable", name)
        assert done.returncode == 0, done.stderr
        r = await volunteer.get("/phone")
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")
        refused = await login(volunteer, name, password)
        assert refused.status_code == 401
        assert system.opendeur("users", "enable", name).returncode == 0
        assert (await login(volunteer, name, password)).status_code == 303
        assert (await volunteer.get("/phone")).status_code == 200
    unknown = system.opendeur("users", "disable", "niemand-bekend")
    assert unknown.returncode == 2 and "niemand-bekend" in unknown.stderr


async def test_a_new_password_ends_every_other_session(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as first:
        name, password = await new_volunteer(first, sessions)
        async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as second:
            assert (await login(second, name, password)).status_code == 303
            page = await second.get("/staff/password")
            new = "nog-een-nieuw-wachtwoord-123"
            r = await second.post(
                "/staff/password",
                data={"csrf": csrf(page.text), "password": new, "password2": new},
            )
            assert r.status_code == 303
            assert (await second.get("/phone")).status_code == 200
        assert (await first.get("/phone")).status_code == 303


async def test_sessions_end_when_idle_and_at_their_lifetime(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    name = users.check_name(f"idle-{datetime.now(UTC).timestamp():.0f}"[:30])
    await users.add_user(sessions, name, "phone")
    now = datetime.now(UTC)
    idle, lifetime = timedelta(minutes=30), timedelta(hours=12)
    sid = await users.open_session(sessions, name, now, lifetime)
    assert (await users.session_user(sessions, sid, now + timedelta(minutes=29), idle)) is not None
    # Used 29 minutes in, then left alone for 30: over.
    later = now + timedelta(minutes=59, seconds=1)
    assert await users.session_user(sessions, sid, later, idle) is None
    assert await users.session_user(sessions, sid, now, idle) is None  # and gone for good
    # Kept busy, it still ends at its lifetime.
    sid = await users.open_session(sessions, name, now, lifetime)
    t = now
    while t < now + lifetime - timedelta(minutes=20):
        t += timedelta(minutes=20)
        assert await users.session_user(sessions, sid, t, idle) is not None
    assert await users.session_user(sessions, sid, now + lifetime, idle) is None


async def test_the_database_keeps_no_usable_session_id(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Whoever reads the sessions table (a backup, a dump) cannot sign in with what is there."""
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as volunteer:
        name, _ = await new_volunteer(volunteer, sessions)
        cookie = volunteer.cookies.get(COOKIE)
    async with sessions() as s:
        rows = (
            await s.execute(
                select(users.phone_sessions.c.id_hash).where(
                    users.phone_sessions.c.user_name == name
                )
            )
        ).all()
    assert len(rows) == 1
    stored = rows[0][0]
    assert len(stored) == 32 and stored.hex() not in cookie and stored not in cookie.encode()
    # The stored value used as a session id opens nothing.
    later = datetime.now(UTC)
    assert await users.session_user(sessions, stored.hex(), later, timedelta(minutes=30)) is None
