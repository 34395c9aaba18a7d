"""Event contracts: one frozen pydantic model per event type; ids, codes, times and flags only."""

from __future__ import annotations

import inspect
import os
import threading
import time
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

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


_RANDOM_BITS = 74
_last_id = 0  # the last id minted by this process, as its 48 + 74 bits of time and randomness
_id_lock = threading.Lock()


def new_id() -> UUID:
    """A time-ordered id (RFC 9562 version 7: 48-bit Unix milliseconds, then 74 random bits).

    Ids minted later sort later, so a table's or index's inserts land at its right edge instead
    of on a random page of a tree that grows with the trail (audit's PostgreSQL cost per event
    grew 2.4x from an empty trail to 10 M events with random ids). Within one process this holds
    for ids of the same millisecond too, and across a clock set back: such an id is the last
    one plus a random step of up to 2^32 (RFC 9562 6.2, method 2), so it may show a millisecond
    a little later than the clock's. It shows the millisecond it was minted; nothing may use an
    id as a secret (links and withdrawals carry their own)."""
    global _last_id
    ms = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    rand = int.from_bytes(os.urandom(10)) >> 6  # 80 random bits, 74 kept
    value = ms << _RANDOM_BITS | rand
    with _id_lock:
        if value <= _last_id:
            value = _last_id + 1 + (rand & 0xFFFF_FFFF)
        _last_id = value
    ms, rand = value >> _RANDOM_BITS & 0xFFFF_FFFF_FFFF, value & ((1 << _RANDOM_BITS) - 1)
    rand_a, rand_b = rand >> 62, rand & 0x3FFF_FFFF_FFFF_FFFF
    return UUID(int=ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)


class Event(BaseModel):
    """Envelope shared by every event.

    A subclass names its subject once, in its class statement::

        class QuestionClosed(Event, subject="question.closed.v1", source="routing"):
            question_id: UUID

    which makes `QuestionClosed.subject` the subject, adds the field
    `type: Literal["question.closed.v1"] = "question.closed.v1"` (so the JSON and the schema
    carry it, as before) and, when `source` is given, `source: Literal["routing"] = "routing"`:
    the services that may publish the event (`opendeur.natsauth` grants NATS publish rights from
    that type). An event several services publish declares its `source` field itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: ClassVar[str]

    def __init_subclass__(
        cls, *, subject: str | None = None, source: str | None = None, **kwargs: object
    ) -> None:
        # Runs before pydantic collects the fields (ModelMetaclass.__new__ calls type.__new__
        # first), so the fields added here are ordinary fields: `type` first among the class's
        # own, in the same place as when they were typed by hand.
        if subject is not None:
            own = inspect.get_annotations(cls)
            added: dict[str, object] = {"type": Literal[subject]}  # type: ignore[valid-type]
            cls.type = subject  # type: ignore[attr-defined]
            if source is not None:
                added["source"] = Literal[source]  # type: ignore[valid-type]
                cls.source = source  # type: ignore[attr-defined]
            cls.__annotations__ = {**added, **own}
            cls.subject = subject
        super().__init_subclass__(**kwargs)

    event_id: UUID = Field(default_factory=new_id)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    source: Source
    question_id: UUID | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Event:
        return cls.model_validate_json(data)


class QuestionReceived(Event, subject="question.received.v1", source="intake"):
    """A help-seeker's question was accepted by intake (with recorded consent)."""

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


class QuestionRouted(Event, subject="question.routed.v1", source="routing"):
    """Routing chose a group and one of its contact persons for a question."""

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
    # The asker's language, and whether the contact speaks it (false: she calls in Dutch, so
    # her pages and mails say the asker prefers that language). Defaults: events of before.
    language: Language = "nl"
    language_matched: bool = True


class QuestionUnmatched(Event, subject="question.unmatched.v1", source="routing"):
    """No group could take the question; it is in the network team's triage queue."""

    question_id: UUID
    reason: Code
    topic: Code | None
    municipality: Code | None
    priority: bool


class QuestionEscalated(Event, subject="question.escalated.v1", source="routing"):
    """A question's clock passed a threshold: reminder (50%), team (80%) or breach (100%)."""

    question_id: UUID
    level: Literal["reminder", "team", "breach"]
    reference: Reference
    group_id: Code | None
    contact_id: Code | None
    respond_before: AwareDatetime


class QuestionClosed(Event, subject="question.closed.v1", source="routing"):
    """The network team closed a question from its triage queue, with a reason code."""

    question_id: UUID
    reason: Code
    by: Literal["team"] = "team"


class ContactNotified(Event, subject="contact.notified.v1", source="notify"):
    """A contact person was sent a notification (without personal data) for a question."""

    question_id: UUID | None
    contact_id: Code | None
    purpose: Code
    channel: Literal["email", "sms"]


class NotificationFailed(Event, subject="notification.failed.v1", source="notify"):
    """A notification could not be delivered; the question goes to the team's queue."""

    question_id: UUID | None
    contact_id: Code | None
    purpose: Code
    channel: Literal["email", "sms"]
    error_code: Code


class CallbackDone(Event, subject="callback.done.v1", source="intake"):
    """The outcome of a callback: recorded by the contact person (`by` contact, her contact_id),
    or for a crisis question by a team member (`by` team, the staff member's pseudonymous id)."""

    question_id: UUID
    contact_id: Code | None = None
    outcome: Outcome
    by: Literal["contact", "team"] = "contact"
    staff_id: Code | None = None
    # With `reached` only: the contact person says the person wants to come to the group. No
    # one is named; the funder report counts it (suppressed like every other count).
    joins_group: bool | None = None


class ConsentWithdrawn(Event, subject="consent.withdrawn.v1", source="intake"):
    """The help-seeker withdrew consent; intake erases the data at once."""

    question_id: UUID
    consent_version: Code


class QuestionErased(Event, subject="question.erased.v1", source="intake"):
    """Intake destroyed a question's personal data (key and rows)."""

    question_id: UUID
    reason: Literal["withdrawn", "retention", "unanswered"]


class ReferralNoted(Event, subject="referral.noted.v1", source="intake"):
    """Someone tried to register another person; only an anonymous count is kept."""

    referrer_kind: Literal["professional", "family", "other", "unknown"]
    topic: Code | None
    channel: Channel


class FollowupAnswered(Event, subject="followup.answered.v1", source="intake"):
    """After her callback the help-seeker answered "Heeft het gesprek je geholpen?" through her
    own link. Anonymous: no question, reference, contact, group or topic; the funder report
    counts the answers per month."""

    answer: Literal["yes", "somewhat", "no"]


class GroupChanged(Event, subject="group.changed.v1", source="routing"):
    """A group joined, changed, paused, resumed or left the network."""

    group_id: Code
    change: Literal["joined", "updated", "paused", "resumed", "left"]
    status: Literal["active", "paused", "left"]
    by: Literal["team", "contact", "import"]


class PiiAccessed(Event, subject="pii.accessed.v1", source="intake"):
    """Someone saw a question's personal data (who and when, never what): a contact person on
    her callback page (contact_id), or a team member calling back a crisis question (staff_id,
    purpose team_callback)."""

    question_id: UUID
    contact_id: Code | None = None
    purpose: Literal["callback_page", "team_callback"] = "callback_page"
    staff_id: Code | None = None


class PiiAccessAlerted(Event, subject="pii.alerted.v1", source="intake"):
    """More distinct questions were opened through one contact within an hour than any real
    contact person opens (OPENDEUR_CONTACT_VIEW_ALERT): perhaps forged links. Intake holds
    further views through that contact until the team clears it."""

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
    "signed_out",
    "withdrawn_by_phone",
]


# The actor of an address_confirmed: the owner of the new address, who pressed its link.
NEW_ADDRESS = "new-address"
AccountChange = Literal["added", "disabled", "enabled", "roles", "signin_link", "password"]


class StaffActed(Event, subject="staff.acted.v1"):
    """A staff member acted on a question, a group, a contact's address or a staff account: who
    by pseudonymous staff id (never a name), what, and on which question (envelope), group or
    contact. Staged in the same transaction as the action. Published by the service where it
    happened (intake: accounts, crisis outcomes, withdrawals by phone; routing; notify:
    addresses). Audit publishes nothing: it writes a dead-letter replay into its own trail."""

    source: Literal["intake", "routing", "notify"] = "routing"
    staff_id: Code
    action: StaffAction
    group_id: Code | None = None
    contact_id: Code | None = None
    # An account change: whose account (pseudonymous staff id) and what changed.
    target_staff_id: Code | None = None
    change: AccountChange | None = None
    # address_confirmed: who asked for the change (staff id or token.<name>); staff_id is then
    # NEW_ADDRESS, as the new address's owner confirmed it, not a staff member.
    requested_by: Code | None = None


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
    FollowupAnswered,
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
