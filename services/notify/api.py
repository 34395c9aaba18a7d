"""Staff API for contact persons' delivery addresses: write in full, read back only masked."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, field_validator

from contracts.events import CODE_PATTERN, StaffActed
from opendeur import outbox, staff
from opendeur.keys import Envelope
from opendeur.runtime import ApiError, Runtime
from services.notify import store

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MOBILE = re.compile(r"^\+?[0-9]{8,15}$")
CONTACT_ID = re.compile(CODE_PATTERN)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    email: str | None = None
    mobile: str | None = None
    channel: Literal["email", "sms"] = "email"
    language: Literal["nl", "en"] = "nl"

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if len(v) > 254 or not EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        digits = re.sub(r"[\s().-]", "", v)
        if not MOBILE.match(digits):
            raise ValueError("not a mobile number")
        return digits


class ContactOut(BaseModel):
    contact_id: str
    channel: str
    language: str
    email: str | None
    mobile: str | None


def _out(a: store.Address) -> ContactOut:
    return ContactOut(
        contact_id=a.contact_id,
        channel=a.channel,
        language=a.language,
        email=store.mask_email(a.email),
        mobile=store.mask_mobile(a.mobile),
    )


def _check_id(contact_id: str) -> None:
    if not CONTACT_ID.match(contact_id):
        raise ApiError(422, "invalid_value", "This is not a contact id.", "contact_id")


def install(app: FastAPI, rt: Runtime) -> None:
    envelope = Envelope.for_service(rt.settings, "notify")
    # Addresses are a coordinator's (signed in at intake, opendeur/staff.py) or a machine
    # client's with the contacts-write scope; the read-only admin token changes nothing here.
    staff.install(rt, app)

    @app.put("/api/v1/contacts/{contact_id}", response_model=ContactOut, tags=["staff"])
    async def put_contact(contact_id: str, body: ContactIn, request: Request) -> ContactOut:
        person = rt.require(request, "contacts-write", "coordinator")
        _check_id(contact_id)
        if body.channel == "email" and not body.email:
            raise ApiError(422, "missing_field", "E-mail is the chosen channel.", "email")
        if body.channel == "sms" and not body.mobile:
            raise ApiError(422, "missing_field", "SMS is the chosen channel.", "mobile")
        async with rt.sessions() as session, session.begin():
            existing = await store.get_contact(session, envelope, contact_id)
            address = store.Address(
                contact_id=contact_id,
                email=body.email,
                mobile=body.mobile,
                name=existing.name if existing else None,
                channel=body.channel,
                language=body.language,
            )
            await store.upsert_contact(session, envelope, address)
            if person is not None:  # who changed it, never to what
                await outbox.add(
                    session,
                    StaffActed(
                        source="notify",
                        staff_id=person.staff_id,
                        action="address_change",
                        contact_id=contact_id,
                    ),
                )
        if person is not None:
            outbox.wake_relay()
        return _out(address)

    @app.get("/api/v1/contacts/{contact_id}", response_model=ContactOut, tags=["staff"])
    async def get_contact(contact_id: str, request: Request) -> ContactOut:
        rt.require(request, "contacts-write", "coordinator")
        _check_id(contact_id)
        async with rt.sessions() as session:
            address = await store.get_contact(session, envelope, contact_id)
        if address is None:
            raise ApiError(404, "not_found", "There is no contact with this id.")
        return _out(address)
