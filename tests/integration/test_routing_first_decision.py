"""A received question's first decision (routing's `decisions.route_received`, which stores the
question and takes the first choice's place in one statement) leaves the same question row, the
same timers, the same counts and the same event as the two statements of before (store it, then
`decisions.route`), on a real PostgreSQL, in each way a decision can go."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.embedded import Postgres
from services.routing import decisions, store
from services.routing.cache import GROUPS
from tests.support import migrated_database
from tests.support import received_values as values

NOW = datetime.now(UTC)
PLUS_TWO = timezone(timedelta(hours=2))
SETUP = """
insert into groups (group_id, name, topics, online) values ('g1', 'G1', '{angst}', true),
                                                          ('g2', 'G2', '{angst}', true);
insert into contacts (contact_id, group_id, max_open) values ('anna', 'g1', 2), ('bert', 'g2', 5);
"""


async def old_path(session: AsyncSession, v: dict) -> object:
    return await decisions.route(
        session, v["question_id"], NOW, await store.insert_question(session, v)
    )


async def new_path(session: AsyncSession, v: dict) -> object:
    return await decisions.route_received(session, v, NOW)


@pytest.fixture
def database(pg: Postgres) -> Callable[[], Awaitable[tuple]]:
    """A fresh migrated routing database with two groups: (owner connection, routing's engine)."""

    async def fresh() -> tuple[asyncpg.Connection, object]:
        name, settings = await migrated_database(pg, "routing")
        owner = await asyncpg.connect(pg.url(name), server_settings={"search_path": "routing"})
        await owner.execute(SETUP)
        GROUPS.version = None  # another test's database may be at the same version
        return owner, make_engine(service_url(settings, "routing"), pool_size=2, schema="routing")

    return fresh


async def outcome(owner: asyncpg.Connection, qid: uuid.UUID, event: object) -> tuple:
    """The question row, its timers, every contact's count, and the event (without its ids)."""
    row = await owner.fetchrow("select * from questions where question_id = $1", qid)
    timers = await owner.fetch(
        "select level, due_at, fired_at from timers where question_id = $1 order by level", qid
    )
    counts = await owner.fetch("select contact_id, open_count from contacts order by 1")
    routed = await owner.fetch(
        "select contact_id, count(*) from questions where state = 'routed' group by 1 order by 1"
    )
    assert [tuple(r) for r in counts if r[1]] == [tuple(r) for r in routed]  # the counter holds
    return (
        {k: v for k, v in dict(row).items() if k != "updated_at"} if row else None,
        [tuple(t) for t in timers],
        [tuple(c) for c in counts],
        None
        if event is None
        else event.model_dump(mode="json", exclude={"event_id", "occurred_at"}),  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize(
    "case",
    [
        "routed",
        "received in another zone",
        "crisis: the team, no place taken",
        "no topic",
        "first contact full by the time of the take",
        "every contact full by the time of the take",
        "a copy stored before",
        "a copy routed before",
    ],
)
async def test_the_first_decision_ends_as_the_two_statements_of_before(
    database: Callable, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    v = values()
    if case == "received in another zone":
        v = values(
            received_at=NOW.astimezone(PLUS_TWO),
            respond_before=(NOW + timedelta(hours=24)).astimezone(PLUS_TWO),
        )
    elif case.startswith("crisis"):
        v = values(priority=True)
    elif case == "no topic":
        v = values(topic=None)
    ended = {}
    for name, path in (("before", old_path), ("now", new_path)):  # each on a fresh database
        owner, engine = await database()
        if "full by the time of the take" in case:
            # The decision reads room that another router has taken before its take.
            full = "anna" if case.startswith("first") else "%"
            await owner.execute("update contacts set max_open = 0 where contact_id like $1", full)
            read = store.contacts_of

            async def with_room(session: AsyncSession, ids: list[str], read=read) -> tuple:
                version, contacts = await read(session, ids)
                return version, {
                    g: [replace(c, max_open=5, open_count=0) for c in cs]
                    for g, cs in contacts.items()
                }

            monkeypatch.setattr(store, "contacts_of", with_room)
        elif case.startswith("a copy"):
            async with sessionmaker(engine)() as session, session.begin():
                if case == "a copy stored before":
                    await store.insert_question(session, v)
                else:
                    await old_path(session, v)
        try:
            async with sessionmaker(engine)() as session, session.begin():
                event = await path(session, v)
            ended[name] = await outcome(owner, v["question_id"], event)
        finally:
            monkeypatch.undo()
            await owner.close()
            await engine.dispose()
    assert ended["now"][0]["state"] in ("routed", "unmatched")
    assert ended["now"] == ended["before"]


# Each case: what another transaction does before which decision, each contact's question in
# the end (in the batch's order), and how many reads of the contacts the batch made.
BATCH_CASES = {
    "plain": (None, ["anna", "bert", "carl", "bert", "bert", "anna", "bert", "bert", None], 2),
    # carl's room goes after the batch's read (another router, a new capacity): the batch's
    # take on carl fails, and its next choice is the one a fresh read gives.
    "carl has no room left": (
        (1, "update contacts set max_open = 0 where contact_id = 'carl'"),
        ["anna", "bert", "bert", "bert", "anna", "bert", "bert", None, None],
        3,
    ),
    # g1 paused after the batch's read: the take on anna (g1) fails as for a full contact (the
    # groups' version moved, which the first fresh read finds: one read more).
    "g1 paused": (
        (1, "update groups set status = 'paused' where group_id = 'g1'"),
        ["anna", "bert", "carl", "bert", "bert", "bert", "bert", None, None],
        4,
    ),
    # dora gets room before the last question: every contact is full by the batch's reads,
    # so it reads afresh before the team would get it.
    "room comes free": (
        (8, "update contacts set max_open = 1 where contact_id = 'dora'"),
        ["anna", "bert", "carl", "bert", "bert", "anna", "bert", "bert", "dora"],
        2,
    ),
    # A copy (fifth) of the first question routes it again, to g2 (g1 tried), and gives anna's
    # place back: its own decision reads, and the batch reads afresh after it.
    "a copy of a routed one": (
        None,
        ["bert", "bert", "carl", "bert", "bert", "anna", "anna", "bert", "bert", None],
        4,
    ),
}


@pytest.mark.parametrize("case", list(BATCH_CASES))
async def test_a_batch_of_new_questions_reads_the_contacts_once_and_ends_as_one_by_one(
    database: Callable, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Nine new questions decided in one transaction (a fetched batch) and in nine: the same
    contact for each, the same counts, the same events; the batch reads its tier's contacts
    once, and again only when every contact is full by its reads (the last question here) or
    after something it cannot follow (BATCH_CASES)."""
    meanwhile, expected, batch_reads = BATCH_CASES[case]
    questions = [values(reference=f"OD-TEST-{i:04d}") for i in range(9)]
    if case == "a copy of a routed one":  # midway, so that the decisions after it see its effect
        batch = [*questions[:4], questions[0], *questions[4:]]
    else:
        batch = questions
    ended, reads = {}, {}
    for name in ("one by one", "batch"):
        owner, engine = await database()
        await owner.execute(
            "insert into contacts (contact_id, group_id, max_open)"
            " values ('carl', 'g2', 1), ('dora', 'g2', 0)"
        )
        read, reads[name] = store.contacts_of, 0

        async def counted(session: AsyncSession, ids: list[str], read=read, name=name) -> tuple:
            reads[name] += 1
            return await read(session, ids)

        monkeypatch.setattr(store, "contacts_of", counted)

        async def before(i: int, owner: asyncpg.Connection = owner) -> None:
            if meanwhile is not None and i == meanwhile[0]:
                await owner.execute(meanwhile[1])

        events = []
        try:
            if name == "batch":
                async with sessionmaker(engine)() as session, session.begin():
                    for i, v in enumerate(batch):
                        await before(i)
                        events.append(await decisions.route_received(session, v, NOW))
            else:
                for i, v in enumerate(batch):
                    await before(i)
                    async with sessionmaker(engine)() as session, session.begin():
                        events.append(await decisions.route_received(session, v, NOW))
            ended[name] = [
                await outcome(owner, v["question_id"], e)
                for v, e in zip(batch, events, strict=True)
            ]
        finally:
            monkeypatch.undo()
            await owner.close()
            await engine.dispose()
    assert ended["batch"] == ended["one by one"]
    assert [o[0]["contact_id"] for o in ended["batch"]] == expected
    assert reads["one by one"] >= 9
    assert reads["batch"] == batch_reads


async def test_a_rolled_back_savepoint_takes_its_kept_contacts_with_it(database: Callable) -> None:
    """A decision in a savepoint that is rolled back leaves no trace in the contacts the
    transaction keeps: the next question goes where a fresh read sends it (anna, whose place
    the savepoint had taken and given back), as does one in a session without `begin()`."""
    owner, engine = await database()
    try:
        async with sessionmaker(engine)() as session, session.begin():
            nested = await session.begin_nested()
            first = await decisions.route_received(session, values(), NOW)
            assert first.contact_id == "anna"  # type: ignore[union-attr]
            await nested.rollback()
            second = await decisions.route_received(session, values(), NOW)
        assert second.contact_id == "anna"  # type: ignore[union-attr]
        async with sessionmaker(engine)() as session:  # autobegun, committed, begun again
            third = await decisions.route_received(session, values(), NOW)  # anna 1/2, bert 1/5
            await session.commit()
            await owner.execute("update contacts set max_open = 10 where contact_id = 'anna'")
            fourth = await decisions.route_received(session, values(), NOW)  # anna 1/10 now
            await session.commit()
        assert (third.contact_id, fourth.contact_id) == ("bert", "anna")  # type: ignore[union-attr]
    finally:
        await owner.close()
        await engine.dispose()
