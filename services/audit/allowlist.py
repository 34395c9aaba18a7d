"""What audit keeps of each event: an allow-list of fields, validated by the contract; nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError

from contracts.events import BY_SUBJECT

ENVELOPE = ("event_id", "type", "occurred_at", "source", "question_id")
KEEP: dict[str, tuple[str, ...]] = {
    "question.received.v1": (
        "reference",  # the OD reference the person and the contact know: the console shows it
        "channel",
        "topic",
        "language",
        "professional_help_advised",
        "wants_to_start_group",
        "consent_version",
        "consent_share",
        "consent_statistics",
        "received_at",
        "respond_before",
    ),
    "question.routed.v1": (
        "group_id",
        "contact_id",
        "reason",
        "attempt",
        "topic",
        "municipality",
        "priority",
        "channel",
        "received_at",
        "respond_before",
        "language",
        "language_matched",
    ),
    "question.unmatched.v1": ("reason", "topic", "municipality", "priority"),
    "question.escalated.v1": ("level", "group_id", "contact_id", "respond_before"),
    "question.closed.v1": ("reason", "by"),
    "contact.notified.v1": ("contact_id", "purpose", "channel"),
    "notification.failed.v1": ("contact_id", "purpose", "channel", "error_code"),
    "callback.done.v1": ("contact_id", "outcome", "by", "staff_id", "joins_group"),
    "consent.withdrawn.v1": ("consent_version",),
    "question.erased.v1": ("reason",),
    "referral.noted.v1": ("referrer_kind", "topic", "channel"),
    "followup.answered.v1": ("answer",),
    "group.changed.v1": ("group_id", "change", "status", "by"),
    "pii.accessed.v1": ("contact_id", "purpose", "staff_id"),
    "pii.alerted.v1": ("contact_id", "window_start", "distinct_questions"),
    "staff.acted.v1": (
        "staff_id",
        "action",
        "group_id",
        "contact_id",
        "target_staff_id",
        "change",
        "requested_by",
    ),
}


# What a record of each type holds, as the `include` of a dump (every name is a contract field).
# Plain sets, not frozensets: pydantic-core takes a set as it is and converts a frozenset on
# every call (5.0 vs 7.4 µs per dump here); nothing may change them.
FIELDS: dict[str, set[str]] = {s: set(ENVELOPE + KEEP.get(s, ())) for s in BY_SUBJECT}


def keep(
    subject: str, data: bytes, stream_seq: int | Callable[[], int]
) -> tuple[dict[str, Any], int]:
    """(record to store, number of fields dropped). A message that does not validate even
    without its unknown fields is stored as type + id only, flagged invalid.

    `stream_seq` may be a function: it is needed only for an invalid message without an id
    (parsing a message's metadata costs more than keeping a valid one)."""
    cls = BY_SUBJECT.get(subject)
    if cls is not None:
        # The common case in one pass: a valid event has no unknown field (extra="forbid"),
        # so validating the bytes directly proves nothing is dropped.
        try:
            event = cls.model_validate_json(data)
        except ValueError:  # ValidationError included: sort it out on the slow path below
            pass
        else:
            return event.model_dump(mode="json", include=FIELDS[subject]), 0
    try:
        payload = orjson.loads(data)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        return _invalid(subject, {}, stream_seq), 1
    known = set(cls.model_fields) if cls else set()
    dropped = len(set(payload) - known)
    try:
        event = cls.model_validate({k: v for k, v in payload.items() if k in known})  # type: ignore[union-attr]
    except (ValidationError, AttributeError):
        return _invalid(subject, payload, stream_seq), len(payload)
    return event.model_dump(mode="json", include=FIELDS[subject]), dropped


def _invalid(subject: str, payload: dict, stream_seq: int | Callable[[], int]) -> dict[str, Any]:
    try:
        event_id = str(uuid.UUID(str(payload.get("event_id"))))
    except ValueError:
        if callable(stream_seq):
            stream_seq = stream_seq()
        event_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"opendeur-audit:{subject}:{stream_seq}"))
    return {"event_id": event_id, "type": subject, "invalid": True}
