"""Re-wrapping intake's data keys under the current master key (`opendeur keys rotate`).

Only the wrapped per-question keys change; the encrypted phone numbers and stories stay as they
are, because the data keys themselves do not change. Each batch is its own short transaction that
locks its rows with FOR UPDATE SKIP LOCKED, so the running service keeps reading and writing."""

from __future__ import annotations

from sqlalchemy import and_, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.keys import Envelope, KeyringError
from opendeur.rotation import RewrapResult
from services.intake.store import question_pii

_pk = question_pii.c.question_id
_wrapped = question_pii.c.wrapped_key


def _not_current(envelope: Envelope):
    prefix = envelope.current_prefix
    return func.substring(_wrapped, 1, len(prefix)) != literal(prefix)


async def pending(session: AsyncSession, envelope: Envelope) -> int:
    """How many data keys are not yet wrapped under the current master key."""
    stmt = select(func.count()).select_from(question_pii).where(_not_current(envelope))
    return int((await session.execute(stmt)).scalar_one())


async def rewrap_batch(
    session: AsyncSession, envelope: Envelope, after: object | None, limit: int
) -> tuple[int, int, object | None]:
    """One batch in the caller's transaction: (re-wrapped, unreadable, last key seen)."""
    cond = _not_current(envelope)
    if after is not None:
        cond = and_(cond, _pk > after)
    rows = (
        await session.execute(
            select(_pk, _wrapped)
            .where(cond)
            .order_by(_pk)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    done = unreadable = 0
    for qid, wrapped in rows:
        try:
            new = envelope.rewrap(wrapped)
        except KeyringError:
            unreadable += 1
            continue
        await session.execute(
            update(question_pii).where(_pk == qid, _wrapped == wrapped).values(wrapped_key=new)
        )
        done += 1
    return done, unreadable, (rows[-1][0] if rows else None)


async def rewrap_all(
    sessions: async_sessionmaker, envelope: Envelope, batch_size: int = 100
) -> RewrapResult:
    from opendeur.rotation import rewrap_in_batches

    return await rewrap_in_batches(sessions, envelope, rewrap_batch, pending, batch_size)
