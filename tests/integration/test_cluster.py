"""A 3-node JetStream cluster (three real nats-server processes on loopback ports): the stream
leader is killed with kill -9 while questions keep coming, and nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from contracts.streams import CONSUMERS, EVENTS_STREAM, STREAMS
from opendeur.devtools.chaos import audit_all
from opendeur.embedded import NatsCluster, Postgres, free_port
from opendeur.messaging import admin_connection
from opendeur.natsauth import authorization_conf
from opendeur.settings import Settings
from tests.support import ADMIN, ROOT, SECRET, MailSink, System, question, start_up, stop_up

# Slow under load (2 shared cores): set-up alone is 20-60 s; the default 180 s is too tight.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

# One online group with room for every question of the run, so each one is routed and mailed.
GROUPS = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Online Angst,angst,,yes,Bram Angst,bram.angst@example.org,100000
"""
NEEDED = {"question.received.v1", "question.routed.v1", "contact.notified.v1"}
REFERENCE = re.compile(r"\(([A-Z0-9-]+)\)\s*$")


@dataclass
class ClusterSystem(System):
    """The four services (through `opendeur up`) against a NatsCluster, with the per-service
    accounts of deploy/nats/ and streams created with 3 replicas."""

    nats: NatsCluster  # type: ignore[assignment]


def cluster_settings(cluster: NatsCluster) -> Settings:
    return Settings(nats_url=cluster.url, nats_auth="derived", secret_key=SECRET)


async def broker_state(cluster: NatsCluster) -> dict:
    """Replicas of every stream and consumer, and what the consumers still owe (at most 30 s)."""
    return await asyncio.wait_for(_broker_state(cluster), 30)


async def _broker_state(cluster: NatsCluster) -> dict:
    nc = await admin_connection(cluster_settings(cluster))
    try:
        js = nc.jetstream()
        state: dict = {"streams": {}, "consumers": {}}
        for spec in STREAMS:
            info = await js.stream_info(spec.name)
            state["streams"][spec.name] = (info.config.num_replicas, len(info.cluster.replicas))
        for c in CONSUMERS:
            info = await js.consumer_info(EVENTS_STREAM, c.durable)
            state["consumers"][c.durable] = {
                "replicas": 1 + len(info.cluster.replicas or []),
                "pending": info.num_pending,
                "ack_pending": info.num_ack_pending,
                "redelivered": info.num_redelivered,
            }
        return state
    finally:
        await nc.close()


async def all_audit_events(s: System) -> list[dict]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        return await audit_all(c, s.url("audit"))


def mail_refs(sink: MailSink) -> Counter:
    refs: Counter = Counter()
    for m in sink.mails:
        match = REFERENCE.search(m.subject)
        if match:
            refs[match.group(1)] += 1
    return refs


async def watch_mail(sink: MailSink, seen: dict[str, float]) -> None:
    """When each reference's mail first arrived (monotonic time), for the longest wait."""
    while True:
        now = time.monotonic()
        for ref in mail_refs(sink):
            seen.setdefault(ref, now)
        await asyncio.sleep(0.1)


class Feeder:
    """Posts questions at a steady rate (about 6 a second, two at a time: the machine is
    shared, and the test is about fail-over, not throughput) and keeps every 202."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.accepted: dict[str, tuple[str, float]] = {}  # reference -> (question_id, time)
        self.refused: list[str] = []
        self.running = True
        self.task: asyncio.Task | None = None

    async def wait(self, what: str, done: Callable[[], bool], timeout: float = 60) -> None:
        """Wait until `done()`, at most `timeout` seconds; fail saying what was awaited and what
        the feeder saw (a wait without an end would leave only pytest-timeout's stack dump)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert self.task is not None and not self.task.done(), f"{what}: feeder {self.task}"
            assert time.monotonic() < deadline, (
                f"{what}: not after {timeout:.0f} s; {len(self.accepted)} accepted,"
                f" {len(self.refused)} refused (last: {self.refused[-3:]})"
            )
            await asyncio.sleep(0.05)

    async def run(self, lanes: int = 2, interval: float = 0.33) -> None:
        # A generous timeout: a request that timed out might still have been accepted.
        async with httpx.AsyncClient(timeout=60) as client:

            async def lane() -> None:
                while self.running:
                    begun = time.monotonic()
                    try:
                        r = await client.post(
                            self.base + "/api/v1/questions", json=question(topic="angst")
                        )
                    except httpx.HTTPError as exc:
                        self.refused.append(type(exc).__name__)
                    else:
                        if r.status_code == 202:
                            body = r.json()
                            self.accepted[body["reference"]] = (
                                body["question_id"],
                                time.monotonic(),
                            )
                        else:
                            self.refused.append(f"{r.status_code} {r.text[:200]}")
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - begun)))

            await asyncio.gather(*(lane() for _ in range(lanes)))


async def test_killing_the_stream_leader_loses_no_question(tmp_path: Path, pg: Postgres) -> None:
    started = time.monotonic()

    def progress(stage: str) -> None:
        # Shown under "Captured stdout" if the test fails, pytest-timeout's failure included.
        print(f"[+{time.monotonic() - started:.1f} s] {stage}", flush=True)

    auth = authorization_conf(Settings(secret_key=SECRET))
    cluster = NatsCluster(tmp_path / "nats", extra_conf=auth).start()
    s = ClusterSystem(
        data_dir=tmp_path,
        nats=cluster,
        pg=pg,
        database=f"od_{uuid.uuid4().hex[:8]}",
        smtp=MailSink().start(),
        extra_env={"OPENDEUR_NATS_AUTH": "derived", "OPENDEUR_NATS_REPLICAS": "3"},
    )
    feeder = Feeder("")
    watching: asyncio.Task | None = None
    try:
        s.start()
        progress("system started")
        (tmp_path / "groups.csv").write_text(GROUPS)
        result = s.opendeur("groups", "import", str(tmp_path / "groups.csv"))
        assert result.returncode == 0, result.stderr
        assert "," in s.env["OPENDEUR_NATS_URL"] and len(s.env["OPENDEUR_NATS_URL"].split(",")) == 3

        # `opendeur migrate` (run by `up`) made every stream and durable R3 on the cluster.
        state = await broker_state(cluster)
        assert set(state["streams"].values()) == {(3, 2)}, state["streams"]
        assert {c["replicas"] for c in state["consumers"].values()} == {3}, state["consumers"]

        setup = time.monotonic() - started
        progress("streams and consumers R3; feeding")
        feeder.base = s.url("intake")
        feeder.task = asyncio.create_task(feeder.run())
        mailed_at: dict[str, float] = {}
        watching = asyncio.create_task(watch_mail(s.smtp, mailed_at))
        await feeder.wait("30 questions accepted", lambda: len(feeder.accepted) >= 30)

        # kill -9 the node that leads OPENDEUR_EVENTS while questions keep coming.
        leader = cluster.stream_leader(EVENTS_STREAM)
        assert leader is not None
        mailed = mail_refs(s.smtp)
        in_flight = [r for r in feeder.accepted if r not in mailed]
        accepted_before = len(feeder.accepted)
        killed_at = time.monotonic()
        cluster.kill(leader)
        progress(f"{len(feeder.accepted)} accepted; killed the stream leader {leader}")
        new_leader = await asyncio.to_thread(cluster.wait_stream_leader, EVENTS_STREAM, 60)
        failover = time.monotonic() - killed_at
        assert new_leader != leader
        progress(f"new leader {new_leader}")

        # The first question accepted after the kill reaches its contact person.
        await feeder.wait(
            "a question accepted after the kill",
            lambda: any(t > killed_at for _, t in feeder.accepted.values()),
        )
        first_after = min(
            ((t, r) for r, (_, t) in feeder.accepted.items() if t > killed_at), key=lambda x: x[0]
        )[1]
        progress(f"{first_after} accepted after the kill")
        await s.wait_mail(lambda m: first_after in m.subject, timeout=60)
        progress(f"{first_after} mailed")
        flowing_again = time.monotonic() - killed_at

        # The killed node comes back on its own store and catches up; feeding goes on.
        await asyncio.sleep(max(0.0, 8 - (time.monotonic() - killed_at)))
        restarted_at = time.monotonic()
        await asyncio.to_thread(cluster.restart, leader)
        progress(f"{leader} restarted")
        rejoined = time.monotonic() - restarted_at
        await asyncio.sleep(3)
        feeder.running = False
        await asyncio.wait_for(feeder.task, 90)
        progress(f"feeding stopped: {len(feeder.accepted)} accepted")
        assert not feeder.refused, feeder.refused[:5]
        accepted = dict(feeder.accepted)

        # Every 202 gets exactly one mail, and nothing else is mailed.
        deadline = time.monotonic() + 75
        while set(accepted) - set(mail_refs(s.smtp)):
            assert time.monotonic() < deadline, (
                f"not mailed: {sorted(set(accepted) - set(mail_refs(s.smtp)))[:10]}"
            )
            await asyncio.sleep(0.2)
        all_mailed = time.monotonic() - killed_at
        progress("all mailed")
        await asyncio.sleep(0.3)
        watching.cancel()
        waits = {r: mailed_at[r] - t for r, (_, t) in accepted.items() if r in mailed_at}
        longest = max(waits, key=waits.__getitem__)

        # Nothing is owed any more (no ack pending, nothing unread), so no redelivery can still
        # send a second mail: a lost ack during the election is redelivered after ack_wait.
        deadline = time.monotonic() + 75
        last_owed: dict = {}
        while True:
            state = await broker_state(cluster)
            owed = {d: c for d, c in state["consumers"].items() if c["pending"] or c["ack_pending"]}
            if not owed:
                break
            last_owed = owed
            assert time.monotonic() < deadline, owed
            await asyncio.sleep(0.5)
        settled = time.monotonic() - killed_at
        progress("no consumer owes anything")
        refs = mail_refs(s.smtp)
        assert set(refs) == set(accepted), set(refs) ^ set(accepted)
        assert max(refs.values()) == 1, [r for r, n in refs.items() if n > 1]
        assert len(s.smtp.mails) == len(accepted)

        # The audit trail has each question's events, each event once, and the chain holds.
        deadline = time.monotonic() + 30
        while True:
            events = await all_audit_events(s)
            by_question: dict[str, set[str]] = defaultdict(set)
            for e in events:
                if e.get("question_id"):
                    by_question[e["question_id"]].add(e["type"])
            missing = [r for r, (q, _) in accepted.items() if not NEEDED <= by_question[q]]
            if not missing:
                break
            assert time.monotonic() < deadline, missing[:10]
            await asyncio.sleep(0.5)
        progress(f"{len(events)} audit events, every question's three")
        ids = Counter(e["event_id"] for e in events)
        assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1][:5]
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            verified = (await c.get(s.url("audit") + "/api/v1/audit/verify", timeout=60)).json()
        assert verified.get("ok"), verified
        print(
            f"\ncluster run: {len(accepted)} questions accepted ({accepted_before} before the kill,"
            f" {len(in_flight)} of them not yet mailed when {leader} was killed), 0 lost,"
            f" 0 duplicate mails; new leader {new_leader} after {failover:.1f} s; first question"
            f" after the kill mailed at +{flowing_again:.1f} s; all mailed at +{all_mailed:.1f} s;"
            f" killed node rejoined in {rejoined:.1f} s; no consumer owed anything at"
            f" +{settled:.1f} s (owed after the last mail: {last_owed or 'nothing'}); {len(events)} audit events, chain verified; set-up {setup:.0f} s,"
            f" whole test {time.monotonic() - started:.0f} s; longest wait for a mail"
            f" {waits[longest]:.1f} s (accepted at {accepted[longest][1] - killed_at:+.1f} s),"
            f" median {sorted(waits.values())[len(waits) // 2]:.1f} s"
        )
    finally:
        feeder.running = False
        for task in (feeder.task, watching):
            if task is not None and not task.done():
                task.cancel()
        s.stop()
        s.smtp.stop()
        cluster.stop()


def test_up_cluster_runs_three_nodes_and_a_question_flows(tmp_path: Path, pg: Postgres) -> None:
    """`opendeur up --cluster`: three nats-server processes, streams R3, the question reaches the
    contact person; a node killed with kill -9 is started again by the supervisor."""
    database = f"od_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    sink = MailSink().start()
    ports = {s: free_port() for s in ("intake", "routing", "notify", "audit")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env.update({f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    env.update(
        OPENDEUR_DATABASE_URL=pg.url(database),
        # The suite's secret: database roles belong to the whole PostgreSQL cluster, and a system
        # migrated with another secret would reset every other test system's role passwords.
        OPENDEUR_SECRET_KEY=SECRET,
        OPENDEUR_SMTP_URL=sink.url,
        OPENDEUR_INTAKE_RATE="off",
        OPENDEUR_LOG_FORMAT="json",
    )
    proc, out = start_up(["--cluster", "--data-dir", str(tmp_path)], env)
    try:
        nats_line = re.search(r"nats\s+(\S+) \(streams R3\)", out)
        assert nats_line, out
        urls = nats_line.group(1).split(",")
        assert len(urls) == 3 and all(u.startswith("nats://127.0.0.1:") for u in urls)
        monitors = dict(re.findall(r"(opendeur-nats-\d)\s+(http://127\.0\.0\.1:\d+)/jsz", out))
        assert sorted(monitors) == ["opendeur-nats-1", "opendeur-nats-2", "opendeur-nats-3"]
        assert "admin token" in out and f"http://127.0.0.1:{ports['intake']}/" in out

        csv = tmp_path / "groups.csv"
        csv.write_text(GROUPS)
        secrets = (tmp_path / "secrets.json").read_text()
        # As `up` itself does: what the environment sets wins over the generated secrets.
        cli_env = {**json.loads(secrets), **env, "OPENDEUR_DATA_DIR": str(tmp_path)}
        cli_env.update(OPENDEUR_NATS_URL=",".join(urls), OPENDEUR_NATS_AUTH="derived")
        imported = subprocess.run(
            [sys.executable, "-m", "opendeur", "groups", "import", str(csv)],
            env=cli_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert imported.returncode == 0, imported.stderr

        jsz = httpx.get(monitors["opendeur-nats-1"] + "/jsz?accounts=true&streams=true&config=true")
        streams = {
            d["name"]: d
            for a in jsz.json()["account_details"]
            for d in a.get("stream_detail") or []
        }
        assert {n: d["config"]["num_replicas"] for n, d in streams.items()} == {
            spec.name: 3 for spec in STREAMS
        }
        leader = streams[EVENTS_STREAM]["cluster"]["leader"]

        base = f"http://127.0.0.1:{ports['intake']}"  # up waited for every service's port

        def ask_and_wait(timeout: float) -> None:
            r = httpx.post(base + "/api/v1/questions", json=question(topic="angst"), timeout=10)
            assert r.status_code == 202, r.text
            ref = r.json()["reference"]
            deadline = time.monotonic() + timeout
            while not any(ref in m.subject for m in sink.mails):
                assert time.monotonic() < deadline, f"no mail for {ref}"
                time.sleep(0.1)

        ask_and_wait(30)

        # kill -9 the stream leader: the others elect a new one, the supervisor restarts it.
        def nats_nodes() -> list[psutil.Process]:
            return [
                p
                for p in psutil.Process(proc.pid).children()
                if p.name() == "nats-server" and p.status() != psutil.STATUS_ZOMBIE
            ]

        node = next(
            p
            for p in nats_nodes()
            if Path(p.cmdline()[-1]).parent.name == leader.removeprefix("opendeur-")
        )
        node.kill()
        ask_and_wait(60)
        deadline = time.monotonic() + 30
        while True:
            try:
                healthy = httpx.get(monitors[leader] + "/healthz").json().get("status") == "ok"
            except httpx.HTTPError:
                healthy = False
            if healthy and len(nats_nodes()) == 3 and node.pid not in {p.pid for p in nats_nodes()}:
                break
            assert time.monotonic() < deadline, "the killed node was not restarted"
            time.sleep(0.2)
        ask_and_wait(30)
    finally:
        stopped = stop_up(proc)  # SIGTERM as a process manager sends; the group killed after
        rest = proc.stdout.read()
        sink.stop()
    assert stopped, rest
    assert proc.returncode == 0, rest
    assert "opendeur stopped." in rest
    assert "exited; restarting" in out + rest
