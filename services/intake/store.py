"""Intake persistence: questions and their personal data, which only ever exists encrypted here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from opendeur import outbox
from opendeur.keys import Envelope

metadata = MetaData()

questions = Table(
    "questions",
    metadata,
    Column("question_id", PgUUID(as_uuid=True), primary_key=True),
    Column("reference", Text, nullable=False),
    Column("withdraw_token_hash", LargeBinary, nullable=False),
    Column("channel", Text, nullable=False),
    Column("topic", Text),
    Column("pc4", Text),
    Column("language", Text, nullable=False),
    Column("consent_version", Text, nullable=False),
    Column("consent_at", DateTime(timezone=True), nullable=False),
    Column("consent_share", Boolean, nullable=False),
    Column("consent_statistics", Boolean, nullable=False),
    Column("professional_help_advised", Boolean, nullable=False),
    Column("wants_to_start_group", Boolean, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("respond_before", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("contact_id", Text),
    Column("group_id", Text),
    Column("outcome", Text),
    Column("outcome_at", DateTime(timezone=True)),
    Column("erase_after", DateTime(timezone=True)),
    Column("erased_at", DateTime(timezone=True)),
    Column("erase_reason", Text),
)
question_pii = Table(
    "question_pii",
    metadata,
    Column(
        "question_id", PgUUID(as_uuid=True), ForeignKey("questions.question_id"), primary_key=True
    ),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("phone", LargeBinary, nullable=False),
    Column("story", LargeBinary),
    Column("call_times", LargeBinary),
)


@dataclass(frozen=True)
class Personal:
    phone: str
    story: str | None
    call_times: str | None


_Q_COLS = [c.name for c in questions.columns]
_PII_COLS = ("wrapped_key", "phone", "story", "call_times")
# The question, its encrypted data and the outbox row of its event: one statement, atomic on
# its own, so the POST needs one database round trip (no BEGIN/COMMIT).
_ACCEPT_SQL = text(
    "with q as (insert into questions ({qc}) values ({qv})), "  # noqa: S608 (column names)
    "p as (insert into question_pii (question_id, {pc}) values (:question_id, {pv})) {ob}".format(
        qc=", ".join(_Q_COLS),
        qv=", ".join(f":{c}" for c in _Q_COLS),
        pc=", ".join(_PII_COLS),
        pv=", ".join(f":pii_{c}" for c in _PII_COLS),
        ob=outbox.INSERT_SQL,
    )
)


async def accept(conn: Any, envelope: Envelope, row: dict, personal: Personal, event: dict) -> None:
    """The question, its data encrypted with a fresh per-question key, and the outbox row of its
    event (`outbox.params`) in one statement."""
    qid: UUID = row["question_id"]
    key, wrapped = envelope.new_data_key()

    def seal(field: str, value: str | None) -> bytes | None:
        return None if value is None else Envelope.seal(key, value, f"{qid}:{field}")

    values = dict.fromkeys(_Q_COLS)
    values.update(row)
    values.update(
        pii_wrapped_key=wrapped,
        pii_phone=seal("phone", personal.phone),
        pii_story=seal("story", personal.story),
        pii_call_times=seal("call_times", personal.call_times),
        **event,
    )
    await conn.execute(_ACCEPT_SQL, values)


async def claim_and_assign(
    conn: Any,
    consumer: str,
    event_id: UUID,
    qid: UUID,
    *,
    status: str,
    contact_id: str | None,
    group_id: str | None,
) -> None:
    """The inbox claim and the question's assignment in one statement (nothing happens on a
    redelivery); a question erased or done keeps its state."""
    await conn.execute(
        text(
            """
            with claimed as (
                insert into inbox (consumer, event_id) values (:consumer, :event_id)
                on conflict do nothing returning 1
            )
            update questions set status = :status, contact_id = :contact_id,
                   group_id = :group_id
            where question_id = :q and erased_at is null and status not in ('done')
              and exists (select 1 from claimed)
            """
        ),
        {
            "consumer": consumer,
            "event_id": event_id,
            "q": qid,
            "status": status,
            "contact_id": contact_id,
            "group_id": group_id,
        },
    )


async def get_question(session: AsyncSession, qid: UUID, *, lock: bool = False) -> dict | None:
    stmt = select(questions).where(questions.c.question_id == qid)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def read_personal(session: AsyncSession, envelope: Envelope, qid: UUID) -> Personal | None:
    row = (
        (await session.execute(select(question_pii).where(question_pii.c.question_id == qid)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    key = envelope.unwrap(row["wrapped_key"])

    def unseal(field: str) -> str | None:
        value = row[field]
        return None if value is None else Envelope.open(key, value, f"{qid}:{field}")

    return Personal(
        phone=unseal("phone") or "", story=unseal("story"), call_times=unseal("call_times")
    )


async def erase(session: AsyncSession, qid: UUID, reason: str, now: datetime) -> bool:
    """Destroy the data key and the encrypted rows; keep only the non-personal shell."""
    deleted = await session.execute(delete(question_pii).where(question_pii.c.question_id == qid))
    await session.execute(
        update(questions)
        .where(questions.c.question_id == qid, questions.c.erased_at.is_(None))
        .values(erased_at=now, erase_reason=reason, status="erased", withdraw_token_hash=b"")
    )
    return deleted.rowcount > 0


async def due_for_erasure(session: AsyncSession, now: datetime, limit: int = 200) -> list[UUID]:
    rows = await session.execute(
        select(questions.c.question_id)
        .where(questions.c.erased_at.is_(None), questions.c.erase_after <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [r[0] for r in rows]
