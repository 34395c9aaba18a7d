"""The operators' console (role beheerder): queues, charts and the live trail; and the funder
report's page (rapportage). People sign in at intake (opendeur/staff.py), never with a token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.events import BY_SUBJECT
from contracts.streams import DEADLETTER_STREAM
from opendeur import messaging
from opendeur.runtime import ApiError, Runtime
from opendeur.staff import StaffGate
from services.audit import charts, deadletters, queries, reports

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
LATEST = 50
MAX_OPEN = 100
MAX_DEAD = 50
ENVELOPE = {"event_id", "type", "occurred_at", "source", "question_id", "seq", "recorded_at"}
AMS = ZoneInfo("Europe/Amsterdam")
# Lower edges in hours: the deadline is 24 h, so the interesting part is the first day.
HISTOGRAM_BINS = (0, 1, 2, 4, 8, 12, 24, 48)


def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("month", datetime.now(UTC).strftime("%Y-%m"))
    html = TEMPLATES.get_template(name).render(**ctx)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def local(iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(AMS).strftime("%Y-%m-%d %H:%M")


def age(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours}h {mins:02d}m" if days else f"{hours}h {mins:02d}m"


def details(event: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={event[k]}" for k in sorted(event) if k not in ENVELOPE and event[k] is not None
    )


async def deadletter_view(rt: Runtime) -> tuple[int | None, list[dict[str, Any]]]:
    """(how many dead letters, the newest of them), or (None, []) while the broker is away."""
    if not messaging.is_connected(rt.broker):
        return None, []
    js = messaging.jetstream(rt.broker)
    try:
        info = await js.stream_info(DEADLETTER_STREAM)
        rows = await deadletters.list_dead(js, MAX_DEAD)
    except Exception:  # the console still shows everything else while the broker is away
        return None, []
    for row in rows:
        row["when"] = local(row["time"])
    return int(info.state.messages), rows


def make_router(rt: Runtime, build_report: Callable[[str], Awaitable[dict[str, Any]]]) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=rt.route_class)

    def gate() -> StaffGate:
        assert rt.staff is not None  # staff.install in app.py
        return rt.staff

    @router.get("/login")
    async def login_moved() -> Response:
        """People sign in at intake now; an old bookmark goes there."""
        url = rt.settings.base_url("intake") + "/staff/login?to=audit&next=/"
        return RedirectResponse(url, status_code=303, headers=NO_STORE)

    @router.get("/report")
    async def report_page(request: Request, month: str | None = None) -> Response:
        staff = gate().page(request, "rapportage", "beheerder")
        if isinstance(staff, Response):
            return staff
        month = month or datetime.now(UTC).strftime("%Y-%m")
        try:
            report = await build_report(month)
        except ApiError as err:
            return render(
                "message.html",
                status=err.status,
                heading="Kies een maand als 2026-11.",
                staff=staff,
                csrf=gate().csrf(staff),
            )
        sections: dict[str, list[tuple[str, str]]] = {}
        for table, key, value in reports.rows(report):
            sections.setdefault(table, []).append((key, value))
        return render(
            "report.html",
            staff=staff,
            csrf=gate().csrf(staff),
            report=report,
            sections=list(sections.items()),
        )

    @router.get("/")
    async def console(request: Request) -> Response:
        staff = gate().page(request, "beheerder")
        if isinstance(staff, Response):
            return staff
        now = datetime.now(UTC)
        recent, weeks = now - timedelta(days=30), now - timedelta(weeks=12)
        # Unanswered questions are erased after 30 days, so 60 days covers every open one.
        async with rt.sessions() as session:
            events = await queries.latest_events(session, LATEST)
            open_qs = await queries.open_questions(session, now - timedelta(days=60), now)
            triage = await queries.triage_count(session)
            hours = [s / 3600 for s in await queries.callback_seconds(session, recent, now)]
            weekly = await queries.weekly_within_deadline(session, weeks, now)
            per_topic = await queries.questions_per_topic(session, recent, now)
        dead_count, dead = await deadletter_view(rt)
        for q in open_qs:
            q["age"] = age(q["age_seconds"])
            q["deadline"] = local(q["respond_before"])
        for e in events:
            e["details"] = details(e)
        return render(
            "console.html",
            staff=staff,
            csrf=gate().csrf(staff),
            events=events,
            after=events[0]["seq"] if events else 0,
            limit=LATEST,
            types=" ".join(BY_SUBJECT),
            open=sorted(open_qs, key=lambda q: -q["age_seconds"]),
            max_open=MAX_OPEN,
            triage=triage,
            deadletters=dead_count,
            dead=dead,
            max_dead=MAX_DEAD,
            histogram=charts.histogram(
                hours,
                bins=HISTOGRAM_BINS,
                title="Time to callback, last 30 days",
                unit="h",
            ),
            weekly=charts.line_chart(
                weekly, title="Share answered within the deadline, per ISO week", target=0.9
            ),
            topics=charts.bar_chart(per_topic, title="Questions per topic, last 30 days"),
        )

    return router
