"""The thin runtime every service runs on: settings, database, broker, outbox relay, HTTP basics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import hmac
import inspect
import ipaddress
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from faststream.nats import NatsRouter
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.events import Event
from contracts.streams import ConsumerSpec, consumers_of
from opendeur import logging as olog
from opendeur import messaging, metrics, outbox, web
from opendeur.db import SERVICE_POOL, autocommit, make_engine, service_url, sessionmaker
from opendeur.errors import Refused
from opendeur.keys import KeyringError
from opendeur.settings import Settings, get_settings
from opendeur.staff import Gate, Staff
from opendeur.tasks import Watch, within

log = olog.get_logger(component="runtime")
# Python's cyclic garbage collector, set for a long-running service (docs/performance.md,
# 3 December 17:00). What a service builds at start-up lives as long as the process (FastAPI,
# pydantic, SQLAlchemy, phone number and locale data: about 160,000 objects), yet every
# full collection walked it again: 109-117 ms of CPU in one go in intake under load, every
# request waiting. Frozen, it is left out; and the youngest generation is collected after
# 10,000 new containers instead of 700 (intake: 209 collections per 1,500 questions before, 2).
GC_THRESHOLDS = (10_000, 10, 10)
# How long a stop waits for the lifespan's background tasks to end after cancelling them.
STOP_TASKS_S = 15.0
# The statement timeout of `Runtime.slow_sessions` (audit's monthly reports).
SLOW_COMMAND_TIMEOUT_S = 900.0
# A service's handler of one event type: the event and the open session of its batch.
Handler = Callable[[Any, AsyncSession], Awaitable[Event | list[Event] | None]]
BatchFn = Callable[[list[Any], AsyncSession], Awaitable[Event | list[Event] | None]]
ClaimingFn = Callable[[list[Any], AsyncConnection, outbox.Claim], Awaitable[None]]


def _staged(got: Event | list[Event] | None) -> list[Event]:
    """What a handler returned, as the events to stage."""
    return [got] if isinstance(got, Event) else list(got or [])


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=()",
}


class Liveness(BaseModel):
    """Liveness: 200 while the process does its work; 503 (same body) once one of its
    background tasks ended by an exception, which only a restart mends."""

    service: str
    working: bool


class Health(BaseModel):
    """Health, for monitoring (section 6 of DESIGN.md): 200 when the database and the broker are
    reachable and every background task runs, 503 (same body) when not."""

    service: str
    database: bool
    broker: bool
    working: bool


class Readiness(BaseModel):
    """Ready to serve requests: 200 when the database answers and every background task runs,
    503 (same body) when not. The broker is not needed: what a request publishes waits in the
    outbox, so the door stays open while the broker is away."""

    service: str
    database: bool
    working: bool


# The HTTP status of each kind of refusal (opendeur.errors.Refused), in the one handler below.
REFUSAL_STATUS: dict[str, int] = {
    "invalid": 422,
    "conflict": 409,
    "gone": 410,
    "not_found": 404,
    "forbidden": 403,
    "unauthorized": 401,
}
_KIND_OF_STATUS = {status: kind for kind, status in REFUSAL_STATUS.items()}


class ApiError(Refused):
    """Deprecated: raise `opendeur.errors.Refused(code, message, field, kind=...)` instead.

    Kept until every service has moved: `ApiError(status, code, message, field)` is a Refused
    whose kind follows its status (any other 4xx keeps its own status), so `except Refused`
    catches both and the one handler answers both."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message, field, _KIND_OF_STATUS.get(status, "invalid"))
        self.status = status


def refusal_status(exc: Refused) -> int:
    """The HTTP status that answers a refusal: its kind's (an ApiError: its own status)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else REFUSAL_STATUS[exc.kind]


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "field": field}


@asynccontextmanager
async def operator_transaction(settings: Settings, service: str) -> AsyncIterator[AsyncSession]:
    """For an operator command (the CLI through `services/<svc>/admin.py`): one session on the
    service's own database role and schema, in one transaction, committed when the block ends
    and rolled back when it raises; the connection is closed afterwards."""
    engine = make_engine(service_url(settings, service), pool_size=1, schema=service)
    try:
        async with sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


class Runtime:
    """Everything one service process shares: created at import, connected in the lifespan."""

    def __init__(self, service: str, settings: Settings | None = None) -> None:
        self.service = service
        self.settings = settings or get_settings()
        self.router = NatsRouter()
        self.broker = messaging.make_broker(self.settings, service)
        self.engine = make_engine(
            service_url(self.settings, service),
            pool_size=SERVICE_POOL,
            max_overflow=0,
            schema=service,
            command_timeout=self.settings.db_command_timeout.total_seconds(),
        )
        self.sessions = sessionmaker(self.engine)
        self.broker_ready = asyncio.Event()
        # (name, fn): what runs in the background as long as the process, each a watched task.
        self.background: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self.watch = Watch()  # the lifespan's tasks, and the broker's consumers
        self.broker.watch = self.watch
        # Set by a service with staff pages (opendeur/staff.py): its sign-in cookie's checker.
        self.staff: Gate | None = None
        self.route_class = staff_route_class(self.check_first)

    def handles(
        self, event_type: type[Event], after_commit: Callable[[], None] | None = None
    ) -> Callable:
        """Register `async def fn(event, db) -> Event | list[Event] | None` as this service's
        handler of one event type. The runtime owns the transaction: for each fetched batch it
        claims the inbox under the consumer's durable name (an event applied before is acked
        without calling `fn`), calls `fn` for each new event in order with the open session,
        stages what it returns in the outbox (one multi-row insert), commits once, hands the
        staged rows to the relay, calls `after_commit`, then acks. Handlers never commit, claim
        or stage themselves."""

        def deco(fn: Handler) -> Handler:
            async def each(events: list[Event], session: AsyncSession) -> list[Event]:
                return [e for event in events for e in _staged(await fn(event, session))]

            self._consume(event_type, each, after_commit)
            return fn

        return deco

    def handles_batch(
        self, event_type: type[Event], after_commit: Callable[[], None] | None = None
    ) -> Callable:
        """As `handles`, for `async def fn(events, db) -> Event | list[Event] | None`, called once per
        fetched batch with its new events in the stream's order (each event once: one applied
        before, or a second copy in the batch, is left out). For a hot subject whose effects
        one statement can write for the whole batch; `fn` must leave what applying the events
        one by one, in order, would leave (a batch that fails is retried one event at a time,
        and a redelivery can come alone)."""

        def deco(fn: BatchFn) -> BatchFn:
            async def whole(events: list[Event], session: AsyncSession) -> list[Event]:
                return _staged(await fn(events, session))

            self._consume(event_type, whole, after_commit)
            return fn

        return deco

    def handles_claiming(
        self, event_type: type[Event], after_commit: Callable[[], None] | None = None
    ) -> Callable:
        """As `handles_batch`, for a hot subject whose whole effect is one statement that stages
        no events: `async def fn(events, conn, claim) -> None`, called once per fetched batch
        with its events in the stream's order (a second copy in the batch left out), on an
        autocommit connection. The statement claims the batch itself: it begins `with
        {outbox.CLAIM_CTE}, ...` with `claim` as $1 and $2 and applies only the events in
        `fresh`. The claim and the effects still commit together, in one round trip where
        `handles_batch` takes four (BEGIN, the claim, the statement, COMMIT): at a fixed rate a
        batch is mostly one event, so a question paid all four on each such hop."""

        def deco(fn: ClaimingFn) -> ClaimingFn:
            spec = self._spec(event_type)

            async def apply(events: list[Event]) -> None:
                unique: dict[UUID, Event] = {}
                for event in events:
                    unique.setdefault(event.event_id, event)  # the first copy, in its place
                claim = outbox.Claim(spec.durable, list(unique))
                async with autocommit(self.engine) as conn:
                    if await fn(list(unique.values()), conn, claim) is not None:
                        raise TypeError(f"{fn.__name__} stages events: it cannot claim alone")
                if after_commit is not None:
                    after_commit()

            messaging.subscribe(self.router, lambda: self.broker, spec, apply)
            return fn

        return deco

    def _spec(self, event_type: type[Event]) -> ConsumerSpec:
        return next(c for c in consumers_of(self.service) if c.subject == event_type.subject)

    def _consume(
        self, event_type: type[Event], fn: BatchFn, after_commit: Callable[[], None] | None
    ) -> None:
        spec = self._spec(event_type)

        async def apply(events: list[Event]) -> None:
            async with self.sessions() as session, session.begin():
                fresh = await outbox.claim_all(session, spec.durable, [e.event_id for e in events])
                new = []
                for event in events:
                    if event.event_id in fresh:
                        fresh.discard(event.event_id)  # twice in one batch: applied once
                        new.append(event)
                staged = await fn(new, session) if new else []
                rows = await outbox.add(session, *staged)
            outbox.hand_over(self.engine, rows)  # committed: the relay publishes them as they are
            if after_commit is not None:
                after_commit()

        messaging.subscribe(self.router, lambda: self.broker, spec, apply)

    def every(self, seconds: float) -> Callable:
        """Run `fn()` periodically in the background (timers, sweeps)."""

        def deco(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            async def loop() -> None:
                await self.broker_ready.wait()
                while True:
                    try:
                        await fn()
                    except Exception:
                        log.exception("periodic_failed", task=fn.__name__)
                    await asyncio.sleep(seconds)

            self.background.append((f"every:{fn.__name__}", loop))
            return fn

        return deco

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        self.broker.include_router(self.router)
        log.info("heap_settled", frozen_objects=settle_heap())
        start = self.watch.start
        tasks = [
            start(
                messaging.start_broker_when_possible(self.broker, self.service, self.broker_ready),
                "broker-start",
            ),
            start(self._relay(), "relay"),
            start(messaging.until_closed(self.broker, self.broker_ready), "broker-client"),
        ]
        tasks += [start(fn(), name) for name, fn in self.background]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            # Bounded: a task that does not end stops nothing else from stopping (the broker's
            # consumers settle their batch first, below).
            _, left = await asyncio.wait(tasks, timeout=STOP_TASKS_S)
            if left:
                log.warning("stop_incomplete", tasks=sorted(t.get_name() for t in left))
            with contextlib.suppress(Exception):
                await self.broker.stop()
            await self.engine.dispose()
            if "slow_engine" in self.__dict__:
                await self.slow_engine.dispose()

    @functools.cached_property
    def slow_sessions(self) -> async_sessionmaker:
        """Sessions with a long statement timeout (SLOW_COMMAND_TIMEOUT_S instead of
        OPENDEUR_DB_COMMAND_TIMEOUT), for the reads a person asks for that take long on purpose:
        audit's monthly report over a national network's month. Finite still: a database gone
        silent on one of them ends the request, and frees its connection, in the end. At most
        four connections, opened when first used."""
        return sessionmaker(self.slow_engine)

    @functools.cached_property
    def slow_engine(self) -> AsyncEngine:
        """`slow_sessions`' engine, made when first asked for (disposed by the lifespan)."""
        return make_engine(
            service_url(self.settings, self.service),
            pool_size=2,
            max_overflow=2,
            schema=self.service,
            command_timeout=SLOW_COMMAND_TIMEOUT_S,
        )

    async def _relay(self) -> None:
        await self.broker_ready.wait()
        await outbox.Relay(self.engine, messaging.jetstream(self.broker)).run()

    async def healthy(self) -> dict[str, bool]:
        """Readiness: the database answers; the broker is connected and this service's
        streams, consumers and subscriptions are set up (`broker_ready`); no background task
        (consumer, relay, timer) has ended by an exception (`working`)."""
        return {
            "database": await self.database_answers(),
            "broker": self.broker_ready.is_set() and messaging.is_connected(self.broker),
            "working": self.working(),
        }

    async def database_answers(self) -> bool:
        with contextlib.suppress(Exception):
            async with self.engine.connect() as conn:
                await within(conn.execute(text("select 1")), 2)
                return True
        return False

    def working(self) -> bool:
        """No background task of this process has ended by an exception."""
        return self.watch.all_running

    def machine_scopes(self, request: Request) -> frozenset[str] | None:
        """None without a bearer token; else the scopes it carries (empty: not a valid token).
        OPENDEUR_ADMIN_TOKEN reads the audit API and reports (DESIGN §6); OPENDEUR_MACHINE_TOKENS
        lists further tokens by the SHA-256 of each, with their scopes."""
        token = _bearer(request)
        if token is None:
            return None
        scopes: set[str] = set()
        admin = self.settings.admin_token
        if admin is not None and same_secret(token, admin.get_secret_value()):
            scopes.add("audit-read")
        for _name, granted in self._machine_tokens_of(token):
            scopes |= granted
        return frozenset(scopes)

    def _machine_tokens_of(self, token: str) -> list[tuple[str, frozenset[str]]]:
        """The OPENDEUR_MACHINE_TOKENS entries (name, scopes) whose hash this token has."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
        return [
            (name, granted)
            for name, granted, expected in machine_tokens(self.settings.machine_tokens)
            if hmac.compare_digest(digest, expected)
        ]

    def machine_actor(self, request: Request) -> str | None:
        """The machine client behind a valid OPENDEUR_MACHINE_TOKENS bearer token, as the code
        the trail records for it (`token.<name>`): a machine's change is attributed too."""
        token = _bearer(request)
        found = self._machine_tokens_of(token) if token is not None else []
        if not found:
            return None
        return f"token.{re.sub(r'[^a-z0-9_.+-]', '-', found[0][0].lower())[:40]}"

    def require(self, request: Request, scope: str | None, *roles: str) -> Staff | None:
        """An API's check: a bearer machine token with `scope` (None: no machine client may),
        or a staff session with one of `roles` (the person, None for a machine). 401 without a
        valid credential, 403 with one that lacks the scope or role."""
        scopes = self.machine_scopes(request)
        if scopes is not None:
            if not scopes:
                raise ApiError(401, "unauthorized", "This token is not valid.")
            if scope is None or scope not in scopes:
                raise ApiError(403, "forbidden", "This token may not do this.")
            return None
        staff = self.staff_now(request)
        if staff is None:
            raise ApiError(401, "unauthorized", "Sign in, or send a machine token.")
        if not staff.has(*roles):
            raise ApiError(403, "forbidden", "Your account does not have the role for this.")
        return staff

    def staff_now(self, request: Request) -> Staff | None:
        """The signed-in person, for these synchronous checks: a gate whose `current` must look
        in a database (a coroutine) is asked through opendeur.web's dependencies instead."""
        if self.staff is None:
            return None
        got = self.staff.current(request)
        if inspect.isawaitable(got):
            if inspect.iscoroutine(got):
                got.close()
            raise TypeError("this staff gate is asynchronous: use opendeur.web's dependencies")
        return got

    def check_admin(self, request: Request) -> None:
        """Read access to the audit API and reports: the machine token only (no cookie)."""
        self.require(request, "audit-read")

    def check_first(self, request: Request) -> None:
        """Before any parameter is read: some valid credential (its scope or role is checked by
        the endpoint). A cookie holding a token is no credential: people sign in at intake."""
        scopes = self.machine_scopes(request)
        if scopes is not None:
            if not scopes:
                raise ApiError(401, "unauthorized", "This token is not valid.")
            return
        if self.staff_now(request) is None:
            raise ApiError(401, "unauthorized", "A valid staff sign-in is needed for this page.")

    def app(self, *, title: str, description: str) -> FastAPI:
        app = FastAPI(
            title=f"opendeur {title}",
            description=description,
            version="1.0.0",
            lifespan=self.lifespan,
            docs_url=None,
            redoc_url=None,
            # FastAPI's own OpenTelemetry hooks look for a configured provider on every request
            # (1.5 % of intake's samples under load); opendeur's metrics are Prometheus' (/metrics).
            telemetry={"tracing": False, "metrics": False, "logs": False},
        )
        app.router.route_class = self.route_class
        install_basics(app, self)
        generate = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                app.openapi_schema = document_security(document_errors(generate()))
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
        return app


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "message", "field"],
    "properties": {
        "error": {"type": "string", "description": "a code, e.g. not_found"},
        "message": {"type": "string", "description": "what a person can read"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
STAFF_TAGS = frozenset({"staff", "audit", "reports"})


def machine_tokens(text: str) -> list[tuple[str, frozenset[str], str]]:
    """OPENDEUR_MACHINE_TOKENS, `name:scope[+scope]:sha256hex,...`, as (name, scopes, hash);
    malformed entries are left out (and grant nothing)."""
    out = []
    for entry in text.split(","):
        name, _, rest = entry.strip().partition(":")
        scopes, _, digest = rest.partition(":")
        digest = digest.strip().lower()
        if name and scopes and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            out.append((name, frozenset(s for s in scopes.split("+") if s), digest))
    return out


def _bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    given = request.headers.get("authorization", "")
    return given[7:] if given.lower().startswith("bearer ") else None


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets' SHA-256 digests (equal length whatever was sent)."""
    a = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
    return hmac.compare_digest(a, hashlib.sha256(expected.encode()).digest())


def is_staff_route(route: APIRoute) -> bool:
    """A staff API route, or a staff page's form post: answers 401 before reading any input."""
    if not STAFF_TAGS & {str(t) for t in route.tags or ()}:
        return False
    return route.path.startswith("/api/") or bool(route.methods - {"GET", "HEAD"})


def staff_route_class(check: Callable[[Request], None]) -> type[APIRoute]:
    """Routes of this class check the staff credential before FastAPI parses the path, query,
    headers or body, so a request without one gets 401 whatever parameters it carries (a
    dependency would run after the body's JSON is decoded)."""

    class StaffFirstRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()
            if not is_staff_route(self):
                return handler

            async def checked(request: Request) -> Response:
                check(request)
                return await handler(request)

            return checked

    return StaffFirstRoute


def _refusal(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _add_refusals(path: str, method: str, op: dict[str, Any]) -> None:
    """The refusals an operation gives without documenting them itself."""
    responses = op["responses"]
    if "{" in path:
        responses.setdefault("404", _refusal("Nothing with that id"))
    if not STAFF_TAGS & set(op.get("tags", ())):
        return
    if path.startswith("/api/"):
        responses.setdefault("401", _refusal("The staff token is missing or not valid"))
        responses.setdefault("403", _refusal("The token's scope or the role is wrong"))
    elif method != "get":  # a staff page's form post
        responses.setdefault("403", _refusal("The form's CSRF token is not valid"))


def _error_bodies(responses: dict[str, Any]) -> None:
    """Every 4xx and 5xx as the one Error body, in place of FastAPI's HTTPValidationError."""
    for code, response in responses.items():
        if not code.startswith(("4", "5")):
            continue
        content = response.get("content", {}).get("application/json", {})
        if not content or "HTTPValidationError" in str(content.get("schema")):
            if code == "422" and response.get("description") == "Validation Error":
                response["description"] = "A value is missing or not valid"
            response["content"] = _refusal("")["content"]


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the refusals every service gives through the handlers below to its OpenAPI document,
    where an operation does not document them itself: 404 where the path names something by id,
    401 and 403 on staff APIs (token or session, then its scope or role), 403 on staff pages'
    form posts (CSRF). Every 4xx and 5xx is described as the one {error, message, field} body
    the handlers send, in place of FastAPI's HTTPValidationError (never sent). Checked by
    schemathesis in tests/hostile/test_schemathesis.py and tests/*/test_openapi_responses.py."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            _add_refusals(path, method, op)
            if not is_page(op["responses"]):  # a staff page refuses with a page, not JSON
                _error_bodies(op["responses"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in str(schema.get("paths")):
            schemas.pop(unused, None)
    return schema


def is_page(responses: dict[str, Any]) -> bool:
    """An operation whose success is HTML only (a staff page)."""
    media = {m for c, r in responses.items() if c[0] in "23" for m in r.get("content", {})}
    return media == {"text/html"}


SECURITY_SCHEMES: dict[str, Any] = {
    "staffToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A machine token as `Authorization: Bearer`: OPENDEUR_ADMIN_TOKEN (audit "
        "API and reports, read only) or one of OPENDEUR_MACHINE_TOKENS with the needed scope.",
    },
    "staffSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "od_staff_<service>",
        "description": "A person's short staff session, set by /staff/accept after signing in "
        "at intake's /staff/login; its roles decide what it may do.",
    },
}


def document_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare how staff authenticate and mark each staff operation with it (either scheme is
    accepted: bearer first on the APIs, the session first on pages). Public ones need nothing."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in schema.get("paths", {}).items():
        for op in operations.values():
            if not isinstance(op, dict) or not STAFF_TAGS & set(op.get("tags", ())):
                continue
            token, session = {"staffToken": []}, {"staffSession": []}
            op["security"] = [token, session] if path.startswith("/api/") else [session, token]
    return schema


def settle_heap() -> int:
    """Collect what start-up left behind, freeze the rest out of the collector's generations and
    set `GC_THRESHOLDS`; the number of objects frozen. Called once a service has started."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return gc.get_freeze_count()


class Basics:
    """Security headers on every response and the request counter, as plain ASGI: Starlette's
    BaseHTTPMiddleware (`@app.middleware`) cost intake more CPU per question than its endpoint."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            metrics.HTTP_REQUESTS.labels(
                route=getattr(route, "path", "other"), status=str(status)
            ).inc()


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return JSONResponse(error_body(exc.code, exc.message, exc.field), refusal_status(exc))


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_error_body(exc.errors()), status_code=422)


async def _model(_request: Request, exc: Exception) -> JSONResponse:
    # A model built inside a route refused a value: a 422 here, not a 500 whose traceback
    # would carry pydantic's input_value (what the person typed) into the log.
    assert isinstance(exc, ValidationError)
    return JSONResponse(validation_error_body(exc.errors(include_input=False)), status_code=422)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    if messaging.transient(exc):  # the database is away for a moment: say so, not 500
        log.warning("unavailable", error=type(exc).__name__)
        return JSONResponse(
            error_body("unavailable", "We cannot take this in right now; try again shortly."),
            status_code=503,
            headers={"Retry-After": "30"},
        )
    if isinstance(exc, KeyringError):  # its message names key ids only: the operator's clue
        log.error("unexpected_error", error=type(exc).__name__, detail=str(exc))
    else:
        log.error("unexpected_error", error=type(exc).__name__)
    return JSONResponse(
        error_body("internal_error", "Something went wrong on our side. Please try again."),
        status_code=500,
    )


OPERATIONS = APIRouter(tags=["operations"])


@OPERATIONS.get("/network.css", include_in_schema=False)
async def network_css(request: Request) -> Response:
    """The network's own colour for every service's pages (OPENDEUR_NETWORK_COLOUR), as a
    stylesheet: the CSP allows no inline style. Loaded after each service's own CSS."""
    colour = request.app.state.runtime.settings.network_colour
    return Response(
        f":root {{ --brand: {colour}; --accent: {colour}; }}\n",
        media_type="text/css",
        headers={"Cache-Control": "max-age=300"},
    )


def _probe(rt: Runtime, checks: dict[str, bool]) -> JSONResponse:
    """A probe's answer: the service and each check, 200 when all of them hold, else 503."""
    return JSONResponse(
        {"service": rt.service, **checks}, status_code=200 if all(checks.values()) else 503
    )


def _probe_answers(model: type[BaseModel], unwell: str) -> dict:
    return {200: {"model": model}, 503: {"model": model, "description": unwell}}


@OPERATIONS.get(
    "/livez",
    response_model=None,
    responses=_probe_answers(Liveness, "A background task ended: restart the process"),
)
async def livez(request: Request) -> JSONResponse:
    """Liveness: the process answers and its consumers, relay and timers still run. Never
    touches the database or the broker, so an outage of either makes pods unready (/readyz,
    the database), not restarted in a loop; a task that ended for good makes it restarted."""
    rt = web.runtime(request)
    return _probe(rt, {"working": rt.working()})


@OPERATIONS.get(
    "/readyz",
    response_model=None,
    responses=_probe_answers(Readiness, "The database cannot be reached, or a task ended"),
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness for a load balancer (deploy/k8s): the database answers and the process works.
    Not the broker: /healthz's 503 during a broker outage took every intake pod out of the
    Service, and the door closed although intake keeps accepting questions into its outbox."""
    rt = web.runtime(request)
    return _probe(rt, {"database": await rt.database_answers(), "working": rt.working()})


@OPERATIONS.get(
    "/healthz",
    response_model=None,
    responses=_probe_answers(
        Health, "The broker or the database cannot be reached, or a background task ended"
    ),
)
async def healthz(request: Request) -> JSONResponse:
    rt = web.runtime(request)
    return _probe(rt, await rt.healthy())


@OPERATIONS.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={401: {"description": "Neither the metrics token nor a loopback peer"}},
)
async def prometheus(request: Request) -> Response:
    if not metrics_allowed(web.runtime(request).settings, request):
        raise Refused(
            "unauthorized", "GET /metrics needs the metrics bearer token.", kind="unauthorized"
        )
    body, ctype = metrics.render()
    return Response(body, media_type=ctype)


def install_basics(app: FastAPI, rt: Runtime) -> None:
    """The runtime on `app.state.runtime` (opendeur.web's dependencies find it there), the
    middleware, the error handlers (Refused, PageAnswer, validation, the unexpected) and the
    operations endpoints /livez, /readyz, /healthz and /metrics."""
    app.state.runtime = rt
    app.add_middleware(Basics)
    app.add_exception_handler(web.PageAnswer, web.answer_page)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ValidationError, _model)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(OPERATIONS)
    app.include_router(web.KIT_ROUTES)  # /staff-look.css, the one staff header's stylesheet


def metrics_allowed(settings: Settings, request: Request) -> bool:
    """OPENDEUR_METRICS_TOKEN as a bearer token; without it, only a loopback peer while no proxy
    is trusted (behind a proxy every request arrives from the proxy's address)."""
    given, token = _bearer(request), settings.metrics_token
    if given is not None:  # a wrong token is refused, wherever it comes from
        return token is not None and same_secret(given, token.get_secret_value())
    if settings.proxies() or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "This field is not expected here.",
    "json_invalid": "The request body is not valid JSON.",
    "bool_type": "This must be true or false.",
    "bool_parsing": "This must be true or false.",
    "string_type": "This must be text.",
    "literal_error": "This value is not one of the allowed choices.",
    "model_type": "This must be a JSON object.",
    "dict_type": "This must be a JSON object.",
}


# A field's name as a client's developer writes one. An unknown key is the client's own input
# (a review posted "Anna de Vries belt 06 12345678" as a key and got it back as the field).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}|\d{1,6}")


def validation_error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The first validation problem as {error, message, field}; no value is echoed, and of the
    field's path only plain field names (letters, digits, "_" and "-"): the path stops before
    an unknown key that is anything else, which can be whatever a client sent."""
    if not errors:
        return error_body("invalid_request", "The request is not valid.")
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
    field = ".".join(itertools.takewhile(_FIELD_NAME.fullmatch, loc)) or None
    kind = str(err.get("type", "invalid"))
    if kind == "json_invalid" or (kind == "missing" and not loc):
        return error_body("invalid_json", "The request body must be a JSON object.", None)
    code = {"missing": "missing_field", "extra_forbidden": "unknown_field"}.get(
        kind, "invalid_value"
    )
    return error_body(code, _MESSAGES.get(kind, "This value is not valid."), field)
