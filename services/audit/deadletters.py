"""Dead letters: list what consumers gave up on (headers only, never the payload); replay one."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from uuid import uuid4

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.streams import DEADLETTER_STREAM, EVENT_SUBJECTS


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
    """Republish dead letter `seq` to its original event subject with a fresh Nats-Msg-Id.

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
    await js.publish(subject, msg.data or b"", headers={"Nats-Msg-Id": str(uuid4())}, timeout=5.0)
    return subject
