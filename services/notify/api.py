"""Staff API for contact persons' delivery addresses: write in full, read back only masked.

A change of address waits for the new address to confirm it (services/notify/addresses.py):
PUT then answers 200 with `pending: true` and the addresses still in effect (masked), the new
ones as `pending_email`/`pending_mobile`; a first address, or a change between addresses
already stored, answers 200 with `pending: false` as before (DESIGN §6: the body only grew)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from pydantic import BaseModel, ConfigDict, field_validator

from contracts.events import CODE_PATTERN
from opendeur import web
from opendeur.errors import Refused
from opendeur.staff import Staff
from services.notify import address_mail, changes, pending, store
from services.notify.addresses import Wanted
from services.notify.channels import one_mailbox
from services.notify.deps import Envelope

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MOBILE = re.compile(r"^\+?[0-9]{8,15}$")
CONTACT_ID = re.compile(CODE_PATTERN)

router = APIRouter(route_class=web.StaffFirstRoute, tags=["staff"])
# Coordinators (signed in at intake) and machine clients with the contacts-write scope only.
Writer = Annotated[Staff | None, Depends(web.staff_or_token("contacts-write", "coordinator"))]


def clean_email(v: str | None) -> str | None:
    if v is None or not v.strip():
        return None
    v = v.strip()
    # one_mailbox: a local part a mail header would read as something else ("a:b;", "a,b",
    # "a<b>") could never be delivered; refused here rather than failed at every notification.
    if len(v) > 254 or not EMAIL.match(v) or not one_mailbox(v):
        raise ValueError("not an e-mail address")
    return v


def clean_mobile(v: str | None) -> str | None:
    if v is None or not v.strip():
        return None
    digits = re.sub(r"[\s().-]", "", v)
    if not MOBILE.match(digits):
        raise ValueError("not a mobile number")
    return digits


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    email: str | None = None
    mobile: str | None = None
    channel: Literal["email", "sms"] = "email"
    language: Literal["nl", "en"] = "nl"

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return clean_email(v)

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, v: str | None) -> str | None:
        return clean_mobile(v)

    def wanted(self) -> Wanted:
        return Wanted(self.email, self.mobile, self.channel, self.language)


class ContactOut(BaseModel):
    contact_id: str
    channel: str
    language: str
    email: str | None
    mobile: str | None
    # A change waiting for the new address to confirm it; until then the above stay in effect.
    pending: bool = False
    pending_email: str | None = None
    pending_mobile: str | None = None


def out(a: store.Address, waiting: Wanted | None) -> ContactOut:
    return ContactOut(
        contact_id=a.contact_id,
        channel=a.channel,
        language=a.language,
        email=store.mask_email(a.email),
        mobile=store.mask_mobile(a.mobile),
        pending=waiting is not None,
        pending_email=store.mask_email(waiting.email) if waiting else None,
        pending_mobile=store.mask_mobile(waiting.mobile) if waiting else None,
    )


def check_id(contact_id: str) -> None:
    if not CONTACT_ID.match(contact_id):
        raise Refused("invalid_value", "This is not a contact id.", "contact_id")


def check_complete(wanted: Wanted) -> None:
    field = changes.missing(wanted)
    if field == "email":
        raise Refused("missing_field", "E-mail is the chosen channel.", "email")
    if field == "mobile":
        raise Refused("missing_field", "SMS is the chosen channel.", "mobile")


@router.put(
    "/api/v1/contacts/{contact_id}",
    response_model=ContactOut,
    response_description="The addresses in effect; with `pending: true` a new address was "
    "stored as pending until it confirms the change, and notifications go to the addresses "
    "shown until then",
)
async def put_contact(
    request: Request,
    contact_id: str,
    body: ContactIn,
    person: Writer,
    background: BackgroundTasks,
    envelope: Envelope,
    settings: web.SettingsDep,
    db: web.Db,
) -> ContactOut:
    check_id(contact_id)
    wanted = body.wanted()
    check_complete(wanted)
    # Who asked: the coordinator, or the machine client by its token's name (both in the trail).
    actor = person.staff_id if person else web.runtime(request).machine_actor(request)
    result = await changes.change(db, envelope, settings, contact_id, wanted, actor)
    if result.waiting is not None:
        background.add_task(address_mail.wake)  # after the commit: the mails are queued then
    return out(result.current, result.waiting)


@router.get("/api/v1/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(
    contact_id: str, _person: Writer, envelope: Envelope, db: web.Db
) -> ContactOut:
    check_id(contact_id)
    address = await store.get_contact(db, envelope, contact_id)
    if address is None:
        raise Refused("not_found", "There is no contact with this id.", kind="not_found")
    waiting = await pending.get(db, envelope, contact_id)
    return out(address, waiting.wanted if waiting else None)
