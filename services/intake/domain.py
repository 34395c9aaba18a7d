"""Intake's pure rules: references, deadlines, when personal data must be erased."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

# No 0/O, 1/I/L: a reference is read aloud on the phone.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
FINAL_OUTCOMES = frozenset({"reached", "referred_professional"})
OUTCOMES = ("reached", "unreachable", "wrong_group", "referred_professional")


def new_reference() -> str:
    part = lambda: "".join(secrets.choice(_ALPHABET) for _ in range(4))  # noqa: E731
    return f"OD-{part()}-{part()}"


def respond_before(received_at: datetime, deadline: timedelta) -> datetime:
    return received_at + deadline


def erase_after_outcome(outcome: str, now: datetime, retention: timedelta) -> datetime | None:
    """After a final outcome the data goes after the retention period; otherwise it stays."""
    return now + retention if outcome in FINAL_OUTCOMES else None
