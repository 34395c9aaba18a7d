"""Audit's API: the trail, its verification, consent, timings and the funder report. A machine
token with scope audit-read, or a signed-in operator (the report also a report viewer); 401
before any parameter is read."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import StringConstraints

from opendeur import web
from opendeur.errors import Refused
from opendeur.staff import Staff
from services.audit import queries, reports, schemas, store
from services.audit.web import pages

router = APIRouter(route_class=web.StaffFirstRoute)
# Sequences are bigints: a larger ?after= is a 422, not a database error.
MAX_SEQ = 2**63 - 1
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
Reader = Annotated[Staff | None, Depends(web.staff_or_token("audit-read", "beheerder"))]
ReportReader = Annotated[
    Staff | None, Depends(web.staff_or_token("audit-read", "rapportage", "beheerder"))
]


@router.get(
    "/api/v1/audit/events",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": list[schemas.AuditEvent]}},
)
async def audit_events(
    _: Reader,
    db: web.Db,
    question_id: UUID | None = None,
    type: Annotated[list[EventType] | None, Query()] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict]:
    return await store.events_for(db, question_id, after, type, limit)


@router.get(
    "/api/v1/audit/verify",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": schemas.Verification}},
)
async def audit_verify(_: Reader, db: web.Db) -> dict:
    return await store.verify_trail(db)


@router.get(
    "/api/v1/audit/consent/{question_id}",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": schemas.ConsentRegister}},
)
async def consent_register(_: Reader, db: web.Db, question_id: UUID) -> dict:
    found = await queries.consent_register(db, question_id)
    if found is None:
        raise Refused(
            "not_found", "The audit trail has no consent for this question.", kind="not_found"
        )
    return found


@router.get(
    "/api/v1/audit/timings",
    tags=["audit"],
    response_model=None,
    responses={200: {"model": schemas.Timings}},
)
async def audit_timings(_: Reader, db: web.SlowDb, month: str) -> dict:
    _days, start, end = reports.month_range(month)
    out = await queries.timings(db, start, end)
    out["open"] = await queries.open_questions(db, start, end)
    return {"month": month, **out}


@router.get(
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
    who: ReportReader,
    db: web.SlowDb,
    lang: pages.Lang,
    month: str,
    format: Literal["json", "csv", "html"] = "json",
) -> dict | Response:
    report = await queries.monthly_report(db, month)
    if format == "csv":
        name = reports.csv_filename(month, web.network(web.runtime(request).settings).name)
        return Response(
            pages.report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )
    if format == "html":
        return web.page(
            pages.TEMPLATES,
            "report.html",
            lang=lang,
            staff=who,
            csrf="",
            switch_url=pages.switch_url(request, lang),
            month=month,
            report=report,
            sections=pages.report_sections(report, lang),
            **pages.i18n.labels(lang),
        )
    return report
