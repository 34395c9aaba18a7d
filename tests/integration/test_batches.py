"""kill -9 of a batched consumer after its batch committed and before its acks: the redelivered
batch is recognised by the inbox, so no question is routed or mailed twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opendeur.embedded import Postgres
from tests.support import System, question, start_system, stop_system

FAILPOINT = "after-commit:notify-question-routed-v1"


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("batch-crash"), pg, OPENDEUR_FAILPOINT=FAILPOINT)
    yield s
    stop_system(s)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_notify_killed_between_a_batch_commit_and_its_acks_mails_each_question_once(
    crashing: System,
) -> None:
    marker = Path(crashing.data_dir) / f"failpoint-{FAILPOINT.replace(':', '-')}"
    async with httpx.AsyncClient(timeout=10) as client:
        posted = await asyncio.gather(
            *(
                client.post(
                    crashing.url("intake") + "/api/v1/questions",
                    json=question(topic="angst"),
                )
                for _ in range(12)
            )
        )
    assert all(r.status_code == 202 for r in posted), [r.text for r in posted]
    asked = [(r.json()["question_id"], r.json()["reference"]) for r in posted]
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the failpoint did not fire"
        await asyncio.sleep(0.05)
    for _qid, ref in asked:
        await crashing.wait_mail(lambda m, ref=ref: ref in m.subject, timeout=90)
    assert "notify exited (137); restarting" in (crashing.data_dir / "up.log").read_text()
    for qid, _ref in asked:
        await crashing.wait_audit(qid, ["contact.notified.v1"], timeout=60)
    await asyncio.sleep(3)  # a redelivered batch would have been handled by now
    for qid, ref in asked:
        events = await crashing.audit_events(qid)
        assert [e["type"] for e in events].count("question.routed.v1") == 1, ref
        assert [e["type"] for e in events].count("contact.notified.v1") == 1, ref
        assert sum(ref in m.subject for m in crashing.smtp.mails) == 1, ref
