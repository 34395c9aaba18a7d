"""The operators' console: sign in with the staff token, queues, charts and the live trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.events import BY_SUBJECT
from contracts.streams import DEADLETTER_STREAM
from opendeur import messaging
from opendeur.runtime import ApiError, Runtime, same_secret
from services.audit import charts, deadletters, queries

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
COOKIE = "od_admin"
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


def cross_site(request: Request) -> bool:
    """True when the browser says the request comes from another site or origin."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}"


def is_admin(rt: Runtime, request: Request) -> bool:
    try:
        rt.check_admin(request)
    except ApiError:
        return False
    return True


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


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=rt.route_class)

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        return render("login.html", signed_in=is_admin(rt, request))

    @router.post("/login")
    async def login(request: Request, token: Annotated[str, Form(max_length=512)] = "") -> Response:
        expected = rt.settings.admin_token
        if expected is None or not same_secret(token, expected.get_secret_value()):
            return render("login.html", status=401, error="That token is not valid.")
        # The cookie carries the staff token: no cache may keep this response.
        response = RedirectResponse("/", status_code=303, headers=NO_STORE)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
            max_age=12 * 3600,
        )
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        # POST only (a GET, an <img src> on another site, must not sign anyone out); a post from
        # another origin is refused (the cookie is SameSite=strict as well).
        if cross_site(request):
            raise ApiError(403, "csrf_failed", "Sign out from the console itself.")
        response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/")
    async def console(request: Request) -> Response:
        if not is_admin(rt, request):
            return RedirectResponse("/login", status_code=303)
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
            signed_in=True,
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
