"""An operator's request to offer a dead letter again, written into audit's own hash chain.

Audit publishes nothing (its broker account may read dead letters, never publish an event), so
the request is not a staff.acted.v1 message: audit writes a record of that shape straight into
its chain, with `source` audit and the dead letter's sequence, validated by a model like every
other record. The republishing itself needs the broker's admin account (`opendeur deadletters
replay SEQ`, whose command the console shows beside the request). That command records its
replay the same way, by `cli.` and a keyed pseudonym of the server account that ran it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from nats.js.client import JetStreamContext
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.events import Code, StaffActed
from contracts.streams import EVENT_SUBJECTS
from opendeur.errors import Refused
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from services.audit import deadletters, store


class ReplayAsked(StaffActed):
    """staff.acted.v1 as audit itself records it: an operator asked for a dead letter again."""

    source: Literal["audit"] = "audit"  # type: ignore[assignment]
    action: Literal["deadletter_replay"] = "deadletter_replay"  # type: ignore[assignment]
    deadletter_seq: Annotated[int, Field(ge=1, le=2**63 - 1)]
    deadletter_subject: Code


def check(row: dict[str, Any] | None, seq: int) -> str:
    """The dead letter's event subject, or Refused: gone, or not something that can be offered
    again (not an event subject, or kept without its body)."""
    if row is None:
        raise Refused("not_found", f"There is no stuck message {seq}.", "seq", "not_found")
    subject = row.get("subject")
    if subject not in EVENT_SUBJECTS:
        raise Refused(
            "not_replayable", f"Stuck message {seq} is not an event; it cannot be offered again."
        )
    if row.get("omitted"):
        raise Refused(
            "not_replayable", f"Stuck message {seq} was kept without its content (too big)."
        )
    return str(subject)


async def record(session: AsyncSession, staff_id: str, seq: int, subject: str) -> dict[str, Any]:
    """Append the request to the chain (in the caller's transaction); the record as stored."""
    asked = ReplayAsked(staff_id=staff_id, deadletter_seq=seq, deadletter_subject=subject)
    rec = asked.model_dump(mode="json")
    await store.append(session, [rec])
    return rec


def cli_actor(settings: Settings, os_user: str) -> str:
    """Who replays from the command line: `cli.` and a keyed pseudonym of the server account
    (stable, so an operator recognises her own; the account's name, possibly a person's, never
    goes into a trail that is never rewritten)."""
    return f"cli.{pseudonym(settings, 'cli', os_user)}"


async def replay_recorded(
    js: JetStreamContext, sessions: async_sessionmaker, actor: str, seq: int
) -> str:
    """Record the replay in the chain as the console does, then publish it, in one transaction:
    a replay that cannot be recorded is not published, a refused one records nothing. The
    dead letter's subject; Refused or deadletters.ReplayRefused when it cannot be offered."""
    async with sessions() as session, session.begin():
        subject = check(await deadletters.get_dead(js, seq), seq)
        await record(session, actor, seq, subject)
        await deadletters.replay(js, seq)
    return subject
