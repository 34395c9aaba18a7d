"""Routing dies between its decision (committed with the event in its outbox) and the publish:
after the supervisor restarts it, the question is routed exactly once and mailed exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import System, question, start_system, stop_system


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("crash"),
        pg,
        OPENDEUR_FAILPOINT="after-commit:routing-question-received-v1",
    )
    yield s
    stop_system(s)


async def test_a_routing_killed_after_its_decision_routes_once_after_restart(
    crashing: System,
) -> None:
    marker = Path(crashing.data_dir) / "failpoint-after-commit-routing-question-received-v1"
    async with httpx.AsyncClient() as client:
        r = await client.post(
            crashing.url("intake") + "/api/v1/questions", json=question(topic="angst")
        )
        assert r.status_code == 202
    qid, ref = r.json()["question_id"], r.json()["reference"]
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the failpoint did not fire"
        time.sleep(0.05)
    await crashing.wait_mail(lambda m: ref in m.subject, timeout=60)
    assert "routing exited (137); restarting" in (crashing.data_dir / "up.log").read_text()
    events = await crashing.wait_audit(qid, ["contact.notified.v1"], timeout=60)
    time.sleep(2)  # a redelivered question.received.v1 would be handled by now
    events = await crashing.audit_events(qid)
    assert [e["type"] for e in events].count("question.routed.v1") == 1
    assert sum(ref in m.subject for m in crashing.smtp.mails) == 1
