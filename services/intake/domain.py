"""Intake's pure rules: references, when personal data must be erased, who may call back."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

# No 0/O, 1/I/L: a reference is read aloud on the phone.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
FINAL_OUTCOMES = frozenset({"reached", "referred_professional"})
# Outcomes after which the contact person's part is over (the question goes to another group,
# to the team, or is done); "unreachable" ends it only the MAX_UNREACHABLE-th time (as routing).
CLOSING_OUTCOMES = FINAL_OUTCOMES | {"wrong_group"}
MAX_UNREACHABLE = 3
OUTCOMES = ("reached", "unreachable", "wrong_group", "referred_professional")


def new_reference() -> str:
    """OD-XXXX-XXXX, each character uniform over the alphabet: one call for random bytes, a byte
    kept only below the largest multiple of the alphabet's size (secrets.choice made a system
    call per character, 2.6 % of intake's samples under load)."""
    n = len(_ALPHABET)
    limit = 256 - 256 % n
    chars: list[str] = []
    while len(chars) < 8:
        chars.extend(_ALPHABET[b % n] for b in secrets.token_bytes(12) if b < limit)
    return f"OD-{''.join(chars[:4])}-{''.join(chars[4:8])}"


def erase_after_outcome(outcome: str, now: datetime, retention: timedelta) -> datetime | None:
    """After a final outcome the data goes after the retention period; otherwise it stays."""
    return now + retention if outcome in FINAL_OUTCOMES else None


def closes_part(outcome: str, unreachable_count: int) -> bool:
    """Whether this outcome (with the question's unreachable count after it) ends the part."""
    return outcome in CLOSING_OUTCOMES or (
        outcome == "unreachable" and unreachable_count >= MAX_UNREACHABLE
    )


def link_until(
    respond_before: datetime, assigned_at: datetime, deadline: timedelta, grace: timedelta
) -> datetime:
    """Until when a contact person's callback link works: the question's deadline plus the grace;
    a contact assigned after the deadline (the team, by hand) gets a full deadline of their own."""
    base = assigned_at + deadline if assigned_at >= respond_before else respond_before
    return base + grace


def callback_state(q: dict | None, contact_id: str, now: datetime) -> str:
    """ok, or why a contact's callback link no longer opens the question: erased, moved (another
    contact, or none: in the team's queue), closed (the part is over), expired, pending (intake
    has not yet heard of the routing)."""
    if q is None or q["erased_at"] is not None:
        return "erased"
    if q["contact_id"] is None and q["status"] == "received":
        return "pending"
    if q["contact_id"] != contact_id:
        return "moved"
    if q["part_closed_at"] is not None or q["status"] == "done":
        return "closed"
    if q["link_until"] is not None and now > q["link_until"]:
        return "expired"
    return "ok"


# What a team member records after calling a crisis question: no wrong_group (the team routes
# from triage), and "unreachable" keeps it with the team however often.
TEAM_OUTCOMES = ("reached", "unreachable", "referred_professional")


def crisis_state(q: dict | None) -> str:
    """open (the team calls it back), erased, done, with_contact (assigned to a group's contact
    person from triage), or not_crisis."""
    if q is None or q["erased_at"] is not None:
        return "erased"
    if q["status"] == "done":
        return "done"
    if not q["professional_help_advised"]:
        return "not_crisis"
    if q["status"] not in ("received", "unmatched"):
        return "with_contact"
    return "open"
