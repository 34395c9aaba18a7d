"""The live trail as server-sent events: every stored record in stored order, resumable with
Last-Event-ID (or ?after=), optionally only some types or only those occurred since a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from opendeur import web
from opendeur.errors import Refused
from opendeur.staff import Staff
from services.audit import store, tailing
from services.audit.api import MAX_SEQ, EventType, Reader

router = APIRouter(route_class=web.StaffFirstRoute)
POLL_S = 0.5  # how often an idle stream looks for new records (and sends a keep-alive)
BATCH = 500


def resume_from(last_event_id: str | None, after: int | None) -> int:
    """Last-Event-ID wins when it is a valid sequence; otherwise ?after=, otherwise 0."""
    try:
        resume = int(last_event_id) if last_event_id else (after or 0)
    except ValueError:
        resume = after or 0
    return resume if 0 <= resume <= MAX_SEQ else (after or 0)


def still_allowed(request: Request, person: Staff | None) -> Callable[[], bool]:
    """For a staff member's stream: false once her sessions here are ended (disabled, new roles,
    signed out, a new password) after the stream began, by the gate's own rule; a machine
    token's stream is not a session."""
    gate = web.runtime(request).staff
    if person is None or gate is None:
        return lambda: True
    return lambda: not gate.ended(request)


async def records(
    request: Request,
    resume: int,
    types: list[str],
    start: datetime | None,
    allowed: Callable[[], bool] = lambda: True,
) -> AsyncIterator[bytes]:
    sessions = web.runtime(request).sessions
    yield b": opendeur audit stream\n\n"
    if start is not None:
        async with sessions() as session:
            resume = await tailing.first_after(session, resume, start)
    while allowed() and not await request.is_disconnected():
        async with sessions() as session:
            batch = await store.events_for(session, None, resume, types, BATCH, since=start)
        for e in batch:
            resume = e["seq"]
            yield f"id: {e['seq']}\nevent: {e['type']}\ndata: ".encode() + orjson.dumps(e) + b"\n\n"
        if not batch:
            yield b": keep-alive\n\n"
            await asyncio.sleep(POLL_S)


@router.get(
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
    person: Reader,
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
    try:
        start = tailing.parse_since(since) if since else None
    except ValueError as exc:
        raise Refused("invalid_value", str(exc), "since") from None
    types = sorted({t for t in type or [] if t})
    if len(types) > tailing.MAX_TYPES:
        raise Refused("invalid_value", "Too many types.", "type")
    return StreamingResponse(
        records(
            request,
            resume_from(last_event_id, after),
            types,
            start,
            still_allowed(request, person),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
