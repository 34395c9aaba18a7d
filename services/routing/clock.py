"""The callback clock: when a question must be answered and when to escalate, pure."""

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

LEVELS = ("reminder", "team", "breach")
# Share of the deadline after which each level fires, as (numerator, denominator)
# so the times are exact to the microsecond instead of float-rounded.
_SHARES = {"reminder": (1, 2), "team": (4, 5), "breach": (1, 1)}


def _check(received_at: datetime, deadline: timedelta) -> None:
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    if deadline <= timedelta(0):
        raise ValueError("deadline must be positive")


def _after(received_at: datetime, delta: timedelta) -> datetime:
    # Adding to a zoneinfo datetime is wall-clock arithmetic (off by an hour across a DST
    # change); adding in UTC keeps the deadline in real elapsed time.
    return (received_at.astimezone(UTC) + delta).astimezone(received_at.tzinfo)


def respond_before(received_at: datetime, deadline: timedelta) -> datetime:
    """The moment by which the person must have been called back (in received_at's zone)."""
    _check(received_at, deadline)
    return _after(received_at, deadline)


def escalation_schedule(received_at: datetime, deadline: timedelta) -> list[tuple[str, datetime]]:
    """(level, moment) for each escalation level, in level order: 50%, 80% and 100%."""
    _check(received_at, deadline)
    schedule = []
    for level in LEVELS:
        num, den = _SHARES[level]
        schedule.append((level, _after(received_at, deadline * num // den)))
    return schedule


def due_levels(
    received_at: datetime,
    deadline: timedelta,
    now: datetime,
    already_fired: Collection[str],
) -> list[str]:
    """Levels whose moment has come (at or before `now`) and that have not fired yet, in order."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now_utc = now.astimezone(UTC)
    return [
        level
        for level, at in escalation_schedule(received_at, deadline)
        if at.astimezone(UTC) <= now_utc and level not in already_fired
    ]
