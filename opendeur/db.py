"""Database plumbing: one schema and one role per service, engines, Alembic migrations."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, MultipleResultsFound, NoResultFound
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


# A service process's pool: at most 24 connections (PostgreSQL's max_connections is 200, for two
# instances of each service and the tools), all kept once opened. Connections beyond pool_size
# are closed when returned; with 16 kept and 8 more, a burst of 64 POSTs opened 20-43 connections
# per 1,000 questions, and each costs about 6 ms of CPU (2.9 in the service: the TLS probe,
# authentication, the codecs' type lookup; 3.5 in PostgreSQL: a process, authentication, and the
# type lookup's planning). The pool opens connections only as needed.
SERVICE_POOL = 24


def make_engine(
    url: str,
    *,
    pool_size: int = 16,
    max_overflow: int | None = None,
    schema: str | None = None,
    command_timeout: float | None = None,
) -> AsyncEngine:
    """An engine on asyncpg. `max_overflow` (default half the pool, at least 2): connections
    opened beyond `pool_size` in a burst and closed when returned. `command_timeout`: seconds
    after which a statement raises TimeoutError (asyncpg sends the server a cancel, and the
    pool replaces a connection that does not answer); None waits as long as it takes."""
    connect_args: dict = {"server_settings": {"application_name": f"opendeur-{schema or 'cli'}"}}
    if schema:
        connect_args["server_settings"]["search_path"] = schema
    if command_timeout is not None:
        connect_args["command_timeout"] = command_timeout
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max(pool_size // 2, 2) if max_overflow is None else max_overflow,
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


class Rows:
    """A statement's rows as asyncpg gives them (`r["name"]` or `r[0]`) and its row count: the
    part of SQLAlchemy's Result that the hot paths use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def mappings(self) -> Rows:
        return self  # asyncpg's records are mappings already

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if not self._rows:
            raise NoResultFound("no row was found where one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("more than one row where one was required")
        return self._rows[0][0]


_COUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|MERGE|INSERT \d+) (\d+)")


async def driver_sql(db: AsyncSession | AsyncConnection, sql: str, *params: Any) -> Rows:
    """One statement as it is, asyncpg's `$1, $2` parameters, straight to the asyncpg
    connection under the session's (so inside its transaction, which is begun here if this is
    its first statement, as SQLAlchemy would). For the hot paths: SQLAlchemy's statement path
    (greenlet, execution context, cursor, result) costs about as much client CPU as asyncpg's
    own (docs/performance.md); what stays SQLAlchemy's is its prepared-statement cache, its
    transaction and its errors (an asyncpg error is raised as SQLAlchemy's DBAPIError, and a
    lost connection invalidates it as SQLAlchemy would). Results are asyncpg's records. A bare
    connection goes inside `engine.begin()` or `autocommit()`: on one from `engine.connect()`
    without `begin()` the transaction begun here is unknown to SQLAlchemy (no commit)."""
    conn = db if isinstance(db, AsyncConnection) else await _connection(db)
    fairy = conn.sync_connection.connection  # type: ignore[union-attr]
    adapted = fairy.dbapi_connection  # SQLAlchemy's AsyncAdapt_asyncpg_connection
    try:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()  # a no-op on an autocommit connection
            statement, _ = await adapted._prepare(sql, conn.dialect._invalidate_schema_cache_asof)
            rows = await statement.fetch(*params)
    except BaseException as error:
        await _raise_as_sqlalchemy(conn, fairy, adapted, sql, params, error)
    found = _COUNT.match(statement.get_statusmsg() or "")
    return Rows(rows, int(found.group(1)) if found else -1)


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection in its current transaction: `session.connection()` is a
    greenlet hop (40-70 µs) for every statement, so it is asked once per transaction (and once
    per savepoint: inside `begin_nested()` it is asked again, which emits the SAVEPOINT)."""
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    kept = session.info.get("driver_sql")
    if transaction is not None and kept is not None and kept[0] is transaction:
        if transaction.is_active and not kept[1].closed and not kept[1].invalidated:
            return kept[1]
    conn = await session.connection()  # begins the transaction (or savepoint) if none is open
    session.info["driver_sql"] = (sync.get_nested_transaction() or sync.get_transaction(), conn)
    return conn


async def _raise_as_sqlalchemy(
    conn: AsyncConnection, fairy: Any, adapted: Any, sql: str, params: tuple, error: BaseException
) -> NoReturn:
    """Raise `error` as SQLAlchemy's Connection would (`_handle_dbapi_exception`): translated to
    its DBAPIError classes (IntegrityError, OperationalError, ...) without the parameters; the
    pool's connections invalidated when the database is gone; the statement cache renewed after
    a schema change; the connection invalidated when the statement was interrupted (cancelled
    mid-way, its state on the wire is unknown: an unfinished BEGIN must not go back to the pool),
    and when it timed out (OPENDEUR_DB_COMMAND_TIMEOUT: a database that stopped answering on it
    would take the next statement on it just as long)."""
    if not isinstance(error, Exception) or isinstance(error, TimeoutError):
        with contextlib.suppress(Exception):
            await asyncio.shield(conn.invalidate(error))
        raise error
    try:
        adapted._handle_exception(error)  # raises the adapter's DBAPI-level error
    except adapted.dbapi.Error as translated:
        dialect = conn.dialect
        dbapi = adapted.dbapi
        if isinstance(translated, (dbapi.InvalidCachedStatementError, dbapi.InternalServerError)):
            dialect._invalidate_schema_cache()  # the next prepare reads the new columns
        gone = dialect.is_disconnect(translated, fairy, None)
        wrapped = DBAPIError.instance(
            sql,
            params,
            translated,
            dbapi.Error,
            hide_parameters=True,  # they may be sealed personal data: never in a message
            connection_invalidated=gone,
            dialect=dialect,
        )
        if gone:
            conn.sync_engine.pool._invalidate(fairy, wrapped)  # the others are as old
            await conn.invalidate(wrapped)
        raise wrapped from error
    raise error  # not an error of the database (a bug): as it is


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def columns(items: Sequence[Any], *fields: str) -> list[list[Any]]:
    """`items`' attributes as one list per field, for a statement that takes a batch as
    `unnest($1::type[], $2::type[], ...)` (one parameter per column, not per row)."""
    return [[getattr(item, f) for item in items] for f in fields]


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
