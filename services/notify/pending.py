"""Persistence of address changes waiting for confirmation, and of the two mails each one sends.

Everything personal is sealed like a contact's own addresses (opendeur/keys.py Envelope, bound to
the contact id and the field); a confirmed change keeps only its dates and who asked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opendeur.keys import UNKNOWN_KEY_WAIT_S, UNREADABLE, Envelope, waits_for_key
from opendeur.logging import get_logger
from services.notify import store
from services.notify.addresses import Wanted
from services.notify.channels import Rendered

log = get_logger(component="notify")


@dataclass(frozen=True)
class Pending:
    contact_id: str
    wanted: Wanted
    nonce: str
    requested_by: str | None
    requested_at: datetime
    expires_at: datetime


async def request(
    session: AsyncSession,
    envelope: Envelope,
    contact_id: str,
    wanted: Wanted,
    *,
    nonce: str,
    requested_by: str | None,
    expires_at: datetime,
) -> None:
    """Store (or replace) the contact's pending change."""
    key, wrapped = envelope.new_data_key()

    def seal(field: str, value: str | None) -> bytes | None:
        return None if value is None else Envelope.seal(key, value, f"{contact_id}:pending:{field}")

    await session.execute(
        text(
            """
            insert into address_changes (contact_id, wrapped_key, email, mobile, channel,
                language, nonce, requested_by, requested_at, expires_at, status, confirmed_at)
            values (:c, :k, :e, :m, :ch, :l, :n, :by, now(), :x, 'pending', null)
            on conflict (contact_id) do update set wrapped_key = excluded.wrapped_key,
                email = excluded.email, mobile = excluded.mobile, channel = excluded.channel,
                language = excluded.language, nonce = excluded.nonce,
                requested_by = excluded.requested_by, requested_at = now(),
                expires_at = excluded.expires_at, status = 'pending', confirmed_at = null
            """
        ),
        {
            "c": contact_id,
            "k": wrapped,
            "e": seal("email", wanted.email),
            "m": seal("mobile", wanted.mobile),
            "ch": wanted.channel,
            "l": wanted.language,
            "n": nonce,
            "by": requested_by,
            "x": expires_at,
        },
    )


async def cancel(session: AsyncSession, contact_id: str) -> None:
    """A change applied at once (or a first address) makes a pending one moot."""
    await session.execute(
        text("delete from address_changes where contact_id = :c and status = 'pending'"),
        {"c": contact_id},
    )


def _pending(envelope: Envelope, row: Any) -> Pending:
    cid = row["contact_id"]
    key = envelope.unwrap(row["wrapped_key"])

    def unseal(field: str) -> str | None:
        value = row[field]
        return None if value is None else Envelope.open(key, value, f"{cid}:pending:{field}")

    return Pending(
        cid,
        Wanted(unseal("email"), unseal("mobile"), row["channel"], row["language"]),
        row["nonce"],
        row["requested_by"],
        row["requested_at"],
        row["expires_at"],
    )


async def get(session: AsyncSession, envelope: Envelope, contact_id: str) -> Pending | None:
    row = (
        (
            await session.execute(
                text("select * from address_changes where contact_id = :c and status = 'pending'"),
                {"c": contact_id},
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _pending(envelope, row)


async def all_pending(session: AsyncSession, envelope: Envelope) -> dict[str, Pending]:
    rows = (
        await session.execute(text("select * from address_changes where status = 'pending'"))
    ).mappings()
    return {row["contact_id"]: _pending(envelope, row) for row in rows}


Outcome = Literal["confirmed", "already", "replaced", "expired", "unknown"]


async def confirm(
    session: AsyncSession, envelope: Envelope, contact_id: str, nonce: str
) -> tuple[Outcome, Pending | None]:
    """Apply the pending change the link names: its addresses become the contact's."""
    row = (
        (
            await session.execute(
                text(
                    "select *, expires_at < now() as expired from address_changes "
                    "where contact_id = :c for update"
                ),
                {"c": contact_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return "unknown", None
    if row["nonce"] != nonce:
        return "replaced", None
    if row["status"] == "confirmed":
        return "already", None
    if row["expired"]:
        return "expired", None
    change = _pending(envelope, row)
    existing = await store.get_contact(session, envelope, contact_id)
    await store.upsert_contact(
        session,
        envelope,
        store.Address(
            contact_id=contact_id,
            email=change.wanted.email,
            mobile=change.wanted.mobile,
            name=existing.name if existing else None,
            channel=change.wanted.channel,
            language=change.wanted.language,
        ),
    )
    await session.execute(
        text(
            "update address_changes set status = 'confirmed', confirmed_at = now(), "
            "wrapped_key = null, email = null, mobile = null where contact_id = :c"
        ),
        {"c": contact_id},
    )
    return "confirmed", change


async def state(session: AsyncSession, contact_id: str, nonce: str) -> tuple[Outcome, str | None]:
    """What a link's change is now, and its language, without changing anything (the page
    before the button): "confirmed" here means it can still be confirmed."""
    row = (
        await session.execute(
            text(
                "select nonce, status, language, expires_at < now() as expired "
                "from address_changes where contact_id = :c"
            ),
            {"c": contact_id},
        )
    ).first()
    if row is None:
        return "unknown", None
    if row.nonce != nonce:
        return "replaced", None
    if row.status == "confirmed":
        return "already", row.language
    return ("expired" if row.expired else "confirmed"), row.language


async def queue_mail(
    session: AsyncSession,
    envelope: Envelope,
    contact_id: str,
    kind: Literal["confirm", "notice"],
    channel: Literal["email", "sms"],
    recipient: str,
    rendered: Rendered,
) -> None:
    key, wrapped = envelope.new_data_key()
    content = json.dumps({"s": rendered.subject, "t": rendered.text, "h": rendered.html})
    await session.execute(
        text(
            "insert into address_mails (contact_id, kind, channel, wrapped_key, recipient, content) "
            "values (:c, :k, :ch, :w, :r, :m)"
        ),
        {
            "c": contact_id,
            "k": kind,
            "ch": channel,
            "w": wrapped,
            "r": Envelope.seal(key, recipient, f"{contact_id}:mail:recipient"),
            "m": Envelope.seal(key, content, f"{contact_id}:mail:content"),
        },
    )


@dataclass(frozen=True)
class Mail:
    id: int
    contact_id: str
    kind: str
    channel: Literal["email", "sms"]
    to: str
    rendered: Rendered
    attempts: int


# A send that did not finish within this many seconds (the process died) is tried again: a
# second confirmation or announcement is harmless, a lost one is not.
STUCK_S = 300


async def claim_mails(session: AsyncSession, envelope: Envelope, limit: int) -> list[Mail]:
    rows = (
        await session.execute(
            text(
                """
                update address_mails m set status = 'sending', attempts = m.attempts + 1,
                       next_attempt_at = now() + make_interval(secs => :stuck)
                from (
                    select id from address_mails
                    where status in ('queued', 'sending') and next_attempt_at <= now()
                    order by next_attempt_at limit :n for update skip locked
                ) due
                where m.id = due.id
                returning m.id, m.contact_id, m.kind, m.channel, m.wrapped_key, m.recipient,
                          m.content, m.attempts, m.created_at
                """
            ),
            {"n": limit, "stuck": STUCK_S},
        )
    ).mappings()
    out, later, unreadable = [], [], []
    for r in rows:
        cid = r["contact_id"]
        try:
            key = envelope.unwrap(r["wrapped_key"])
            content = json.loads(Envelope.open(key, r["content"], f"{cid}:mail:content"))
            recipient = Envelope.open(key, r["recipient"], f"{cid}:mail:recipient")
        except (*UNREADABLE, KeyError, TypeError) as exc:  # waits or fails on its own
            waits = waits_for_key(exc, r["created_at"])
            (later if waits else unreadable).append(r["id"])
            log.error(
                "address_mail_unreadable",
                mail_id=r["id"],
                error=type(exc).__name__,
                retry=waits,
            )
            continue
        out.append(
            Mail(
                r["id"],
                cid,
                r["kind"],
                r["channel"],
                recipient,
                Rendered(content["s"], content["t"], content["h"]),
                r["attempts"],
            )
        )
    for mail_id in later:
        await session.execute(
            text(
                "update address_mails set status = 'queued', attempts = attempts - 1, "
                "last_error = 'unknown_key', "
                "next_attempt_at = now() + make_interval(secs => :s) where id = :i"
            ),
            {"i": mail_id, "s": UNKNOWN_KEY_WAIT_S},  # a look, not a try: attempts as before
        )
    for mail_id in unreadable:
        await mail_failed(session, mail_id, "unreadable")
    return out


async def mail_sent(session: Any, mail_id: int) -> None:
    """Sent: what was personal in it goes."""
    await session.execute(
        text(
            "update address_mails set status = 'sent', sent_at = now(), wrapped_key = null, "
            "recipient = null, content = null, last_error = null where id = :i"
        ),
        {"i": mail_id},
    )


async def mail_retry(session: Any, mail_id: int, seconds: float, error_code: str) -> None:
    await session.execute(
        text(
            "update address_mails set status = 'queued', last_error = :e, "
            "next_attempt_at = now() + make_interval(secs => :s) where id = :i"
        ),
        {"i": mail_id, "s": seconds, "e": error_code},
    )


async def mail_failed(session: Any, mail_id: int, error_code: str) -> None:
    await session.execute(
        text(
            "update address_mails set status = 'failed', last_error = :e, wrapped_key = null, "
            "recipient = null, content = null where id = :i"
        ),
        {"i": mail_id, "e": error_code},
    )


async def mail_states(session: AsyncSession, contact_id: str) -> dict[str, str]:
    """kind → status of the latest mail of each kind for this contact (for the coordinator)."""
    rows = await session.execute(
        text(
            "select distinct on (kind) kind, status from address_mails where contact_id = :c "
            "order by kind, id desc"
        ),
        {"c": contact_id},
    )
    return {r.kind: r.status for r in rows}
