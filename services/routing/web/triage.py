"""The network team's queue (role teamlid): crisis questions first with a call-back at intake,
why each question waits and where in words, the matcher's suggestions with their reasons, and
assign or close (a reason chosen, closing confirmed). Staff pages are Dutch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.events import QuestionClosed, StaffActed, StaffAction
from opendeur import outbox
from opendeur.errors import Refused
from opendeur.runtime import refusal_status
from opendeur.staff import Staff
from opendeur.web import (
    Db,
    PageAnswer,
    SettingsDep,
    StaffFirstRoute,
    StaffForm,
    csrf_token,
    header_for,
    runtime,
    staff_form,
    staff_page,
)
from services.routing import decisions, regions, store, taxonomy
from services.routing.matching import Group, Need, Routed, ranking
from services.routing.web import queries
from services.routing.web.deps import render

router = APIRouter(route_class=StaffFirstRoute)  # form posts: a credential before any input
TeamPage = Annotated[Staff, Depends(staff_page("teamlid"))]
_team_form = staff_form("teamlid")


async def team_form(request: Request) -> StaffForm:
    """A team member's form post (CSRF checked); a machine token is refused with 403 as on every
    staff API (the kit's staff_form alone would answer 401: no session)."""
    runtime(request).require(request, None, "teamlid")
    return await _team_form(request)


TeamForm = Annotated[StaffForm, Depends(team_form)]
POSTED = {
    303: {"description": "Done: back to the queue (/triage)"},
}

CLOSE_REASONS = {
    "handled_by_team": "Afgehandeld door het team",
    "referred_professional": "Doorverwezen naar professionele hulp",
    "no_callback_wanted": "Wil niet meer teruggebeld worden",
    "duplicate": "Dubbele vraag",
    "unreachable": "Niet bereikbaar",
}
# Why a question is in the team's queue (matching.Unmatched.reason, decisions.to_team), in words.
QUEUE_REASONS = {
    "professional_help_advised": "Crisis: professionele hulp aangeraden; het team belt zelf terug",
    "no_topic": "Geen onderwerp gekozen",
    "no_group": "Geen groep voor dit onderwerp in de buurt",
    "all_full": "Alle passende groepen zitten vol",
    "unreachable": "Contactpersoon kreeg de persoon 3 keer niet te pakken",
    "notification_failed": "De contactpersoon kon niet bericht worden",
    "wrong_group": "Geen andere groep voor dit onderwerp",
}
OTHER_REASON = "Geen passende groep gevonden"
# The matcher's reasons (matching.Routed.reason) for a suggested group, in words.
WHY = {
    "topic+municipality": "onderwerp en gemeente passen",
    "topic+region": "onderwerp past, groep in de regio",
    "topic+online": "onderwerp past, online groep",
}
AFTER_HOURS = "; belt pas binnen de beltijden"
LANGUAGE_FLAGS = {
    "in_en": "; belt in het Engels",
    "in_nl_not_en": "; belt in het Nederlands (de vrager spreekt liever Engels)",
}
SUGGESTIONS = 3
# What the queue says after a post went through (PRG: /triage?gedaan=...).
DONE = {
    "toegewezen": "De vraag is naar de groep gestuurd; de contactpersoon heeft bericht.",
    "gesloten": "De vraag is gesloten en uit de wachtrij.",
}
# A refused triage post, in words for the team member in the browser (API clients keep the JSON).
REFUSALS = {
    "missing_field": "Kies eerst een groep.",
    "invalid_value": "Dat ging niet: kies een van de mogelijkheden op de pagina.",
    "not_found": "Deze vraag bestaat niet (meer).",
    "not_in_queue": decisions.TAKEN,
    "unknown_group": "Deze groep bestaat niet (meer); kies een andere groep.",
    "group_not_active": "Deze groep is gepauzeerd of gestopt; kies een andere groep.",
    "group_full": "Bij deze groep heeft geen contactpersoon nu plek; kies een andere groep.",
}


def age(received_at: datetime, now: datetime) -> str:
    minutes = max(0, int((now - received_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} uur"
    return f"{minutes // (24 * 60)} dagen"


def municipality_names() -> dict[str, str]:
    return {store.slug(m): m for m in regions.municipalities()}


def place(municipality: str | None, pc4: str | None = None) -> str:
    """A municipality as people write it ("Son en Breugel"), not its code (store.slug); outside
    the region's table what is known: "postcode 9999, gemeente onbekend"."""
    if not municipality:
        return f"postcode {pc4}, gemeente onbekend" if pc4 else "geen postcode opgegeven"
    return municipality_names().get(municipality, municipality.replace("-", " ").title())


def reason_label(code: str | None) -> str:
    return QUEUE_REASONS.get(code or "", OTHER_REASON)


def why(reason: str) -> str:
    """ "topic+region+after_hours" as a team member reads it."""
    parts = reason.split("+")
    flags = parts[2:]
    text = WHY.get("+".join(parts[:2]), "onderwerp past")
    text += "".join(LANGUAGE_FLAGS[f] for f in flags if f in LANGUAGE_FLAGS)
    return text + (AFTER_HOURS if "after_hours" in flags else "")


def suggestions(q: dict, groups: list[Group], names: dict[str, str], now: datetime) -> list[dict]:
    """The matcher's ranking for a queued question, one line per group with room: the best
    first, each with why (crisis or not: the team decides; the matcher only ranks)."""
    municipality = municipality_names().get(q["municipality"] or "")
    need = Need(
        topic=q["topic"],
        municipality=municipality,
        language=q.get("language") or "nl",
        exclude_groups=frozenset(q.get("tried_groups") or ()),
    )
    ranked = ranking(need, groups, now)
    if not isinstance(ranked, list):
        return []
    out: list[dict] = []
    for r in ranked:
        if any(s["group_id"] == r.group_id for s in out):
            continue
        out.append(suggestion(r, names))
        if len(out) == SUGGESTIONS:
            break
    return out


def suggestion(r: Routed, names: dict[str, str]) -> dict:
    return {"group_id": r.group_id, "name": names.get(r.group_id, r.group_id), "why": why(r.reason)}


def acted(
    staff_id: str, action: StaffAction, qid: UUID | None = None, group_id: str | None = None
) -> StaffActed:
    """The attribution of an action (a team member's id, or a machine client's token.<name>),
    for the outbox in the action's transaction."""
    return StaffActed(
        source="routing", staff_id=staff_id, action=action, question_id=qid, group_id=group_id
    )


def as_page(request: Request, posted: StaffForm, refused: Refused) -> Exception:
    """A refused triage post: a browser gets a Dutch page with the way back to the queue, an API
    client the JSON error. Raised from the route, so the transaction rolls back either way."""
    if "text/html" not in request.headers.get("accept", ""):
        return refused
    text = REFUSALS.get(refused.code, "Dat ging niet; er is niets veranderd.")
    page = render(
        "triage_refused.html",
        refusal_status(refused),
        message=text,
        header=header_for(request, posted.staff),
    )
    return PageAnswer(page)


def question_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise Refused("invalid_value", "This is not a question id.", "question_id") from None


@router.get("/login", include_in_schema=False)
async def login_moved(settings: SettingsDep) -> Response:
    """People sign in at intake now; an old bookmark goes there."""
    url = settings.base_url("intake") + "/staff/login?to=routing&next=/triage"
    return RedirectResponse(url, status_code=303)


@router.get(
    "/triage",
    response_class=HTMLResponse,
    tags=["staff"],
    response_model=None,
    responses={
        303: {"description": "No team member's session here: to intake's staff sign-in"},
        403: {"description": "Signed in without the teamlid role"},
    },
)
async def triage_page(request: Request, db: Db, staff: TeamPage, settings: SettingsDep) -> Response:
    now = datetime.now(UTC)
    groups, names = await queries.groups_with_contacts(db)
    intake = settings.base_url("intake")
    rows = [
        {
            **q,
            "age": age(q["received_at"], now),
            "topic_label": taxonomy.label(q["topic"], "nl") if q["topic"] else "geen onderwerp",
            "place": place(q["municipality"], q.get("pc4")),
            "reason_label": reason_label(q["reason"]),
            "suggestions": suggestions(q, groups, names, now),
            "call_back": f"{intake}/staff/crisis/{q['reference']}" if q["priority"] else None,
        }
        for q in await queries.queue(db)
    ]
    signals = [
        {
            **s,
            "topic_label": taxonomy.label(s["topic"], "nl") if s["topic"] else "geen onderwerp",
            "place": place(s["municipality"]) if s["municipality"] else "gemeente onbekend",
        }
        for s in await store.buddy_signals(db)
    ]
    return render(
        "triage.html",
        rows=rows,
        signals=signals,
        groups=[{"group_id": gid, "name": name} for gid, name in names.items()],
        reasons=CLOSE_REASONS,
        csrf=csrf_token(request, staff),
        header=header_for(request, staff),
        intake=intake,
        done=DONE.get(request.query_params.get("gedaan", "")),
    )


@router.post(
    "/triage/{qid}/assign",
    tags=["staff"],
    response_model=None,
    response_class=RedirectResponse,
    status_code=303,
    responses=POSTED,
)
async def assign(request: Request, qid: str, db: Db, posted: TeamForm) -> Response:
    try:
        return await _assign(qid, db, posted)
    except Refused as refused:
        raise as_page(request, posted, refused) from None


async def _assign(qid: str, db: Db, posted: StaffForm) -> Response:
    group_id = str(posted.form.get("group_id", "")).strip()
    if not group_id:
        raise Refused("missing_field", "Choose a group.", "group_id")
    question = question_id(qid)
    await decisions.assign(db, question, group_id, datetime.now(UTC))  # a Refused rolls back
    await outbox.add(db, acted(posted.staff.staff_id, "assign", question, group_id))
    return RedirectResponse("/triage?gedaan=toegewezen", status_code=303)


@router.post(
    "/triage/{qid}/close",
    tags=["staff"],
    response_model=None,
    response_class=RedirectResponse,
    status_code=303,
    responses=POSTED,
)
async def close(request: Request, qid: str, db: Db, posted: TeamForm) -> Response:
    try:
        return await _close(qid, db, posted)
    except Refused as refused:
        raise as_page(request, posted, refused) from None


async def _close(qid: str, db: Db, posted: StaffForm) -> Response:
    reason = str(posted.form.get("reason", ""))
    if reason not in CLOSE_REASONS:
        raise Refused("invalid_value", "Choose one of the reasons.", "reason")
    question = question_id(qid)
    prev = await store.close_question(db, question, reason, datetime.now(UTC))
    if prev is None:
        raise Refused("not_found", "There is no such question.", "question_id", "not_found")
    if prev != "unmatched":
        raise Refused("not_in_queue", "This question is not in the queue.", kind="conflict")
    await outbox.add(
        db,
        QuestionClosed(question_id=question, reason=reason),
        acted(posted.staff.staff_id, "close", question),
    )
    return RedirectResponse("/triage?gedaan=gesloten", status_code=303)
