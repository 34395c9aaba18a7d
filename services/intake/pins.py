"""A contact person's optional PIN and the watch on callback views (forged links): intake only."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import PiiAccessAlerted
from opendeur import outbox
from opendeur.keys import purpose_key
from opendeur.settings import Settings

PIN = re.compile(r"^[0-9]{4,8}$")
MAX_FAILURES = 5
WINDOW = timedelta(hours=1)
# The proof of a PIN entered on this device: a signed cookie for the callback pages, this long.
COOKIE = "od_pin"
COOKIE_TTL = 30 * 60
HASHER = PasswordHasher()

ALERTS = Counter(
    "opendeur_pii_access_alerts_total",
    "Contacts through whom more distinct questions were opened in an hour than allowed",
)


class PinError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # "pin_format" | "pin_mismatch" | "pin_wrong" | "pin_locked"


@dataclass(frozen=True)
class Guard:
    has_pin: bool
    locked: bool
    version: int  # changes whenever the PIN is set or reset: older cookies stop counting


def cookie_codec(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(purpose_key(settings, "thanks-cookie").hex(), salt="opendeur:pin")


def cookie_value(settings: Settings, contact_id: str, guard: Guard) -> str:
    return cookie_codec(settings).dumps([contact_id, guard.version])


def cookie_valid(settings: Settings, value: str | None, contact_id: str, guard: Guard) -> bool:
    if not value:
        return False
    try:
        got = cookie_codec(settings).loads(value, max_age=COOKIE_TTL)
    except BadSignature:
        return False
    return got == [contact_id, guard.version]


def _version(at: datetime | None) -> int:
    return int(at.timestamp() * 1000) if at else 0


async def guard(session: AsyncSession, contact_id: str) -> Guard:
    row = (
        await session.execute(
            text(
                "select pin_hash, pin_set_at, pin_locked_at from contact_guards "
                "where contact_id = :c"
            ),
            {"c": contact_id},
        )
    ).first()
    if row is None or row.pin_hash is None:
        return Guard(False, False, 0)
    return Guard(True, row.pin_locked_at is not None, _version(row.pin_set_at))


async def _locked_row(session: AsyncSession, contact_id: str):
    """The contact's guard row, created if need be and locked: one decision at a time per
    contact (PIN tries and views counted against the limit)."""
    await session.execute(
        text("insert into contact_guards (contact_id) values (:c) on conflict do nothing"),
        {"c": contact_id},
    )
    return (
        await session.execute(
            text("select * from contact_guards where contact_id = :c for update"),
            {"c": contact_id},
        )
    ).one()


async def set_pin(
    session: AsyncSession, contact_id: str, pin: str, repeat: str, current: str, now: datetime
) -> Guard:
    """Set (or change, with the current PIN) a contact's PIN. Raises PinError."""
    if not PIN.match(pin):
        raise PinError("pin_format")
    if pin != repeat:
        raise PinError("pin_mismatch")
    row = await _locked_row(session, contact_id)
    if row.pin_hash is not None:
        await _check(session, row, current, now)
    hashed = await asyncio.to_thread(HASHER.hash, pin)
    await session.execute(
        text(
            "update contact_guards set pin_hash = :h, pin_set_at = :now, pin_failures = 0, "
            "pin_locked_at = null where contact_id = :c"
        ),
        {"h": hashed, "now": now, "c": contact_id},
    )
    return Guard(True, False, _version(now))


async def _check(session: AsyncSession, row, pin: str, now: datetime) -> None:
    if row.pin_locked_at is not None:
        raise PinError("pin_locked")
    if not PIN.match(pin):
        raise PinError("pin_wrong")  # cannot be the PIN: costs no try
    try:
        ok = await asyncio.to_thread(HASHER.verify, row.pin_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if ok:
        await session.execute(
            text("update contact_guards set pin_failures = 0 where contact_id = :c"),
            {"c": row.contact_id},
        )
        return
    failures = row.pin_failures + 1
    await session.execute(
        text(
            "update contact_guards set pin_failures = :f, pin_locked_at = :locked "
            "where contact_id = :c"
        ),
        {"f": failures, "locked": now if failures >= MAX_FAILURES else None, "c": row.contact_id},
    )
    raise PinError("pin_locked" if failures >= MAX_FAILURES else "pin_wrong")


async def check_pin(session: AsyncSession, contact_id: str, pin: str, now: datetime) -> Guard:
    """The PIN entered on a callback page. Raises PinError; a wrong try counts (and is kept
    when the caller commits, so the caller commits on PinError too)."""
    row = await _locked_row(session, contact_id)
    if row.pin_hash is None:
        return Guard(False, False, 0)
    if row.pin_locked_at is None and not PIN.match(pin):
        raise PinError("pin_format")  # a typo of the wrong shape costs no try
    await _check(session, row, pin, now)
    return Guard(True, False, _version(row.pin_set_at))


async def reset(session: AsyncSession, contact_id: str) -> bool:
    """The team's reset: no PIN, no lock-out. True if there was anything to reset."""
    done = await session.execute(
        text(
            "update contact_guards set pin_hash = null, pin_set_at = null, pin_failures = 0, "
            "pin_locked_at = null where contact_id = :c and pin_hash is not null"
        ),
        {"c": contact_id},
    )
    return bool(done.rowcount)


async def clear_hold(session: AsyncSession, contact_id: str) -> bool:
    """The team's all-clear after an alert: views through this contact count afresh."""
    done = await session.execute(
        text(
            "update contact_guards set held_at = null where contact_id = :c and held_at is not null"
        ),
        {"c": contact_id},
    )
    await session.execute(
        text("delete from contact_views where contact_id = :c"), {"c": contact_id}
    )
    return bool(done.rowcount)


async def admit_view(
    session: AsyncSession, contact_id: str, question_id: UUID, now: datetime, limit: int
) -> str:
    """Count a view of a question's personal data through this contact: "ok" (show it),
    "held" (the contact is held since an alert) or "alerted" (this would be one distinct
    question more than `limit` within the hour: the hold starts and a PiiAccessAlerted goes
    into the outbox; the caller counts the metric once that is committed)."""
    row = await _locked_row(session, contact_id)
    await session.execute(
        text("delete from contact_views where viewed_at < :since"), {"since": now - WINDOW}
    )
    # Kept no longer than needed: a contact without PIN, hold or failed tries and without a
    # view in the window has no row (locked rows are another decision's: skipped).
    await session.execute(
        text(
            "delete from contact_guards where contact_id in (select g.contact_id "
            "from contact_guards g where g.contact_id <> :c and g.pin_hash is null "
            "and g.held_at is null and g.pin_failures = 0 and not exists "
            "(select 1 from contact_views v where v.contact_id = g.contact_id) "
            "for update skip locked)"
        ),
        {"c": contact_id},
    )
    seen = (
        await session.execute(
            text(
                "select count(*) as n, min(viewed_at) as first, "
                "bool_or(question_id = :q) as again from contact_views where contact_id = :c"
            ),
            {"c": contact_id, "q": question_id},
        )
    ).one()
    if row.held_at is not None:
        return "held"
    if not seen.again and seen.n >= limit:
        await session.execute(
            text("update contact_guards set held_at = :now where contact_id = :c"),
            {"now": now, "c": contact_id},
        )
        await outbox.add(
            session,
            PiiAccessAlerted(
                contact_id=contact_id,
                window_start=seen.first or now,
                distinct_questions=seen.n + 1,
            ),
        )
        return "alerted"
    await session.execute(
        text(
            "insert into contact_views (contact_id, question_id, viewed_at) values (:c, :q, :now) "
            "on conflict (contact_id, question_id) do update set viewed_at = excluded.viewed_at"
        ),
        {"c": contact_id, "q": question_id, "now": now},
    )
    return "ok"
