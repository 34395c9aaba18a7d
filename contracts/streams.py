"""JetStream streams and durable consumers, declared as code and created idempotently at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.events import EVENT_TYPES

EVENTS_STREAM = "OPENDEUR_EVENTS"
DEADLETTER_STREAM = "OPENDEUR_DEADLETTER"
ADVISORY_STREAM = "OPENDEUR_ADVISORIES"
DEADLETTER_PREFIX = "deadletter"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"

EVENT_SUBJECTS: tuple[str, ...] = tuple(cls.subject for cls in EVENT_TYPES)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    duplicate_window_s: float = 600.0
    # Limits retention (audit reads everything, so no work-queue), for at most max_age_s; the
    # operator may change it through `setting` (an OPENDEUR_* duration), applied to an existing
    # stream by `opendeur migrate` and `opendeur up` (opendeur.messaging.ensure_streams).
    max_age_s: float = 0.0
    setting: str | None = None


@dataclass(frozen=True)
class ConsumerSpec:
    service: str
    subject: str
    batch_size: int = 16  # also the number of messages a consumer handles at once
    # Failures of the message itself before it is dead-lettered; failures of the database or
    # broker are retried without limit (opendeur.messaging.transient).
    max_deliver: int = 8
    ack_wait_s: float = 30.0
    # Naks carry their own delay (the server's BackOff applies only to ack time-outs).
    nak_delays_s: tuple[float, ...] = field(default=(0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0))
    name: str | None = None

    @property
    def durable(self) -> str:
        return self.name or f"{self.service}-{self.subject.replace('.', '-')}"

    @property
    def filter_subject(self) -> str | None:
        return None if self.subject == ">" else self.subject


DAY_S = 24 * 3600.0
# Events: every consumer has them within seconds; 14 days cover redelivery, a service (or audit)
# down over a long weekend and a holiday, and a replay of a consumer from the stream. Dead letters
# wait for an operator: 30 days, one monthly review cycle. Neither is kept for ever: events carry
# pseudonymous ids, codes, pc4 and times, and audit holds the trail that is meant to last.
EVENTS_MAX_AGE_S = 14 * DAY_S
DEADLETTER_MAX_AGE_S = 30 * DAY_S

STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        EVENTS_STREAM,
        EVENT_SUBJECTS,
        "Every opendeur event; ids, codes, times, flags.",
        max_age_s=EVENTS_MAX_AGE_S,
        setting="events_max_age",
    ),
    StreamSpec(
        DEADLETTER_STREAM,
        (f"{DEADLETTER_PREFIX}.>",),
        "Messages a consumer could not handle; operators can inspect and replay them.",
        max_age_s=DEADLETTER_MAX_AGE_S,
        setting="deadletter_max_age",
    ),
    StreamSpec(
        ADVISORY_STREAM,
        (MAX_DELIVERIES_ADVISORY,),
        "JetStream max-deliveries advisories, kept (they are core NATS messages otherwise lost).",
        max_age_s=30 * DAY_S,
    ),
)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("routing", "question.received.v1"),
    ConsumerSpec("routing", "callback.done.v1"),
    ConsumerSpec("routing", "notification.failed.v1"),
    ConsumerSpec("routing", "question.erased.v1"),
    ConsumerSpec("notify", "question.routed.v1"),
    ConsumerSpec("notify", "question.escalated.v1"),
    # A group that leaves takes its contact persons' addresses with it (after a grace period).
    ConsumerSpec("notify", "group.changed.v1"),
    # The team is mailed when intake sees one contact open unusually many questions.
    ConsumerSpec("notify", "pii.alerted.v1"),
    ConsumerSpec("intake", "question.routed.v1"),
    ConsumerSpec("intake", "question.unmatched.v1"),
    # 2,000: 11.6-12.3k events/s at ingest vs 10.4k at 1,000 and 9.6k at 500 (make bench-audit);
    # 4,000 gained nothing. A cap only: a quiet stream comes in small batches, one per linger
    # (services/audit/handlers.py LINGER_S).
    ConsumerSpec("audit", ">", batch_size=2000, name="audit-all-events"),
)


def consumers_of(service: str) -> tuple[ConsumerSpec, ...]:
    return tuple(c for c in CONSUMERS if c.service == service)


def deadletter_subject(durable: str) -> str:
    return f"{DEADLETTER_PREFIX}.{durable}"
