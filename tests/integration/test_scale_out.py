"""Scale out (issue 17 item 6): two instances of every service against one nats-server and one
PostgreSQL. Questions posted to both intakes are each routed once, mailed once and audited once,
and no contact gets more questions than the capacity she set."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import asyncpg
import httpx
import nats
import pytest

from contracts.streams import CONSUMERS, EVENTS_STREAM
from opendeur.devtools.chaos import audit_all
from opendeur.devtools.harness import SERVICES
from opendeur.embedded import Postgres
from tests.support import ADMIN, System, question, start_system, stop_system

# Anna takes at most 3 rouw questions in Eindhoven; Bram (online, angst) has room for all.
GROUPS = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven,no,Anna Rouw,anna.rouw@example.org,3
Online Angst,angst,,yes,Bram Angst,bram.angst@example.org,100
"""
ROUW, ANGST = 10, 30


@pytest.fixture(scope="module")
def doubled(
    tmp_path_factory: pytest.TempPathFactory, pg: Postgres
) -> Iterator[tuple[System, dict[str, int]]]:
    """`opendeur up` (one of each service) plus a second `opendeur serve` of each on its own
    port; yields the system and the second instances' ports."""
    s = start_system(tmp_path_factory.mktemp("scale-out"), pg, GROUPS)
    try:
        yield s, {service: s.serve(service)[1] for service in SERVICES}
    finally:
        stop_system(s)


async def quiet(s: System) -> dict[str, int]:
    """What is still in flight: unacked or undelivered messages of every durable consumer,
    unpublished outbox rows of every service, notifications not finished. All zero: nothing
    more can happen to these questions (no sleep needed to be sure)."""
    left: dict[str, int] = {}
    nc = await nats.connect(s.nats.url)
    try:
        js = nc.jetstream()
        for spec in CONSUMERS:
            info = await js.consumer_info(EVENTS_STREAM, spec.durable)
            left[spec.durable] = info.num_pending + info.num_ack_pending
    finally:
        await nc.close()
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        for service in SERVICES:
            outbox = f"select count(*) from {service}.outbox"  # noqa: S608 (our own names)
            left[f"{service}.outbox"] = await conn.fetchval(outbox)
        left["notify.unfinished"] = await conn.fetchval(
            "select count(*) from notify.notifications where status in ('queued', 'sending')"
        )
    finally:
        await conn.close()
    return left


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_two_of_every_service_route_mail_and_audit_each_question_once(
    doubled: tuple[System, dict[str, int]],
) -> None:
    s, second = doubled
    intakes = [s.url("intake"), f"http://127.0.0.1:{second['intake']}"]
    bodies = [question(topic="rouw", postcode="5611")] * ROUW + [
        question(topic="angst", postcode="5611")
    ] * ANGST
    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(intakes[i % 2] + "/api/v1/questions", json=body)
                for i, body in enumerate(bodies)
            )
        )
    assert [r.status_code for r in answers] == [202] * len(bodies), [r.text for r in answers]
    asked = {
        r.json()["question_id"]: (r.json()["reference"], b["topic"])
        for r, b in zip(answers, bodies, strict=True)
    }

    deadline = asyncio.get_running_loop().time() + 180
    while any((left := await quiet(s)).values()):
        assert asyncio.get_running_loop().time() < deadline, left
        await asyncio.sleep(0.2)

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        trail = await audit_all(c, s.url("audit"))
        verify = (await c.get(s.url("audit") + "/api/v1/audit/verify", timeout=120)).json()
    assert verify["ok"], verify
    assert [i for i, n in Counter(e["event_id"] for e in trail).items() if n > 1] == []
    types = {qid: Counter(e["type"] for e in trail if e.get("question_id") == qid) for qid in asked}

    mails = Counter(
        (ref, rcpt)
        for m in s.smtp.mails
        for rcpt in m.to
        for ref, _ in asked.values()
        if ref in m.subject
    )
    to_anna = 0
    for qid, (ref, topic) in asked.items():
        got = types[qid]
        assert got["question.received.v1"] == 1, (ref, got)
        assert got["question.routed.v1"] + got["question.unmatched.v1"] == 1, (ref, got)
        if got["question.routed.v1"]:
            contact = "anna.rouw@example.org" if topic == "rouw" else "bram.angst@example.org"
            assert got["contact.notified.v1"] == 1, (ref, got)
            assert mails[(ref, contact)] == 1, (ref, contact, mails)
            to_anna += topic == "rouw"
        else:
            assert topic == "rouw", (ref, got)  # only a full Anna leaves a question unmatched
            assert mails[(ref, "anna.rouw@example.org")] == 0, ref
    assert to_anna == 3  # her capacity, never more, though two routers decided at once
    assert sum(types[q]["question.routed.v1"] for q in asked) == 3 + ANGST
