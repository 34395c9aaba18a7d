"""Audit service wiring: the trail, its verification, the live stream and the funder report."""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import Header, Query, Request
from fastapi.responses import StreamingResponse

from opendeur.runtime import ApiError, Runtime
from services.audit import chain, handlers, store, suppression

rt = Runtime("audit")
handlers.register(rt)
app = rt.app(title="audit", description="Consent and timing, provable; never content.")


@app.get("/api/v1/audit/events", tags=["audit"])
async def audit_events(
    request: Request,
    question_id: UUID | None = None,
    type: Annotated[list[str] | None, Query()] = None,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict]:
    rt.check_admin(request)
    async with rt.sessions() as session:
        return await store.events_for(session, question_id, after, type, limit)


@app.get("/api/v1/audit/verify", tags=["audit"])
async def audit_verify(request: Request) -> dict:
    rt.check_admin(request)
    count = 0

    async def counted() -> AsyncIterator[chain.ChainRow]:
        nonlocal count
        async with rt.sessions() as session:
            async for row in store.chain_rows(session):
                count += 1
                yield row

    rows = [r async for r in counted()]
    broken = chain.verify(rows)
    if broken is None:
        return {"ok": True, "records": count}
    return {
        "ok": False,
        "records": count,
        "first_broken": {"seq": broken.seq, "reason": broken.reason},
    }


@app.get("/api/v1/audit/stream", tags=["audit"])
async def audit_stream(
    request: Request, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    rt.check_admin(request)
    try:
        after = int(last_event_id or request.query_params.get("after", "0"))
    except ValueError:
        after = 0

    async def events() -> AsyncIterator[bytes]:
        nonlocal after
        yield b": opendeur audit stream\n\n"
        while not await request.is_disconnected():
            async with rt.sessions() as session:
                batch = await store.events_for(session, None, after, None, 500)
            for e in batch:
                after = e["seq"]
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


@app.get("/api/v1/reports/monthly", tags=["reports"])
async def monthly_report(
    request: Request, month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]
) -> dict:
    rt.check_admin(request)
    year, mon = int(month[:4]), int(month[5:])
    if not 1 <= mon <= 12:
        raise ApiError(422, "invalid_month", "month must look like 2026-11", "month")
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    async with rt.sessions() as session:
        raw = await store.monthly_counts(session, start, end)
    out: dict = {
        "month": month,
        "days": calendar.monthrange(year, mon)[1],
        "note": "Counts from 1 to 4 are shown as <5; another figure may be hidden (•) "
        "so that none can be worked out.",
    }
    for name, counts in raw.items():
        s = suppression.suppress(counts)
        out[name] = {"cells": s.cells, "total": s.total}
    return out
