"""Routing's decision for one question: the matcher's best contact with room, tier by tier, or
the team's queue; and the team's manual assignment. Called by the handlers (handlers.py) and the
triage page; the caller's transaction holds it, the caller stages the returned event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event, QuestionRouted, QuestionUnmatched
from opendeur import outbox
from opendeur.errors import Refused
from opendeur.logging import get_logger
from services.routing import clock, regions, store
from services.routing.cache import GROUPS, GroupInfo
from services.routing.matching import (
    NETWORK_LANGUAGE,
    Contact,
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

# Triage is a Dutch staff page; most often a colleague was just quicker (another assignment, a
# close, or the team's crisis callback heard from intake).
TAKEN = "Deze vraag is net door een collega afgehandeld of toegewezen; er verandert niets."

# Takes a choice's capacity and records the routing: the question's attempt number, or None when
# the contact had no room left (another router took the last place).
Take = Callable[[Routed], Awaitable[int | None]]


def municipality_slug(pc4: str | None) -> str | None:
    name = regions.municipality_for(pc4)
    return store.slug(name) if name else None


async def route(
    session: AsyncSession, qid: UUID, now: datetime, q: dict | None = None
) -> Event | None:
    """Decide for one question (already stored) and return the resulting event to stage. `q` is
    its row when the caller already holds it in this transaction (just inserted, or read with
    its lock); else it is read here with its row lock (one decision per question at once)."""
    if q is None:
        q = await store.get_question(session, qid)
    if q is None or q["state"] in ("done", "closed", "erased"):
        return None
    need = _need(q)
    result = await decide(session, need, now, _taker(session, qid, _schedule(q, now)))
    return await _outcome(session, q, result, now)


async def route_received(session: AsyncSession, values: dict, now: datetime) -> Event | None:
    """Store a question just received and decide for it: `route` for a new row, with the first
    choice's take and the insert in one statement (store.insert_routed). When no choice is
    taken it is stored as it came; a copy stored before is decided as `route` does."""
    # As the row would give them back: in UTC (the event says the same instant either way).
    values = {
        **values,
        "received_at": values["received_at"].astimezone(UTC),
        "respond_before": values["respond_before"].astimezone(UTC),
    }
    q = {
        **values,
        "state": "new",
        "group_id": None,
        "contact_id": None,
        "reason": None,
        "attempt": 0,
        "tried_groups": [],
    }
    stored = False
    schedule = _schedule(q, now)
    then = _taker(session, values["question_id"], schedule)

    async def take(choice: Routed) -> int | None:
        nonlocal stored
        if stored:  # stored as new just now by the first take: routing it gives back nothing
            attempt = await then(choice)
        else:
            attempt = await store.insert_routed(
                session, values, choice.group_id, choice.contact_id, choice.reason, schedule
            )
            stored = True
        _took(session, choice, attempt is not None)
        return attempt

    try:
        result = await decide(session, _need(q), now, take, batch=True)
    except store.Stored:
        _forget_contacts(session)
        return await route(session, values["question_id"], now)
    if not stored:
        new = await store.insert_question(session, values)
        if new is None:
            _forget_contacts(session)
            return await route(session, values["question_id"], now)
        q = new
    return await _outcome(session, q, result, now)


def _need(q: dict) -> Need:
    return Need(
        topic=q["topic"],
        municipality=regions.municipality_for(q["pc4"]),
        language=q["language"],
        professional_help_advised=q["priority"],
        exclude_groups=frozenset(q["tried_groups"]),
    )


async def _outcome(
    session: AsyncSession, q: dict, result: tuple[Routed, int] | Unmatched, now: datetime
) -> Event:
    event: Event
    if isinstance(result, Unmatched):
        event = await to_team(session, q, result.reason, now)
    else:
        event = _routed(q, *result)
    log.info(
        "routed",
        question_id=str(q["question_id"]),
        outcome=event.subject,
        reason=getattr(result, "reason", None),
    )
    return event


async def decide(
    session: AsyncSession, need: Need, now: datetime, take: Take, *, batch: bool = False
) -> tuple[Routed, int] | Unmatched:
    """The matcher's best contact whose capacity `take` could take, tier by tier, with the
    question's attempt number.

    Only the groups that could take this question are read (from the cache, their contacts
    fresh from the database), so a decision costs the same with 10 or 5,000 groups. Capacity
    is taken by a conditional update on the contact (in the statement that records the
    routing); when another router took the last place, the next contact in the ranking is
    tried. Tier is the ranking's first key for a Dutch question, so trying the tiers in order
    gives the same order as ranking every candidate at once; for another language the language
    comes first, so all tiers are ranked together.

    `batch`: the contacts of a tier are read once for the transaction (`_tier_contacts`), for
    the decisions on a batch's new questions.
    """
    early = ranking(need, (), now)
    if isinstance(early, Unmatched) and early.reason != "no_group":
        return early
    decided = await _decide(session, need, now, take, batch)
    if batch and isinstance(decided, Unmatched) and decided.reason == "all_full":
        # Every contact full by the batch's reads: read afresh once before the team gets it (a
        # place given back since, a contact joining).
        _forget_contacts(session)
        decided = await _decide(session, need, now, take, batch)
    return decided


async def _decide(
    session: AsyncSession, need: Need, now: datetime, take: Take, batch: bool
) -> tuple[Routed, int] | Unmatched:
    for attempt in range(RELOADS + 1):
        if GROUPS.version is None:
            await GROUPS.reload(session)
        decided = await _decide_on_cache(
            session, need, now, take, last=attempt == RELOADS, batch=batch
        )
        if decided is not None:
            return decided
        await GROUPS.reload(session)  # the groups changed since the cache was read
    raise AssertionError("unreachable: the last attempt always decides")


async def _decide_on_cache(
    session: AsyncSession, need: Need, now: datetime, take: Take, *, last: bool, batch: bool
) -> tuple[Routed, int] | Unmatched | None:
    """One decision on the cached groups; None when they are stale (never on the `last` try)."""
    candidates = False
    tiers = [tier for tier in GROUPS.tiers(need) if tier]
    if need.language != NETWORK_LANGUAGE:
        tiers = [[g for tier in tiers for g in tier]]
    # No candidate in any tier: still one read, to know the cache was not stale.
    read = _tier_contacts if batch else store.contacts_of
    for tier in tiers or [[]]:
        version, contacts = await read(session, [g.group_id for g in tier])
        if version != GROUPS.version and not last:
            _forget_contacts(session)
            return None
        ranked = ranking(need, [_with_contacts(g, contacts) for g in tier], now)
        if isinstance(ranked, Unmatched):
            candidates = candidates or ranked.reason == "all_full"
            continue
        candidates = True
        for choice in ranked:
            if (attempt := await take(choice)) is not None:
                return choice, attempt
    return Unmatched("all_full" if candidates else "no_group")


# session.info: (the transaction, {tier's group ids: (groups version, contacts)}).
_TIER_CONTACTS = "routing.tier_contacts"


def _kept_contacts(session: AsyncSession) -> dict[tuple[str, ...], tuple[int, dict]]:
    """This transaction's kept reads (a savepoint's own: what it took goes with its rollback);
    none are kept outside a transaction."""
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    if transaction is None:
        return {}
    kept = session.info.get(_TIER_CONTACTS)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_TIER_CONTACTS] = (transaction, {})
    return kept[1]


async def _tier_contacts(
    session: AsyncSession, group_ids: list[str]
) -> tuple[int, dict[str, list[Contact]]]:
    """A tier's contacts as this transaction (a fetched batch of new questions) read them first,
    with the places its own takes took since (`_took`); read once, not once per question.

    Each take still holds the capacity in its own statement, so a place another router took
    since the read only shows as a take that fails, and the next choice is tried (`_took` then
    counts that contact full). A change by another transaction (a place given back, a pause, a
    contact joining) shows at the next batch, a few milliseconds later, as when the question
    had come that much earlier; a group paused since fails the take as a full contact does
    (`store.route_to`), and a decision that finds every contact full reads afresh once before
    the question goes to the team (`decide`). Anything else this transaction does to a
    contact's count (a stored question routed again gives back its previous contact's place)
    forgets the reads (`_forget_contacts`)."""
    kept = _kept_contacts(session)
    key = tuple(group_ids)
    if key not in kept:
        kept[key] = await store.contacts_of(session, group_ids)
    return kept[key]


def _took(session: AsyncSession, choice: Routed, taken: bool) -> None:
    """After a take in this transaction: the contact holds one more open callback, or (another
    router took the last place) none is left. Only her group's list changes (a contact is in
    one group)."""
    for _, contacts in _kept_contacts(session).values():
        if people := contacts.get(choice.group_id):
            contacts[choice.group_id] = [
                replace(c, open_count=c.open_count + 1 if taken else c.max_open)
                if c.contact_id == choice.contact_id
                else c
                for c in people
            ]


def _forget_contacts(session: AsyncSession) -> None:
    session.info.pop(_TIER_CONTACTS, None)


def _with_contacts(g: GroupInfo, contacts: dict[str, list[Contact]]) -> Group:
    return Group(
        g.group_id,
        g.topics,
        g.municipalities,
        g.online,
        g.languages,
        "active",
        tuple(contacts.get(g.group_id, ())),
    )


async def to_team(session: AsyncSession, q: dict, reason: str, now: datetime) -> QuestionUnmatched:
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


def _schedule(q: dict, now: datetime) -> list[tuple[str, datetime]]:
    """The question's escalation timers from now on (levels already past are not replayed)."""
    schedule = clock.escalation_schedule(q["received_at"], q["respond_before"])
    return [(lvl, due) for lvl, due in schedule if due > now or lvl == "breach"]


def _taker(session: AsyncSession, qid: UUID, schedule: list[tuple[str, datetime]]) -> Take:
    """`Take` for this question: route it to the choice if the contact has room, with its
    escalation timers `schedule` (`_schedule`: a re-routed question keeps its deadline, levels
    already past are not replayed)."""

    async def take(choice: Routed) -> int | None:
        return await store.route_to(
            session,
            qid,
            choice.group_id,
            choice.contact_id,
            choice.reason,
            schedule,
        )

    return take


def _routed(q: dict, result: Routed, attempt: int) -> QuestionRouted:
    """The event of a routing recorded by `store.route_to`; the caller stages it."""
    return QuestionRouted(
        question_id=q["question_id"],
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


async def assign(session: AsyncSession, qid: UUID, group_id: str, now: datetime) -> QuestionRouted:
    """The team routes a queued question by hand to a group's least-loaded contact with room
    (one who speaks the asker's language first); a `Refused` says why it cannot."""
    q = await store.get_question(session, qid)
    if q is None:
        raise Refused("not_found", "There is no such question.", "question_id", "not_found")
    if q["state"] != "unmatched":
        raise Refused("not_in_queue", TAKEN, kind="conflict")
    group = await store.group_with_contacts(session, group_id)
    if group is None:
        raise Refused("unknown_group", "There is no group with this id.", "group_id")
    if group.status != "active":
        raise Refused("group_not_active", "This group is paused or left.", "group_id")
    take = _taker(session, q["question_id"], _schedule(q, now))
    # Another router may take a place between read and update: try the next one.
    for candidate in by_load(group, q["language"]):
        choice = Routed(
            group.group_id,
            candidate.contact_id,
            "manual",
            language_matched=q["language"] in candidate.languages,
        )
        if (attempt := await take(choice)) is not None:
            break
    else:
        raise Refused("group_full", "No contact person of this group has room.", "group_id")
    event = _routed(q, choice, attempt)
    await outbox.add(session, event)
    log.info("assigned", question_id=str(qid), group_id=group.group_id)
    return event
