"""Re-wrapping notify's data keys (contact persons' addresses) under the current master key.

Only `contacts.wrapped_key` changes: the data keys stay the same, so the encrypted addresses do
too. Each batch is its own short transaction locking its rows with FOR UPDATE SKIP LOCKED, so a
running notify keeps delivering while `opendeur keys rotate` works."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.keys import Envelope, KeyringError
from opendeur.rotation import RewrapResult

_NOT_CURRENT = "substring(wrapped_key from 1 for :n) <> :prefix"


async def pending(session: AsyncSession, envelope: Envelope) -> int:
    """How many contacts' data keys are not yet wrapped under the current master key."""
    prefix = envelope.current_prefix
    result = await session.execute(
        text(f"select count(*) from contacts where {_NOT_CURRENT}"),  # noqa: S608 (a constant)
        {"n": len(prefix), "prefix": prefix},
    )
    return int(result.scalar_one())


async def rewrap_batch(
    session: AsyncSession, envelope: Envelope, after: object | None, limit: int
) -> tuple[int, int, object | None]:
    """One batch in the caller's transaction: (re-wrapped, unreadable, last key seen)."""
    prefix = envelope.current_prefix
    rows = (
        await session.execute(
            text(
                f"""
                select contact_id, wrapped_key from contacts
                where {_NOT_CURRENT} and (cast(:after as text) is null or contact_id > :after)
                order by contact_id
                limit :limit
                for update skip locked
                """  # noqa: S608 (a constant)
            ),
            {"n": len(prefix), "prefix": prefix, "after": after, "limit": limit},
        )
    ).all()
    done = unreadable = 0
    for contact_id, wrapped in rows:
        try:
            new = envelope.rewrap(wrapped)
        except KeyringError:
            unreadable += 1
            continue
        await session.execute(
            text(
                "update contacts set wrapped_key = :new where contact_id = :c and wrapped_key = :old"
            ),
            {"new": new, "c": contact_id, "old": wrapped},
        )
        done += 1
    return done, unreadable, (rows[-1][0] if rows else None)


async def rewrap_all(
    sessions: async_sessionmaker, envelope: Envelope, batch_size: int = 100
) -> RewrapResult:
    from opendeur.rotation import rewrap_in_batches

    return await rewrap_in_batches(sessions, envelope, rewrap_batch, pending, batch_size)
