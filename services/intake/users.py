"""Volunteers' accounts for the phone console: argon2 password hashes, one-time first passwords."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, Text, func, select
from sqlalchemy import insert as sa_insert
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ROLES = frozenset({"phone"})
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
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("must_change", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    role: str
    must_change: bool
    password_hash: str


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME.fullmatch(name):
        raise UserError("a user name is 2-40 characters: a-z, 0-9, dot, dash, underscore")
    return name


async def add_user(sessions: async_sessionmaker[AsyncSession], name: str, role: str) -> str:
    """Create a user and return a one-time password, to be changed at the first login."""
    name = check_name(name)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(sorted(ROLES))}")
    password = secrets.token_urlsafe(12)
    hashed = await asyncio.to_thread(_hasher.hash, password)
    async with sessions() as session, session.begin():
        exists = await session.scalar(select(users.c.name).where(users.c.name == name))
        if exists:
            raise UserError(f"user {name!r} already exists")
        await session.execute(
            sa_insert(users).values(name=name, role=role, password_hash=hashed, must_change=True)
        )
    return password


async def get_user(session: AsyncSession, name: str) -> User | None:
    row = (
        (await session.execute(select(users).where(users.c.name == name.strip().lower())))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return User(row["name"], row["role"], row["must_change"], row["password_hash"])


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
    return user if ok and user is not None else None


async def set_password(
    sessions: async_sessionmaker[AsyncSession], name: str, password: str
) -> None:
    if len(password) < PASSWORD_MIN:
        raise UserError("password too short")
    hashed = await asyncio.to_thread(_hasher.hash, password)
    async with sessions() as session, session.begin():
        await session.execute(
            sa_update(users)
            .where(users.c.name == name)
            .values(password_hash=hashed, must_change=False)
        )
