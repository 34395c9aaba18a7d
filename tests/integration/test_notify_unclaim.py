"""Giving back the jobs of a claim whose COMMIT raised (`store.unclaim`), on a real PostgreSQL:
if the claim did commit, its jobs are queued again as before it and the next claim takes them
(sent once, not swept as uncertain); if it did not, nothing changes."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import text

from opendeur.db import sessionmaker
from opendeur.embedded import Postgres
from services.notify import store
from tests.support import service_engine


async def test_unclaim_queues_again_only_what_that_claim_took(pg: Postgres) -> None:
    async with service_engine(pg, "notify", 2) as engine:
        sessions = sessionmaker(engine)
        qid = uuid4()
        async with sessions() as session, session.begin():
            await store.enqueue_many(
                session,
                [store.Queued(qid, "team", "new_question.1", "new_question", {"reference": "R"})],
            )

        async def state() -> tuple[str, int]:
            async with sessions() as session:
                row = (
                    await session.execute(
                        text("select status, attempts from notifications where question_id = :q"),
                        {"q": qid},
                    )
                ).one()
            return row.status, row.attempts

        async with sessions() as session, session.begin():  # a claim that did commit
            claimed = await store.claim_due(session, 10)
        assert [j.question_id for j in claimed] == [qid] and await state() == ("sending", 1)

        async with sessions() as session, session.begin():
            assert await store.unclaim(session, claimed) == 1
        assert await state() == ("queued", 0)

        async with sessions() as session, session.begin():  # as a claim that rolled back left it
            assert await store.unclaim(session, claimed) == 0
        assert await state() == ("queued", 0)

        async with sessions() as session, session.begin():  # the next claim takes it
            again = await store.claim_due(session, 10)
        assert [j.question_id for j in again] == [qid] and await state() == ("sending", 1)

        async with sessions() as session, session.begin():  # the first claim's jobs: no longer
            assert await store.unclaim(session, claimed) == 0  # the row's claim (another took it)
        assert await state() == ("sending", 1)

        # Two instances: one's claim rolls back (its COMMIT raised), the other claims the row
        # at the same attempt; the first's give-back must not take it from the second.
        async with sessions() as session, session.begin():
            assert await store.unclaim(session, again) == 1
        async with sessions() as session:
            async with session.begin():
                rolled_back = await store.claim_due(session, 10)
                await session.rollback()
        async with sessions() as session, session.begin():
            other = await store.claim_due(session, 10)
        assert [j.attempts for j in rolled_back] == [j.attempts for j in other] == [1]
        async with sessions() as session, session.begin():
            assert await store.unclaim(session, rolled_back) == 0
        assert await state() == ("sending", 1)
