"""Notify persistence: delivery addresses encrypted at rest, and the once-only notification log."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opendeur.keys import Envelope


@dataclass(frozen=True)
class Address:
    contact_id: str
    email: str | None
    mobile: str | None
    name: str | None
    channel: str
    language: str


async def upsert_contact(session: AsyncSession, envelope: Envelope, a: Address) -> None:
    key, wrapped = envelope.new_data_key()

    def seal(field: str, value: str | None) -> bytes | None:
        return None if value is None else Envelope.seal(key, value, f"{a.contact_id}:{field}")

    await session.execute(
        text(
            """
            insert into contacts (contact_id, wrapped_key, email, mobile, name, channel, language)
            values (:c, :k, :e, :m, :n, :ch, :l)
            on conflict (contact_id) do update set wrapped_key = excluded.wrapped_key,
                email = excluded.email, mobile = excluded.mobile, name = excluded.name,
                channel = excluded.channel, language = excluded.language, updated_at = now()
            """
        ),
        {
            "c": a.contact_id,
            "k": wrapped,
            "e": seal("email", a.email),
            "m": seal("mobile", a.mobile),
            "n": seal("name", a.name),
            "ch": a.channel,
            "l": a.language,
        },
    )


async def get_contact(session: AsyncSession, envelope: Envelope, contact_id: str) -> Address | None:
    row = (
        (
            await session.execute(
                text("select * from contacts where contact_id = :c"), {"c": contact_id}
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    key = envelope.unwrap(row["wrapped_key"])

    def unseal(field: str) -> str | None:
        return (
            None if row[field] is None else Envelope.open(key, row[field], f"{contact_id}:{field}")
        )

    return Address(
        contact_id,
        unseal("email"),
        unseal("mobile"),
        unseal("name"),
        row["channel"],
        row["language"],
    )


async def claim(session: AsyncSession, qid: UUID, contact_id: str, purpose: str) -> bool:
    """Claim the right to send (question, contact, purpose) once; False if anyone claimed it before."""
    result = await session.execute(
        text(
            "insert into notifications (question_id, contact_id, purpose, status) "
            "values (:q, :c, :p, 'claimed') on conflict do nothing returning 1"
        ),
        {"q": qid, "c": contact_id, "p": purpose},
    )
    return result.first() is not None


async def finish(
    session: AsyncSession,
    qid: UUID,
    contact_id: str,
    purpose: str,
    *,
    status: str,
    channel: str | None,
    attempts: int,
    error_code: str | None = None,
) -> None:
    await session.execute(
        text(
            """
            update notifications set status = :s, channel = :ch, attempts = :a, error_code = :e,
                   sent_at = case when :s = 'sent' then now() else sent_at end
            where question_id = :q and contact_id = :c and purpose = :p
            """
        ),
        {
            "q": qid,
            "c": contact_id,
            "p": purpose,
            "s": status,
            "ch": channel,
            "a": attempts,
            "e": error_code,
        },
    )
