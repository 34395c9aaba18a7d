"""Routing's subscribers: route each question, keep the clock, react to outcomes and failures."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import (
    CallbackDone,
    Event,
    NotificationFailed,
    QuestionErased,
    QuestionEscalated,
    QuestionReceived,
    QuestionRouted,
    QuestionUnmatched,
)
from opendeur import metrics, outbox
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from services.routing import clock, regions, store
from services.routing.cache import GROUPS
from services.routing.matching import (
    NETWORK_LANGUAGE,
    Group,
    Need,
    Routed,
    Unmatched,
    by_load,
    ranking,
)

log = get_logger(component="routing")
MAX_UNREACHABLE = 3
RELOADS = 3  # groups changing faster than this per decision: decide on the last copy read


def municipality_slug(pc4: str | None) -> str | None:
    name = regions.municipality_for(pc4)
    return store.slug(name) if name else None


async def route(session: AsyncSession, qid: UUID, now: datetime) -> Event | None:
    """Decide for one question (already stored) and return the resulting event to stage."""
    q = await store.get_question(session, qid)  # its row lock: one decision per question at once
    if q is None or q["state"] in ("done", "closed", "erased"):
        return None
    need = Need(
        topic=q["topic"],
        municipality=regions.municipality_for(q["pc4"]),
        language=q["language"],
        professional_help_advised=q["priority"],
        exclude_groups=frozenset(q["tried_groups"]),
    )
    result = await decide(session, need, now)
    event: Event
    if isinstance(result, Routed):
        event = await _routed(session, q, result, now)
    else:
        event = await _to_team(session, q, result.reason, now)
    log.info(
        "routed",
        question_id=str(qid),
        outcome=event.subject,
        reason=getattr(result, "reason", None),
    )
    return event


async def decide(session: AsyncSession, need: Need, now: datetime) -> Routed | Unmatched:
    """The matcher's best contact whose capacity could be taken, tier by tier.

    Only the groups that could take this question are read (from the cache, their contacts
    fresh from the database), so a decision costs the same with 10 or 5,000 groups. Capacity
    is taken by a conditional update on the contact; when another router took the last place,
    the next contact in the ranking is tried. Tier is the ranking's first key, so trying the
    tiers in order gives the same order as ranking every candidate at once.
    """
    early = ranking(need, (), now)
    if isinstance(early, Unmatched) and early.reason != "no_group":
        return early
    for attempt in range(RELOADS + 1):
        if GROUPS.version is None:
            await GROUPS.reload(session)
        last = attempt == RELOADS
        candidates = checked = stale = False
        tiers = GROUPS.tiers(need)
        if need.language != NETWORK_LANGUAGE:
            # The asker's language goes before the tier: rank every tier's contacts at once.
            tiers = [[g for tier in tiers for g in tier]]
        for tier in tiers:
            if not tier and checked:
                continue
            version, contacts = await store.contacts_of(session, [g.group_id for g in tier])
            checked = True
            if version != GROUPS.version and not last:
                stale = True
                break
            ranked = ranking(
                need,
                [
                    Group(
                        g.group_id,
                        g.topics,
                        g.municipalities,
                        g.online,
                        g.languages,
                        "active",
                        tuple(contacts.get(g.group_id, ())),
                    )
                    for g in tier
                ],
                now,
            )
            if isinstance(ranked, Unmatched):
                candidates = candidates or ranked.reason == "all_full"
                continue
            candidates = True
            for choice in ranked:
                if await store.hold_capacity(session, choice.contact_id):
                    return choice
        if stale:
            await GROUPS.reload(session)
            continue
        return Unmatched("all_full" if candidates else "no_group")
    raise AssertionError("unreachable: the last attempt always decides")


async def _to_team(session: AsyncSession, q: dict, reason: str, now: datetime) -> QuestionUnmatched:
    """Put a question in the team's queue and stop its clock; the caller stages the event."""
    await store.set_state(session, q["question_id"], "unmatched", reason)
    await store.stop_timers(session, q["question_id"], now)
    return QuestionUnmatched(
        question_id=q["question_id"],
        reason=reason,
        topic=q["topic"],
        municipality=q["municipality"],
        priority=q["priority"],
    )


async def _routed(session: AsyncSession, q: dict, result: Routed, now: datetime) -> QuestionRouted:
    """Record the routing, (re)start the clock and build the event; the caller stages it."""
    qid = q["question_id"]
    attempt = await store.set_routed(
        session, qid, result.group_id, result.contact_id, result.reason
    )
    schedule = clock.escalation_schedule(q["received_at"], q["respond_before"])
    # A re-routed question keeps its deadline; levels already past are not replayed.
    await store.restart_timers(
        session, qid, [(lvl, due) for lvl, due in schedule if due > now or lvl == "breach"]
    )
    return QuestionRouted(
        question_id=qid,
        reference=q["reference"],
        group_id=result.group_id,
        contact_id=result.contact_id,
        reason=result.reason,
        attempt=attempt,
        topic=q["topic"],
        municipality=q["municipality"],
        priority=q["priority"],
        channel=q["channel"],
        received_at=q["received_at"],
        respond_before=q["respond_before"],
        language=q["language"],
        language_matched=result.language_matched,
    )


class AssignRefused(Exception):
    """The team's hand assignment cannot be done; `field` and `code` say why."""

    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.field = status, code, message, field


async def assign(session: AsyncSession, qid: UUID, group_id: str, now: datetime) -> QuestionRouted:
    """The team routes a queued question by hand to a group's least-loaded contact with room."""
    q = await store.get_question(session, qid)
    if q is None:
        raise AssignRefused(404, "not_found", "There is no such question.", "question_id")
    if q["state"] != "unmatched":
        raise AssignRefused(409, "not_in_queue", "This question is not in the queue.", None)
    group = await store.group_with_contacts(session, group_id)
    if group is None:
        raise AssignRefused(422, "unknown_group", "There is no group with this id.", "group_id")
    if group.status != "active":
        raise AssignRefused(422, "group_not_active", "This group is paused or left.", "group_id")
    contact = None
    for candidate in by_load(
        group, q["language"]
    ):  # another router may take a place between read and update
        if await store.hold_capacity(session, candidate.contact_id):
            contact = candidate
            break
    if contact is None:
        raise AssignRefused(
            422, "group_full", "No contact person of this group has room.", "group_id"
        )
    event = await _routed(
        session,
        q,
        Routed(
            group.group_id,
            contact.contact_id,
            "manual",
            language_matched=q["language"] in contact.languages,
        ),
        now,
    )
    await outbox.add(session, event)
    log.info("assigned", question_id=str(qid), group_id=group.group_id)
    return event


async def on_received(event: QuestionReceived, db: AsyncSession) -> Event | None:
    await store.insert_question(
        db,
        {
            "question_id": event.question_id,
            "reference": event.reference,
            "channel": event.channel,
            "topic": event.topic,
            "pc4": event.pc4,
            "municipality": municipality_slug(event.pc4),
            "language": event.language,
            "priority": event.professional_help_advised,
            "wants_to_start_group": event.wants_to_start_group,
            "received_at": event.received_at,
            "respond_before": event.respond_before,
        },
    )
    return await route(db, event.question_id, datetime.now(UTC))


async def on_callback(event: CallbackDone, db: AsyncSession) -> Event | None:
    now = datetime.now(UTC)
    q = await store.get_question(db, event.question_id)
    if q is None or q["state"] != "routed" or q["contact_id"] != event.contact_id:
        return None
    if event.outcome in ("reached", "referred_professional"):
        await store.set_state(db, event.question_id, "done", event.outcome)
        await store.stop_timers(db, event.question_id, now)
    elif event.outcome == "wrong_group":
        return await route(db, event.question_id, now)
    elif event.outcome == "unreachable":
        count = (
            await db.execute(
                text(
                    "update questions set unreachable_count = unreachable_count + 1 "
                    "where question_id = :q returning unreachable_count"
                ),
                {"q": event.question_id},
            )
        ).scalar_one()
        if count >= MAX_UNREACHABLE:
            return await _to_team(db, q, "unreachable", now)
    return None


async def on_notification_failed(event: NotificationFailed, db: AsyncSession) -> Event | None:
    if event.question_id is None:
        return None
    q = await store.get_question(db, event.question_id)
    if q is None or q["state"] != "routed" or q["contact_id"] != event.contact_id:
        return None
    return await _to_team(db, q, "notification_failed", datetime.now(UTC))


async def on_erased(event: QuestionErased, db: AsyncSession) -> None:
    q = await store.get_question(db, event.question_id)
    if q is not None and q["state"] not in ("done",):
        await store.set_state(db, event.question_id, "erased", event.reason)
    await store.stop_timers(db, event.question_id, datetime.now(UTC))


def register(rt: Runtime) -> None:
    rt.handles(QuestionReceived)(on_received)
    rt.handles(CallbackDone)(on_callback)
    rt.handles(NotificationFailed)(on_notification_failed)
    rt.handles(QuestionErased)(on_erased)

    @rt.every(1.0)
    async def fire_timers() -> None:
        now = datetime.now(UTC)
        raised: list[QuestionEscalated] = []
        async with rt.sessions() as session, session.begin():
            due = await store.due_timers(session, now)
            for t in due:
                await store.mark_fired(session, t["question_id"], t["level"], now)
                if t["state"] == "routed":
                    raised.append(
                        QuestionEscalated(
                            question_id=t["question_id"],
                            level=t["level"],
                            reference=t["reference"],
                            group_id=t["group_id"],
                            contact_id=t["contact_id"],
                            respond_before=t["respond_before"],
                        )
                    )
            await outbox.add(session, *raised)
        if due:
            outbox.wake_relay()
        for event in raised:  # counted once committed
            metrics.ESCALATIONS.labels(level=event.level).inc()
            if event.level == "breach":
                metrics.DEADLINE_BREACHES.inc()
