"""Routing service wiring: the group network, matching, the 24-hour clock, the team's queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from opendeur import outbox, staff
from opendeur.runtime import ApiError, Runtime
from services.routing import api, groups, handlers, store, taxonomy
from services.routing.schemas import TriageItem
from services.routing.web import pages

rt = Runtime("routing")
handlers.register(rt)
app = rt.app(title="routing", description="Groups, topics, matching and the 24-hour clock.")
staff.install(rt, app)
app.include_router(pages.make_router(rt))
app.include_router(api.make_router(rt))
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")


class TopicOut(BaseModel):
    code: str
    nl: str
    en: str


@app.get("/api/v1/topics", response_model=list[TopicOut], tags=["public"])
async def list_topics() -> list[TopicOut]:
    return [TopicOut(code=t.code, nl=t.nl, en=t.en) for t in taxonomy.topics()]


class StatusIn(BaseModel):
    status: Literal["active", "paused", "left"]


@app.post("/api/v1/groups/{group_id}/status", tags=["staff"], status_code=204)
async def set_status(
    group_id: Annotated[str, PathParam(max_length=200, pattern=r"^[^\x00-\x1f]+$")],
    body: StatusIn,
    request: Request,
) -> None:
    person = rt.require(request, "groups-write", "coordinator")
    async with rt.sessions() as session, session.begin():
        if not await groups.change_status(session, group_id, body.status, "team"):
            raise ApiError(404, "not_found", "There is no group with this id.")
        if person is not None:  # attributed (a machine client is its token's business)
            await outbox.add(session, pages.acted(person, "group_status", group_id=group_id))
    outbox.wake_relay()


@app.get(
    "/api/v1/triage",
    tags=["staff"],
    response_model=None,
    responses={200: {"model": list[TriageItem]}},
)
async def triage(request: Request) -> list[dict]:
    rt.require(request, "triage-read", "teamlid")
    async with rt.sessions() as session:
        return await store.triage_queue(session)
