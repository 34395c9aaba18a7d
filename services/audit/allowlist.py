"""What audit keeps of each event: an allow-list of fields, validated by the contract; nothing else."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from pydantic import ValidationError

from contracts.events import BY_SUBJECT

ENVELOPE = ("event_id", "type", "occurred_at", "source", "question_id")
KEEP: dict[str, tuple[str, ...]] = {
    "question.received.v1": (
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
    ),
    "question.unmatched.v1": ("reason", "topic", "municipality", "priority"),
    "question.escalated.v1": ("level", "group_id", "contact_id", "respond_before"),
    "question.closed.v1": ("reason", "by"),
    "contact.notified.v1": ("contact_id", "purpose", "channel"),
    "notification.failed.v1": ("contact_id", "purpose", "channel", "error_code"),
    "callback.done.v1": ("contact_id", "outcome"),
    "consent.withdrawn.v1": ("consent_version",),
    "question.erased.v1": ("reason",),
    "referral.noted.v1": ("referrer_kind", "topic", "channel"),
    "group.changed.v1": ("group_id", "change", "status", "by"),
    "pii.accessed.v1": ("contact_id", "purpose"),
}


def keep(subject: str, data: bytes, stream_seq: int) -> tuple[dict[str, Any], int]:
    """(record to store, number of fields dropped). A message that does not validate even
    without its unknown fields is stored as type + id only, flagged invalid."""
    cls = BY_SUBJECT.get(subject)
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
    full = event.model_dump(mode="json")
    fields = ENVELOPE + KEEP.get(subject, ())
    return {k: full.get(k) for k in fields}, dropped


def _invalid(subject: str, payload: dict, stream_seq: int) -> dict[str, Any]:
    try:
        event_id = str(uuid.UUID(str(payload.get("event_id"))))
    except ValueError:
        event_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"opendeur-audit:{subject}:{stream_seq}"))
    return {"event_id": event_id, "type": subject, "invalid": True}
