"""Prometheus metrics shared by every service (one process = one service)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

CONSUMED = Counter("opendeur_events_consumed_total", "Events applied by a consumer", ["consumer"])
PUBLISHED = Counter(
    "opendeur_events_published_total", "Events published from the outbox", ["subject"]
)
HANDLER_ERRORS = Counter("opendeur_handler_errors_total", "Handler failures (nak'ed)", ["consumer"])
DEAD_LETTERS = Counter(
    "opendeur_dead_letters_total", "Messages dead-lettered", ["consumer", "reason"]
)
HANDLER_SECONDS = Histogram(
    "opendeur_handler_seconds",
    "Handler latency",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_BACKLOG = Gauge("opendeur_outbox_backlog", "Events waiting in the outbox")
HTTP_REQUESTS = Counter("opendeur_http_requests_total", "HTTP requests", ["route", "status"])
REDELIVERIES = Counter(
    "opendeur_redeliveries_total", "Messages delivered more than once to a consumer", ["consumer"]
)
NOTIFICATIONS_SENT = Counter(
    "opendeur_notifications_sent_total", "Notifications handed to a channel", ["channel", "purpose"]
)
NOTIFICATIONS_FAILED = Counter(
    "opendeur_notifications_failed_total",
    "Notifications that failed permanently on a channel",
    ["channel", "reason"],
)
ESCALATIONS = Counter(
    "opendeur_escalations_total", "Deadline escalations raised by routing", ["level"]
)
DEADLINE_BREACHES = Counter(
    "opendeur_deadline_breaches_total", "Questions not called back before their deadline"
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
