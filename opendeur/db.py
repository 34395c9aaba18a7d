"""Database plumbing: one schema and one role per service, engines, Alembic migrations."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from opendeur.keys import role_password
from opendeur.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent


def role_name(service: str) -> str:
    return f"opendeur_{service}"


def asyncpg_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError("OPENDEUR_DATABASE_URL must be a postgresql:// URL")


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def service_url(settings: Settings, service: str) -> str:
    """The URL a service connects with: its own role, never the owner."""
    explicit = settings.service_database_url(service)
    if explicit:
        return explicit
    if not settings.database_url:
        raise RuntimeError("set OPENDEUR_DATABASE_URL (or run `opendeur up`)")
    return with_credentials(
        settings.database_url, role_name(service), role_password(settings, service)
    )


def provisioned_password(settings: Settings, service: str) -> str:
    """The password `provision` gives a service's role: the one in its explicit URL (a deployment
    that chose its own), else the one derived from the root secret (what `opendeur up` hands out)."""
    explicit = settings.service_database_url(service)
    if explicit:
        password = urlsplit(explicit).password
        if password:
            return unquote(password)
    return role_password(settings, service)


# A pooled connection idle longer than this is pinged before use (the server may have restarted).
# SQLAlchemy's pool_pre_ping pings on every checkout, and asyncpg's ping is BEGIN, SELECT 1,
# ROLLBACK: three round trips before every transaction, 6-9 % of a service's CPU under load.
IDLE_PING_S = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            dbapi_conn.ping()  # runs inside SQLAlchemy's greenlet, like pool_pre_ping does
        except Exception as exc:  # the pool discards it and checks out another one
            raise DisconnectionError(str(exc)) from exc


def make_engine(url: str, *, pool_size: int = 16, schema: str | None = None) -> AsyncEngine:
    connect_args: dict = {"server_settings": {"application_name": f"opendeur-{schema or 'cli'}"}}
    if schema:
        connect_args["server_settings"]["search_path"] = schema
    engine = create_async_engine(
        asyncpg_url(url),
        # At most 24 connections per service process (PostgreSQL's max_connections is 200, for
        # two instances of each service and the tools). Connections beyond pool_size are
        # closed when returned: with 10 + 20, a burst of 64 POSTs kept opening and closing them
        # (a TLS probe and authentication each). The pool opens connections only as needed.
        pool_size=pool_size,
        max_overflow=max(pool_size // 2, 2),
        # Reuse the most recently returned connection: the hot ones stay under IDLE_PING_S and
        # are never pinged; a FIFO pool would rotate through all of them at low load.
        pool_use_lifo=True,
        # A failed statement's message (logged with its traceback) never carries the values it
        # was given: a volunteer's name, a contact's address before encryption, a token.
        hide_parameters=True,
        connect_args=connect_args,
    )
    _ping_when_idle(engine)
    return engine


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection without BEGIN/COMMIT: for one statement that is atomic on its own
    (data-modifying CTEs included), one round trip instead of three."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


async def driver_sql(db: AsyncSession | AsyncConnection, sql: str, *params: Any) -> Any:
    """One statement as it is, asyncpg's `$1, $2` parameters, on the session's connection (so
    inside its transaction): for a hot path, no statement object, cache key, compile lookup or
    bind processing per call (`text()` costs 25-35 % more client CPU per statement). Results come
    untyped, as the driver gives them (a uuid column as asyncpg's UUID, equal to uuid.UUID)."""
    conn = db if isinstance(db, AsyncConnection) else await db.connection()
    return await conn.exec_driver_sql(sql, params)


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement written with `:name` parameters as `driver_sql` takes it: `$1, $2, ...` in
    order of first use, and the names in that order (a `::type` cast is left alone)::

        sql, names = positional("insert into t (a, b) values (:a, :b)")
        await driver_sql(conn, sql, *(values[n] for n in names))
    """
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def provision(settings: Settings) -> None:
    """As the owner: create each service's role and schema, and nothing more (idempotent)."""
    if not settings.database_url:
        raise RuntimeError(
            "provisioning needs OPENDEUR_DATABASE_URL (an owner who may create roles)"
        )
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("select pg_advisory_xact_lock(4711)"))
            await conn.execute(text("revoke create on schema public from public"))
            db = (await conn.execute(text("select current_database()"))).scalar_one()
            for service in SERVICES:
                role = role_name(service)
                pw = provisioned_password(settings, service).replace("'", "''")
                exists = (
                    await conn.execute(
                        text("select 1 from pg_roles where rolname = :r"), {"r": role}
                    )
                ).scalar()
                verb = "alter" if exists else "create"
                await conn.execute(text(f"{verb} role {role} login password '{pw}'"))
                await conn.execute(text(f"grant {role} to current_user"))
                await conn.execute(
                    text(f"create schema if not exists {service} authorization {role}")
                )
                await conn.execute(text(f"revoke all on schema {service} from public"))
                await conn.execute(
                    text(f'alter role {role} in database "{db}" set search_path = {service}')
                )
                await conn.execute(text(f'grant connect on database "{db}" to {role}'))
    finally:
        await engine.dispose()


def _upgrade(conn: Connection, service: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = service
    command.upgrade(cfg, "head")


async def migrate(settings: Settings, services: tuple[str, ...] = SERVICES) -> None:
    """Run each service's own Alembic history, as that service's role."""
    for service in services:
        engine = make_engine(service_url(settings, service), pool_size=1, schema=service)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("select pg_advisory_xact_lock(4712)"))
                await conn.run_sync(_upgrade, service)
        finally:
            await engine.dispose()
