"""Routing persistence: groups and contacts, questions in flight, the timers of the 24-hour clock."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, time
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opendeur.db import driver_sql
from services.routing.matching import CallWindow, Contact, Group

# The statements of a routing decision (a question stored, locked, its contacts read, a place
# held, the routing and its timers written) go straight to the driver with asyncpg's $n
# parameters (opendeur.db.driver_sql): SQLAlchemy's per-statement work (statement object,
# cache key, compile lookup, bind processing) showed in routing's profile under load.


def slug(name: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:47] or "x"


def _hours(raw: list[dict] | str) -> tuple[CallWindow, ...]:
    if isinstance(raw, str):  # jsonb as the driver gives it
        raw = json.loads(raw)
    return tuple(
        CallWindow(int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
        for w in raw
    )


async def contacts_of(
    session: AsyncSession, group_ids: list[str]
) -> tuple[int, dict[str, list[Contact]]]:
    """The groups version now, and the active contacts of those groups that are active.

    Read fresh for every decision (for a batch of new questions, once per batch:
    `decisions._tier_contacts`): status, pause, hours and load never wait for the groups' cache.
    """
    rows = await driver_sql(
        session,
        """
        select v.version, c.group_id, c.contact_id, c.max_open, c.open_count, c.hours,
               c.languages
        from groups_version v
        left join (contacts c join groups g on g.group_id = c.group_id and g.status = 'active')
          on c.group_id = any($1::text[]) and c.active
        order by c.group_id, c.contact_id
        """,
        group_ids,
    )
    version = 0
    contacts: dict[str, list[Contact]] = {}
    for r in rows.mappings():
        version = int(r["version"])
        if r["contact_id"] is not None:
            contacts.setdefault(r["group_id"], []).append(
                Contact(
                    r["contact_id"],
                    int(r["max_open"]),
                    int(r["open_count"]),
                    _hours(r["hours"]),
                    frozenset(r["languages"]),
                )
            )
    return version, contacts


async def group_with_contacts(session: AsyncSession, group_id: str) -> Group | None:
    """One group with its active contacts and their load, for the team's hand assignment."""
    g = (
        (
            await session.execute(
                text(
                    "select group_id, status, topics, municipalities, online, languages "
                    "from groups where group_id = :g"
                ),
                {"g": group_id},
            )
        )
        .mappings()
        .first()
    )
    if g is None:
        return None
    rows = await session.execute(
        text(
            "select contact_id, max_open, open_count, hours, languages from contacts "
            "where group_id = :g and active order by contact_id"
        ),
        {"g": group_id},
    )
    return Group(
        group_id=g["group_id"],
        topics=frozenset(g["topics"]),
        municipalities=frozenset(g["municipalities"]),
        online=bool(g["online"]),
        languages=frozenset(g["languages"]),
        status=g["status"],
        contacts=tuple(
            Contact(
                r["contact_id"],
                int(r["max_open"]),
                int(r["open_count"]),
                _hours(r["hours"]),
                frozenset(r["languages"]),
            )
            for r in rows.mappings()
        ),
    )


async def deactivate_contacts(
    session: AsyncSession, group_id: str, keep: frozenset[str] = frozenset()
) -> int:
    """Stop routing to a group's contacts not in `keep` (replaced in an import, or the group left).

    Their open callbacks keep their assignment until an outcome or the deadline.
    """
    result = await session.execute(
        text(
            "update contacts set active = false "
            "where group_id = :g and active and not (contact_id = any(cast(:keep as text[])))"
        ),
        {"g": group_id, "keep": sorted(keep)},
    )
    return result.rowcount


QUESTION_FIELDS = (
    "question_id",
    "reference",
    "channel",
    "topic",
    "pc4",
    "municipality",
    "language",
    "priority",
    "wants_to_start_group",
    "received_at",
    "respond_before",
)


async def insert_question(session: AsyncSession, values: dict) -> dict | None:
    """Store a received question (once: a second copy of it changes nothing). The new row, or
    None when it was already there: a row this transaction inserted is its own until commit,
    so it needs no lock; an older one is read with `get_question`'s (one statement saved on the
    first copy, nearly every time)."""
    result = await driver_sql(
        session,
        """
        insert into questions (question_id, reference, channel, topic, pc4, municipality,
                               language, priority, wants_to_start_group, received_at,
                               respond_before, state)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new')
        on conflict (question_id) do nothing
        returning *
        """,
        *(values[k] for k in QUESTION_FIELDS),
    )
    row = result.mappings().first()
    return dict(row) if row else None


async def get_question(session: AsyncSession, qid: UUID) -> dict | None:
    """The question, its row locked until commit (one decision per question at once)."""
    result = await driver_sql(
        session, "select * from questions where question_id = $1 for update", qid
    )
    row = result.mappings().first()
    return dict(row) if row else None


async def route_to(
    session: AsyncSession,
    qid: UUID,
    group_id: str,
    contact_id: str,
    reason: str,
    schedule: list[tuple[str, datetime]],
) -> int | None:
    """Take one open callback of the contact's capacity and, only if there was room, record the
    routing and replace the question's timers by `schedule` (unfired), in one statement: the
    question's new attempt number, or None when the contact was full, no longer active, no
    longer in the group, or the group not active (paused or left since it was read): nothing
    changed.

    The contact's row lock lasts until commit, so two routers cannot both take the last place;
    the release is the questions trigger (migration 0002), which gives back the previous
    contact's place when a routed question is routed again.
    """
    result = await driver_sql(
        session,
        """
        with held as (
            update contacts set open_count = open_count + 1
            where contact_id = $3 and active and open_count < max_open and group_id = $2
              and exists (select from groups where group_id = $2 and status = 'active')
            returning 1
        ), routed as (
            update questions set state = 'routed', group_id = $2, contact_id = $3, reason = $4,
                   attempt = attempt + 1, tried_groups = array_append(tried_groups, $2),
                   updated_at = now()
            where question_id = $1 and exists (select from held) returning attempt
        ), gone as (
            delete from timers where question_id = $1 and exists (select from held)
                                 and not (level = any($5::text[]))
        ), timers as (
            insert into timers (question_id, level, due_at)
            select $1, l, d from unnest($5::text[], $6::timestamptz[]) as s(l, d)
            where exists (select from held)
            on conflict (question_id, level) do update set due_at = excluded.due_at,
                                                           fired_at = null
        )
        select attempt from routed
        """,
        qid,
        group_id,
        contact_id,
        reason,
        [lvl for lvl, _ in schedule],
        [d for _, d in schedule],
    )
    return result.scalar()


# Store a received question and route it to one contact, in one statement (insert_routed).
INSERT_ROUTED_SQL = """
with held as (
    update contacts set open_count = open_count + 1
    where contact_id = $13 and active and open_count < max_open and group_id = $12
      and exists (select from groups where group_id = $12 and status = 'active')
      and not exists (select from questions where question_id = $1)
    returning 1
), h as (
    select exists (select from held) as routed
), q as (
    insert into questions (question_id, reference, channel, topic, pc4, municipality, language,
                           priority, wants_to_start_group, received_at, respond_before, state,
                           group_id, contact_id, reason, attempt, tried_groups)
    select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
           case when h.routed then 'routed' else 'new' end,
           case when h.routed then $12 end, case when h.routed then $13 end,
           case when h.routed then $14 end, case when h.routed then 1 else 0 end,
           case when h.routed then array[$12::text] else '{}' end
    from h
    on conflict (question_id) do nothing
    returning state, attempt
), timers as (
    insert into timers (question_id, level, due_at)
    select $1, l, d from unnest($15::text[], $16::timestamptz[]) as s(l, d)
    where exists (select from q where state = 'routed')
)
select (select routed from h) as held, q.state, q.attempt from h left join q on true
"""


class Stored(Exception):
    """The question was stored before this copy of it (insert_routed changed nothing)."""


async def insert_routed(
    session: AsyncSession,
    values: dict,
    group_id: str,
    contact_id: str,
    reason: str,
    schedule: list[tuple[str, datetime]],
) -> int | None:
    """Store a question just received and, if the contact has room, route it to them with its
    timers, in one statement: `insert_question` and `route_to` at once, for a question's first
    decision (a statement, and the update of the row just inserted, saved). Its attempt number
    (1); None when the contact could not take it (as for `route_to`), the question then stored
    as new for the next choice's `route_to`. Raises `Stored` when the question was there
    already (a second copy), changing nothing: the place is only taken for a question not
    stored yet, and given back in this transaction if a copy of it was stored meanwhile (the
    insert's conflict).

    The contact's row is locked before the insert waits for such a copy's transaction: if that
    transaction then routes another question to the same contact, one of the two is aborted as
    a deadlock (its batch is retried; capacity stays right). Two copies of one question handled
    at once are rare; `insert_question` first and `route_to` after could not deadlock so, at a
    statement more for every question.
    """
    row = (
        await driver_sql(
            session,
            INSERT_ROUTED_SQL,
            *(values[k] for k in QUESTION_FIELDS),
            group_id,
            contact_id,
            reason,
            [lvl for lvl, _ in schedule],
            [d for _, d in schedule],
        )
    ).first()
    if row["state"] is None:
        if row["held"]:
            await driver_sql(
                session,
                "update contacts set open_count = open_count - 1 where contact_id = $1",
                contact_id,
            )
        raise Stored
    return row["attempt"] if row["state"] == "routed" else None


async def set_state(
    session: AsyncSession, qid: UUID, state: str, reason: str | None = None
) -> None:
    await driver_sql(
        session,
        """
        update questions set state = $2, reason = coalesce($3, reason),
               contact_id = case when $2 = 'routed' then contact_id else null end,
               updated_at = now()
        where question_id = $1
        """,
        qid,
        state,
        reason,
    )


async def stop_timers(session: AsyncSession, qid: UUID, now: datetime) -> None:
    await driver_sql(
        session,
        "update timers set fired_at = $2 where question_id = $1 and fired_at is null",
        qid,
        now,
    )


async def count_unreachable(session: AsyncSession, qid: UUID) -> int:
    """One more callback attempt that did not reach the person; the attempts so far."""
    return (
        await session.execute(
            text(
                "update questions set unreachable_count = unreachable_count + 1 "
                "where question_id = :q returning unreachable_count"
            ),
            {"q": qid},
        )
    ).scalar_one()


async def due_timers(session: AsyncSession, now: datetime, limit: int = 200) -> list[dict]:
    """Claim due timers; SKIP LOCKED lets two routing instances share the work, each timer once."""
    rows = await session.execute(
        text(
            """
            select t.question_id, t.level, q.reference, q.group_id, q.contact_id, q.respond_before, q.state
            from timers t join questions q using (question_id)
            where t.fired_at is null and t.due_at <= :n
            order by t.due_at
            limit :l
            for update of t skip locked
            """
        ),
        {"n": now, "l": limit},
    )
    return [dict(r) for r in rows.mappings()]


async def mark_fired(session: AsyncSession, timers: list[tuple[UUID, str]], now: datetime) -> None:
    """Mark these (question, level) timers fired, in one statement."""
    if not timers:
        return
    await session.execute(
        text(
            """
            update timers t set fired_at = :n
            from unnest(cast(:qs as uuid[]), cast(:ls as text[])) as f(q, l)
            where t.question_id = f.q and t.level = f.l
            """
        ),
        {"qs": [q for q, _ in timers], "ls": [lvl for _, lvl in timers], "n": now},
    )


async def upsert_group(session: AsyncSession, g: dict) -> str | None:
    """Insert or update one group from an import; returns 'joined', 'updated' or None (unchanged)."""
    row = (
        (
            await session.execute(
                text("select * from groups where group_id = :group_id for update"), g
            )
        )
        .mappings()
        .first()
    )
    fields = ("name", "topics", "municipalities", "online", "languages")
    if row is not None and all(
        (sorted(row[f]) if isinstance(row[f], list) else row[f])
        == (sorted(g[f]) if isinstance(g[f], list) else g[f])
        for f in fields
    ):
        return None
    await session.execute(
        text(
            """
            insert into groups (group_id, name, topics, municipalities, online, languages)
            values (:group_id, :name, :topics, :municipalities, :online, :languages)
            on conflict (group_id) do update set name = excluded.name, topics = excluded.topics,
                municipalities = excluded.municipalities, online = excluded.online,
                languages = excluded.languages, updated_at = now()
            """
        ),
        g,
    )
    return "joined" if row is None else "updated"


async def upsert_contact(
    session: AsyncSession,
    contact_id: str,
    group_id: str,
    max_open: int,
    languages: list[str] | None = None,
) -> bool:
    result = await session.execute(
        text(
            """
            insert into contacts (contact_id, group_id, max_open, languages)
            values (:c, :g, :m, :l)
            on conflict (contact_id) do update set group_id = excluded.group_id,
                max_open = excluded.max_open, languages = excluded.languages, active = true
            where contacts.group_id is distinct from excluded.group_id
               or contacts.max_open is distinct from excluded.max_open
               or contacts.languages is distinct from excluded.languages or not contacts.active
            """
        ),
        {"c": contact_id, "g": group_id, "m": max_open, "l": languages or ["nl"]},
    )
    return result.rowcount > 0


async def set_group_status(session: AsyncSession, group_id: str, status: str) -> str | None:
    """Returns the previous status, or None when there is no such group."""
    prev = (
        await session.execute(
            text("select status from groups where group_id = :g for update"), {"g": group_id}
        )
    ).scalar()
    if prev is not None and prev != status:
        await session.execute(
            text("update groups set status = :s, updated_at = now() where group_id = :g"),
            {"g": group_id, "s": status},
        )
    return prev


async def public_groups(session: AsyncSession) -> list[dict]:
    rows = await session.execute(
        text(
            "select group_id, name, status, topics, municipalities, online, languages, description, "
            "meeting from groups where status <> 'left' order by name"
        )
    )
    return [dict(r) for r in rows.mappings()]


async def triage_queue(session: AsyncSession) -> list[dict]:
    rows = await session.execute(
        text(
            "select question_id, reference, topic, municipality, priority, reason, received_at, "
            "respond_before from questions where state = 'unmatched' "
            "order by priority desc, received_at"
        )
    )
    return [dict(r) for r in rows.mappings()]


async def close_question(
    session: AsyncSession, qid: UUID, reason: str, now: datetime
) -> str | None:
    """Close a queued question by hand; returns its previous state (None: no such question)."""
    prev = (
        await session.execute(
            text("select state from questions where question_id = :q for update"), {"q": qid}
        )
    ).scalar()
    if prev == "unmatched":
        await set_state(session, qid, "closed", reason)
        await stop_timers(session, qid, now)
    return prev


async def buddy_signals(session: AsyncSession, minimum: int = 2) -> list[dict]:
    """Waiting people who offered to help start a group, per topic and municipality."""
    rows = await session.execute(
        text(
            """
            select topic, municipality, count(*) as waiting, min(received_at) as since
            from questions
            where state = 'unmatched' and reason = 'no_group' and wants_to_start_group
            group by topic, municipality having count(*) >= :m
            order by count(*) desc, topic, municipality nulls last
            """
        ),
        {"m": minimum},
    )
    return [dict(r) for r in rows.mappings()]


async def group_for_contact(session: AsyncSession, group_id: str, contact_id: str) -> dict | None:
    """The group, if this contact person belongs to it (the self-service link's check)."""
    row = (
        (
            await session.execute(
                text(
                    "select g.group_id, g.name, g.status from groups g join contacts c "
                    "using (group_id) where g.group_id = :g and c.contact_id = :c and c.active"
                ),
                {"g": group_id, "c": contact_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def active_groups(session: AsyncSession) -> list[dict]:
    rows = await session.execute(
        text("select group_id, name from groups where status = 'active' order by name")
    )
    return [dict(r) for r in rows.mappings()]


async def contact_overview(session: AsyncSession, contact_id: str) -> dict | None:
    """A contact person's own settings and group, for their overview page."""
    row = (
        (
            await session.execute(
                text(
                    "select c.contact_id, c.max_open, c.hours, g.group_id, g.name, g.status "
                    "from contacts c join groups g using (group_id) "
                    "where c.contact_id = :c and c.active"
                ),
                {"c": contact_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def open_callbacks(session: AsyncSession, contact_id: str) -> list[dict]:
    """The questions this contact person still has to call back, the most urgent first."""
    rows = await session.execute(
        text(
            "select question_id, reference, topic, priority, received_at, respond_before, "
            # the routing time: a link minted on the overview ends a deadline after it at the latest
            "updated_at as routed_at "
            "from questions where contact_id = :c and state = 'routed' "
            "order by respond_before, reference"
        ),
        {"c": contact_id},
    )
    return [dict(r) for r in rows.mappings()]


async def contact_language(session: AsyncSession, contact_id: str) -> str:
    """The language a contact person reads in (the first she calls in); Dutch when unknown."""
    first = (
        await session.execute(
            text("select languages[1] from contacts where contact_id = :c"), {"c": contact_id}
        )
    ).scalar()
    return first or "nl"


async def set_capacity(session: AsyncSession, contact_id: str, max_open: int) -> None:
    await session.execute(
        text("update contacts set max_open = :m where contact_id = :c"),
        {"c": contact_id, "m": max_open},
    )


async def set_hours(session: AsyncSession, contact_id: str, hours: list[dict]) -> None:
    """`hours` as load_groups reads them: [{"weekday": 0, "start": "18:00", "end": "21:00"}]."""
    await session.execute(
        text("update contacts set hours = cast(:h as jsonb) where contact_id = :c"),
        {"c": contact_id, "h": json.dumps(hours)},
    )
