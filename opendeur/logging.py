"""structlog set-up: JSON lines in production, readable in a terminal, personal data redacted."""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
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
# A phone number or an e-mail address inside a string value, in every form the validators take
# (intake's normalise_phone, notify's clean_mobile and clean_email; tests/unit/
# test_logging_redaction.py asks them). Phone: digits with any of the separators intake ignores
# between them (any space, dashes, dots, slashes, brackets); six digits after a "+" (the
# shortest valid number: +43 1110), else nine (a Dutch number without its 0: no person's is
# shorter, only 14 0xx municipal lines and 0800/0900 numbers are; eight-digit counts, dates and
# sequence numbers stay readable). Not after a letter, nor after a hex digit and a dash: the
# groups of a UUID stay readable.
_SEP = r"[\s\-\u2010-\u2015\u2212./()]"
# One character class first, so the regex engine skips to a digit, "+" or "%" in C.
_PHONE = re.compile(
    rf"[\d+%](?:(?<=\+){_SEP}*\d(?:{_SEP}*\d){{5,}}"
    rf"|(?<=%)2[Bb]{_SEP}*\d(?:{_SEP}*\d){{5,}}"
    rf"|(?<=\d)(?<!\w\d)(?<![0-9A-Fa-f]-\d)(?:{_SEP}*\d){{8,}})"
)
# E-mail: notify takes any local part without whitespace or "@" (quotes, "&", "/", ":" ...), up
# to 64 characters; a quoted one may hold spaces. The whole of it goes, with what is glued on
# before it (a "<", "to="). Possessive: a word without "@" after it fails at once.
_EMAIL = re.compile(r'(?:"[^"\r\n]{0,64}"|[^\s@]{1,64}+)@[\w-]+(?:\.[\w-]+)+')
REDACTED = "[redacted]"
WITHHELD = "[message withheld]"
_NOT_SCRUBBED = frozenset({"timestamp", "level", "question_id", "event_id"})


def _scrub(value: str) -> str:
    if "@" in value:
        value = _EMAIL.sub(REDACTED, value)
    return _PHONE.sub(REDACTED, value)


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    for key, value in event_dict.items():
        if key.lower() in REDACT_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, str) and key not in _NOT_SCRUBBED:
            event_dict[key] = _scrub(value)
    return event_dict


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_GROUP_WIDTH, _GROUP_DEPTH = 15, 10


def format_exception(exc_info: Any) -> str:
    """A traceback as Python writes it, exception types (the whole chain) and frames, but no
    exception's message, notes or SyntaxError text: they can carry what a person typed (asyncpg's
    "DETAIL:  Key (name)=(...) already exists."), and no log may."""
    exc = exc_info[1]
    if exc is None:
        return f"{_type_name(exc_info[0])}: {WITHHELD}" if exc_info[0] else ""
    return "".join(_exception_lines(exc, 0)).rstrip("\n")


def _type_name(kind: type) -> str:
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in (None, "__main__", "builtins") else f"{module}.{name}"


def _exception_lines(exc: BaseException, depth: int) -> list[str]:
    chain: list[tuple[BaseException, str]] = []  # newest first, with its link to the older one
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__cause__ is not None:
            chain.append((current, _CAUSE))
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            chain.append((current, _CONTEXT))
            current = current.__context__
        else:
            chain.append((current, ""))
            current = None
    lines: list[str] = []
    for item, link in reversed(chain):
        lines.append(link)
        if item.__traceback__ is not None:
            lines.append("Traceback (most recent call last):\n")
            frames = traceback.StackSummary.extract(traceback.walk_tb(item.__traceback__))
            lines.extend(frames.format())
        lines.append(f"{_type_name(type(item))}: {WITHHELD}\n")
        if isinstance(item, BaseExceptionGroup) and depth < _GROUP_DEPTH:
            for n, member in enumerate(item.exceptions[:_GROUP_WIDTH], 1):
                lines.append(f"+---------------- {n} ----------------\n")
                nested = "".join(_exception_lines(member, depth + 1))
                lines.extend(f"| {line}\n" for line in nested.splitlines())
    return lines


def configure(service: str, *, fmt: str = "auto", level: str = "INFO") -> None:
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.ExceptionRenderer(format_exception),
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
    # What no one caught (the interpreter would print it whole to stderr) is logged the same way.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    structlog.get_logger().critical("uncaught_exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or args.exc_type is SystemExit:
        return
    structlog.get_logger().critical(
        "uncaught_exception_in_thread",
        thread=args.thread.name if args.thread else None,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger().bind(**bound)
