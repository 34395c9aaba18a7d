"""`make bench` / `python -m opendeur.devtools.bench`: the whole system on real parts, driven over
HTTP, side by side with the hand-written reference pipeline (../shared/perf/)."""

# ruff: noqa: ASYNC109, ASYNC110, ASYNC240  (a load driver: it polls and blocks on purpose)
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from opendeur.devtools import harness
from opendeur.devtools.harness import quiet_port, spawn, stop
from opendeur.embedded import Postgres

ROOT = harness.ROOT
REF = re.compile(r"\((OD-[A-Z0-9]{4}-[A-Z0-9]{4})\)")
BENCH_GROUPS = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Bench Rouw,rouw,Eindhoven,no,Bench A,bench.a@example.org,1000000
Bench Angst,angst,,yes,Bench B,bench.b@example.org,1000000
Bench Depressie,depressie,Helmond,yes,Bench C,bench.c@example.org,1000000
"""
TOPICS = ("rouw", "angst", "depressie")
# The reference mails "Nieuwe vraag <question_id>"; it lives next to the repository, not in it.
SUBJECT = re.compile(r"Nieuwe vraag ([0-9a-f-]{36})")
REFERENCE = ROOT.parent / "shared" / "perf" / "reference.py"


def synthetic_groups(total: int) -> str:
    """CSV rows for groups beyond the three above, up to `total`: other topics, every municipality.

    They never take the bench's questions (other topics), so a run measures what the number
    of groups in the network costs a decision, not how many groups compete for it.
    """
    from services.routing.regions import municipalities
    from services.routing.taxonomy import topic_codes

    topics = sorted(set(topic_codes()) - set(TOPICS))
    places = municipalities()
    rows = []
    for i in range(max(0, total - 3)):
        picked = ";".join(sorted({topics[i % len(topics)], topics[(i * 7 + 3) % len(topics)]}))
        where = ";".join(sorted({places[i % len(places)], places[(i * 5 + 1) % len(places)]}))
        online = "yes" if i % 10 == 0 else "no"
        rows.append(f"Synth {i:05d},{picked},{where},{online},Synth {i},synth.{i}@example.org,5\n")
    return "".join(rows)


@dataclass
class Timings:
    sent: dict[str, float] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    mailed: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # reference → question id (opendeur's 202)


class Sink(harness.SmtpSink):
    """A real SMTP server (aiosmtpd) noting when the mail naming each question arrives."""

    def __init__(self, timings: Timings, pattern: re.Pattern[str] = REF) -> None:
        super().__init__(quiet_port())
        self.timings = timings
        self.pattern = pattern

    async def handle_DATA(self, _server, _session, envelope) -> str:
        head = (envelope.original_content or envelope.content)[:2000].decode(errors="replace")
        m = self.pattern.search(head)
        if m:
            self.timings.mailed.setdefault(m.group(1), time.perf_counter())
        return "250 OK"


def tidy(data: Path, kept: bool) -> None:
    """Remove a run's data directory (a PostgreSQL cluster, JetStream files, logs) once its
    processes are stopped; a run that failed keeps it for its logs."""
    if kept:
        print(f"bench: logs and data kept in {data}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(data, ignore_errors=True)


class Restarted(RuntimeError):
    """A process of the pipeline died before the measurement (a port taken, a crash)."""


@dataclass
class Target:
    """A running pipeline: where the client POSTs, which 202 field names a question as its mail
    does, and the processes whose CPU and memory are measured (PostgreSQL with its backends)."""

    urls: list[str]  # POSTs go round-robin over these (every intake instance)
    key: str
    procs: Callable[[], dict[str, psutil.Process]]  # asked after the warm-up
    timings: Timings
    statements: Statements | None = None  # --statements: PostgreSQL's count per question
    database_url: str | None = None  # analysed after the warm-up (`analyze`)
    # When each question's events were stored in the stream (wall clock), for the hops' times.
    stored: Callable[[float], Awaitable[dict[str, dict[str, float]]]] | None = None


# PostgreSQL's own statement counter, loaded only for --statements (it costs the server a little).
STATEMENT_OPTIONS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track_utility": "on",
    "pg_stat_statements.track_planning": "on",
}


class Statements:
    """PostgreSQL's count of the statements each database role sent (pg_stat_statements): a
    figure that does not move with the machine's speed, as CPU seconds do. BEGIN and COMMIT
    count, so it is the round trips to the database; each opendeur service signs in with its own
    role, the reference with one for all. With it, the server's time in planning and executing
    each statement (milliseconds per question), to find the ones that cost PostgreSQL most.
    A statement's text is PostgreSQL's normalised one (constants as $n): no value reaches it."""

    # Commits, and the sessions opened (PostgreSQL 14+): a connection opened during the run
    # costs the server a process start and an authentication, more than many statements.
    COUNTS = "select xact_commit, sessions from pg_stat_database where datname = current_database()"

    def __init__(self, url: str) -> None:
        self.url = url
        self.commits0 = 0
        self.sessions0 = 0

    async def start(self) -> None:
        """Zero the counts (after the warm-up)."""
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("create extension if not exists pg_stat_statements")
            await conn.execute("select pg_stat_statements_reset()")
            self.commits0, self.sessions0 = await conn.fetchrow(self.COUNTS)
        finally:
            await conn.close()

    async def per_question(self, questions: int, settle_s: float = 3.0) -> dict:
        """Statements per question by role and in all, the commits, and the most frequent;
        counted `settle_s` after the phase, once the consumers off the mail's way (intake's of
        the routing, audit's) have caught up with its last questions."""
        import asyncpg

        await asyncio.sleep(settle_s)
        conn = await asyncpg.connect(self.url)
        try:
            commits, sessions = await conn.fetchrow(self.COUNTS)
            commits -= self.commits0
            sessions -= self.sessions0 + 1  # not this reading's own connection
            rows = await conn.fetch(  # without the bench's own questions to the server
                """
                select r.rolname as role, s.calls, s.query, s.total_exec_time,
                       s.total_plan_time, s.total_exec_time + s.total_plan_time as server_ms
                from pg_stat_statements s
                join pg_roles r on r.oid = s.userid join pg_database d on d.oid = s.dbid
                where d.datname = current_database() and s.query not like '%pg_stat%'
                """
            )
        finally:
            await conn.close()
        n = max(1, questions)
        by_role: dict[str, float] = {}
        ms: dict[str, float] = {}
        for r in rows:
            by_role[r["role"]] = by_role.get(r["role"], 0) + r["calls"]
            ms[r["role"]] = ms.get(r["role"], 0) + r["server_ms"]

        def one(r: Any) -> dict:
            return {
                "role": r["role"],
                "per_question": round(r["calls"] / n, 2),
                "exec_ms_per_question": round(r["total_exec_time"] / n, 4),
                "plan_ms_per_question": round(r["total_plan_time"] / n, 4),
                "statement": " ".join(r["query"].split())[:160],
            }

        return {
            "by_role": {k: round(v / n, 2) for k, v in sorted(by_role.items())},
            "total": round(sum(by_role.values()) / n, 2),
            "server_ms_by_role": {k: round(v / n, 3) for k, v in sorted(ms.items())},
            "commits": round(commits / n, 2),
            "connections_opened_per_1000": round(1000 * sessions / n, 1),
            "most_frequent": [one(r) for r in sorted(rows, key=lambda r: -r["calls"])[:40]],
            "costliest": [one(r) for r in sorted(rows, key=lambda r: -r["server_ms"])[:20]],
        }


def hist_summary(values_s: list[float]) -> dict[str, float]:
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 600_000_000, 3)  # microseconds, 3 significant digits
    for v in values_s:
        h.record_value(max(1, int(v * 1e6)))
    return {
        "count": len(values_s),
        **{f"p{p}": h.get_value_at_percentile(p) / 1000 for p in (50, 95, 99)},
        "max_ms": h.get_max_value() / 1000,
    }


def service_processes(up: psutil.Process) -> dict[str, psutil.Process]:
    """`up`'s services by name, and its PostgreSQL (the postmaster) and nats-server."""
    found = {}
    for p in up.children(recursive=True):
        try:
            cmd, name, parent = p.cmdline(), p.name(), p.parent()
        except psutil.Error:
            continue
        if "serve" in cmd:
            found[cmd[cmd.index("serve") + 1]] = p
        elif name == "nats-server":
            found["nats"] = p
        elif name == "postgres" and parent is not None and parent.name() != "postgres":
            found["postgres"] = p
    return found


def cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: _tree_cpu(p) for name, p in procs.items()}


async def post_questions(
    target: Target,
    n: int,
    concurrency: int,
    timings: Timings,
    rate: float | None,
    progress: str,
) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    sem = asyncio.Semaphore(concurrency)
    done = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal done
            body = {
                "channel": "web",
                "for_self": True,
                "topic": TOPICS[i % 3],
                "phone": f"06{10_000_000 + i % 89_999_999}",
                "postcode": "5611",
                "language": "nl",
                "consent": {"share_with_contact": True, "statistics": True},
            }
            async with sem:
                t0 = time.perf_counter()
                try:
                    url = target.urls[i % len(target.urls)]
                    async with session.post(url, json=body) as r:
                        data = await r.json(content_type=None)
                        t1 = time.perf_counter()
                    if r.status == 202:
                        ref = data[target.key]
                        timings.sent[ref], timings.accepted[ref] = t0, t1
                        if "question_id" in data:
                            timings.ids[ref] = data["question_id"]
                    else:
                        timings.errors[str(r.status)] = timings.errors.get(str(r.status), 0) + 1
                except (aiohttp.ClientError, ValueError) as exc:
                    name = type(exc).__name__
                    timings.errors[name] = timings.errors.get(name, 0) + 1
            done += 1
            if done % max(1, n // 20) == 0 or done == n:
                bar = "#" * (done * 40 // n)
                end = "" if sys.stdout.isatty() else "\n"
                print(f"\r{progress} [{bar:<40}] {done}/{n}", end=end, flush=True)

        if rate is None:
            await asyncio.gather(*(one(i) for i in range(n)))
        else:
            start = time.perf_counter()
            tasks = []
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
    print(flush=True)


def start_profiles(procs: dict[str, psutil.Process], out: Path, which: str) -> dict:
    """py-spy on the processes named in `which` (comma-separated, or 'all'), needs ptrace."""
    from opendeur.embedded import die_with_parent

    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    spies = {}
    for name, proc in procs.items():
        if which != "all" and name not in which.split(","):
            continue
        for fmt, ext in (("flamegraph", "svg"), ("raw", "txt")):
            path = out / f"profile-{name}-{stamp}.{ext}"
            spies[(name, fmt)] = (
                path,
                subprocess.Popen(
                    [
                        *(str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking"),
                        *("-r", "50", "-f", fmt, "-o", str(path), "-p", str(proc.pid)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=die_with_parent(signal.SIGINT),  # py-spy writes its file on SIGINT
                ),
            )
    return spies


def phase_profiles(procs: dict[str, psutil.Process], args: argparse.Namespace, phase: str) -> dict:
    """py-spy for this phase when `--profile` asks for it (`--profile-phase`), else none."""
    if not args.profile or args.profile_phase != phase:
        return {}
    return start_profiles(procs, Path(args.out), args.profile)


def per_1000(cpu0: dict[str, float], cpu1: dict[str, float], questions: int) -> dict[str, float]:
    """Each process's CPU seconds between the two readings, per 1,000 questions."""
    return {k: round((cpu1[k] - cpu0[k]) * 1000 / max(1, questions), 2) for k in cpu1}


def stop_profiles(spies: dict) -> dict[str, str]:
    for _path, spy in spies.values():
        spy.send_signal(signal.SIGINT)
    for _path, spy in spies.values():
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
    return {f"{name}.{fmt}": str(path) for (name, fmt), (path, _spy) in spies.items()}


def write_summaries(profiles: dict[str, str]) -> None:
    """Next to each raw py-spy profile its summary (.summary.txt), also printed."""
    for key, path in profiles.items():
        if key.endswith(".raw") and Path(path).exists():
            summary = profile_summary(Path(path))
            Path(path).with_suffix(".summary.txt").write_text(summary)
            print(f"\n{summary}")


def profile_summary(raw: Path, top: int = 25) -> str:
    """Inclusive share of samples per function from py-spy's collapsed stacks (raw format)."""
    total = 0
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    lines = [f"{raw.name}: {total} samples", "inclusive %  self %  function"]
    for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / total:10.1f}  {100 * own.get(f, 0) / total:6.1f}  {f}")
    return "\n".join(lines)


async def analyze(url: str) -> None:
    """ANALYZE the pipeline's database, as autovacuum does within a minute or two in a running
    network; before each measured phase. A fresh one has no statistics: the plans its services'
    prepared statements cache in the warm-up take a partial index for a handful of rows, and
    keep it while the tables grow thirty-fold in the run (intake's statement for a routing
    scanned every question: 0.65-0.84 ms a question at 100/s, 0.05 after this). Analysed after
    the warm-up only, the plans cached then for 128 questions scanned routing's questions
    table whole for the 1,600-3,600 of the fixed rate (its first decision's statement, and the
    foreign key check of the timers it inserts: PostgreSQL's auto_explain; docs/performance.md).
    Both pipelines get it."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("analyze")
    finally:
        await conn.close()


async def before_phase(target: Target) -> None:
    """Before a measured phase: the pipeline's statistics up to date (`analyze`), then a
    second of quiet."""
    if target.database_url:
        await analyze(target.database_url)
    await asyncio.sleep(1.0)


async def wait_mails(timings: Timings, refs: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(r not in timings.mailed for r in refs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def measure(target: Target, args: argparse.Namespace) -> dict:
    """Warm-up, idle background, saturated throughput, latency at a fixed rate, memory."""
    timings = target.timings
    results: dict = {"load_average_before": load_average()}
    # Warm-up at the measured concurrency: each pipeline's connection pools grow to what the
    # saturated phase needs before it is measured (a pool that grows in the measured phase
    # counted ~15 new PostgreSQL connections, ~16 ms of CPU each with asyncpg's type lookup).
    warm = Timings()
    await post_questions(
        target, max(50, 2 * args.concurrency), args.concurrency, warm, None, "warm-up  "
    )
    await wait_mails(timings, list(warm.accepted), timeout=120)  # the sink notes them all
    if warm.errors or any(r not in timings.mailed for r in warm.accepted):
        raise RuntimeError(f"warm-up failed: {warm.errors or 'mails missing'}")
    await before_phase(target)
    procs = target.procs()

    # Idle CPU (timers, pull requests, polls): reported, and subtracted for a net figure.
    idle0, t_idle = cpu_seconds(procs), time.perf_counter()
    await asyncio.sleep(args.idle_seconds)
    idle1, t_idle = cpu_seconds(procs), time.perf_counter() - t_idle
    idle_rate = {k: (idle1[k] - idle0[k]) / t_idle for k in idle1}

    # Saturated: N questions, C in flight, first POST to last mail.
    if target.statements:
        await target.statements.start()
    spies = phase_profiles(procs, args, "saturated")
    cpu0 = cpu_seconds(procs)
    t0 = time.perf_counter()
    await post_questions(target, args.questions, args.concurrency, timings, None, "saturate ")
    refs = list(timings.accepted)
    await wait_mails(timings, refs, timeout=600)
    t_end = max(
        (timings.mailed[r] for r in refs if r in timings.mailed), default=time.perf_counter()
    )
    cpu1 = cpu_seconds(procs)
    if spies:
        results["profiles"] = stop_profiles(spies)
    delivered = sum(r in timings.mailed for r in refs)
    results["saturated"] = {
        "questions": args.questions,
        "concurrency": args.concurrency,
        "accepted": len(refs),
        "errors": timings.errors,
        "mailed": delivered,
        "seconds": round(t_end - t0, 2),
        "questions_per_s": round(delivered / (t_end - t0), 1),
        "cpu_s_per_1000": per_1000(cpu0, cpu1, delivered),
        "idle_cpu_s_per_s": {k: round(v, 3) for k, v in idle_rate.items()},
        # What the questions cost beyond the idle background over the same wall time.
        "net_cpu_s_per_1000": {
            k: round(
                (cpu1[k] - cpu0[k] - idle_rate[k] * (t_end - t0)) * 1000 / max(1, delivered), 2
            )
            for k in cpu1
        },
        "load_average_after": load_average(),
    }
    if target.statements:
        results["saturated"]["statements_per_question"] = await target.statements.per_question(
            delivered
        )

    # Steady: R questions per second for D seconds, latency per question.
    steady = Timings(mailed=timings.mailed)  # one sink notes every arrival
    n = int(args.rate * args.duration)
    await before_phase(target)  # the saturated phase grew the tables ten-fold since the last one
    steady_wall0 = time.time()
    if target.statements:
        await target.statements.start()
    spies = phase_profiles(procs, args, "steady")
    cpu0, t0 = cpu_seconds(procs), time.perf_counter()
    await post_questions(target, n, 256, steady, args.rate, "steady   ")
    refs = list(steady.accepted)
    await wait_mails(steady, refs, timeout=120)
    cpu1, t_steady = cpu_seconds(procs), time.perf_counter() - t0
    if spies:
        results["profiles"] = stop_profiles(spies)
    results["steady"] = {
        "rate_per_s": args.rate,
        "seconds": args.duration,
        "accepted": len(refs),
        "errors": steady.errors,
        "post_202_ms": hist_summary([steady.accepted[r] - steady.sent[r] for r in refs]),
        "post_to_mail_ms": hist_summary(
            [steady.mailed[r] - steady.sent[r] for r in refs if r in steady.mailed]
        ),
        "mails_missing": sum(r not in steady.mailed for r in refs),
        # At a fixed rate a batch is mostly one event, so a question costs more than saturated.
        "cpu_s_per_1000": per_1000(cpu0, cpu1, len(refs)),
        "cpu_busy": round(sum(cpu1[k] - cpu0[k] for k in cpu1) / t_steady, 2),
        "load_average_after": load_average(),
    }
    if target.statements:  # one event a batch: the round trips a question costs at this rate
        results["steady"]["statements_per_question"] = await target.statements.per_question(
            len(refs)
        )
    if target.stored:
        try:
            results["steady"]["hops_ms"] = hops(steady, await target.stored(steady_wall0))
        except Exception as exc:  # the hops are a breakdown: the run's figures stand without it
            print(f"bench: the hops were not read ({type(exc).__name__}: {exc})", file=sys.stderr)
    # Each process's own resident set (PostgreSQL's postmaster, not its backends' shared pages).
    results["rss_mb"] = {k: round(p.memory_info().rss / 2**20, 1) for k, p in procs.items()}
    return results


SECRET = "bench-secret-" + "x" * 32
# The events on a question's way to its mail, as the hops' ends (opendeur only).
HOP_EVENTS = {
    "question.received.v1": "received",
    "question.routed.v1": "routed",
    "contact.notified.v1": "notified",
}


async def stored_times(js: Any, since: float) -> dict[str, dict[str, float]]:
    """Question id → {received, routed, notified: when JetStream stored that event (the
    server's wall clock, in seconds)} for the events stored since `since`. The stream is read
    from its start and the time compared here: a consumer started by time began one message late
    (nats-server 2.15, several filter subjects)."""
    import nats.js.api

    from contracts.streams import EVENTS_STREAM

    config = nats.js.api.ConsumerConfig(
        deliver_policy=nats.js.api.DeliverPolicy.ALL,
        filter_subjects=list(HOP_EVENTS),
        ack_policy=nats.js.api.AckPolicy.NONE,
    )
    sub = await js.pull_subscribe("", stream=EVENTS_STREAM, config=config)
    times: dict[str, dict[str, float]] = {}
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for m in msgs:
                stored = m.metadata.timestamp.timestamp()
                if stored < since:
                    continue
                event = json.loads(m.data)
                times.setdefault(event["question_id"], {}).setdefault(HOP_EVENTS[m.subject], stored)
            if not msgs or msgs[-1].metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return times


async def stored_times_of(env: dict[str, str], since: float) -> dict[str, dict[str, float]]:
    """`stored_times` on the system run with `env`, through its admin account."""
    from opendeur.messaging import admin_connection
    from opendeur.settings import Settings

    prefix = "OPENDEUR_"
    settings = Settings(
        **{k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    )
    nc = await admin_connection(settings)
    try:
        return await stored_times(nc.jetstream(), since)
    finally:
        await nc.close()


def hops(steady: Timings, stored: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Where a question's time to its mail goes, per hop (ms): the POST to question.received in
    the stream (intake's commit and relay), to question.routed (routing's batch and relay), to
    the mail at the sink (notify's batch, claim and SMTP), and on to contact.notified."""
    return {k: hist_summary(v) for k, v in hop_spans(steady, stored).items() if v}


def hop_spans(steady: Timings, stored: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    """Each hop's durations (s), one per question that was mailed and has both ends."""
    wall = time.time() - time.perf_counter()  # perf_counter → wall clock
    spans: dict[str, list[float]] = {
        "POST → received stored": [],
        "received → routed stored": [],
        "routed → mail": [],
        "mail → notified stored": [],
    }
    for ref, qid in steady.ids.items():
        t = stored.get(qid, {})
        if ref not in steady.mailed or not {"received", "routed"} <= t.keys():
            continue
        sent, mailed = steady.sent[ref] + wall, steady.mailed[ref] + wall
        spans["POST → received stored"].append(t["received"] - sent)
        spans["received → routed stored"].append(t["routed"] - t["received"])
        spans["routed → mail"].append(mailed - t["routed"])
        if "notified" in t:
            spans["mail → notified stored"].append(t["notified"] - mailed)
    return spans


def instances(spec: str) -> dict[str, int]:
    """`--instances routing=2,notify=2`: how many processes of each service (default one)."""
    counts = {s: 1 for s in harness.SERVICES}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, n = part.partition("=")
        if name not in counts or not n.isdigit() or int(n) < 1:
            raise SystemExit(f"bench: --instances takes SERVICE=N, not {part!r}")
        counts[name] = int(n)
    return counts


async def run_opendeur(args: argparse.Namespace) -> dict:
    """opendeur on the harness: a fresh nats-server, PostgreSQL and sink, `opendeur up`, and with
    --instances more `opendeur serve` processes of a service (intake's extra ones also take
    POSTs: the client spreads them over every intake)."""
    data = Path(tempfile.mkdtemp(prefix="opendeur-bench-"))
    timings = Timings()
    sink = Sink(timings).start()
    system = None
    nats_server = pg = None
    try:
        nats_server, pg = harness.start_parts(data, pg_options=pg_options(args))
        system = harness.System(
            data_dir=data,
            nats=nats_server,
            pg=pg,
            database="opendeur",
            smtp=sink,
            extra_env={
                "OPENDEUR_SECRET_KEY": SECRET,
                "OPENDEUR_LOG_LEVEL": "WARNING",
                "OPENDEUR_INTAKE_RATE": "off",
            },
        )
        system.start(timeout=120, port=quiet_port)
        system.import_groups(BENCH_GROUPS + synthetic_groups(args.groups))
        extra: dict[str, psutil.Process] = {}
        intakes = [system.url("intake")]
        for service, n in instances(args.instances).items():
            for i in range(2, n + 1):
                proc, port = system.serve(service)
                extra[f"{service}-{i}"] = psutil.Process(proc.pid)
                if service == "intake":
                    intakes.append(f"http://127.0.0.1:{port}")

        def procs() -> dict[str, psutil.Process]:
            assert system and system.proc and pg and nats_server
            found = service_processes(psutil.Process(system.proc.pid))
            restarts = [
                line for line in (data / "up.log").read_text().splitlines() if " exited (" in line
            ]
            if restarts or not set(harness.SERVICES) <= found.keys():
                raise Restarted(f"a service restarted or is missing: {restarts or sorted(found)}")
            found.update(extra)
            found["postgres"] = psutil.Process(pg.proc.pid)
            found["nats"] = psutil.Process(nats_server.proc.pid)
            return found

        target = Target(
            [f"{u}/api/v1/questions" for u in intakes],
            "reference",
            procs,
            timings,
            statements(args, pg),
            database_url=pg.url(),
            stored=lambda since: stored_times_of(system.env, since),
        )
        results = await measure(target, args)
    finally:
        if system:
            system.stop()
        sink.stop()
        if nats_server:
            nats_server.stop()
        if pg:
            pg.stop()
        tidy(data, kept="results" not in locals())
    return results


async def run_reference(args: argparse.Namespace) -> dict:
    """The hand-written reference (../shared/perf/reference.py, run as it is, one process per
    role) on a fresh nats-server (sync_interval: always), a fresh PostgreSQL and its own sink."""
    from opendeur.embedded import wait_port

    script = Path(args.reference).resolve()
    if not script.is_file():
        raise SystemExit(f"bench: no reference pipeline at {script} (--reference PATH)")
    data = Path(tempfile.mkdtemp(prefix="opendeur-bench-ref-"))
    timings = Timings()
    port = quiet_port()
    sink = Sink(timings, SUBJECT)
    nats_server = pg = None
    roles: dict[str, subprocess.Popen] = {}
    try:
        sink.start()
        nats_server, pg = harness.start_parts(data, pg_options=pg_options(args))
        env = harness.clean_env()
        common = [
            *("--nats", nats_server.url, "--db", pg.url()),
            *("--port", str(port), "--smtp-port", str(sink.port)),
        ]

        def role(name: str) -> list[str]:
            return [sys.executable, str(script), "--role", name, *common]

        prepare = spawn(role("prepare"), env, log=data / "prepare.log")
        try:
            if prepare.wait(120) != 0:
                raise RuntimeError(f"reference prepare failed, see {data / 'prepare.log'}")
        finally:
            stop(prepare)
        for name in ("audit", "routing", "notify", "intake"):
            roles[name] = spawn(role(name), env, log=data / f"{name}.log")
        wait_port("127.0.0.1", port, timeout=60, proc=roles["intake"])
        procs = {k: psutil.Process(p.pid) for k, p in roles.items()}
        procs["postgres"] = psutil.Process(pg.proc.pid)
        procs["nats"] = psutil.Process(nats_server.proc.pid)
        for name, p in roles.items():
            if p.poll() is not None:
                raise Restarted(f"reference {name} exited ({p.returncode}), see {data}")
        target = Target(
            [f"http://127.0.0.1:{port}/api/v1/questions"],
            "question_id",
            lambda: procs,
            timings,
            statements(args, pg),
            database_url=pg.url(),
        )
        results = await measure(target, args)
    finally:
        for p in roles.values():
            stop(p)
        if pg:
            pg.stop()
        if nats_server:
            nats_server.stop()
        sink.stop()
        tidy(data, kept="results" not in locals())
    return results


def pg_options(args: argparse.Namespace) -> dict[str, str] | None:
    """PostgreSQL's extra settings for this run (the statement counter with --statements)."""
    return STATEMENT_OPTIONS if args.statements else None


def statements(args: argparse.Namespace, pg: Postgres) -> Statements | None:
    return Statements(pg.url()) if args.statements else None


def ratios(reference: dict, opendeur: dict) -> dict:
    """opendeur's figures over the reference's (throughput: ≥ 0.7 is the target)."""

    def div(a: float, b: float) -> float | None:
        return round(a / b, 2) if b else None

    rs, os_ = reference["saturated"], opendeur["saturated"]
    return {
        "saturated_questions_per_s": div(os_["questions_per_s"], rs["questions_per_s"]),
        "cpu_s_per_1000_total": div(
            sum(os_["cpu_s_per_1000"].values()), sum(rs["cpu_s_per_1000"].values())
        ),
        "steady_post_202_p99": div(
            opendeur["steady"]["post_202_ms"]["p99"], reference["steady"]["post_202_ms"]["p99"]
        ),
        "steady_post_to_mail_p99": div(
            opendeur["steady"]["post_to_mail_ms"]["p99"],
            reference["steady"]["post_to_mail_ms"]["p99"],
        ),
    }


def rounds_summary(rounds: list[dict]) -> dict:
    """Alternating rounds of both pipelines, summed up by their medians. The machine's moment
    moves one run of the same tree by ±20 %, so one pair of runs cannot tell 0.6 from 0.7; the
    round whose throughput ratio is the median (the lower of the middle two for an even count)
    is the one whose details are shown."""
    keyed = [(r["ratio"]["saturated_questions_per_s"] or 0.0, i) for i, r in enumerate(rounds)]
    keyed.sort()
    detail = keyed[(len(keyed) - 1) // 2][1]

    def throughput(name: str) -> list[float]:
        return [r[name]["saturated"]["questions_per_s"] for r in rounds]

    def cpu(name: str) -> list[float]:
        return [round(sum(r[name]["saturated"]["cpu_s_per_1000"].values()), 2) for r in rounds]

    ratio = [r["ratio"]["saturated_questions_per_s"] for r in rounds]
    cpu_ratio = [r["ratio"]["cpu_s_per_1000_total"] for r in rounds]
    reference_q, opendeur_q = throughput("reference"), throughput("opendeur")
    return {
        "rounds": len(rounds),
        "first": [r["first"] for r in rounds],
        "reference_questions_per_s": reference_q,
        "opendeur_questions_per_s": opendeur_q,
        "reference_cpu_s_per_1000": cpu("reference"),
        "opendeur_cpu_s_per_1000": cpu("opendeur"),
        "ratio_questions_per_s": ratio,
        "ratio_cpu_s_per_1000": cpu_ratio,
        "median": {
            "reference_questions_per_s": median(reference_q),
            "opendeur_questions_per_s": median(opendeur_q),
            "saturated_questions_per_s": median([x for x in ratio if x is not None]),
            "cpu_s_per_1000_total": median([x for x in cpu_ratio if x is not None]),
        },
        "detail_round": detail + 1,
    }


def rounds_table(summary: dict) -> list[str]:
    n = summary["rounds"]
    lines = [f"== {n} rounds, each pipeline on fresh infrastructure, the first one alternating"]
    for i in range(n):
        lines.append(
            f"round {i + 1} ({summary['first'][i]} first): reference "
            f"{summary['reference_questions_per_s'][i]} q/s, opendeur "
            f"{summary['opendeur_questions_per_s'][i]} q/s, ratio "
            f"{summary['ratio_questions_per_s'][i]}, CPU per question ratio "
            f"{summary['ratio_cpu_s_per_1000'][i]}"
        )
    m = summary["median"]
    ratio = [x for x in summary["ratio_questions_per_s"] if x is not None] or [None]
    lines.append(
        f"median: reference {m['reference_questions_per_s']} q/s, opendeur "
        f"{m['opendeur_questions_per_s']} q/s, ratio {m['saturated_questions_per_s']} "
        f"({min(ratio)}-{max(ratio)}; target ≥ 0.7), CPU per question ratio "
        f"{m['cpu_s_per_1000_total']}"
    )
    lines.append(f"(the tables below are round {summary['detail_round']}'s, the median's)")
    return lines


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _tree_cpu(proc: psutil.Process) -> float:
    """User + system CPU seconds of a process and its children (PostgreSQL's backends)."""
    total = 0.0
    for p in (proc, *proc.children(recursive=True)):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def audit_batch() -> int:
    """The batch size audit ships with (the contract's), so the bench measures what runs."""
    from contracts.streams import consumers_of

    return consumers_of("audit")[0].batch_size


async def audit_ingest(events: int, batch: int, profile: str | None = None) -> dict:
    """Events already on the stream, then audit starts: events per second until all are stored.

    Also the CPU seconds that audit, PostgreSQL and nats-server spent per 1,000 events over the
    ingest, and with `profile` (a directory) a py-spy flame graph of the audit process."""
    import asyncpg
    import nats

    from contracts.events import ContactNotified, QuestionReceived, new_id
    from opendeur.db import migrate, provision
    from opendeur.embedded import wait_port
    from opendeur.messaging import provision_broker
    from opendeur.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="opendeur-bench-audit-"))
    nats_server, pg = harness.start_parts(data)
    port = quiet_port()
    env = harness.clean_env()
    env.update(
        {
            "OPENDEUR_NATS_URL": nats_server.url,
            "OPENDEUR_DATABASE_URL": pg.url(),
            "OPENDEUR_SECRET_KEY": "bench-secret-" + "x" * 32,
            "OPENDEUR_AUDIT_PORT": str(port),
            "OPENDEUR_AUDIT_BATCH": str(batch),
            "OPENDEUR_LOG_LEVEL": "WARNING",
        }
    )
    settings = Settings(
        **{
            k[9:].lower(): v
            for k, v in env.items()
            if k in ("OPENDEUR_NATS_URL", "OPENDEUR_DATABASE_URL", "OPENDEUR_SECRET_KEY")
        }
    )
    proc = None
    try:
        await provision(settings)
        await migrate(settings, ("audit",))
        await provision_broker(settings)
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        t_pub = time.perf_counter()
        for i in range(events):
            qid = new_id()  # as intake mints them
            if i % 2 == 0:
                e = QuestionReceived(
                    question_id=qid,
                    reference="OD-BNCH-0001",
                    channel="web",
                    topic="rouw",
                    pc4=None,
                    language="nl",
                    professional_help_advised=False,
                    wants_to_start_group=False,
                    consent_version="consent-bench",
                    consent_share=True,
                    consent_statistics=True,
                    received_at=now,
                    respond_before=now + timedelta(hours=24),
                )
            else:
                e = ContactNotified(
                    question_id=qid, contact_id="c-bench", purpose="new_question", channel="email"
                )
            await js.publish_async(
                e.subject, e.to_bytes(), headers={"Nats-Msg-Id": str(e.event_id)}, wait_stall=60
            )
            if i % 1000 == 999:  # bounded in flight: JetStream fsyncs every write here
                await js.publish_async_completed()
        await js.publish_async_completed()
        publish_s = time.perf_counter() - t_pub
        await nc.close()
        proc = spawn(harness.opendeur_argv("serve", "audit"), env, log=data / "audit.log")
        watched = {
            "audit": psutil.Process(proc.pid),
            "postgres": psutil.Process(pg.proc.pid),
            "nats": psutil.Process(nats_server.proc.pid),
        }
        spies = {}
        if profile:
            spies = start_profiles({"audit": watched["audit"]}, Path(profile), "audit")
        wait_port("127.0.0.1", port, timeout=60)
        conn = await asyncpg.connect(pg.url())
        first = None
        while True:
            # max(seq), not count(*): seq has no gaps, and a count scans the table every poll
            stored = await conn.fetchval("select coalesce(max(seq), 0) from audit.events")
            if stored and first is None:
                first = (time.perf_counter(), stored)
                cpu0 = {k: _tree_cpu(p) for k, p in watched.items()}
            if stored >= events:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - first[0]
        cpu = {k: _tree_cpu(p) - cpu0[k] for k, p in watched.items()}
        await conn.close()
        counted = events - first[1]
        result = {
            "events": events,
            "batch": batch,
            "publish_s": round(publish_s, 2),
            "seconds": round(elapsed, 2),
            "events_per_s": round(counted / elapsed) if elapsed > 0 else None,
            "cpu_s_per_1000": {
                k: round(1000 * v / counted, 3) if counted else None for k, v in cpu.items()
            },
        }
        if spies:
            result["profiles"] = stop_profiles(spies)
        return result
    finally:
        if proc:
            stop(proc)
        pg.stop()
        nats_server.stop()
        tidy(data, kept="result" not in locals())


def statements_text(counted: dict, more: str = "") -> str:
    """A phase's statements per question by role, then `(total N; commits M<more>)`."""
    by_role = ", ".join(f"{k} {v}" for k, v in counted["by_role"].items())
    return f"{by_role} (total {counted['total']}; commits {counted['commits']}{more})"


def _pipeline_rows(r: dict) -> dict[str, str]:
    s, st = r["saturated"], r["steady"]
    p202, pmail = st["post_202_ms"], st["post_to_mail_ms"]
    return {
        "saturated throughput (q/s, POST→last mail)": f"{s['questions_per_s']}",
        "steady: p50 / p95 / p99 POST 202 (ms)": (
            f"{p202['p50']:.1f} / {p202['p95']:.1f} / {p202['p99']:.1f}"
        ),
        "steady: p50 / p95 / p99 POST → mail (ms)": (
            f"{pmail['p50']:.1f} / {pmail['p95']:.1f} / {pmail['p99']:.1f}"
        ),
        "CPU s per 1,000 questions": ", ".join(f"{k} {v}" for k, v in s["cpu_s_per_1000"].items())
        + f" (total {sum(s['cpu_s_per_1000'].values()):.2f})",
        "  net of idle background": ", ".join(
            f"{k} {v}" for k, v in s["net_cpu_s_per_1000"].items()
        ),
        **(
            {
                "PostgreSQL statements per question": statements_text(
                    st_pg,
                    "; connections opened per 1,000 questions "
                    f"{st_pg.get('connections_opened_per_1000', '-')}",
                ),
                "  PostgreSQL's planning + execution (ms)": ", ".join(
                    f"{k} {v}" for k, v in st_pg.get("server_ms_by_role", {}).items()
                ),
            }
            if (st_pg := s.get("statements_per_question"))
            else {}
        ),
        **(
            {
                "steady: CPU s per 1,000 questions": ", ".join(
                    f"{k} {v}" for k, v in st["cpu_s_per_1000"].items()
                )
                + f" (total {sum(st['cpu_s_per_1000'].values()):.2f}; cores busy {st['cpu_busy']})"
            }
            if "cpu_s_per_1000" in st
            else {}
        ),
        **(
            {"steady: PostgreSQL statements per question": statements_text(st_pg)}
            if (st_pg := st.get("statements_per_question"))
            else {}
        ),
        **{
            f"  steady hop {k}: p50 / p99 (ms)": f"{v['p50']:.1f} / {v['p99']:.1f}"
            for k, v in st.get("hops_ms", {}).items()
        },
        "resident memory (MB)": ", ".join(f"{k} {v}" for k, v in r["rss_mb"].items()),
        "load average before / after saturated": (
            f"{r['load_average_before'][0]} / {s['load_average_after'][0]}"
        ),
    }


def table(results: dict) -> str:
    targets = {
        "saturated throughput (q/s, POST→last mail)": "opendeur ≥ 0.7 × reference",
        "steady: p50 / p95 / p99 POST 202 (ms)": "p99 ≤ 20",
        "steady: p50 / p95 / p99 POST → mail (ms)": "p99 ≤ 40",
        "resident memory (MB)": "≤ 150 each service",
    }
    lines = rounds_table(results["rounds"]) if "rounds" in results else []
    for name in ("reference", "opendeur"):
        if name not in results:
            continue
        lines.append(f"== {name}")
        rows = _pipeline_rows(results[name])
        width = max(len(k) for k in rows)
        lines += [f"{k:<{width}}  {v}   {targets.get(k, '')}".rstrip() for k, v in rows.items()]
    if "ratio" in results:
        lines.append("== opendeur / reference")
        lines += [f"{k:<28}  {v}" for k, v in results["ratio"].items()]
    if "audit_ingest" in results:
        ingest = results["audit_ingest"]
        lines.append(f"== audit ingest: {ingest['events_per_s']} events/s (target ≥ 20,000)")
        lines.append(
            f"  CPU s per 1,000 events (batch {ingest['batch']}): "
            + ", ".join(f"{k} {v}" for k, v in ingest.get("cpu_s_per_1000", {}).items())
        )
    return "\n".join(lines)


def git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def measured(run: Callable, args: argparse.Namespace) -> dict:
    """One pipeline's run, started afresh once if one of its processes died before measuring."""
    try:
        return asyncio.run(run(args))
    except Restarted as exc:
        print(f"bench: {exc}; starting it again on fresh infrastructure", flush=True)
        return asyncio.run(run(args))


def main(argv: list[str] | None = None) -> int:
    """The bench; an interruption is reported in a line (its processes are stopped by then)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\nbench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m opendeur.devtools.bench")
    p.add_argument("--questions", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--audit-events", type=int, default=100_000)
    p.add_argument("--idle-seconds", type=float, default=5.0)
    p.add_argument(
        "--groups", type=int, default=3, help="groups in the network (3 bench groups + synthetic)"
    )
    p.add_argument(
        "--instances",
        default="",
        help="processes per service for opendeur, e.g. routing=2,notify=2 (default 1 each)",
    )
    p.add_argument("--no-audit", action="store_true", help="skip the audit ingest part")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run both pipelines this many times, alternating which goes first, and report "
        "the medians (the machine's moment moves one run by ±20 %%)",
    )
    p.add_argument(
        "--statements",
        action="store_true",
        help="count PostgreSQL's statements per question (pg_stat_statements, loaded for it)",
    )
    p.add_argument(
        "--reference",
        default=str(REFERENCE),
        help="the hand-written reference pipeline, run as it is (default: %(default)s)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--reference-only", action="store_true", help="measure only the reference pipeline"
    )
    which.add_argument(
        "--no-reference", action="store_true", help="measure only opendeur, not the reference"
    )
    p.add_argument(
        "--profile",
        default="",
        help="py-spy these services (comma-separated, or 'all') in the --profile-phase",
    )
    p.add_argument(
        "--profile-phase",
        choices=("saturated", "steady"),
        default="saturated",
        help="which phase --profile records: saturated, or the fixed rate (one event a batch)",
    )
    p.add_argument(
        "--audit-only", action="store_true", help="only the audit ingest, batched vs one by one"
    )
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds takes a number of rounds, 1 or more")
    if args.rounds > 1 and (args.no_reference or args.reference_only or args.audit_only):
        p.error(
            "--rounds compares both pipelines: leave out --no-reference, --reference-only "
            "and --audit-only"
        )
    # SIGINT and SIGTERM unwind (even where SIGINT was inherited ignored, as in a background
    # job), so every process the bench started is stopped on the way out.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    audit_profile = args.out if args.profile in ("all", "audit") else None
    if args.audit_only:
        results = {
            "audit_ingest": asyncio.run(
                audit_ingest(args.audit_events, audit_batch(), audit_profile)
            ),
            "audit_ingest_one_by_one": asyncio.run(audit_ingest(args.audit_events // 10, 1)),
        }
        print(json.dumps(results, indent=2))
        write_summaries(results["audit_ingest"].get("profiles", {}))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"bench-audit-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps(results, indent=2)
        )
        return 0
    results: dict = {
        "argv": sys.argv[1:] if argv is None else argv,
        "commit": git_head(),
        "machine": {
            "nproc": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_start": load_average(),
        },
    }
    if args.rounds > 1:
        rounds = []
        for i in range(args.rounds):
            order = ("reference", "opendeur") if i % 2 == 0 else ("opendeur", "reference")
            one: dict = {"first": order[0]}
            for name in order:
                print(f"== round {i + 1} of {args.rounds}: {name}", flush=True)
                one[name] = measured(run_reference if name == "reference" else run_opendeur, args)
            one["ratio"] = ratios(one["reference"], one["opendeur"])
            rounds.append(one)
        results["rounds"] = rounds_summary(rounds)
        results["round_results"] = rounds
        shown = rounds[results["rounds"]["detail_round"] - 1]
        results.update(reference=shown["reference"], opendeur=shown["opendeur"])
    else:
        if not args.no_reference:
            print("== reference pipeline", flush=True)
            results["reference"] = measured(run_reference, args)
        if not args.reference_only:
            print("== opendeur", flush=True)
            results["opendeur"] = measured(run_opendeur, args)
    if "reference" in results and "opendeur" in results:
        results["ratio"] = ratios(results["reference"], results["opendeur"])
    if not args.no_audit and not args.reference_only:
        results["audit_ingest"] = asyncio.run(audit_ingest(args.audit_events, audit_batch()))
    results["machine"]["load_average_end"] = load_average()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    for name in ("reference", "opendeur"):
        write_summaries(results.get(name, {}).get("profiles", {}))
    print(f"\nresults: {out / f'bench-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
