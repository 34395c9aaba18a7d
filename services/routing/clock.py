"""Routing's escalation clock: when to remind the contact, warn the team, record a breach; pure.

When a question must be answered is the network's one rule, `opendeur.deadlines.respond_before`
(24 h, or a crisis question's shorter clock in the team's hours); intake applies it and the
question carries the promise. Routing only divides the time up to that promise into levels.
"""

from collections.abc import Collection
from datetime import UTC, datetime

LEVELS = ("reminder", "team", "breach")
# Share of the time to the promise after which each level fires, as (numerator, denominator)
# so the times are exact to the microsecond instead of float-rounded.
_SHARES = {"reminder": (1, 2), "team": (4, 5), "breach": (1, 1)}


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def escalation_schedule(
    received_at: datetime, respond_before: datetime
) -> list[tuple[str, datetime]]:
    """(level, moment) for each level, in level order: at 50 %, 80 % and 100 % of the time
    between receipt and the promise (in received_at's zone; the breach is the promise itself).

    Shares of real elapsed time (in UTC): a clock change moves no level by an hour."""
    start, end = _aware(received_at, "received_at"), _aware(respond_before, "respond_before")
    span = end - start
    if span.total_seconds() <= 0:
        raise ValueError("respond_before must come after received_at")
    zone = received_at.tzinfo
    return [
        (level, (start + span * num // den).astimezone(zone))
        for level, (num, den) in ((lvl, _SHARES[lvl]) for lvl in LEVELS)
    ]


def due_levels(
    received_at: datetime,
    respond_before: datetime,
    now: datetime,
    already_fired: Collection[str],
) -> list[str]:
    """Levels whose moment has come (at or before `now`) and that have not fired yet, in order."""
    now_utc = _aware(now, "now")
    return [
        level
        for level, at in escalation_schedule(received_at, respond_before)
        if at.astimezone(UTC) <= now_utc and level not in already_fired
    ]
