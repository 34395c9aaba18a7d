"""Event contracts: one frozen pydantic model per event type; ids, codes, times and flags only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID, uuid4

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

# A code is lowercase, starts with a letter and has no spaces: it cannot carry a sentence,
# a phone number, a name or an address.
CODE_PATTERN = r"^[a-z][a-z0-9_.+-]{0,47}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
REFERENCE_PATTERN = r"^[A-Z]{2}-[A-Z0-9]{4}-[A-Z0-9]{4}$"
Reference = Annotated[str, StringConstraints(pattern=REFERENCE_PATTERN)]

Source = Literal["intake", "routing", "notify", "audit"]
Channel = Literal["web", "phone"]
Language = Literal["nl", "en"]
Outcome = Literal["reached", "unreachable", "wrong_group", "referred_professional"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Envelope shared by every event."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    source: Source
    question_id: UUID | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Event:
        return cls.model_validate_json(data)


class QuestionReceived(Event):
    """A help-seeker's question was accepted by intake (with recorded consent)."""

    subject: ClassVar[str] = "question.received.v1"
    type: Literal["question.received.v1"] = "question.received.v1"
    source: Literal["intake"] = "intake"
    question_id: UUID
    reference: Reference
    channel: Channel
    topic: Code | None
    pc4: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{3}$")] | None
    language: Language
    professional_help_advised: bool
    wants_to_start_group: bool
    consent_version: Code
    consent_share: bool
    consent_statistics: bool
    received_at: AwareDatetime
    respond_before: AwareDatetime


class QuestionRouted(Event):
    """Routing chose a group and one of its contact persons for a question."""

    subject: ClassVar[str] = "question.routed.v1"
    type: Literal["question.routed.v1"] = "question.routed.v1"
    source: Literal["routing"] = "routing"
    question_id: UUID
    reference: Reference
    group_id: Code
    contact_id: Code
    reason: Code
    attempt: int = Field(ge=1, le=100)
    topic: Code | None
    municipality: Code | None
    priority: bool
    channel: Channel
    received_at: AwareDatetime
    respond_before: AwareDatetime


class QuestionUnmatched(Event):
    """No group could take the question; it is in the network team's triage queue."""

    subject: ClassVar[str] = "question.unmatched.v1"
    type: Literal["question.unmatched.v1"] = "question.unmatched.v1"
    source: Literal["routing"] = "routing"
    question_id: UUID
    reason: Code
    topic: Code | None
    municipality: Code | None
    priority: bool


class QuestionEscalated(Event):
    """A question's clock passed a threshold: reminder (50%), team (80%) or breach (100%)."""

    subject: ClassVar[str] = "question.escalated.v1"
    type: Literal["question.escalated.v1"] = "question.escalated.v1"
    source: Literal["routing"] = "routing"
    question_id: UUID
    level: Literal["reminder", "team", "breach"]
    reference: Reference
    group_id: Code | None
    contact_id: Code | None
    respond_before: AwareDatetime


class QuestionClosed(Event):
    """The network team closed a question from its triage queue, with a reason code."""

    subject: ClassVar[str] = "question.closed.v1"
    type: Literal["question.closed.v1"] = "question.closed.v1"
    source: Literal["routing"] = "routing"
    question_id: UUID
    reason: Code
    by: Literal["team"] = "team"


class ContactNotified(Event):
    """A contact person was sent a notification (without personal data) for a question."""

    subject: ClassVar[str] = "contact.notified.v1"
    type: Literal["contact.notified.v1"] = "contact.notified.v1"
    source: Literal["notify"] = "notify"
    question_id: UUID | None
    contact_id: Code | None
    purpose: Code
    channel: Literal["email", "sms"]


class NotificationFailed(Event):
    """A notification could not be delivered; the question goes to the team's queue."""

    subject: ClassVar[str] = "notification.failed.v1"
    type: Literal["notification.failed.v1"] = "notification.failed.v1"
    source: Literal["notify"] = "notify"
    question_id: UUID | None
    contact_id: Code | None
    purpose: Code
    channel: Literal["email", "sms"]
    error_code: Code


class CallbackDone(Event):
    """The outcome of a callback: recorded by the contact person (`by` contact, her contact_id),
    or for a crisis question by a team member (`by` team, the staff member's pseudonymous id)."""

    subject: ClassVar[str] = "callback.done.v1"
    type: Literal["callback.done.v1"] = "callback.done.v1"
    source: Literal["intake"] = "intake"
    question_id: UUID
    contact_id: Code | None = None
    outcome: Outcome
    by: Literal["contact", "team"] = "contact"
    staff_id: Code | None = None


class ConsentWithdrawn(Event):
    """The help-seeker withdrew consent; intake erases the data at once."""

    subject: ClassVar[str] = "consent.withdrawn.v1"
    type: Literal["consent.withdrawn.v1"] = "consent.withdrawn.v1"
    source: Literal["intake"] = "intake"
    question_id: UUID
    consent_version: Code


class QuestionErased(Event):
    """Intake destroyed a question's personal data (key and rows)."""

    subject: ClassVar[str] = "question.erased.v1"
    type: Literal["question.erased.v1"] = "question.erased.v1"
    source: Literal["intake"] = "intake"
    question_id: UUID
    reason: Literal["withdrawn", "retention", "unanswered"]


class ReferralNoted(Event):
    """Someone tried to register another person; only an anonymous count is kept."""

    subject: ClassVar[str] = "referral.noted.v1"
    type: Literal["referral.noted.v1"] = "referral.noted.v1"
    source: Literal["intake"] = "intake"
    referrer_kind: Literal["professional", "family", "other", "unknown"]
    topic: Code | None
    channel: Channel


class GroupChanged(Event):
    """A group joined, changed, paused, resumed or left the network."""

    subject: ClassVar[str] = "group.changed.v1"
    type: Literal["group.changed.v1"] = "group.changed.v1"
    source: Literal["routing"] = "routing"
    group_id: Code
    change: Literal["joined", "updated", "paused", "resumed", "left"]
    status: Literal["active", "paused", "left"]
    by: Literal["team", "contact", "import"]


class PiiAccessed(Event):
    """Someone saw a question's personal data (who and when, never what): a contact person on
    her callback page (contact_id), or a team member calling back a crisis question (staff_id,
    purpose team_callback)."""

    subject: ClassVar[str] = "pii.accessed.v1"
    type: Literal["pii.accessed.v1"] = "pii.accessed.v1"
    source: Literal["intake"] = "intake"
    question_id: UUID
    contact_id: Code | None = None
    purpose: Literal["callback_page", "team_callback"] = "callback_page"
    staff_id: Code | None = None


class PiiAccessAlerted(Event):
    """More distinct questions were opened through one contact within an hour than any real
    contact person opens (OPENDEUR_CONTACT_VIEW_ALERT): perhaps forged links. Intake holds
    further views through that contact until the team clears it."""

    subject: ClassVar[str] = "pii.alerted.v1"
    type: Literal["pii.alerted.v1"] = "pii.alerted.v1"
    source: Literal["intake"] = "intake"
    contact_id: Code
    window_start: AwareDatetime
    distinct_questions: int = Field(ge=0)


StaffAction = Literal[
    "assign",
    "close",
    "group_status",
    "address_change",
    "address_confirmed",
    "account_change",
    "deadletter_replay",
    "crisis_outcome",
]


class StaffActed(Event):
    """A staff member acted on a question, a group, a contact's address or a staff account: who
    by pseudonymous staff id (never a name), what, and on which question (envelope), group or
    contact. Staged in the same transaction as the action. Published by the service where it
    happened (intake: accounts and crisis outcomes; routing; notify: addresses). Audit publishes
    nothing: it writes a dead-letter replay into its own trail."""

    subject: ClassVar[str] = "staff.acted.v1"
    type: Literal["staff.acted.v1"] = "staff.acted.v1"
    source: Literal["intake", "routing", "notify"] = "routing"
    staff_id: Code
    action: StaffAction
    group_id: Code | None = None
    contact_id: Code | None = None


EVENT_TYPES: tuple[type[Event], ...] = (
    QuestionReceived,
    QuestionRouted,
    QuestionUnmatched,
    QuestionEscalated,
    QuestionClosed,
    ContactNotified,
    NotificationFailed,
    CallbackDone,
    ConsentWithdrawn,
    QuestionErased,
    ReferralNoted,
    GroupChanged,
    PiiAccessed,
    PiiAccessAlerted,
    StaffActed,
)
BY_SUBJECT: dict[str, type[Event]] = {cls.subject: cls for cls in EVENT_TYPES}


class UnknownSubject(LookupError):
    """A message on a subject no event type of the contract has (e.g. an unknown version)."""


def decode(subject: str, data: bytes) -> Event:
    """Validate a message from the broker as the event its subject names.

    Raises only `pydantic.ValidationError` (not JSON, not an object, a missing, extra or wrongly
    typed field, a body of another event type) or `UnknownSubject` (a `LookupError`); consumers
    dead-letter both at once. `tests/hostile/test_fuzz_decoders.py` holds it to that."""
    cls = BY_SUBJECT.get(subject)
    if cls is None:
        raise UnknownSubject(f"unknown subject {subject[:80]!r}")
    return cls.model_validate_json(data)
