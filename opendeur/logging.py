"""structlog set-up: JSON lines in production, readable in a terminal, personal data redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are never logged, whatever the caller passed.
REDACT_KEYS = frozenset(
    {
        "story",
        "phone",
        "name",
        "email",
        "address",
        "postcode",
        "call_times",
        "password",
        "token",
        "withdraw_token",
        "secret",
        "contact_email",
        "contact_name",
        "body",
    }
)
# Anything that looks like a phone number or an e-mail address inside a string value.
_PHONE = re.compile(r"(?<![\w-])(?:\+|00)?\d[\d \-().]{7,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
REDACTED = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL.sub(REDACTED, _PHONE.sub(REDACTED, value))
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    for key in list(event_dict):
        if key.lower() in REDACT_KEYS:
            event_dict[key] = REDACTED
        elif key not in ("timestamp", "level", "question_id", "event_id"):
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure(service: str, *, fmt: str = "auto", level: str = "INFO") -> None:
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    processors.append(
        structlog.processors.JSONRenderer() if json_out else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Standard-library loggers (uvicorn, faststream, nats) go through the same redaction.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *processors[-2:],
            ],
            foreign_pre_chain=processors[:-2],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "faststream.access", "faststream.access.nats", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound)
