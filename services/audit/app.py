"""Audit service wiring: the trail, its verification, the live stream and the funder report."""

from __future__ import annotations

import asyncio
import calendar
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

import orjson
from fastapi import Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import StringConstraints

from opendeur import staff
from opendeur.runtime import ApiError, Runtime
from services.audit import handlers, jobs, queries, reports, schemas, store, tailing
from services.audit.web import console

rt = Runtime("audit")
handlers.register(rt)
jobs.register(rt)
app = rt.app(title="audit", description="Consent and timing, provable; never content.")
# Sequences are bigints: a larger ?after= is a 422, not a database error.
MAX_SEQ = 2**63 - 1
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]


@app.get(
    "/api/v1/audit/events",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": list[schemas.AuditEvent]}},
)
async def audit_events(
    request: Request,
    question_id: UUID | None = None,
    type: Annotated[list[EventType] | None, Query()] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict]:
    rt.require(request, "audit-read", "beheerder")
    async with rt.sessions() as session:
        return await store.events_for(session, question_id, after, type, limit)


@app.get(
    "/api/v1/audit/verify",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": schemas.Verification}},
)
async def audit_verify(request: Request) -> dict:
    rt.require(request, "audit-read", "beheerder")
    async with rt.sessions() as session:
        return await store.verify_trail(session)


@app.get(
    "/api/v1/audit/consent/{question_id}",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": schemas.ConsentRegister}},
)
async def consent_register(request: Request, question_id: UUID) -> dict:
    rt.require(request, "audit-read", "beheerder")
    async with rt.sessions() as session:
        found = await queries.consent_register(session, question_id)
    if found is None:
        raise ApiError(404, "not_found", "The audit trail has no consent for this question.")
    return found


def month_range(month: str) -> tuple[int, int, datetime, datetime]:
    """(year, month, first instant, first instant of the next month) of a "YYYY-MM"."""
    ok = re.fullmatch(r"(20[0-9]{2})-(0[1-9]|1[0-2])", month)
    if ok is None:
        raise ApiError(422, "invalid_month", "month must look like 2026-11", "month")
    year, mon = int(ok[1]), int(ok[2])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return year, mon, start, end


@app.get(
    "/api/v1/audit/timings",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": schemas.Timings}},
)
async def audit_timings(request: Request, month: str) -> dict:
    rt.require(request, "audit-read", "beheerder")
    _, _, start, end = month_range(month)
    async with rt.sessions() as session:
        out = await queries.timings(session, start, end)
        out["open"] = await queries.open_questions(session, start, end)
    return {"month": month, **out}


@app.get(
    "/api/v1/audit/stream",
    tags=["audit"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events, one per stored event: `id: <seq>`, "
            "`event: <type>`, `data: <the event as JSON>`; comments as keep-alives.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def audit_stream(
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    since: Annotated[
        str | None,
        Query(description="ISO-8601 time (UTC without an offset) or a duration ago: 30m, 2h, 1d"),
    ] = None,
    type: Annotated[list[EventType] | None, Query(description="only these event types")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="resume after this sequence")
    ] = None,
) -> StreamingResponse:
    """Server-sent events in stored order; resumable with Last-Event-ID (or ?after=)."""
    rt.require(request, "audit-read", "beheerder")
    try:
        resume = int(last_event_id) if last_event_id else (after or 0)
    except ValueError:
        resume = after or 0
    if not 0 <= resume <= MAX_SEQ:
        resume = after or 0
    try:
        start = tailing.parse_since(since) if since else None
    except ValueError as exc:
        raise ApiError(422, "invalid_value", str(exc), "since") from None
    types = sorted({t for t in type or [] if t})
    if len(types) > tailing.MAX_TYPES:
        raise ApiError(422, "invalid_value", "Too many types.", "type")

    async def events() -> AsyncIterator[bytes]:
        nonlocal resume
        yield b": opendeur audit stream\n\n"
        if start is not None:
            async with rt.sessions() as session:
                resume = await tailing.first_after(session, resume, start)
        while not await request.is_disconnected():
            async with rt.sessions() as session:
                batch = await store.events_for(session, None, resume, types, 500, since=start)
            for e in batch:
                resume = e["seq"]
                yield (
                    f"id: {e['seq']}\nevent: {e['type']}\ndata: ".encode()
                    + orjson.dumps(e)
                    + b"\n\n"
                )
            if not batch:
                yield b": keep-alive\n\n"
                await asyncio.sleep(0.5)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def build_report(month: str) -> dict:
    year, mon, start, end = month_range(month)
    async with rt.sessions() as session:
        counts = await store.monthly_counts(session, start, end)
        stats = (await queries.timings(session, start, end, questions=False))["by_topic"]
    return reports.build(month, calendar.monthrange(year, mon)[1], counts, stats)


@app.get(
    "/api/v1/reports/monthly",
    tags=["reports"],
    response_model=None,
    responses={
        200: {
            "model": schemas.MonthlyReport,
            "description": "The report as JSON, or with ?format= as CSV or a page",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
    },
)
async def monthly_report(
    request: Request,
    month: str,
    format: Literal["json", "csv", "html"] = "json",
) -> dict | Response:
    rt.require(request, "audit-read", "rapportage", "beheerder")
    report = await build_report(month)
    if format == "csv":
        return Response(
            reports.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="opendeur-{month}.csv"',
                "Cache-Control": "no-store",
            },
        )
    if format == "html":
        sections: dict[str, list[tuple[str, str]]] = {}
        for table, key, value in reports.rows(report):
            sections.setdefault(table, []).append((key, value))
        return console.render("report.html", report=report, sections=list(sections.items()))
    return report


staff.install(rt, app)
app.include_router(console.make_router(rt, build_report))
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
