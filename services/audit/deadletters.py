"""Dead letters: list what consumers gave up on (headers only, never the payload); replay one."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from uuid import uuid4

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.streams import DEADLETTER_STREAM, EVENT_SUBJECTS, EVENTS_STREAM


class ReplayRefused(ValueError):
    """The dead letter cannot be replayed (gone, or its subject is not an event subject)."""


def _header(msg: Any, name: str) -> str | None:
    return (msg.headers or {}).get(name)


async def list_dead(js: JetStreamContext, limit: int = 50) -> list[dict[str, Any]]:
    """The newest dead letters first: time, consumer, reason, original subject and sequence.

    Uses STREAM.MSG.GET only (the audit account's one right on this stream)."""
    state = (await js.stream_info(DEADLETTER_STREAM)).state
    out: list[dict[str, Any]] = []
    seq = int(state.last_seq or 0)
    first = int(state.first_seq or 0)
    while seq >= max(first, 1) and len(out) < limit:
        try:
            msg = await js.get_msg(DEADLETTER_STREAM, seq=seq)
        except NotFoundError:  # purged or deleted: an interior gap
            seq -= 1
            continue
        out.append(_row(msg))
        seq -= 1
    return out


def _row(msg: Any) -> dict[str, Any]:
    return {
        "seq": int(msg.seq),
        "time": msg.time.astimezone(UTC).isoformat() if msg.time else None,
        "consumer": _header(msg, "Opendeur-Consumer"),
        "reason": _header(msg, "Opendeur-Reason"),
        "subject": _header(msg, "Opendeur-Subject"),
        "stream_seq": _header(msg, "Opendeur-Stream-Seq"),
    }


async def get_dead(js: JetStreamContext, seq: int) -> dict[str, Any] | None:
    """One dead letter's headers as list_dead gives them, plus `omitted` (kept without its
    body); None if there is none with this sequence."""
    try:
        msg = await js.get_msg(DEADLETTER_STREAM, seq=seq)
    except NotFoundError:
        return None
    return {**_row(msg), "omitted": _header(msg, "Opendeur-Body-Omitted")}


async def replay(js: JetStreamContext, seq: int) -> str:
    """Republish the event dead letter `seq` stands for, with a fresh Nats-Msg-Id.

    What is published is the original as OPENDEUR_EVENTS holds it (at the dead letter's
    Opendeur-Stream-Seq, with the same subject), never the dead letter's own body: a service may
    write dead letters for its consumers, so a compromised one could otherwise have any event it
    likes published by the admin account (a forged follow-up answer, a forged outcome). An
    original the events stream no longer keeps (OPENDEUR_EVENTS_MAX_AGE) cannot be replayed.
    Needs an account that may publish events (the admin one, from the CLI): audit's own may not.
    Consumers stay idempotent on the event's own event_id, so a replay changes nothing twice."""
    try:
        msg = await js.get_msg(DEADLETTER_STREAM, seq=seq)
    except NotFoundError as exc:
        raise ReplayRefused(f"no dead letter with sequence {seq}") from exc
    subject = _header(msg, "Opendeur-Subject")
    if subject not in EVENT_SUBJECTS:
        raise ReplayRefused(f"dead letter {seq} has subject {subject!r}, not an event subject")
    omitted = _header(msg, "Opendeur-Body-Omitted")
    if omitted:
        raise ReplayRefused(
            f"dead letter {seq} was kept without its body ({omitted} bytes, bigger than any event);"
            f" the original is in OPENDEUR_EVENTS at sequence {_header(msg, 'Opendeur-Stream-Seq')}"
        )
    where = _header(msg, "Opendeur-Stream-Seq")
    if where is None or not where.isdigit():
        raise ReplayRefused(f"dead letter {seq} does not say where its original event is")
    try:
        original = await js.get_msg(EVENTS_STREAM, seq=int(where))
    except NotFoundError as exc:
        raise ReplayRefused(
            f"dead letter {seq}: its original (OPENDEUR_EVENTS at sequence {where}) is no longer "
            "kept, so it cannot be replayed"
        ) from exc
    if original.subject != subject:
        raise ReplayRefused(
            f"dead letter {seq} says {subject!r}, but its original at sequence {where} is "
            f"{original.subject!r}: not replayed"
        )
    headers = {"Nats-Msg-Id": str(uuid4())}
    await js.publish(subject, original.data or b"", headers=headers, timeout=5.0)
    return subject
