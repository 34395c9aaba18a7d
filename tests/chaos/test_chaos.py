"""The chaos suite, shortened for CI: `make chaos` runs the full one (500 questions).

One whole system on real parts (nats-server, PostgreSQL, an SMTP sink, `opendeur up` with its
four services), a steady stream of questions, and each fault at least once: SIGKILL of every
service, a nats-server restart, a PostgreSQL restart. Then no accepted question is lost, none is
notified twice, the audit trail holds each event once and its hash chain verifies.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator

import pytest

from opendeur.devtools.chaos import FAULT_KINDS, Options, run, table, write_results

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


@pytest.fixture(scope="module")
async def chaos(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict]:
    """One run for the module: 70 questions at 2.5/s, each fault once (about 1.5-3.5 minutes)."""
    out = tmp_path_factory.mktemp("chaos")
    r = await run(
        Options(
            questions=70,
            seed=7,
            rate=2.5,
            rounds=1,
            stuck_after=45.0,
            quiesce_timeout=240.0,
        )
    )
    print("\n" + table(r))
    print(f"results: {write_results(r, out)}; data and logs: {r['data_dir']}")
    yield r
    if r["ok"]:
        shutil.rmtree(r["data_dir"], ignore_errors=True)  # kept, with the logs, when a check fails


def test_no_question_lost_or_notified_twice_under_faults(chaos: dict) -> None:
    r = chaos
    detail = json.dumps(
        {k: r[k] for k in ("lost", "both", "duplicate_mails", "audit_mismatch", "backlog_at_end")},
        indent=1,
    )
    assert all(r["faults_per_kind"].get(k, 0) >= 1 for k in FAULT_KINDS), r["faults_per_kind"]
    assert r["accepted"] >= 35, r["refused"]  # most questions get in despite the faults
    assert not any(r["backlog_at_end"].values()), detail
    assert r["accepted_but_not_stored"] == []
    assert r["lost"] == [], detail
    assert r["duplicate_mails"] == [], detail
    assert r["both"] == [], detail
    assert r["audit_mismatch"] == [], detail
    assert r["duplicate_event_ids_total"] == 0
    assert r["hash_chain"]["ok"], r["hash_chain"]
    assert r["states"].get("notified", 0) > 0 and r["states"].get("team", 0) > 0, r["states"]
    assert r["ok"]


def test_refusals_while_the_database_is_down_are_503(chaos: dict) -> None:
    """Intake may refuse a question while PostgreSQL is away, but as 503 (try again), not as
    500 internal_error: during each database outage the driver posts one probe question."""
    assert chaos["db_down_probe_answers"] == {"http 503": 1}, chaos["db_down_probe_answers"]
    answered_500 = {k: v for k, v in chaos["refused"].items() if k.startswith("http 500")}
    assert answered_500 == {}, chaos["refused"]
