"""Intake persistence: questions and their personal data, which only ever exists encrypted here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    and_,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from opendeur import outbox
from opendeur.db import columns, driver_sql, positional
from opendeur.keys import UNKNOWN_KEY_WAIT_S, UNREADABLE, Envelope, waits_for_key
from opendeur.keystore import KeyStore, open_keystore
from opendeur.logging import get_logger
from opendeur.settings import get_settings
from services.intake import confirmation, domain

log = get_logger(component="intake")

metadata = MetaData()

questions = Table(
    "questions",
    metadata,
    Column("question_id", PgUUID(as_uuid=True), primary_key=True),
    Column("reference", Text, nullable=False),
    Column("withdraw_token_hash", LargeBinary, nullable=False),
    Column("channel", Text, nullable=False),
    Column("topic", Text),
    Column("pc4", Text),
    Column("language", Text, nullable=False),
    Column("consent_version", Text, nullable=False),
    Column("consent_at", DateTime(timezone=True), nullable=False),
    Column("consent_share", Boolean, nullable=False),
    Column("consent_statistics", Boolean, nullable=False),
    Column("professional_help_advised", Boolean, nullable=False),
    Column("wants_to_start_group", Boolean, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("respond_before", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("contact_id", Text),
    Column("group_id", Text),
    Column("outcome", Text),
    Column("outcome_at", DateTime(timezone=True)),
    Column("erase_after", DateTime(timezone=True)),
    Column("erased_at", DateTime(timezone=True)),
    Column("erase_reason", Text),
    Column("part_closed_at", DateTime(timezone=True)),
    Column("unreachable_count", Integer, nullable=False),
    Column("link_until", DateTime(timezone=True)),
    Column("assigned_at", DateTime(timezone=True)),
    Column("followup_answered", Boolean, nullable=False, server_default=text("false")),
)
question_pii = Table(
    "question_pii",
    metadata,
    Column(
        "question_id", PgUUID(as_uuid=True), ForeignKey("questions.question_id"), primary_key=True
    ),
    # Only rows from before the key store (migration 0003) have it, until the sweep adopts them.
    Column("wrapped_key", LargeBinary),
    Column("phone", LargeBinary, nullable=False),
    Column("story", LargeBinary),
    Column("call_times", LargeBinary),
)


# The help-seeker's own SMS confirmation, only when she asked for it (migration 0008): the text
# sealed with the question's key (it holds the withdraw link), the sender's state (jobs.py).
sms_confirmations = Table(
    "sms_confirmations",
    metadata,
    Column(
        "question_id", PgUUID(as_uuid=True), ForeignKey("questions.question_id"), primary_key=True
    ),
    Column("text", LargeBinary),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("last_error", Text),
)


@dataclass(frozen=True)
class Personal:
    phone: str
    story: str | None
    call_times: str | None


_keystore: KeyStore | None = None


def configure(store: KeyStore) -> None:
    """The key store of this process (intake's app sets it at start-up)."""
    global _keystore
    _keystore = store


def keystore() -> KeyStore:
    if _keystore is None:
        configure(open_keystore(get_settings()))
    assert _keystore is not None
    return _keystore


_Q_COLS = [c.name for c in questions.columns]
_PII_COLS = ("phone", "story", "call_times")
# The question, its encrypted data and the outbox row of its event: one statement, atomic on
# its own, so the POST needs one database round trip (no BEGIN/COMMIT); with the SMS the person
# asked for queued in the same statement (`_SMS_CTE`).
_SMS_CTE = (
    "s as (insert into sms_confirmations (question_id, text, next_attempt_at) "
    "values (:question_id, :sms_text, :received_at)), "
)


def _accept_sql(sms: bool) -> tuple[str, tuple[str, ...]]:
    return positional(
        "with q as (insert into questions ({qc}) values ({qv})), {s}"  # noqa: S608 (column names)
        "p as (insert into question_pii (question_id, {pc}) values (:question_id, {pv})) {ob} "
        "returning id".format(
            qc=", ".join(_Q_COLS),
            qv=", ".join(f":{c}" for c in _Q_COLS),
            s=_SMS_CTE if sms else "",
            pc=", ".join(_PII_COLS),
            pv=", ".join(f":pii_{c}" for c in _PII_COLS),
            ob=outbox.INSERT_SQL,
        )
    )


_ACCEPT_SQL = {sms: _accept_sql(sms) for sms in (False, True)}


async def accept(
    conn: Any,
    envelope: Envelope,
    row: dict,
    personal: Personal,
    event: dict,
    sms_text: str | None = None,
) -> int:
    """The question, its data encrypted with a fresh per-question key, and the outbox row of its
    event (`outbox.params`) in one statement, whose id it returns (for `outbox.hand_over`); with
    `sms_text`, the person's SMS confirmation queued, sealed with the same key. The wrapped key
    goes to the key store first (synced), so a committed question always has its key; a failed
    insert destroys it again."""
    qid: UUID = row["question_id"]
    key, wrapped = envelope.new_data_key()
    keys = keystore()
    await keys.put(qid, wrapped)

    def seal(field: str, value: str | None) -> bytes | None:
        return None if value is None else Envelope.seal(key, value, f"{qid}:{field}")

    values = dict.fromkeys(_Q_COLS)
    values["unreachable_count"] = 0
    values["followup_answered"] = False
    values.update(row)
    values.update(
        pii_phone=seal("phone", personal.phone),
        pii_story=seal("story", personal.story),
        pii_call_times=seal("call_times", personal.call_times),
        **event,
    )
    if sms_text is not None:
        values["sms_text"] = seal("sms", sms_text)
    try:
        sql, names = _ACCEPT_SQL[sms_text is not None]
        return (await driver_sql(conn, sql, *(values[n] for n in names))).scalar_one()
    except BaseException:
        await keys.destroy(qid)
        raise


async def assign_unmatched(
    conn: AsyncSession | AsyncConnection, qid: UUID, *, at: datetime
) -> None:
    """The question is in the team's queue: no contact, the last contact's part closed at `at`.
    A question erased or done keeps its state. `at` is the event's time: an older routing
    decision arriving late (the consumers of routed and unmatched are separate) changes
    nothing (`assign_routed` is its twin for a routing)."""
    await driver_sql(
        conn,
        """
        update questions set status = 'unmatched', contact_id = null, group_id = null,
               link_until = null, part_closed_at = $2, assigned_at = $2
        where question_id = $1 and erased_at is null and status not in ('done')
          and (assigned_at is null or assigned_at < $2)
        """,
        qid,
        at,
    )


@dataclass(frozen=True)
class Routing:
    """One routing decision as intake keeps it: the question's contact from `at` on."""

    question_id: UUID
    contact_id: str
    group_id: str
    at: datetime
    link_until: datetime
    event_id: UUID  # the routing's event (the statement claims it)


# A consumer's fetched batch of routings, in one statement with its inbox claim
# (`Runtime.handles_claiming`): of the routings not applied before, per question only the latest
# counts, as applying them one by one in order would leave (a later one replaces it; an older or
# equally old one after it changes nothing; an update joined to two rows of one question would
# apply either).
#
# The batch's rows are limited to their own number: that changes no result, but it lets
# PostgreSQL keep its generic plan. It cannot see an array parameter's length, reckons with ten
# rows of each, and so costs the generic plan ten times a custom plan for a batch of one (each
# batch at a low rate): without the limit it planned every execution anew, 0.2-0.5 ms against
# 0.15 ms of execution. For a limit it cannot see it reckons with a tenth of the rows: one.
ASSIGN_ROUTED_SQL = f"""
with {outbox.CLAIM_CTE}, v as (
    select distinct on (question_id) question_id, contact_id, group_id, at, link_until
    from (select * from unnest($3::uuid[], $4::text[], $5::text[], $6::timestamptz[],
                               $7::timestamptz[], $8::uuid[]) with ordinality
          limit cardinality($8::uuid[]))
        as b(question_id, contact_id, group_id, at, link_until, event_id, n)
    where event_id in (select event_id from fresh)
    order by question_id, at desc, n
), cur as (
    select q.question_id, q.status = 'done' and q.contact_id is null as undo
    from questions q join v using (question_id)
    where q.erased_at is null and (q.assigned_at is null or q.assigned_at < v.at)
    order by q.question_id
    for update of q
)
update questions q
set status = 'routed', contact_id = v.contact_id, group_id = v.group_id,
    link_until = v.link_until, part_closed_at = null, assigned_at = v.at,
    outcome = case when cur.undo then null else q.outcome end,
    outcome_at = case when cur.undo then null else q.outcome_at end,
    erase_after = case when cur.undo then q.received_at + $9::interval else q.erase_after end
from cur join v using (question_id)
where q.question_id = cur.question_id and (q.status <> 'done' or cur.undo)
returning q.question_id, cur.undo
"""  # noqa: S608 (constants)


async def assign_routed(
    conn: AsyncConnection, routings: list[Routing], *, retention: timedelta, claim: outbox.Claim
) -> set[UUID]:
    """A consumer's batch of routings (`claim`: its events, each once; `routings`: theirs),
    in one autocommitted statement that claims the events and routes the questions of those
    not applied before to their contacts: the new contact's part opens (until `link_until`);
    erased, done and older decisions as in `assign_unmatched`. A routing made before routing
    heard the team's outcome (a hand assignment in triage at the same moment) wins there, so
    here too: the team's close of a question it had alone (done, never with a contact: only
    `record_team_outcome` ends a question without one) is undone, its data kept as for an
    unanswered question (`retention` after receipt); the team's try stays in crisis_attempts.
    Returns the questions undone.

    The rows are locked first (in the questions' order, so two batches cannot lock each other
    out), and "undone" is read from the row alone: when the team's close commits while this
    waits for the lock, the locked row is the closed one, but another table read in this
    statement (crisis_attempts) would still be seen as before that commit."""
    if {r.event_id for r in routings} != set(claim.event_ids):
        raise ValueError("each routing's event, and only those, must be claimed")
    if not routings:
        return set()
    rows = await driver_sql(
        conn,
        ASSIGN_ROUTED_SQL,
        *claim,
        *columns(routings, "question_id", "contact_id", "group_id", "at", "link_until"),
        [r.event_id for r in routings],
        retention,
    )
    return {row["question_id"] for row in rows if row["undo"]}


async def record_outcome(
    session: AsyncSession,
    qid: UUID,
    contact_id: str,
    outcome: str,
    now: datetime,
    erase_after: datetime | None,
) -> str | None:
    """The contact's outcome, in the caller's transaction, only while it is that contact's open
    part (row locked); closes the part after a final outcome, wrong_group or the last
    unreachable. "open" or "closed" (the part after it), None when it was no longer theirs."""
    q = await get_question(session, qid, lock=True)
    if q is None or domain.callback_state(q, contact_id, now) != "ok":
        return None
    count = q["unreachable_count"] + (outcome == "unreachable")
    values: dict[str, Any] = {"outcome": outcome, "outcome_at": now, "unreachable_count": count}
    closed = domain.closes_part(outcome, count)
    if closed:
        values["part_closed_at"] = now
    if outcome in domain.FINAL_OUTCOMES:
        values["status"] = "done"
        values["erase_after"] = erase_after
    await session.execute(update(questions).where(questions.c.question_id == qid).values(**values))
    return "closed" if closed else "open"


def _own_link(qid: UUID, digest: bytes) -> Any:
    """Her own link (its token's hash) to her question, her data still there (the token's hash
    goes at erasure)."""
    c = questions.c
    return and_(c.question_id == qid, c.erased_at.is_(None), c.withdraw_token_hash == digest)


def _followup_open(qid: UUID, digest: bytes) -> Any:
    """The follow-up question is asked through her own link once, after a talk (done)."""
    c = questions.c
    return and_(_own_link(qid, digest), c.status == "done", c.followup_answered.is_(False))


async def own_link_state(session: AsyncSession, qid: UUID, digest: bytes) -> str | None:
    """What her own link (its token's hash) stands for now: None when it is not hers or her data
    is gone (withdrawn, erased); "waiting" before her call; after it "ask" (the follow-up not
    answered yet) or "answered"."""
    c = questions.c
    stmt = select(c.status, c.followup_answered).where(_own_link(qid, digest))
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    if row.status != "done":
        return "waiting"
    return "answered" if row.followup_answered else "ask"


async def take_followup_answer(
    session: AsyncSession, qid: UUID, digest: bytes, answer: str
) -> bool:
    """Take the one answer (the conditions of followup_open): the question is marked answered
    and the answer waits, without any id, for the next batch (`pop_followup_answers`)."""
    stmt = (
        update(questions)
        .where(_followup_open(qid, digest))
        .values(followup_answered=True)
        .returning(questions.c.question_id)
    )
    if (await session.execute(stmt)).first() is None:
        return False
    await session.execute(text("insert into followup_pending (answer) values (:a)"), {"a": answer})
    return True


async def pop_followup_answers(session: AsyncSession) -> list[str]:
    """Every answer waiting, removed (the caller publishes them in the same transaction)."""
    rows = await session.execute(text("delete from followup_pending returning answer"))
    return [r.answer for r in rows]


async def get_question(session: AsyncSession, qid: UUID, *, lock: bool = False) -> dict | None:
    stmt = select(questions).where(questions.c.question_id == qid)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def live_by_reference(session: AsyncSession, reference: str) -> list[UUID]:
    """The questions not yet erased with this reference (one, or none: references are random)."""
    stmt = select(questions.c.question_id).where(
        questions.c.reference == reference, questions.c.erased_at.is_(None)
    )
    return list((await session.execute(stmt.limit(5))).scalars())


async def _data_key(envelope: Envelope, qid: UUID, legacy: bytes | None) -> bytes | None:
    """The question's data key from the key store (or a row from before it); None once destroyed:
    an erasure that has not reached the rows yet."""
    wrapped = await keystore().get(qid) or legacy
    return None if wrapped is None else envelope.unwrap(wrapped)


async def read_personal(session: AsyncSession, envelope: Envelope, qid: UUID) -> Personal | None:
    row = (
        (await session.execute(select(question_pii).where(question_pii.c.question_id == qid)))
        .mappings()
        .first()
    )
    key = None if row is None else await _data_key(envelope, qid, row["wrapped_key"])
    if row is None or key is None:
        return None

    def unseal(field: str) -> str | None:
        value = row[field]
        return None if value is None else Envelope.open(key, value, f"{qid}:{field}")

    return Personal(
        phone=unseal("phone") or "", story=unseal("story"), call_times=unseal("call_times")
    )


async def erase(session: AsyncSession, qid: UUID, reason: str, now: datetime) -> bool:
    """Destroy the data key (synced) first, then the encrypted rows; what stays of the question
    is a stripped row (reference, channel, language, times, status, outcome) for support's "was
    it erased?" until the sweep deletes it (OPENDEUR_ERASED_RETENTION); topic, postcode, contact,
    group, the crisis flag and the withdraw token go at once. If the process dies between the
    key and the rows, the missing key reads as erased and the sweep finishes the rows."""
    await keystore().destroy(qid)
    deleted = await session.execute(delete(question_pii).where(question_pii.c.question_id == qid))
    await session.execute(
        delete(sms_confirmations).where(sms_confirmations.c.question_id == qid)
    )  # an SMS not yet sent is never sent
    await session.execute(
        update(questions)
        .where(questions.c.question_id == qid, questions.c.erased_at.is_(None))
        .values(
            erased_at=now,
            erase_reason=reason,
            status="erased",
            withdraw_token_hash=b"",
            topic=None,
            pc4=None,
            contact_id=None,
            group_id=None,
            professional_help_advised=False,  # a crisis flag is health data: not kept
            wants_to_start_group=False,
            followup_answered=False,  # nothing says she answered once her data is gone
            erase_after=None,
            part_closed_at=now,
        )
    )
    return deleted.rowcount > 0


async def due_for_erasure(session: AsyncSession, now: datetime, limit: int = 200) -> list[UUID]:
    rows = await session.execute(
        select(questions.c.question_id)
        .where(questions.c.erased_at.is_(None), questions.c.erase_after <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [r[0] for r in rows]


async def delete_erased_before(session: AsyncSession, before: datetime, limit: int = 500) -> int:
    """Delete the stripped rows of questions erased before `before` (OPENDEUR_ERASED_RETENTION)."""
    result = await session.execute(
        text(
            "delete from questions where question_id in (select question_id from questions "
            "where erased_at < :before limit :limit for update skip locked)"
        ),
        {"before": before, "limit": limit},
    )
    return result.rowcount or 0


async def adopt_legacy_keys(session: AsyncSession, limit: int = 200) -> int:
    """Move wrapped keys from rows written before migration 0003 to the key store, then clear
    them in the row (idempotent: a key already in the store is kept). Returns how many moved."""
    rows = (
        await session.execute(
            text(
                "select question_id, wrapped_key from question_pii where wrapped_key is not null "
                "limit :limit for update skip locked"
            ),
            {"limit": limit},
        )
    ).all()
    keys = keystore()
    for qid, wrapped in rows:
        if await keys.get(qid) is None:
            await keys.destroy(qid)  # a torn record of an earlier, interrupted attempt
            await keys.put(qid, bytes(wrapped))
    if rows:
        await session.execute(
            text("update question_pii set wrapped_key = null where question_id = any(:ids)"),
            {"ids": [r[0] for r in rows]},
        )
    return len(rows)


async def keys_missing(session: AsyncSession, sample: int = 20) -> int:
    """How many of the newest live questions (a sample) have no key in the key store: after a
    crash between a key's destruction and its rows this is one; many means the store is not the
    one these rows were written with (OPENDEUR_INTAKE_KEYSTORE). Nothing is erased for it."""
    rows = await session.execute(
        text(
            "select p.question_id from question_pii p join questions q using (question_id) "
            "where p.wrapped_key is null and q.erased_at is null "
            "order by q.received_at desc limit :n"
        ),
        {"n": sample},
    )
    keys = keystore()
    return sum([await keys.get(r[0]) is None for r in rows])


# The crisis callback by the team (web/crisis.py): its tries, nothing personal (migration 0007).
crisis_attempts = Table(
    "crisis_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("question_id", PgUUID(as_uuid=True), ForeignKey("questions.question_id")),
    Column("staff_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


async def open_crisis_questions(session: AsyncSession, limit: int = 200) -> list[dict]:
    """The crisis questions the team must still call back (domain.crisis_state open), oldest
    deadline first, each with its tries so far (`attempts`) and the last one's time."""
    rows = await session.execute(
        text(
            """
            select q.question_id, q.reference, q.received_at, q.respond_before, q.channel,
                   q.language, count(a.id) as attempts, max(a.at) as last_attempt
            from questions q left join crisis_attempts a using (question_id)
            where q.professional_help_advised and q.erased_at is null
              and q.status in ('received', 'unmatched')
            group by q.question_id
            order by q.respond_before, q.received_at
            limit :limit
            """
        ),
        {"limit": limit},
    )
    return [dict(r) for r in rows.mappings()]


async def question_by_reference(
    session: AsyncSession, reference: str, *, lock: bool = False
) -> dict | None:
    stmt = select(questions).where(questions.c.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def attempts_of(session: AsyncSession, qid: UUID) -> list[dict]:
    rows = await session.execute(
        select(crisis_attempts.c.staff_id, crisis_attempts.c.outcome, crisis_attempts.c.at)
        .where(crisis_attempts.c.question_id == qid)
        .order_by(crisis_attempts.c.at)
    )
    return [dict(r) for r in rows.mappings()]


async def record_team_outcome(
    session: AsyncSession,
    qid: UUID,
    staff_id: str,
    outcome: str,
    now: datetime,
    erase_after: datetime | None,
) -> str | None:
    """A team member's try on a crisis question, in the caller's transaction, only while the
    team still has it (row locked). A final outcome ends it (done; the data goes at
    `erase_after`, as after a contact's callback); "unreachable" keeps it open. "open" or
    "closed", None when it was no longer the team's to call."""
    q = await get_question(session, qid, lock=True)
    if q is None or domain.crisis_state(q) != "open":
        return None
    await session.execute(
        crisis_attempts.insert().values(question_id=qid, staff_id=staff_id, outcome=outcome, at=now)
    )
    if outcome not in domain.FINAL_OUTCOMES:
        return "open"
    await session.execute(
        update(questions)
        .where(questions.c.question_id == qid)
        .values(
            status="done",
            outcome=outcome,
            outcome_at=now,
            part_closed_at=now,
            erase_after=erase_after,
        )
    )
    return "closed"


@dataclass(frozen=True)
class Confirmation:
    """A due SMS confirmation, opened: where it goes, what it says, which try this is."""

    question_id: UUID
    to: str = field(repr=False)  # never in a log line or a traceback's repr
    text: str = field(repr=False)
    attempt: int = 0
    key: str = ""  # the gateway's Idempotency-Key (confirmation.idempotency_key)


async def claim_confirmations(
    session: AsyncSession, envelope: Envelope, in_flight: float, limit: int = 20
) -> list[Confirmation]:
    """Due confirmations of live questions, each marked as being sent (its try counted, due
    again after `in_flight` seconds should this process die before recording the outcome), and
    opened with the question's key. One whose key is gone (an erasure under way) is left out."""
    rows = (
        await session.execute(
            text(
                """
                update sms_confirmations s set status = 'sending', attempts = s.attempts + 1,
                       next_attempt_at = now() + make_interval(secs => :in_flight)
                from (select c.question_id, q.received_at from sms_confirmations c
                      join questions q using (question_id)
                      where c.status in ('queued', 'sending') and c.next_attempt_at <= now()
                        and q.erased_at is null
                      order by c.next_attempt_at limit :n
                      for update of c skip locked) due
                where s.question_id = due.question_id
                returning s.question_id, s.attempts, s.text, due.received_at
                """
            ),
            {"in_flight": in_flight, "n": limit},
        )
    ).all()
    opened = []
    for qid, attempt, sealed, received_at in rows:
        # Only the number is opened (never the story), with one read of the key.
        pii = (
            await session.execute(
                select(question_pii.c.phone, question_pii.c.wrapped_key).where(
                    question_pii.c.question_id == qid
                )
            )
        ).first()
        try:
            key = None if pii is None else await _data_key(envelope, qid, pii.wrapped_key)
            if pii is None or key is None or sealed is None:
                await confirmation_finished(session, qid, "failed", "erased")
                continue
            phone = Envelope.open(key, pii.phone, f"{qid}:phone")
            body = Envelope.open(key, sealed, f"{qid}:sms")
        except UNREADABLE as exc:  # waits (a look, not a try) or fails on its own
            waits = waits_for_key(exc, received_at)
            if waits:
                await session.execute(
                    text(
                        "update sms_confirmations set status = 'queued', "
                        "attempts = attempts - 1, last_error = 'unknown_key', "
                        "next_attempt_at = now() + make_interval(secs => :s) "
                        "where question_id = :q"
                    ),
                    {"q": qid, "s": UNKNOWN_KEY_WAIT_S},
                )
            else:
                await confirmation_finished(session, qid, "failed", "unreadable")
            log.error("sms_confirmation_unreadable", error=type(exc).__name__, retry=waits)
            continue
        opened.append(Confirmation(qid, phone, body, attempt, confirmation.idempotency_key(sealed)))
    return opened


async def confirmation_finished(
    session: AsyncSession, qid: UUID, status: str, error: str | None = None
) -> None:
    """Sent, or given up (`failed`, with the last error's code): the text goes at once."""
    await session.execute(
        update(sms_confirmations)
        .where(sms_confirmations.c.question_id == qid)
        .values(status=status, text=None, finished_at=func.now(), last_error=error)
    )


async def confirmation_retry(session: AsyncSession, qid: UUID, wait: float, error: str) -> None:
    await session.execute(
        text(
            "update sms_confirmations set status = 'queued', last_error = :error, "
            "next_attempt_at = now() + make_interval(secs => :wait) where question_id = :q"
        ),
        {"q": qid, "wait": wait, "error": error},
    )
