"""The chaos tool (opendeur/devtools/chaos.py) without a system: its verdict (`classify`: each
accepted question ends notified, in the team's queue, or both; anything else is lost, and a
second mail or event is counted; a verdict that miscounts would let `make chaos` pass while
questions were lost) and its faults (`inject`) on stand-in parts."""

from __future__ import annotations

import pytest

from opendeur.devtools.chaos import TEAM_EMAIL, Mail, Post, Snapshot, classify

RECEIVED, ROUTED, NOTIFIED = "question.received.v1", "question.routed.v1", "contact.notified.v1"
FAILED, UNMATCHED = "notification.failed.v1", "question.unmatched.v1"


def post(i: int, status: int = 202) -> Post:
    return Post(
        i, "angst", "5611", "notified", sent=10.0, attempt_at=10.0 + i, status=status,
        question_id=f"q{i}", reference=f"R{i}",
    )  # fmt: skip


def mail(i: int, at: float, to: str = "c@x.invalid") -> Mail:
    return Mail(at, (to,), "subject", f"R{i}", f"<m{i}-{at}>")


def events(i: int, *types: str, same_id: bool = False) -> list[dict]:
    return [
        {"question_id": f"q{i}", "type": t, "event_id": "same" if same_id else f"e{i}-{n}"}
        for n, t in enumerate(types)
    ]


def scenario() -> tuple[list[Post], Snapshot]:
    posts = [post(i) for i in range(8)]
    posts[1].status = 500  # stored although the client was told otherwise: no wait counted
    mails = [
        mail(0, 15.0),
        mail(1, 30.0),
        mail(2, 40.0),  # notified after delivery_uncertain: both
        mail(3, 21.0),  # team_uncertain, and mailed after all
        mail(5, 50.0),  # in the queue and mailed without a failure: both
        mail(6, 60.0),
        mail(6, 61.0),  # a second mail to the same contact
        mail(7, 70.0, to=TEAM_EMAIL),  # the team's mail does not count as the contact's
    ]
    evs = [
        *events(0, RECEIVED, ROUTED, NOTIFIED),
        *events(1, RECEIVED, ROUTED, NOTIFIED, same_id=True),  # one event stored twice
        *events(2, RECEIVED, ROUTED, FAILED, UNMATCHED, NOTIFIED),
        *events(3, RECEIVED, ROUTED, FAILED, UNMATCHED),
        *events(4, RECEIVED, UNMATCHED),
        *events(5, RECEIVED, ROUTED, UNMATCHED),
        *events(6, RECEIVED, ROUTED),  # notified, but no contact.notified in the trail
        *events(7, RECEIVED),  # neither mailed nor queued: lost
        {"type": "group.changed.v1", "event_id": "g"},
    ]
    queue = {"q2", "q3", "q4", "q5"}
    return posts, Snapshot(mails, queue, evs)


def test_every_end_state_and_every_problem_is_counted() -> None:
    posts, snap = scenario()
    r = classify(posts, snap)
    assert r["states"] == {"notified": 3, "both": 2, "team_uncertain": 1, "team": 1, "lost": 1}
    assert [b["qid"] for b in r["both"]] == ["q2", "q5"]
    assert r["both"][0]["why"] == "contact.notified after delivery_uncertain"
    assert [lost["qid"] for lost in r["lost"]] == ["q7"]
    assert r["duplicate_mails"] == [
        {"reference": "R6", "to": "c@x.invalid", "mails": 2, "qid": "q6"}
    ]
    assert {a["qid"]: a["problems"] for a in r["audit_mismatch"]} == {
        "q1": ["duplicate event_id"],
        "q6": [f"types {{{RECEIVED!r}: 1, {ROUTED!r}: 1}} != "
               f"{{{RECEIVED!r}: 1, {ROUTED!r}: 1, {NOTIFIED!r}: 1}}"],
    }  # fmt: skip
    assert r["duplicate_event_ids_total"] == 2  # q1's three events share one id
    assert r["audit_events_total"] == len(snap.events)
    assert r["waits"] == [5.0, 8.0, 44.0]  # q0, q3 (mailed while uncertain), q6; not q1 (500)
    assert r["uncertain_mailed"] == 1


class Part:
    """Stands in for the embedded broker or database: notes stops and starts."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def stop(self, kill: bool = False) -> None:
        self.log.append(f"{self.name} stop{' kill' if kill else ''}")

    def start(self) -> None:
        self.log.append(f"{self.name} start")


class FakeSystem:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.nats, self.pg = Part(self.log, "nats"), Part(self.log, "pg")

    def service_pids(self) -> dict[str, int]:
        return {"routing": 4242}

    async def wait_healthy_async(self) -> None:
        self.log.append("healthy")


async def test_faults_are_done_and_their_recovery_noted(monkeypatch) -> None:
    """Each kind of fault does what the report says it did, and a database outage stays open
    until every service is healthy again (the chaos run's 503 check leans on that window)."""
    import asyncio
    import random

    from opendeur.devtools import chaos

    system = FakeSystem()
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(chaos.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    real_sleep = asyncio.sleep
    monkeypatch.setattr(chaos.asyncio, "sleep", lambda s: real_sleep(0))

    async def probe(_system: object) -> str:
        system.log.append("probe")
        return "503 service_unavailable"

    monkeypatch.setattr(chaos, "probe_post", probe)
    outages, rng = chaos.Outages(), random.Random(3)

    fault, task = await chaos.inject(system, "kill_routing", rng, outages, 0.0)  # type: ignore[arg-type]
    await task
    assert killed == [(4242, chaos.signal.SIGKILL)] and fault.detail == "SIGKILL pid 4242"
    assert fault.recovered_s is not None

    fault, task = await chaos.inject(system, "restart_nats", rng, outages, 0.0)  # type: ignore[arg-type]
    await task
    assert system.log[1:3] in (["nats stop", "nats start"], ["nats stop kill", "nats start"])
    assert fault.detail.endswith(", same port and store")

    fault, task = await chaos.inject(system, "restart_postgres", rng, outages, 0.0)  # type: ignore[arg-type]
    assert system.log[-3:] == ["pg stop", "probe", "pg start"] and len(outages.open_since) == 1
    await task
    assert outages.open_since == [] and len(outages.db) == 1
    assert fault.probe == "503 service_unavailable"
    with pytest.raises(ValueError):
        await chaos.inject(system, "flood", rng, outages, 0.0)  # type: ignore[arg-type]
