"""Reads only routing's pages need: the team's queue with what the matcher needs to suggest a
group, the groups with their contacts, a contact's open callbacks with the attempts made."""

from __future__ import annotations

from datetime import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.matching import CallWindow, Contact, Group


async def queue(db: AsyncSession) -> list[dict]:
    """The team's queue: crisis questions first, then the longest waiting."""
    rows = await db.execute(
        text(
            "select question_id, reference, topic, municipality, pc4, language, priority, reason, "
            "tried_groups, unreachable_count, received_at, respond_before "
            "from questions where state = 'unmatched' order by priority desc, received_at"
        )
    )
    return [dict(r) for r in rows.mappings()]


async def groups_with_contacts(db: AsyncSession) -> tuple[list[Group], dict[str, str]]:
    """Every active group as the matcher sees it, and each group's name by id."""
    rows = await db.execute(
        text(
            "select g.group_id, g.name, g.topics, g.municipalities, g.online, g.languages, "
            "c.contact_id, c.max_open, c.open_count, c.hours "
            "from groups g left join contacts c on c.group_id = g.group_id and c.active "
            "where g.status = 'active' order by g.name, g.group_id, c.contact_id"
        )
    )
    found: dict[str, dict] = {}
    for r in rows.mappings():
        g = found.setdefault(r["group_id"], {**r, "contacts": []})
        if r["contact_id"] is not None:
            hours = tuple(
                CallWindow(
                    int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"])
                )
                for w in r["hours"] or ()
            )
            g["contacts"].append(
                Contact(r["contact_id"], int(r["max_open"]), int(r["open_count"]), hours)
            )
    groups = [
        Group(
            g["group_id"],
            frozenset(g["topics"]),
            frozenset(g["municipalities"]),
            bool(g["online"]),
            frozenset(g["languages"]),
            "active",
            tuple(g["contacts"]),
        )
        for g in found.values()
    ]
    return groups, {gid: g["name"] for gid, g in found.items()}


async def open_callbacks(db: AsyncSession, contact_id: str) -> list[dict]:
    """The questions this contact person still has to call back, the most urgent first, with
    how often she did not reach the person (after the third time the team takes it over)."""
    rows = await db.execute(
        text(
            "select question_id, reference, topic, priority, received_at, respond_before, "
            # the routing time: a link minted on the overview ends a deadline after it at the latest
            "updated_at as routed_at, unreachable_count "
            "from questions where contact_id = :c and state = 'routed' "
            "order by respond_before, reference"
        ),
        {"c": contact_id},
    )
    return [dict(r) for r in rows.mappings()]
