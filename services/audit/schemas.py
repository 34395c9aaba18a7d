"""The audit API's response bodies as documented in its OpenAPI document (descriptions only)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEvent(BaseModel):
    """A stored event: its contract record (fields vary by type) plus where the trail keeps it."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="the event type, e.g. question.received.v1")
    occurred_at: str | None = Field(
        None, description="ISO-8601, when it happened (absent on an event kept as invalid)"
    )
    seq: int = Field(description="its place in the hash chain")
    recorded_at: str = Field(description="ISO-8601, when the audit service stored it")
    question_id: str | None = None
    event_id: str | None = None
    invalid: bool | None = Field(
        None,
        description="true when the message did not validate: only event_id and type are kept",
    )


class BrokenLink(BaseModel):
    seq: int
    reason: str


class ChainAnchor(BaseModel):
    """The last pruned event: the chain is checked from here."""

    seq: int
    hash: str
    pruned_before: str


class Verification(BaseModel):
    """The hash chain's check; first_broken and anchor are left out when they do not apply."""

    ok: bool
    records: int
    first_broken: BrokenLink = Field(default=None, description="present when ok is false")  # type: ignore[assignment]
    anchor: ChainAnchor = Field(default=None, description="present after a prune")  # type: ignore[assignment]


class TopicStats(BaseModel):
    month: str
    topic: str = Field(description="a topic code, or * for all topics")
    questions: int
    answered: int
    median_callback_seconds: float | None
    p90_callback_seconds: float | None
    within_deadline: int
    decided: int
    within_deadline_share: float | None


class QuestionTiming(BaseModel):
    question_id: str
    topic: str | None
    received_at: str | None
    respond_before: str | None
    routed_seconds: float | None
    notified_seconds: float | None
    callback_seconds: float | None
    within_deadline: bool | None


class OpenQuestion(BaseModel):
    question_id: str
    topic: str | None
    received_at: str | None
    respond_before: str | None
    age_seconds: float | None
    late: bool
    in_triage: bool


class Timings(BaseModel):
    month: str
    by_topic: list[TopicStats]
    questions: list[QuestionTiming]
    open: list[OpenQuestion]


class ConsentGiven(BaseModel):
    at: str
    version: str | None
    share_with_contact: bool | None
    statistics: bool | None


class ConsentWithdrawn(BaseModel):
    at: str
    version: str | None


class Erased(BaseModel):
    at: str
    reason: str | None


class Access(BaseModel):
    """Who opened the personal data: a contact person (contact_id) or, calling back a crisis
    question, a team member (staff_id, the pseudonymous id; purpose team_callback)."""

    contact_id: str | None
    staff_id: str | None = None
    purpose: str | None = None
    at: str


class ConsentRegister(BaseModel):
    question_id: str
    given: ConsentGiven | None
    withdrawn: ConsentWithdrawn | None
    erased: Erased | None
    accessed: list[Access]


class SuppressedTable(BaseModel):
    """Counts 1..4 shown as "<5", a figure that would give one away as "•"."""

    cells: dict[str, int | str]
    total: int | str


class ResponseTimes(BaseModel):
    median_callback_seconds: int | None
    within_deadline_share: float | None
    median_callback_seconds_by_topic: dict[str, int | None]


_TABLE: Any = Field(default=None, description="left out for a month kept before it existed")


class MonthlyReport(BaseModel):
    month: str
    days: int
    note: str
    questions_by_topic: SuppressedTable = _TABLE
    questions_by_channel: SuppressedTable = _TABLE
    routed_by_municipality: SuppressedTable = _TABLE
    outcomes: SuppressedTable = _TABLE
    followup: SuppressedTable = _TABLE
    referrals_by_kind: SuppressedTable = _TABLE
    buddy_signals_by_topic: SuppressedTable = _TABLE
    answered_by_topic: SuppressedTable
    response_times: ResponseTimes
