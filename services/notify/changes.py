"""A contact person's address change, for the staff API and the coordinator's page alike: applied
at once, or held until the new address confirms (the rule: services/notify/addresses.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import NEW_ADDRESS, StaffActed
from opendeur import outbox
from opendeur.keys import Envelope
from opendeur.settings import Settings
from services.notify import addresses, messages, pending, store
from services.notify.addresses import Wanted


@dataclass(frozen=True)
class Result:
    """The contact's addresses in effect now, and the change waiting for confirmation (if any)."""

    current: store.Address
    waiting: Wanted | None


def missing(wanted: Wanted) -> str | None:
    """The field a request lacks for its channel (None: complete)."""
    if wanted.channel == "email" and not wanted.email:
        return "email"
    if wanted.channel == "sms" and not wanted.mobile:
        return "mobile"
    return None


def confirm_url(settings: Settings, contact_id: str, nonce: str, until: datetime) -> str:
    token = addresses.sign(settings, contact_id, nonce, int(until.timestamp()))
    return f"{settings.base_url('notify')}/contacts/confirm/{token}"


async def change(
    session: AsyncSession,
    envelope: Envelope,
    settings: Settings,
    contact_id: str,
    wanted: Wanted,
    staff_id: str | None,
) -> Result:
    """In the caller's transaction: write the address, or store the change as pending and queue
    the confirmation (new address) and the announcement (old address). `staff_id` is who asked
    (None: a machine client), recorded as staff.acted address_change, never to what."""
    existing = await store.get_contact(session, envelope, contact_id)
    decision = addresses.decide(
        existing.email if existing else None, existing.mobile if existing else None, wanted
    )
    if staff_id is not None:
        await outbox.add(
            session,
            StaffActed(
                source="notify", staff_id=staff_id, action="address_change", contact_id=contact_id
            ),
        )
    if decision.apply:
        address = store.Address(
            contact_id=contact_id,
            email=wanted.email,
            mobile=wanted.mobile,
            name=existing.name if existing else None,
            channel=wanted.channel,
            language=wanted.language,
        )
        await store.upsert_contact(session, envelope, address)
        await pending.cancel(session, contact_id)
        return Result(address, None)
    assert existing is not None and decision.confirm_to and decision.confirm_channel
    nonce = addresses.new_nonce()
    until = datetime.now(UTC) + addresses.CONFIRM_TTL
    await pending.request(
        session,
        envelope,
        contact_id,
        wanted,
        nonce=nonce,
        requested_by=staff_id,
        expires_at=until,
    )
    link = confirm_url(settings, contact_id, nonce, until)
    await pending.queue_mail(
        session,
        envelope,
        contact_id,
        "confirm",
        decision.confirm_channel,
        decision.confirm_to,
        messages.address_confirm(
            lang=wanted.language, link=link, until=until, channel=decision.confirm_channel
        ),
    )
    old_channel, old_to = old_address(existing)
    await pending.queue_mail(
        session,
        envelope,
        contact_id,
        "notice",
        old_channel,
        old_to,
        messages.address_notice(
            lang=existing.language,
            channel=old_channel,
            phone=settings.network_phone,
            email=settings.network_email or settings.team_email,
        ),
    )
    return Result(existing, wanted)


def old_address(a: store.Address) -> tuple[addresses.Channel, str]:
    """Where the contact's notifications go now (the preferred channel when it has an address)."""
    if a.channel == "sms" and a.mobile:
        return "sms", a.mobile
    if a.email:
        return "email", a.email
    assert a.mobile
    return "sms", a.mobile


async def confirm(
    session: AsyncSession, envelope: Envelope, contact_id: str, nonce: str
) -> pending.Outcome:
    """The new address confirmed: it takes effect, and the trail records that its owner did
    (NEW_ADDRESS, not a staff member) and who had asked for it (requested_by)."""
    outcome, change_ = await pending.confirm(session, envelope, contact_id, nonce)
    if outcome == "confirmed" and change_ is not None and change_.requested_by:
        await outbox.add(
            session,
            StaffActed(
                source="notify",
                staff_id=NEW_ADDRESS,
                action="address_confirmed",
                contact_id=contact_id,
                requested_by=change_.requested_by,
            ),
        )
    return outcome
