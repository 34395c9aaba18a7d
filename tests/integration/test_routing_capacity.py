"""Capacity without a global lock: two routers, one contact of capacity N; contacts who leave."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from opendeur.embedded import Postgres, free_port
from tests.integration.test_routing_clock import audit_of_type, poll
from tests.support import LINK, ROOT, System, question, start_system, stop_system

CAPACITY = 4
QUESTIONS = 48
GROUPS = f"""group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven,no,Anna Rouw,anna.rouw@example.org,{CAPACITY}
Rouw Online,rouw,,yes,Olga Online,olga.online@example.org,1000
"""


@pytest.fixture
async def two_routers(tmp_path: Path, pg: Postgres) -> AsyncIterator[System]:
    s = start_system(tmp_path, pg, GROUPS, OPENDEUR_RESPONSE_DEADLINE="1h")
    port = free_port()
    log = open(tmp_path / "routing-2.log", "ab")
    second = subprocess.Popen(
        [sys.executable, "-m", "opendeur", "serve", "routing"],
        env={**s.env, "OPENDEUR_ROUTING_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )

    async def healthy() -> bool:
        assert second.poll() is None, s.logs()
        try:
            async with httpx.AsyncClient() as c:
                return (
                    await c.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                ).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await poll(healthy, 60, "second routing instance did not become healthy")
        yield s
    finally:
        second.terminate()
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()
        log.close()
        stop_system(s)


async def routing_rows(s: System, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def decided(s: System, n: int) -> tuple[list[dict], list[dict]]:
    async def check() -> tuple[list[dict], list[dict]] | None:
        routed = await audit_of_type(s, "question.routed.v1")
        unmatched = await audit_of_type(s, "question.unmatched.v1")
        return (routed, unmatched) if len(routed) + len(unmatched) >= n else None

    return await poll(check, 90, "not every question was decided")


async def post(s: System, n: int, **overrides: object) -> set[str]:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(s.url("intake") + "/api/v1/questions", json=question(**overrides))
                for _ in range(n)
            )
        )
    assert [r.status_code for r in responses] == [202] * n
    return {r.json()["question_id"] for r in responses}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_many_questions_for_one_contact_across_two_routers_fill_exactly_its_capacity(
    two_routers: System,
) -> None:
    s = two_routers
    qids = await post(s, QUESTIONS)
    routed, unmatched = await decided(s, QUESTIONS)

    assert unmatched == []  # the online group has room: nobody lands in the team's queue
    per_group = Counter(e["group_id"] for e in routed)
    assert per_group == {"rouwgroep-eindhoven": CAPACITY, "rouw-online": QUESTIONS - CAPACITY}
    assert len({e["contact_id"] for e in routed if e["group_id"] == "rouwgroep-eindhoven"}) == 1
    decisions = Counter(e["question_id"] for e in routed)
    assert set(decisions) == qids and set(decisions.values()) == {1}
    # The counter routing holds capacity with equals what is really open, contact by contact.
    rows = await routing_rows(
        s,
        "select c.contact_id, c.open_count, (select count(*) from routing.questions q "
        "where q.contact_id = c.contact_id and q.state = 'routed') as open "
        "from routing.contacts c",
    )
    assert sorted(r["open_count"] for r in rows) == [CAPACITY, QUESTIONS - CAPACITY]
    assert all(r["open_count"] == r["open"] for r in rows)

    # A place freed by a real outcome (the contact's callback link) is taken again, once.
    anna = next(e["contact_id"] for e in routed if e["group_id"] == "rouwgroep-eindhoven")
    freed = next(e["question_id"] for e in routed if e["contact_id"] == anna)
    (row,) = await routing_rows(
        s, "select reference from routing.questions where question_id = $1", uuid.UUID(freed)
    )
    ref = row["reference"]
    mail = await s.wait_mail(lambda m: ref in m.subject)
    link = LINK.search(mail.text)
    assert link, mail.text
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(link.group(1), data={"outcome": "reached"})).status_code < 400

    async def released() -> bool:
        rows = await routing_rows(
            s, "select open_count from routing.contacts where contact_id = $1", anna
        )
        return rows[0]["open_count"] == CAPACITY - 1

    await poll(released, 30, "the outcome did not give the place back")
    await post(s, 6)
    routed, unmatched = await decided(s, QUESTIONS + 6)
    assert unmatched == []
    assert Counter(e["group_id"] for e in routed)["rouwgroep-eindhoven"] == CAPACITY + 1
    rows = await routing_rows(
        s, "select open_count from routing.contacts where contact_id = $1", anna
    )
    assert rows[0]["open_count"] == CAPACITY


REPLACED = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven,no,Nina Nieuw,nina.nieuw@example.org,1
Rouw Online,rouw,,yes,Olga Online,olga.online@example.org,1000
"""
OLD_GROUPS = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven,no,Anna Rouw,anna.rouw@example.org,100
"""


@pytest.fixture
async def one_router(tmp_path: Path, pg: Postgres) -> AsyncIterator[System]:
    s = start_system(tmp_path, pg, OLD_GROUPS, OPENDEUR_RESPONSE_DEADLINE="1h")
    try:
        yield s
    finally:
        stop_system(s)


@pytest.mark.timeout(300)
async def test_a_contact_replaced_in_an_import_gets_no_new_questions_but_keeps_open_ones(
    one_router: System, tmp_path: Path
) -> None:
    s = one_router
    before = await post(s, 1)
    (old,), _ = await decided(s, 1)
    anna = old["contact_id"]
    csv = tmp_path / "replaced.csv"
    csv.write_text(REPLACED)
    result = s.opendeur("groups", "import", str(csv))
    assert result.returncode == 0, result.stderr

    await post(s, 4)
    routed, unmatched = await decided(s, 5)
    after = [e for e in routed if e["question_id"] not in before]
    # Nina (capacity 1) takes one; Anna had room for 99 more but has left the group.
    assert anna not in {e["contact_id"] for e in after}
    assert Counter(e["group_id"] for e in after) == {"rouwgroep-eindhoven": 1, "rouw-online": 3}
    assert unmatched == []
    rows = await routing_rows(
        s,
        "select contact_id, state from routing.questions where question_id = $1",
        uuid.UUID(old["question_id"]),
    )
    assert [(r["contact_id"], r["state"]) for r in rows] == [(anna, "routed")]
    rows = await routing_rows(
        s, "select active, open_count from routing.contacts where contact_id = $1", anna
    )
    assert [(r["active"], r["open_count"]) for r in rows] == [(False, 1)]

    # The same import again changes nothing; the group leaving (--prune) stops Nina too.
    again = s.opendeur("groups", "import", str(csv))
    assert again.returncode == 0 and "unchanged 2" in again.stdout, again.stdout
    only_online = tmp_path / "online.csv"
    only_online.write_text(REPLACED.splitlines()[0] + "\n" + REPLACED.splitlines()[2] + "\n")
    pruned = s.opendeur("groups", "import", "--prune", str(only_online))
    assert pruned.returncode == 0, pruned.stderr
    await post(s, 2)
    routed, _ = await decided(s, 7)
    assert Counter(e["group_id"] for e in routed)["rouwgroep-eindhoven"] == 2
