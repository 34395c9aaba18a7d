"""The bench's statement count (`--statements`): PostgreSQL started with the counter loaded
counts what each role sent after the reset, BEGIN and COMMIT included, and not its own questions."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from contracts.streams import EVENTS_STREAM
from opendeur.devtools.bench import STATEMENT_OPTIONS, Statements, _pipeline_rows
from opendeur.embedded import Postgres


@pytest.fixture
def counted_pg() -> Iterator[Postgres]:
    data = Path(tempfile.mkdtemp(prefix="opendeur-bench-pg-"))
    server = Postgres(data, options=STATEMENT_OPTIONS)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


async def test_statements_per_question_by_role(counted_pg: Postgres) -> None:
    admin = await asyncpg.connect(counted_pg.url())
    try:
        await admin.execute("create role bench_app login password 'pw'; create table t (n int)")
        await admin.execute("grant insert, select on t to bench_app")
    finally:
        await admin.close()
    counts = Statements(counted_pg.url())
    app_url = f"postgresql://bench_app:pw@127.0.0.1:{counted_pg.port}/opendeur"
    app = await asyncpg.connect(app_url)
    try:
        await app.execute("insert into t values (0)")  # before the reset: not counted
        await counts.start()
        for n in range(4):
            async with app.transaction():
                await app.execute("insert into t values ($1)", n)
                await app.fetch("select count(*) from t")
    finally:
        await app.close()
    opened = await asyncpg.connect(app_url)  # a connection opened during the run
    await opened.close()
    await asyncio.sleep(1.5)  # a backend's counts reach the statistics at its exit, or each 1 s

    got = await counts.per_question(2)

    # 4 transactions of BEGIN, insert, select, COMMIT for 2 questions: 8 statements each.
    assert got["by_role"] == {"bench_app": 8.0}
    assert got["total"] == 8.0
    assert got["commits"] >= 2.0  # the app's 4 commits; the bench's own reads may add some
    # One connection opened after the reset (the app's was before it, the count's own are not
    # counted): 1 for 2 questions.
    assert got["connections_opened_per_1000"] == 500.0
    inserts = [
        (s["role"], s["per_question"], s["statement"])
        for s in got["most_frequent"]
        if s["statement"].startswith("insert into t")
    ]
    assert inserts == [("bench_app", 2.0, "insert into t values ($1)")]
    assert got["server_ms_by_role"]["bench_app"] > 0  # planning and executing took some time
    assert not any("pg_stat" in s["statement"] for s in got["most_frequent"])


def test_the_table_shows_the_count_only_when_it_was_taken() -> None:
    run = {
        "saturated": {
            "questions_per_s": 100.0,
            "cpu_s_per_1000": {"intake": 1.0},
            "net_cpu_s_per_1000": {"intake": 0.9},
            "load_average_after": [1.0],
        },
        "steady": {
            "post_202_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
            "post_to_mail_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
        },
        "rss_mb": {"intake": 100.0},
        "load_average_before": [0.5],
    }
    assert "PostgreSQL statements per question" not in _pipeline_rows(run)
    run["saturated"]["statements_per_question"] = {
        "by_role": {"opendeur_intake": 2.1, "opendeur_routing": 3.6},
        "total": 5.7,
        "commits": 1.9,
        "server_ms_by_role": {"opendeur_intake": 0.4, "opendeur_routing": 0.6},
    }
    rows = _pipeline_rows(run)
    assert rows["PostgreSQL statements per question"] == (
        "opendeur_intake 2.1, opendeur_routing 3.6"
        " (total 5.7; commits 1.9; connections opened per 1,000 questions -)"
    )
    assert rows["  PostgreSQL's planning + execution (ms)"] == (
        "opendeur_intake 0.4, opendeur_routing 0.6"
    )


async def test_the_hops_read_when_each_question_event_was_stored(tmp_path: Path) -> None:
    """`bench.stored_times` (the steady phase's hops) reads from the events stream, through a
    consumer of its own, when each question's received, routed and notified events were stored:
    the first of each, since the phase began, and nothing of other events."""
    import json
    import time

    import nats

    from contracts.events import PiiAccessed
    from opendeur import messaging
    from opendeur.devtools.bench import stored_times
    from opendeur.embedded import NatsServer

    server = NatsServer(tmp_path / "nats").start()
    nc = None
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await messaging.ensure_streams(js, manage=True)

        async def stored(subject: str, qid: str) -> float:
            ack = await js.publish(subject, json.dumps({"question_id": qid}).encode())
            kept = (await js.get_msg(EVENTS_STREAM, ack.seq)).time
            assert kept is not None
            return kept.timestamp()

        await stored("question.received.v1", "before")
        await asyncio.sleep(0.01)
        since = time.time()
        received = await stored("question.received.v1", "q1")
        routed = await stored("question.routed.v1", "q1")
        await stored("question.routed.v1", "q1")  # routed again later: the first one counts
        other = PiiAccessed(question_id=uuid4(), contact_id="c-1")
        await js.publish(other.subject, other.to_bytes())
        notified = await stored("contact.notified.v1", "q1")
        only_received = await stored("question.received.v1", "q2")

        got = await stored_times(js, since)

        assert set(got) == {"q1", "q2"}
        assert got["q1"] == pytest.approx(
            {"received": received, "routed": routed, "notified": notified}, abs=1e-5
        )
        assert got["q2"] == pytest.approx({"received": only_received}, abs=1e-5)
        assert since < received < notified < since + 10
    finally:
        if nc is not None:
            await nc.close()
        server.stop()
