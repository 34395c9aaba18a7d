"""Filters of the live stream (`GET /api/v1/audit/stream`, `opendeur audit tail`): since a time or a
duration ago, only some event types, resumed after a sequence number (`Last-Event-ID`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION = re.compile(r"(?:\d+[smhdw])+")
PART = re.compile(r"(\d+)([smhdw])")
SINCE_HELP = (
    "since must be an ISO-8601 time (2026-11-26T08:00:00Z, 2026-11-26T09:00+01:00, "
    "2026-11-26; UTC when no offset is given) or a duration ago like 30m, 2h, 1d, 1h30m"
)
MAX_TYPES = 50


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """An absolute UTC time from an ISO-8601 time or a duration ago ("2h", "30m", "1d", "1h30m")."""
    raw = value.strip()
    compact = raw.lower().replace(" ", "")
    if DURATION.fullmatch(compact):
        try:
            delta = sum(
                (timedelta(**{UNITS[unit]: int(n)}) for n, unit in PART.findall(compact)),
                timedelta(),
            )
            return (now or datetime.now(UTC)) - delta
        except OverflowError:  # "99999999999d": a readable 422, not a 500
            raise ValueError(SINCE_HELP) from None
    try:
        at = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "zZ" and raw else raw)
    except ValueError:
        raise ValueError(SINCE_HELP) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def stream_params(
    since: str | None, types: list[str] | None = None, after: int | None = None
) -> dict[str, Any]:
    """Query parameters for GET /api/v1/audit/stream (for httpx `params=`); raises ValueError
    with a readable message when `since` is neither a time nor a duration."""
    params: dict[str, Any] = {}
    if since:
        parse_since(since)  # fail early, in the terminal; the server resolves it again
        params["since"] = since.strip()
    if types:
        params["type"] = list(types)
    if after:
        params["after"] = int(after)
    return params


async def first_after(session: AsyncSession, after: int, since: datetime) -> int:
    """Where a stream `since` a time starts: just before the first stored event that occurred
    since then (through the BRIN index on occurred_at, not a walk of the whole trail by seq)."""
    row = (
        await session.execute(
            text(
                "select (select min(seq) from events where occurred_at >= :since and seq > :after)"
                " as first, (select max(seq) from events) as last"
            ),
            {"since": since, "after": after},
        )
    ).one()
    if row.first is not None:
        return max(after, row.first - 1)
    # Nothing since then yet: whatever comes next is stored after the current end.
    return max(after, row.last or 0)
