"""Notify persistence: delivery addresses encrypted at rest, the once-only delivery queue, breaches."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from opendeur import outbox
from opendeur.db import columns, driver_sql
from opendeur.keys import Envelope, KeyringError


@dataclass(frozen=True)
class Address:
    contact_id: str
    email: str | None
    mobile: str | None
    name: str | None
    channel: str
    language: str
    # The group this person is the contact of (an import knows it); None keeps what is stored.
    group_id: str | None = None


async def upsert_contact(session: AsyncSession, envelope: Envelope, a: Address) -> None:
    """Store a contact's addresses (encrypted). With a group: the contact is (again) that group's,
    and a contact person of the group stored before this transaction was replaced by them."""
    key, wrapped = envelope.new_data_key()

    def seal(field: str, value: str | None) -> bytes | None:
        return None if value is None else Envelope.seal(key, value, f"{a.contact_id}:{field}")

    await session.execute(
        text(
            """
            insert into contacts
                (contact_id, wrapped_key, email, mobile, name, channel, language, group_id)
            values (:c, :k, :e, :m, :n, :ch, :l, :g)
            on conflict (contact_id) do update set wrapped_key = excluded.wrapped_key,
                email = excluded.email, mobile = excluded.mobile, name = excluded.name,
                channel = excluded.channel, language = excluded.language, updated_at = now(),
                group_id = coalesce(excluded.group_id, contacts.group_id),
                left_at = case when excluded.group_id is null then contacts.left_at end,
                left_reason = case when excluded.group_id is null then contacts.left_reason end
            """
        ),
        {
            "c": a.contact_id,
            "k": wrapped,
            "e": seal("email", a.email),
            "m": seal("mobile", a.mobile),
            "n": seal("name", a.name),
            "ch": a.channel,
            "l": a.language,
            "g": a.group_id,
        },
    )
    if a.group_id is not None:
        # now() is the transaction's start: contacts written earlier in this same import (a group
        # with two contact persons) are not taken for replaced ones.
        await session.execute(
            text(
                "update contacts set left_at = now(), left_reason = 'replaced' "
                "where group_id = :g and contact_id <> :c and left_at is null "
                "and updated_at < now()"
            ),
            {"g": a.group_id, "c": a.contact_id},
        )


async def group_changed(session: Any, group_id: str, change: str, status: str, at: datetime) -> int:
    """A group left: its contact persons left with it (their addresses go after the grace
    period). It came back (joined, resumed): those who left with it are its contacts again."""
    if status == "left":
        sql = (
            "update contacts set left_at = :t, left_reason = 'group_left' "
            "where group_id = :g and left_at is null"
        )
    elif change in ("joined", "resumed"):
        sql = (
            "update contacts set left_at = null, left_reason = null "
            "where group_id = :g and left_reason = 'group_left'"
        )
    else:
        return 0
    return (await session.execute(text(sql), {"g": group_id, "t": at})).rowcount


async def delete_departed(session: Any, grace_s: float) -> int:
    """Delete the addresses of contact persons who left more than `grace_s` ago, unless a
    notification to them is still queued, being sent, or was claimed within the grace period."""
    result = await session.execute(
        text(
            """
            delete from contacts c
            where c.left_at < now() - make_interval(secs => :s)
              and not exists (
                  select 1 from notifications n where n.contact_id = c.contact_id
                    and (n.status in ('queued', 'sending')
                         or n.claimed_at > now() - make_interval(secs => :s)))
            """
        ),
        {"s": grace_s},
    )
    if result.rowcount:
        await session.execute(
            text(
                "delete from address_changes a where not exists "
                "(select 1 from contacts c where c.contact_id = a.contact_id)"
            )
        )
    return result.rowcount


async def prune_log(session: Any, keep_s: float) -> int:
    """Finished notifications and reported breaches older than `keep_s`: no redelivery or replay
    can come for them any more, and they name questions (reference, topic, times)."""
    notifications = await session.execute(
        text(
            "delete from notifications where status in ('sent', 'failed', 'uncertain') "
            "and claimed_at < now() - make_interval(secs => :s)"
        ),
        {"s": keep_s},
    )
    breaches = await session.execute(
        text(
            "delete from breaches where digest_day is not null "
            "and recorded_at < now() - make_interval(secs => :s)"
        ),
        {"s": keep_s},
    )
    # Address-change mails and confirmed changes: dates and who asked, nothing personal left.
    await session.execute(
        text(
            "delete from address_mails where status in ('sent', 'failed') "
            "and created_at < now() - make_interval(secs => :s)"
        ),
        {"s": keep_s},
    )
    await session.execute(
        text(
            "delete from address_changes where (status = 'pending' and expires_at < now()) "
            "or (status = 'confirmed' and requested_at < now() - make_interval(secs => :s))"
        ),
        {"s": keep_s},
    )
    return notifications.rowcount + breaches.rowcount


@dataclass(frozen=True)
class Forgotten:
    addresses: int
    log_entries: int


async def forget(
    session: AsyncSession, envelope: Envelope, email: str, contact_id: str
) -> Forgotten:
    """Art. 17: delete a contact person's addresses at once and take their pseudonymous id out
    of the notification log. `contact_id` is the pseudonym of `email` (as an import makes it);
    rows stored under another id (the staff API) are found by their decrypted e-mail."""
    wanted = email.strip().lower()
    ids = {contact_id}
    rows = (
        await session.execute(
            text(
                "select contact_id, wrapped_key, email, mobile, name, channel, language "
                "from contacts where email is not null for update"
            )
        )
    ).mappings()
    for row in rows:
        try:
            found = address(envelope, row["contact_id"], row)
        except (KeyringError, InvalidTag):  # under a retired key: cannot be matched by e-mail
            continue
        if (found.email or "").strip().lower() == wanted:
            ids.add(row["contact_id"])
    deleted = await session.execute(
        text("delete from contacts where contact_id = any(:ids)"), {"ids": list(ids)}
    )
    # A pending change and its mails go too.
    await session.execute(
        text("delete from address_changes where contact_id = any(:ids)"), {"ids": list(ids)}
    )
    await session.execute(
        text("delete from address_mails where contact_id = any(:ids)"), {"ids": list(ids)}
    )
    entries = 0
    for cid in ids:
        # A fresh placeholder per id keeps (question, contact, purpose) unique in the log.
        result = await session.execute(
            text("update notifications set contact_id = :anon where contact_id = :c"),
            {"c": cid, "anon": "forgotten-" + secrets.token_hex(6)},
        )
        entries += result.rowcount
    return Forgotten(deleted.rowcount, entries)


async def get_contact(session: AsyncSession, envelope: Envelope, contact_id: str) -> Address | None:
    row = (
        (
            await session.execute(
                text("select * from contacts where contact_id = :c"), {"c": contact_id}
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else address(envelope, contact_id, row)


def address(envelope: Envelope, contact_id: str, row: Any) -> Address:
    """Decrypt a contacts row (wrapped_key, email, mobile, name, channel, language)."""
    key = envelope.unwrap(row["wrapped_key"])

    def unseal(field: str) -> str | None:
        return (
            None if row[field] is None else Envelope.open(key, row[field], f"{contact_id}:{field}")
        )

    return Address(
        contact_id,
        unseal("email"),
        unseal("mobile"),
        unseal("name"),
        row["channel"],
        row["language"],
    )


@dataclass(frozen=True)
class Listed:
    """A contact as the coordinator's page lists it (addresses decrypted only to be masked)."""

    contact_id: str
    email: str | None
    mobile: str | None
    channel: str
    language: str
    group_id: str | None
    left: bool


async def all_contacts(session: AsyncSession, envelope: Envelope) -> list[Listed]:
    rows = (
        await session.execute(
            text(
                "select contact_id, wrapped_key, email, mobile, null as name, channel, language, "
                "group_id, left_at is not null as left from contacts "
                "order by left_at is not null, group_id nulls last, contact_id"
            )
        )
    ).mappings()
    out = []
    for row in rows:
        try:
            a = address(envelope, row["contact_id"], row)
        except (KeyringError, InvalidTag):  # under a retired key: listed without addresses
            a = Address(row["contact_id"], None, None, None, row["channel"], row["language"])
        out.append(
            Listed(
                a.contact_id, a.email, a.mobile, a.channel, a.language, row["group_id"], row["left"]
            )
        )
    return out


def mask_email(email: str | None) -> str | None:
    """a***@example.org: enough for staff to recognise an address, not to read it."""
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_mobile(mobile: str | None) -> str | None:
    if not mobile:
        return None
    digits = [c for c in mobile if c.isdigit()]
    return "***" + "".join(digits[-2:])


@dataclass(frozen=True)
class Job:
    """One notification in the delivery queue: who, what for, and the (non-personal) facts to render."""

    question_id: UUID
    contact_id: str
    purpose: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    # The channel tried first (recorded at claim time, so a crash mid-send is reported for the
    # channel actually attempted), and the contact's encrypted row, read in the same statement.
    channel: str | None = None
    contact_row: Any = None
    claimed_at: datetime | None = None  # which claim holds it (`unclaim`)


@dataclass(frozen=True)
class Queued:
    """A notification to queue: (question, contact, purpose) once. `routed_for`: the group a
    question was routed to this contact for; the contact becomes that group's contact (again,
    if they had left with it)."""

    question_id: UUID
    contact_id: str
    purpose: str
    kind: str
    payload: dict[str, Any]
    routed_for: str | None = None
    event_id: UUID | None = None  # the event it came from, for a claiming statement


# Queue once, a batch in one statement; the contacts become (again) the contacts of the groups
# their questions were routed to them for, the last one of the batch for a contact routed two.
# `v` is the batch, the same rows both ways (ENQUEUE_SQL, ENQUEUE_CLAIMING_SQL).
_ENQUEUE_REST = """
last_group as (
    select distinct on (contact_id) contact_id, routed_for from v
    where routed_for is not null
    order by contact_id, n desc
), c as (
    update contacts c set group_id = l.routed_for, left_at = null, left_reason = null
    from last_group l
    where c.contact_id = l.contact_id
      and (c.group_id is distinct from l.routed_for or c.left_at is not null)
)
insert into notifications (question_id, contact_id, purpose, status, kind, payload)
select question_id, contact_id, purpose, 'queued', kind, cast(payload as jsonb) from v order by n
on conflict do nothing
"""
ENQUEUE_SQL = f"""with v as (
    select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[]) with ordinality
        as v(question_id, contact_id, purpose, kind, routed_for, payload, n)
),
{_ENQUEUE_REST}"""  # noqa: S608 (constants)
# The same for the fetched batch of a consumer, with its inbox claim (`Runtime.handles_claiming`):
# only the events not applied before are queued.
ENQUEUE_CLAIMING_SQL = f"""with {outbox.CLAIM_CTE}, v as (
    select question_id, contact_id, purpose, kind, routed_for, payload, n
    from unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                $9::uuid[]) with ordinality
        as b(question_id, contact_id, purpose, kind, routed_for, payload, event_id, n)
    where event_id in (select event_id from fresh)
),
{_ENQUEUE_REST}"""  # noqa: S608 (constants)


async def enqueue_many(
    db: AsyncSession | AsyncConnection, queued: list[Queued], claim: outbox.Claim | None = None
) -> int:
    """Queue each (question, contact, purpose) once, in one statement; how many were new (a
    redelivery, or a second copy in the list, queues nothing). With `claim`, the statement
    claims those events for the consumer too, and queues only the rows of the events it had
    not applied before (each row's `event_id`)."""
    if claim is not None and {q.event_id for q in queued} != set(claim.event_ids):
        raise ValueError("each row's event, and only those, must be claimed")
    if not queued:
        return 0
    fields = ("question_id", "contact_id", "purpose", "kind", "routed_for")
    payloads = [json.dumps(q.payload) for q in queued]
    if claim is None:
        rows = await driver_sql(db, ENQUEUE_SQL, *columns(queued, *fields), payloads)
    else:
        rows = await driver_sql(
            db,
            ENQUEUE_CLAIMING_SQL,
            *claim,
            *columns(queued, *fields),
            payloads,
            [q.event_id for q in queued],
        )
    return rows.rowcount


async def enqueue(
    session: AsyncSession,
    qid: UUID,
    contact_id: str,
    purpose: str,
    kind: str,
    payload: dict[str, Any],
    *,
    routed_for: str | None = None,
) -> bool:
    """Queue one (question, contact, purpose) once; False if it was queued before."""
    return (
        await enqueue_many(session, [Queued(qid, contact_id, purpose, kind, payload, routed_for)])
        > 0
    )


async def unclaim(session: AsyncSession, jobs: list[Job]) -> int:
    """Give back claimed jobs that were not sent: each queued again as before its claim, if that
    claim is still the row's (status sending, its attempt and its time the claim's: another
    instance's claim of the same row after a claim that rolled back has the same attempt, not
    the same time). For a claim whose COMMIT raised: if it did commit, its jobs are sent by the
    next claim instead of swept as uncertain; if it did not, nothing matches. How many went
    back."""
    if not jobs:
        return 0
    result = await driver_sql(
        session,
        """
        update notifications n set status = 'queued', attempts = n.attempts - 1
        from unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])
            as j(q, c, p, a, t)
        where n.question_id = j.q and n.contact_id = j.c and n.purpose = j.p
          and n.status = 'sending' and n.attempts = j.a and n.claimed_at = j.t
        """,
        *columns(jobs, "question_id", "contact_id", "purpose", "attempts", "claimed_at"),
    )
    return result.rowcount


async def claim_due(session: AsyncSession, limit: int) -> list[Job]:
    """Take up to `limit` due jobs for this process; other instances skip the locked rows.
    One statement: the claim, the first channel to try, and the contact's (encrypted) row."""
    rows = (
        await driver_sql(
            session,
            """
                update notifications n set status = 'sending', attempts = n.attempts + 1,
                       claimed_at = now(),
                       -- the first channel the send tries (Dispatcher.send's order)
                       channel = case when n.contact_id = 'team' then 'email'
                                      when c.contact_id is null then null
                                      when c.channel = 'sms' and c.mobile is not null then 'sms'
                                      when c.email is not null then 'email'
                                      when c.mobile is not null then 'sms'
                                 end
                from (
                    select question_id, contact_id, purpose from notifications
                    where status = 'queued' and next_attempt_at <= now()
                    order by next_attempt_at limit $1 for update skip locked
                ) due
                left join contacts c on c.contact_id = due.contact_id
                where n.question_id = due.question_id and n.contact_id = due.contact_id
                  and n.purpose = due.purpose
                returning n.question_id, n.contact_id, n.purpose, n.kind, n.payload, n.attempts,
                          n.channel, c.contact_id as c_id, c.wrapped_key, c.email, c.mobile,
                          c.channel as c_channel, c.language, n.claimed_at
                """,
            limit,
        )
    ).mappings()
    return [
        Job(
            r["question_id"],
            r["contact_id"],
            r["purpose"],
            r["kind"],
            r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]),
            r["attempts"],
            r["channel"],
            None
            if r["c_id"] is None
            else {
                "wrapped_key": r["wrapped_key"],
                "email": r["email"],
                "mobile": r["mobile"],
                "name": None,  # a send needs no name: it is not decrypted for one
                "channel": r["c_channel"],
                "language": r["language"],
            },
            r["claimed_at"],
        )
        for r in rows
    ]


async def set_channel(session: Any, job: Job, channel: str) -> None:
    """The send falls back to another channel: record it before trying."""
    await session.execute(
        text(
            "update notifications set channel = :ch "
            "where question_id = :q and contact_id = :c and purpose = :p and status = 'sending'"
        ),
        {"q": job.question_id, "c": job.contact_id, "p": job.purpose, "ch": channel},
    )


async def retry_later(session: AsyncSession, job: Job, seconds: float, error_code: str) -> None:
    await session.execute(
        text(
            "update notifications set status = 'queued', last_error = :e, "
            "next_attempt_at = now() + make_interval(secs => :s) "
            "where question_id = :q and contact_id = :c and purpose = :p and status = 'sending'"
        ),
        {
            "q": job.question_id,
            "c": job.contact_id,
            "p": job.purpose,
            "s": seconds,
            "e": error_code,
        },
    )


@dataclass(frozen=True)
class Outcome:
    """How a send ended (sent or failed), with the outbox row of the event that says so."""

    job: Job
    event: dict  # outbox.params of ContactNotified or NotificationFailed
    status: str
    channel: str | None
    error_code: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (str(self.job.question_id), self.job.contact_id, self.job.purpose)


FINISH_SQL = """
with o as (
    select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::uuid[], $8::text[], $9::bytea[])
        as o(question_id, contact_id, purpose, status, channel, error_code, ob_id, ob_subject,
             ob_payload)
), f as (
    update notifications n set status = o.status, channel = o.channel,
           error_code = o.error_code,
           sent_at = case when o.status = 'sent' then now() else n.sent_at end
    from o
    where n.question_id = o.question_id and n.contact_id = o.contact_id
      and n.purpose = o.purpose and n.status = 'sending'
    returning n.question_id, n.contact_id, n.purpose
), staged as (
    insert into outbox (event_id, subject, payload)
    select o.ob_id, o.ob_subject, o.ob_payload
    from o join f using (question_id, contact_id, purpose)
    returning id, event_id
)
select o.question_id, o.contact_id, o.purpose, s.id
from staged s join o on o.ob_id = s.event_id
"""


async def finish(conn: Any, outcomes: list[Outcome]) -> dict[tuple[str, str, str], int]:
    """Record finished sends and stage their events in one statement (atomic on its own), for
    as many sends as there are. Returns the keys that were finished, each with the outbox row
    of its event (for `outbox.hand_over`); a job that is no longer 'sending' is left out: the
    stuck-send sweep already reported it as uncertain and put it in the team's queue, and a
    second, contradicting outcome must not follow."""
    rows = await driver_sql(
        conn,
        FINISH_SQL,
        [o.job.question_id for o in outcomes],
        [o.job.contact_id for o in outcomes],
        [o.job.purpose for o in outcomes],
        [o.status for o in outcomes],
        [o.channel for o in outcomes],
        [o.error_code for o in outcomes],
        [o.event["ob_id"] for o in outcomes],
        [o.event["ob_subject"] for o in outcomes],
        [o.event["ob_payload"] for o in outcomes],
    )
    return {(str(r[0]), r[1], r[2]): r[3] for r in rows}


async def stale_sending(session: AsyncSession, older_than_s: float) -> list[Job]:
    """Jobs left 'sending' by a process that died mid-send: mark them uncertain, once."""
    rows = (
        await session.execute(
            text(
                """
                update notifications set status = 'uncertain', error_code = 'delivery_uncertain'
                where status = 'sending' and claimed_at < now() - make_interval(secs => :s)
                returning question_id, contact_id, purpose, kind, payload, attempts, channel
                """
            ),
            {"s": older_than_s},
        )
    ).mappings()
    return [
        Job(
            r["question_id"],
            r["contact_id"],
            r["purpose"],
            r["kind"],
            {},
            r["attempts"],
            r["channel"],
        )
        for r in rows
    ]


async def record_breach(
    session: AsyncSession, qid: UUID, reference: str, respond_before: datetime
) -> None:
    await session.execute(
        text(
            "insert into breaches (question_id, reference, respond_before) values (:q, :r, :d) "
            "on conflict do nothing"
        ),
        {"q": qid, "r": reference, "d": respond_before},
    )


async def claim_digest(session: AsyncSession, day: date) -> list[tuple[str, datetime]] | None:
    """Claim today's digest and the breaches it covers; None if another process sent it already
    or there is nothing to report. Call inside the transaction that sends it."""
    pending = (
        await session.execute(
            text(
                "select question_id, reference, respond_before from breaches "
                "where digest_day is null order by respond_before for update skip locked"
            )
        )
    ).all()
    if not pending:
        return None
    claimed = await session.execute(
        text(
            "insert into digests (day, questions) values (:d, :n) on conflict do nothing returning 1"
        ),
        {"d": day, "n": len(pending)},
    )
    if claimed.first() is None:
        return None
    await session.execute(
        text("update breaches set digest_day = :d where question_id = any(:ids)"),
        {"d": day, "ids": [r.question_id for r in pending]},
    )
    return [(r.reference, r.respond_before) for r in pending]


async def digest_sent(session: AsyncSession, day: date) -> bool:
    result = await session.execute(text("select 1 from digests where day = :d"), {"d": day})
    return result.first() is not None
