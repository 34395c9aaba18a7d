"""Routing's JSON API: topics, the public group directory (/api/v1/directory, and the same data in
HSDS 3.0's own API shape: /api/v1/services paged, /services/{id}, /organizations, /organizations/{id}),
and the team's endpoints (a group's status, the queue, buddy signals)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel

from opendeur import outbox
from opendeur.errors import Refused
from opendeur.staff import Staff
from opendeur.web import Db, StaffFirstRoute, runtime, staff_or_token
from services.routing import directory, groups, store, taxonomy
from services.routing.schemas import TriageItem
from services.routing.web.triage import acted

# HSDS says nothing of a largest page; ours keeps one answer small.
MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50


class Language(BaseModel):
    id: UUID
    service_id: UUID
    name: str
    code: str


class ServicePhone(BaseModel):
    id: UUID
    service_id: UUID
    number: str


class OrganizationPhone(BaseModel):
    id: UUID
    number: str


class ServiceArea(BaseModel):
    id: UUID
    service_id: UUID
    name: str


class Attribute(BaseModel):
    id: UUID
    link_id: UUID
    link_type: Literal["service"]
    link_entity: Literal["service"]
    value: str
    label: str


class ServiceSummary(BaseModel):
    """HSDS service with its one-to-one fields only (the API's list shape)."""

    id: UUID
    organization_id: UUID
    name: str
    description: str
    status: Literal["active", "inactive", "defunct", "temporarily closed"]
    email: str
    url: str


class Service(ServiceSummary):
    """HSDS service, fully nested: languages, the network's phone, areas, topics."""

    languages: list[Language]
    phones: list[ServicePhone]
    service_areas: list[ServiceArea]
    attributes: list[Attribute]


class OrganizationSummary(BaseModel):
    id: UUID
    name: str
    description: str
    email: str


class Organization(OrganizationSummary):
    phones: list[OrganizationPhone]


class OrganizationWithServices(Organization):
    """HSDS organization with the services it provides (their one-to-one fields)."""

    services: list[ServiceSummary]


class Directory(BaseModel):
    """The whole public directory at once (opendeur's own shape, also `groups export --hsds`)."""

    organization: Organization
    services: list[Service]


class Page(BaseModel):
    """HSDS 3.0's Page: 1-based page_number; size = entries on this page."""

    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool


class ServicePage(Page):
    contents: list[ServiceSummary] | list[Service]


class OrganizationPage(Page):
    contents: list[OrganizationSummary] | list[OrganizationWithServices]


def _page(items: list[Any], page: int, per_page: int) -> dict[str, Any]:
    total_pages = math.ceil(len(items) / per_page)
    contents = items[(page - 1) * per_page : page * per_page]
    return {
        "total_items": len(items),
        "total_pages": total_pages,
        "page_number": page,
        "size": len(contents),
        "first_page": page == 1,
        "last_page": page >= total_pages,
        "empty": not contents,
        "contents": contents,
    }


SUMMARY_FIELDS = tuple(ServiceSummary.model_fields)
NOT_FOUND = {404: {"description": "Nothing with that id"}}

PageNumber = Annotated[int, Query(ge=1, le=100_000, description="1-based page number")]
PerPage = Annotated[
    int, Query(ge=1, le=MAX_PER_PAGE, description=f"entries per page (1-{MAX_PER_PAGE})")
]
Full = Annotated[bool, Query(description="fully nested entries instead of the list shape")]


router = APIRouter(route_class=StaffFirstRoute)  # staff APIs: a credential before any input
hsds = APIRouter(prefix="/api/v1", tags=["public"])  # the public directory, no credential


async def load(request: Request) -> dict[str, Any]:
    """The whole public directory, read in one session (a read: no transaction needed)."""
    rt = runtime(request)
    async with rt.sessions() as session:
        rows = await store.public_groups(session)
    return directory.hsds(rows, rt.settings)


Doc = Annotated[dict[str, Any], Depends(load)]


def summary(service: dict[str, Any]) -> dict[str, Any]:
    return {k: service[k] for k in SUMMARY_FIELDS}


@hsds.get("/directory", response_model=Directory)
async def public_directory(doc: Doc) -> dict[str, Any]:
    return doc


@hsds.get("/services", response_model=ServicePage, summary="HSDS 3.0: services, paged")
async def services(
    doc: Doc, page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE, full: Full = False
) -> dict[str, Any]:
    items = doc["services"]
    return _page(items if full else [summary(s) for s in items], page, per_page)


@hsds.get("/services/{id}", response_model=Service, responses=NOT_FOUND)
async def service(id: UUID, doc: Doc) -> dict[str, Any]:
    for s in doc["services"]:
        if s["id"] == str(id):
            return s
    raise Refused("not_found", "There is no service with this id.", "id", "not_found")


@hsds.get("/organizations", response_model=OrganizationPage, summary="HSDS 3.0: organizations")
async def organizations(
    doc: Doc, page: PageNumber = 1, per_page: PerPage = DEFAULT_PER_PAGE, full: Full = False
) -> dict[str, Any]:
    org = doc["organization"]
    if full:
        item = {**org, "services": [summary(s) for s in doc["services"]]}
    else:
        item = {k: org[k] for k in OrganizationSummary.model_fields}
    return _page([item], page, per_page)


@hsds.get("/organizations/{id}", response_model=OrganizationWithServices, responses=NOT_FOUND)
async def organization(id: UUID, doc: Doc) -> dict[str, Any]:
    if doc["organization"]["id"] != str(id):
        raise Refused("not_found", "There is no organization with this id.", "id", "not_found")
    return {**doc["organization"], "services": [summary(s) for s in doc["services"]]}


def make_router(_rt: object = None) -> APIRouter:
    """Deprecated: the directory's routes are module-level (`hsds`); kept for callers that still
    build an app from it (tests/unit/test_contract_docs.py)."""
    return hsds


GroupsWriter = Annotated[Staff | None, Depends(staff_or_token("groups-write", "coordinator"))]
TriageReader = Annotated[Staff | None, Depends(staff_or_token("triage-read", "teamlid"))]


class TopicOut(BaseModel):
    code: str
    nl: str
    en: str


class StatusIn(BaseModel):
    status: Literal["active", "paused", "left"]


class BuddySignal(BaseModel):
    topic: str | None
    municipality: str | None
    waiting: int
    since: datetime


@router.get("/api/v1/topics", response_model=list[TopicOut], tags=["public"])
async def list_topics() -> list[TopicOut]:
    return [TopicOut(code=t.code, nl=t.nl, en=t.en) for t in taxonomy.topics()]


@router.post("/api/v1/groups/{group_id}/status", tags=["staff"], status_code=204)
async def set_status(
    group_id: Annotated[str, PathParam(max_length=200, pattern=r"^[^\x00-\x1f]+$")],
    body: StatusIn,
    db: Db,
    person: GroupsWriter,
    request: Request,
) -> None:
    if not await groups.change_status(db, group_id, body.status, "team"):
        raise Refused("not_found", "There is no group with this id.", "group_id", "not_found")
    # Attributed: to the person, or to the machine client as token.<name> (as notify does).
    actor = person.staff_id if person else runtime(request).machine_actor(request)
    if actor is not None:
        await outbox.add(db, acted(actor, "group_status", group_id=group_id))


@router.get(
    "/api/v1/triage",
    tags=["staff"],
    response_model=None,
    responses={200: {"model": list[TriageItem]}},
)
async def triage(db: Db, _reader: TriageReader) -> list[dict]:
    return await store.triage_queue(db)


@router.get("/api/v1/buddy-signals", response_model=list[BuddySignal], tags=["staff"])
async def buddy_signals(db: Db, _reader: TriageReader) -> list[BuddySignal]:
    return [BuddySignal(**s) for s in await store.buddy_signals(db)]
