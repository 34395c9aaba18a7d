"""Filters of the live stream (`GET /api/v1/audit/stream`, `opendeur audit tail`): since a time or a
duration ago, only some event types, resumed after a sequence number (`Last-Event-ID`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
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
        delta = timedelta()
        for n, unit in PART.findall(compact):
            delta += timedelta(**{UNITS[unit]: int(n)})
        return (now or datetime.now(UTC)) - delta
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


async def batch(
    session: AsyncSession,
    after: int,
    since: datetime | None = None,
    types: list[str] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The next events of the stream in sequence order (the order they were stored in)."""
    sql = "select seq, record, recorded_at from events where seq > :after"
    params: dict[str, Any] = {"after": after, "limit": limit}
    if since is not None:
        sql += " and occurred_at >= :since"
        params["since"] = since
    if types:
        sql += " and type = any(:types)"
        params["types"] = list(types)
    sql += " order by seq limit :limit"
    out = []
    for r in await session.execute(text(sql), params):
        rec = orjson.loads(r.record) if isinstance(r.record, str) else dict(r.record)
        rec["seq"] = r.seq
        rec["recorded_at"] = r.recorded_at.isoformat()
        out.append(rec)
    return out
