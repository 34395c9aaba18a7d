"""The operators' console (role beheerder): queues, charts, stuck messages and the trail in plain
Dutch (English with ?lang=en); and the funder report's page (rapportage). People sign in at
intake; the machine token opens no page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.events import BY_SUBJECT
from contracts.streams import DEADLETTER_STREAM
from opendeur import messaging, web
from opendeur.errors import Refused
from opendeur.staff import NO_STORE, Staff
from services.audit import charts, deadletters, queries, replays, reports
from services.audit.web import i18n, trail

router = APIRouter(include_in_schema=False, route_class=web.StaffFirstRoute)
TEMPLATES = web.templates(__file__)
LATEST = 50
MAX_OPEN = 100
MAX_DEAD = 50
# Lower edges in hours: the deadline is 24 h, so the interesting part is the first day.
HISTOGRAM_BINS = (0, 1, 2, 4, 8, 12, 24, 48)
Show = Literal["all", "staff"]


Lang = web.QueryLang  # staff work in Dutch whatever their browser's language
Operator = Annotated[Staff, Depends(web.staff_page("beheerder"))]
Reader = Annotated[Staff, Depends(web.staff_page("rapportage", "beheerder"))]


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def render(request: Request, name: str, lang: str, staff: Staff, status: int = 200, **ctx: Any):
    return web.page(
        TEMPLATES,
        name,
        status,
        lang=lang,
        staff=staff,
        csrf=web.csrf_token(request, staff),
        header=web.header_for(request, staff, lang),
        switch_url=switch_url(request, lang),
        **i18n.labels(lang),
        **ctx,
    )


def switch_url(request: Request, lang: str) -> str:
    """This page in the other language, with the parameters a person chose (a valid month, the
    filter); nothing else of the address is echoed back."""
    params = {"lang": "nl" if lang == "en" else "en"}
    month, show = request.query_params.get("month", ""), request.query_params.get("show", "")
    if re.fullmatch(r"20[0-9]{2}-(0[1-9]|1[0-2])", month):
        params["month"] = month
    if show in ("all", "staff"):
        params["show"] = show
    return f"{request.url.path}?{urlencode(params)}"


def age(seconds: float, lang: str) -> str:
    """How long a question has waited, as a person says it: "12 min", "3 uur 5 min", "2 dagen
    4 uur" ("3 h 5 min", "2 days 4 h")."""
    minutes = int(max(seconds, 0) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    en = lang == "en"
    if days:
        unit = ("day" if days == 1 else "days") if en else ("dag" if days == 1 else "dagen")
        return f"{days} {unit} {hours} {'h' if en else 'uur'}"
    if hours:
        return f"{hours} {'h' if en else 'uur'} {mins} min"
    return f"{mins} min"


async def lines(
    request: Request, db: web.Db, lang: str, *, after: int = 0, staff_only: bool = False
) -> list:
    records = await queries.trail(db, after=after, limit=LATEST, staff_only=staff_only)
    refs = await queries.references(db, [str(r.get("question_id") or "") for r in records])
    wanted = (r.get("group_id") for r in records)
    groups = await web.group_names(web.runtime(request).settings, wanted) if records else {}
    return [trail.line(r, refs, lang, groups) for r in records]


async def dead_view(request: Request) -> tuple[int | None, list[dict[str, Any]]]:
    """(how many dead letters, the newest of them), or (None, []) while the broker is away."""
    rt = web.runtime(request)
    if not messaging.is_connected(rt.broker):
        return None, []
    js = messaging.jetstream(rt.broker)
    try:
        info = await js.stream_info(DEADLETTER_STREAM)
        rows = await deadletters.list_dead(js, MAX_DEAD)
    except Exception:  # the console still shows everything else while the broker is away
        return None, []
    return int(info.state.messages), rows


@router.get("/login")
async def login_moved(request: Request) -> Response:
    """People sign in at intake now; an old bookmark goes there."""
    url = web.runtime(request).settings.base_url("intake") + "/staff/login?to=audit&next=/"
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


@router.get("/", response_class=HTMLResponse)
async def console(
    request: Request,
    db: web.Db,
    lang: Lang,
    staff: Operator,
    show: Show = "all",
    replayed: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    t, words = i18n.translator(lang), i18n.chart_words(lang)
    now = datetime.now(UTC)
    recent, weeks = now - timedelta(days=30), now - timedelta(weeks=12)
    # Unanswered questions are erased after 30 days, so 60 days covers every open one.
    open_qs = await queries.open_questions(db, now - timedelta(days=60), now)
    open_qs.sort(key=lambda q: -q["age_seconds"])
    refs = await queries.references(db, [q["question_id"] for q in open_qs[:MAX_OPEN]])
    for q in open_qs[:MAX_OPEN]:
        q["reference"] = trail.short_reference(q["question_id"], refs, lang)
        q["age"] = age(q["age_seconds"], lang)
    hours = [s / 3600 for s in await queries.callback_seconds(db, recent, now)]
    weekly = await queries.weekly_within_deadline(db, weeks, now)
    per_topic = [
        (i18n.topic_label(code, lang), n)
        for code, n in await queries.questions_per_topic(db, recent, now)
    ]
    dead_count, dead = await dead_view(request)
    asked = await queries.replay_requests(db, [d["seq"] for d in dead])
    for d in dead:
        d["asked"] = asked.get(d["seq"])
        if d["asked"]:  # who asked, in the trail's words (a CLI account, a machine, a person)
            d["asked_by"] = trail.who({"staff_id": d["asked"]["staff_id"]}, lang)[0]
    events = await lines(request, db, lang, staff_only=show == "staff")
    return render(
        request,
        "console.html",
        lang,
        staff,
        events=events,
        after=max((e.seq for e in events), default=0),
        show=show,
        types=" ".join(BY_SUBJECT),
        open=open_qs,
        max_open=MAX_OPEN,
        triage=await queries.triage_count(db),
        deadletters=dead_count,
        dead=dead,
        max_dead=MAX_DEAD,
        replayed=replayed,
        histogram=charts.histogram(
            hours,
            bins=HISTOGRAM_BINS,
            title=t("chart_callback"),
            unit=t("hours_unit"),
            look=charts.COMPACT,
            words=words,
        ),
        weekly=charts.line_chart(
            weekly, title=t("chart_weekly"), target=0.9, look=charts.COMPACT, words=words
        ),
        topics=charts.bar_chart(
            per_topic, title=t("chart_topics"), look=charts.COMPACT, words=words
        ),
    )


@router.get("/trail/lines", response_class=HTMLResponse)
async def trail_lines(
    request: Request,
    db: web.Db,
    lang: Lang,
    staff: Operator,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    show: Show = "all",
) -> Response:
    """The console's live part: the lines after `after`, newest first, as list items."""
    events = await lines(request, db, lang, after=after, staff_only=show == "staff")
    return web.page(TEMPLATES, "lines.html", events=events, **i18n.labels(lang))


@router.post("/deadletters/{seq}/replay", tags=["staff"])
async def ask_replay(
    request: Request,
    seq: Annotated[int, Path(ge=1, le=2**63 - 1)],
    db: web.Db,
    lang: Lang,
    post: Annotated[web.StaffForm, Depends(web.staff_form("beheerder"))],
) -> Response:
    """An operator asks for a dead letter to be offered again: recorded in the chain with their
    staff id (PRG back to the console, which shows who asked and the command to carry it out)."""
    rt = web.runtime(request)
    row = None
    if messaging.is_connected(rt.broker):
        row = await deadletters.get_dead(messaging.jetstream(rt.broker), seq)
    try:
        subject = replays.check(row, seq)
    except Refused as refused:
        gone = refused.kind == "not_found"
        heading = i18n.translator(lang)("replay_gone" if gone else "replay_not_event", seq=seq)
        return render(
            request, "message.html", lang, post.staff, 404 if gone else 422, heading=heading
        )
    await replays.record(db, post.staff.staff_id, seq, subject)
    suffix = "&lang=en" if lang == "en" else ""
    return RedirectResponse(f"/?replayed={seq}{suffix}#dead", status_code=303, headers=NO_STORE)


@router.get("/report", response_class=HTMLResponse)
async def report_page(
    request: Request, db: web.SlowDb, lang: Lang, staff: Reader, month: str | None = None
) -> Response:
    month = month or this_month()
    try:
        report = await queries.monthly_report(db, month)
    except Refused:
        return render(
            request,
            "message.html",
            lang,
            staff,
            status=422,
            heading=i18n.translator(lang)("bad_month"),
        )
    return render(
        request, "report.html", lang, staff, report=report, sections=report_sections(report, lang)
    )


def report_csv(report: dict[str, Any]) -> str:
    """The funder CSV with Dutch headers and each table and row in words, as on the page."""
    return reports.to_csv(
        report,
        lambda table: i18n.report_table(table, "nl"),
        lambda table, key: i18n.report_key(table, key, "nl"),
    )


def report_sections(report: dict[str, Any], lang: str) -> list[tuple[str, list[tuple[str, str]]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    for table, key, value in reports.rows(report):
        sections.setdefault(table, []).append((i18n.report_key(table, key, lang), value))
    return [(i18n.report_table(table, lang), items) for table, items in sections.items()]
