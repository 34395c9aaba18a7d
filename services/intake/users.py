"""Staff accounts (phone volunteers, team, coordinators, operators, report viewers): roles,
argon2 password hashes, one-time first passwords and sign-in links, server-side sessions (only a
hash of the session id is stored), a pseudonymous staff id for the audit trail, disabling. Every
change made by someone (`acted_by`: a staff id, or `cli` for the `opendeur users` command) stages
staff.acted (account_change) in the same transaction."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy import insert as sa_insert
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.events import StaffActed
from opendeur import outbox
from opendeur.staff import ROLES as STAFF_ROLES

ROLES = frozenset(STAFF_ROLES)
# The name the phone console's accounts had before there were other roles.
ALIASES = {"phone": "telefoonvrijwilliger"}
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
PASSWORD_MIN = 12

_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("name", String, nullable=False, unique=True),
    Column("role", Text),  # before 0005; roles says what an account may do
    Column("roles", ARRAY(Text), nullable=False),
    Column("staff_id", String, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("must_change", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("disabled_at", DateTime(timezone=True)),
    Column("last_signin_at", DateTime(timezone=True)),  # migration 0007
)
phone_sessions = Table(
    "phone_sessions",
    metadata,
    Column("id_hash", LargeBinary, primary_key=True),
    Column("user_name", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
signin_links = Table(
    "signin_links",
    metadata,
    Column("id_hash", LargeBinary, primary_key=True),
    Column("user_name", String, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
# The staff id of changes made with the `opendeur users` command (no person signed in).
CLI_ACTOR = "cli"
# last_seen is written at most this often, not on every page.
TOUCH_EVERY = timedelta(seconds=30)
# The transaction-level advisory lock that puts changes of roles and disabling in a row: two
# coordinators disabling each other at the same moment must not leave none (each would count
# the other still enabled while neither change is committed).
ACCOUNT_CHANGES_LOCK = 0x6F64_7573_6572_73  # "odusers"


class UserError(ValueError):
    """A refused account change: `code` for pages (name, exists, role, no_role, unknown,
    last_coordinator), the message for the command line."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class User:
    name: str
    roles: tuple[str, ...]
    must_change: bool
    password_hash: str
    disabled: bool = False
    staff_id: str = ""

    def has(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles))


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME.fullmatch(name):
        raise UserError("a user name is 2-40 characters: a-z, 0-9, dot, dash, underscore", "name")
    return name


def check_roles(roles: str | Iterable[str]) -> list[str]:
    given = [roles] if isinstance(roles, str) else list(roles)
    out = []
    for role in given:
        role = ALIASES.get(role, role)
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; roles: {', '.join(STAFF_ROLES)}", "role")
        if role not in out:
            out.append(role)
    if not out:
        raise UserError(f"give at least one role: {', '.join(STAFF_ROLES)}", "no_role")
    return out


def new_staff_id() -> str:
    return "st-" + secrets.token_hex(8)


async def add_user(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    roles: str | Iterable[str],
    acted_by: str | None = None,
) -> str:
    """Create a user with these roles and return a one-time password, to be changed at the
    first login."""
    name = check_name(name)
    roles = check_roles(roles)
    password = secrets.token_urlsafe(12)
    hashed = await asyncio.to_thread(_hasher.hash, password)
    async with sessions() as session, session.begin():
        # One statement, not a look-up and then an insert: two adds of one name at once (a
        # double click) found it free both, and the second insert's unique violation became a
        # 500 whose traceback logged the name (PostgreSQL's DETAIL names the key's value).
        staff_id = await session.scalar(
            pg_insert(users)
            .values(
                name=name,
                roles=roles,
                staff_id=new_staff_id(),
                password_hash=hashed,
                must_change=True,
            )
            .on_conflict_do_nothing(index_elements=[users.c.name])
            .returning(users.c.staff_id)
        )
        if staff_id is None:
            raise UserError(f"user {name!r} already exists", "exists")
        await _acted(session, acted_by, staff_id, "added")
    return password


async def _acted(
    session: AsyncSession, acted_by: str | None, target: str | None, change: str
) -> None:
    """staff.acted account_change: who changed whose account (both pseudonymous), and what."""
    if acted_by is not None:
        await outbox.add(
            session,
            StaffActed(
                source="intake",
                action="account_change",
                staff_id=acted_by,
                target_staff_id=target,
                change=change,
            ),
        )


async def _staff_id_of(session: AsyncSession, name: str) -> str | None:
    return await session.scalar(select(users.c.staff_id).where(users.c.name == name))


async def get_user(session: AsyncSession, name: str) -> User | None:
    row = (
        (await session.execute(select(users).where(users.c.name == name.strip().lower())))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return _user(row)


def _user(r: RowMapping) -> User:
    return User(
        r["name"],
        tuple(r["roles"] or ()),
        r["must_change"],
        r["password_hash"],
        r["disabled_at"] is not None,
        r["staff_id"],
    )


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], name: str, password: str
) -> User | None:
    async with sessions() as session:
        user = await get_user(session, name) if NAME.fullmatch(name.strip().lower()) else None
    ok = await asyncio.to_thread(_verify, user.password_hash if user else _DUMMY_HASH, password)
    return user if ok and user is not None and not user.disabled else None


async def set_password(
    sessions: async_sessionmaker[AsyncSession], name: str, password: str
) -> None:
    if len(password) < PASSWORD_MIN:
        raise UserError("password too short")
    hashed = await asyncio.to_thread(_hasher.hash, password)
    async with sessions() as session, session.begin():
        staff_id = await session.scalar(
            sa_update(users)
            .where(users.c.name == name)
            .values(password_hash=hashed, must_change=False)
            .returning(users.c.staff_id)
        )
        await end_sessions_of(session, name)  # a new password ends every session before it
        # Announced (by the person herself), so her sessions on routing, notify and audit end
        # too, and the trail shows when a password was set (also after a one-time link).
        await _acted(session, staff_id, staff_id, "password")


def _id_hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode("utf-8", "surrogateescape")).digest()


async def open_session(
    sessions: async_sessionmaker[AsyncSession], name: str, now: datetime, lifetime: timedelta
) -> str:
    """A new session for `name`; returns its id (for the cookie), of which only a hash is kept."""
    sid = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        await session.execute(sa_delete(phone_sessions).where(phone_sessions.c.expires_at < now))
        await session.execute(
            sa_insert(phone_sessions).values(
                id_hash=_id_hash(sid),
                user_name=name,
                created_at=now,
                last_seen=now,
                expires_at=now + lifetime,
            )
        )
        await session.execute(
            sa_update(users).where(users.c.name == name).values(last_signin_at=now)
        )
    return sid


async def session_user(
    sessions: async_sessionmaker[AsyncSession], sid: str, now: datetime, idle: timedelta
) -> User | None:
    """The enabled user of a live session (not ended, not idle too long, not past its lifetime)."""
    key = _id_hash(sid)
    async with sessions() as session, session.begin():
        row = (
            (
                await session.execute(
                    select(phone_sessions.c.last_seen, phone_sessions.c.expires_at, users)
                    .join(users, users.c.name == phone_sessions.c.user_name)
                    .where(phone_sessions.c.id_hash == key)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        if (
            row["disabled_at"] is not None
            or row["expires_at"] <= now
            or row["last_seen"] + idle <= now
        ):
            await session.execute(sa_delete(phone_sessions).where(phone_sessions.c.id_hash == key))
            return None
        if now - row["last_seen"] >= TOUCH_EVERY:
            await session.execute(
                sa_update(phone_sessions)
                .where(phone_sessions.c.id_hash == key)
                .values(last_seen=now)
            )
        return _user(row)


async def end_session(sessions: async_sessionmaker[AsyncSession], sid: str) -> None:
    """End one session and announce it under its person's staff id (staff.acted signed_out), so
    routing, notify and audit end her sessions there too (opendeur/staff.py)."""
    async with sessions() as session, session.begin():
        name = await session.scalar(
            sa_delete(phone_sessions)
            .where(phone_sessions.c.id_hash == _id_hash(sid))
            .returning(phone_sessions.c.user_name)
        )
        staff_id = await _staff_id_of(session, name) if name is not None else None
        if staff_id:
            await outbox.add(
                session, StaffActed(source="intake", action="signed_out", staff_id=staff_id)
            )


async def end_sessions_of(session: AsyncSession, name: str) -> None:
    await session.execute(sa_delete(phone_sessions).where(phone_sessions.c.user_name == name))


async def set_disabled(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    disabled: bool,
    now: datetime,
    acted_by: str | None = None,
) -> None:
    """Disable (every open session and every sign-in link ends at once, logins are refused) or
    enable an account."""
    name = check_name(name)
    async with sessions() as session, session.begin():
        await _one_change_at_a_time(session)
        done = await session.execute(
            sa_update(users)
            .where(users.c.name == name)
            .values(disabled_at=now if disabled else None)
        )
        if done.rowcount == 0:
            raise UserError(f"there is no user {name!r}", "unknown")
        if disabled:
            await _keep_a_coordinator(session)
            await end_sessions_of(session, name)
            # A sign-in link made before stays dead, also when the account is enabled again.
            await session.execute(sa_delete(signin_links).where(signin_links.c.user_name == name))
        change = "disabled" if disabled else "enabled"
        await _acted(session, acted_by, await _staff_id_of(session, name), change)


async def set_roles(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    roles: Iterable[str],
    acted_by: str | None = None,
) -> None:
    """Give an account exactly these roles; its open sessions end, so every page (and the
    other services, within minutes) sees the new roles at the next sign-in."""
    name, roles = check_name(name), check_roles(roles)
    async with sessions() as session, session.begin():
        await _one_change_at_a_time(session)
        done = await session.execute(
            sa_update(users).where(users.c.name == name).values(roles=roles)
        )
        if done.rowcount == 0:
            raise UserError(f"there is no user {name!r}", "unknown")
        await _keep_a_coordinator(session)
        await end_sessions_of(session, name)
        await _acted(session, acted_by, await _staff_id_of(session, name), "roles")


async def _one_change_at_a_time(session: AsyncSession) -> None:
    """Wait for any other change of roles or disabling to commit first (ACCOUNT_CHANGES_LOCK),
    so that _keep_a_coordinator counts what is really left."""
    await session.execute(select(func.pg_advisory_xact_lock(ACCOUNT_CHANGES_LOCK)))


async def _keep_a_coordinator(session: AsyncSession) -> None:
    """Refuse a change (rolled back with the transaction) that leaves no enabled coordinator:
    nobody could then manage the accounts."""
    left = await session.scalar(
        select(func.count())
        .select_from(users)
        .where(users.c.roles.any("coordinator"), users.c.disabled_at.is_(None))
    )
    if not left:
        raise UserError("this would leave no enabled coordinator", "last_coordinator")


@dataclass(frozen=True)
class Account:
    """An account as the coordinator's page lists it (no password hash)."""

    name: str
    roles: tuple[str, ...]
    staff_id: str
    disabled: bool
    must_change: bool
    created_at: datetime
    last_signin_at: datetime | None


async def list_accounts(sessions: async_sessionmaker[AsyncSession]) -> list[Account]:
    async with sessions() as session:
        rows = (await session.execute(select(users).order_by(users.c.name))).mappings().all()
    return [
        Account(
            r["name"],
            tuple(r["roles"] or ()),
            r["staff_id"],
            r["disabled_at"] is not None,
            r["must_change"],
            r["created_at"],
            r["last_signin_at"],
        )
        for r in rows
    ]


async def any_with_role(sessions: async_sessionmaker[AsyncSession], role: str) -> bool:
    async with sessions() as session:
        found = await session.scalar(
            select(users.c.name).where(users.c.roles.any(role), users.c.disabled_at.is_(None))
        )
    return found is not None


async def signin_link(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    now: datetime,
    lifetime: timedelta,
    acted_by: str | None = None,
) -> str:
    """A one-time sign-in token for `name` (the first coordinator's, a new account's, or a new
    one after a forgotten password); only its hash is kept. Signing in with it forces a new
    password."""
    name = check_name(name)
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        user = await get_user(session, name)
        if user is None:
            raise UserError(f"there is no user {name!r}", "unknown")
        await _acted(session, acted_by, user.staff_id, "signin_link")
        await session.execute(sa_delete(signin_links).where(signin_links.c.expires_at < now))
        await session.execute(
            sa_insert(signin_links).values(
                id_hash=_id_hash(token), user_name=name, expires_at=now + lifetime
            )
        )
    return token


async def peek_signin_link(
    sessions: async_sessionmaker[AsyncSession], token: str, now: datetime
) -> User | None:
    """The enabled user a live sign-in link names, without spending it (the page with the one
    button: a link preview's GET reads it and leaves it usable)."""
    async with sessions() as session:
        row = (
            (
                await session.execute(
                    select(signin_links.c.user_name, signin_links.c.expires_at).where(
                        signin_links.c.id_hash == _id_hash(token)
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None or row["expires_at"] <= now:
            return None
        user = await get_user(session, row["user_name"])
        return None if user is None or user.disabled else user


async def use_signin_link(
    sessions: async_sessionmaker[AsyncSession], token: str, now: datetime
) -> User | None:
    """The enabled user a live sign-in link names; the link is spent whatever the outcome."""
    async with sessions() as session, session.begin():
        row = (
            (
                await session.execute(
                    sa_delete(signin_links)
                    .where(signin_links.c.id_hash == _id_hash(token))
                    .returning(signin_links.c.user_name, signin_links.c.expires_at)
                )
            )
            .mappings()
            .first()
        )
        if row is None or row["expires_at"] <= now:
            return None
        user = await get_user(session, row["user_name"])
        if user is None or user.disabled:
            return None
        await session.execute(
            sa_update(users).where(users.c.name == user.name).values(must_change=True)
        )
        return user
