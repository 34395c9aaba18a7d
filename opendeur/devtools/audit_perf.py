"""Audit's benchmarks on a synthetic trail: the console's and report's reads, and the cost of
appending to the chain on an empty trail and on a full one.

    python -m opendeur.devtools.audit_perf [--events N] [--runs 5] [--keep DIR]
    python -m opendeur.devtools.audit_perf --ingest [--prefill 0,1000000,10000000] [--ingest-events N]
        [--ids v7|v4]

Starts an embedded PostgreSQL in a temporary directory, creates the audit schema with audit's own
migrations, fills it in SQL (generate_series) and times the very functions the console and the
report call. The hash chain of the filled part holds dummy values: reads do not look at it.

`--ingest` measures what audit's subscriber does per fetched batch, without the broker: the
allow-list (`allowlist.keep` on each message's bytes) and `store.append` (advisory lock, head and
seen ids in one statement, the chain hashed in one pass, one binary COPY), one transaction and
one commit per batch of the contract's batch size. It does so on a fresh database per prefill
size (the trail filled with that many events first), so the append cost on an empty trail and
on a large one can be compared. The broker's part is `make bench-audit` (opendeur.devtools.bench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from contracts.events import new_id
from opendeur.db import make_engine, migrate, provision, sessionmaker
from opendeur.embedded import Postgres
from opendeur.settings import Settings
from services.audit import queries, store

DATABASE = "audit_perf"
EVENTS_PER_QUESTION = 4

# Every question has four events. One in twenty finds no group (received, unmatched, escalated
# twice; the recent ones stay in the triage queue); the others are received, routed, notified and
# called back 1 to 40 hours later (those whose callback would lie in the future are reminded).
FILL = """
with p as (select cast(:now as timestamptz) as now, cast(:q as integer) as q)
insert into events (seq, event_id, type, question_id, occurred_at, recorded_at, record,
                    prev_hash, hash)
select (q.i - 1) * 4 + e.k, $EVENT_ID, e.type, q.qid, e.at, e.at,
       jsonb_build_object('event_id', $EVENT_ID, 'type', e.type,
                          'occurred_at', e.at, 'source', e.source, 'question_id', q.qid)
         || e.extra,
       'dummy', 'dummy'
from (select q0.*, $QUESTION_ID as qid from (
    select i,
           (array['angst','rouw','depressie','verslaving','mantelzorg','autisme','adhd',
                  'eenzaamheid'])[1 + i % 8] as topic,
           (array['Eindhoven','Utrecht','Amsterdam','Rotterdam','Zwolle'])[1 + i % 5] as town,
           p.now - interval '365 days' * (1 - i::float8 / p.q) as received_at, p.now,
           i % 20 = 0 as unmatched,
           interval '1 hour' * (1 + ((i::bigint * 7919) % 3900) / 100.0) as callback_after
    from p, generate_series(1, p.q) as i
) q0) q
cross join lateral (values
    (1, 'question.received.v1', 'intake', q.received_at,
     jsonb_build_object('topic', q.topic, 'channel', case when q.i % 3 = 0 then 'phone' else 'web' end,
                        'received_at', q.received_at, 'respond_before', q.received_at + interval '24 hours',
                        'consent_version', 'consent-2026', 'consent_share', true,
                        'consent_statistics', q.i % 2 = 0, 'wants_to_start_group', q.i % 11 = 0,
                        'professional_help_advised', false, 'language', 'nl')),
    (2, case when q.unmatched then 'question.unmatched.v1' else 'question.routed.v1' end,
     'routing', q.received_at + interval '2 seconds',
     case when q.unmatched then jsonb_build_object('topic', q.topic)
          else jsonb_build_object('municipality', q.town, 'group_id', 'g' || q.i % 40) end),
    (3, case when q.unmatched then 'question.escalated.v1' else 'contact.notified.v1' end,
     case when q.unmatched then 'routing' else 'notify' end, q.received_at + interval '5 seconds',
     '{}'::jsonb),
    (4, case when q.unmatched then 'question.escalated.v1'
             when q.received_at + q.callback_after > q.now then 'contact.notified.v1'
             else 'callback.done.v1' end,
     case when q.unmatched or q.received_at + q.callback_after > q.now then 'routing'
          else 'intake' end,
     case when q.unmatched then q.received_at + interval '12 hours'
          when q.received_at + q.callback_after > q.now then q.received_at + interval '1 minute'
          else q.received_at + q.callback_after end,
     case when q.unmatched or q.received_at + q.callback_after > q.now then '{}'::jsonb
          else jsonb_build_object('outcome', (array['reached','unreachable','wrong_group'])[1 + q.i % 3])
     end)
) as e(k, type, source, at, extra)
"""


def _v7(at: str, seed: str) -> str:
    """SQL for a version 7 UUID minted at `at`: its Unix milliseconds, then md5 bits of `seed`."""
    ms = f"lpad(to_hex((extract(epoch from {at}) * 1000)::bigint), 12, '0')"
    return f"({ms} || '7' || substr(md5({seed}), 1, 3) || '8' || substr(md5({seed}), 4, 15))::uuid"


# The ids of the filled trail: "v7" as the system mints them now (new_id: each id carries the
# millisecond of its event or question), "v4" random as before (md5 bits, spread like uuid4).
ID_KINDS = {
    "v7": {
        "question_id": _v7("q0.received_at", "'q' || q0.i"),
        "event_id": _v7("e.at", "'e' || q.i || '.' || e.k"),
    },
    "v4": {
        "question_id": "md5('q' || q0.i)::uuid",
        "event_id": "md5('e' || q.i || '.' || e.k)::uuid",
    },
}


def fill_sql(ids: str) -> str:
    kind = ID_KINDS[ids]
    return FILL.replace("$QUESTION_ID", kind["question_id"]).replace("$EVENT_ID", kind["event_id"])


def mint(ids: str) -> UUID:
    return new_id() if ids == "v7" else uuid4()


Query = Callable[[AsyncSession], Awaitable[Any]]


def console_queries(now: datetime, question: UUID) -> dict[str, Query]:
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=1)
    month_start = month_start.replace(day=1)  # last whole month
    month_end = (month_start + timedelta(days=32)).replace(day=1)

    async def monthly_report(s: AsyncSession) -> Any:
        counts = await store.monthly_counts(s, month_start, month_end)
        stats = await queries.timings(s, month_start, month_end, questions=False)
        return counts, stats

    return {
        "timings_one_month": lambda s: queries.timings(s, month_start, month_end),
        "open_questions_60d": lambda s: queries.open_questions(s, now - timedelta(days=60), now),
        "triage_count": queries.triage_count,
        "monthly_report": monthly_report,
        "events_one_question": lambda s: store.events_for(s, question),
        "latest_events": lambda s: queries.latest_events(s, 50),
        "callback_seconds_30d": lambda s: queries.callback_seconds(
            s, now - timedelta(days=30), now
        ),
        "weekly_deadline_12w": lambda s: queries.weekly_within_deadline(
            s, now - timedelta(weeks=12), now
        ),
        "per_topic_30d": lambda s: queries.questions_per_topic(s, now - timedelta(days=30), now),
    }


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _walk(child))]


def plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """The top node and whether any node reads the events table sequentially."""
    top = plan["Plan"]
    nodes = _walk(top)
    return {
        "top": top["Node Type"] + (f" ({top['Strategy']})" if "Strategy" in top else ""),
        "cost": top["Total Cost"],
        "seq_scan_events": any(
            n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "events" for n in nodes
        ),
    }


async def measure(engine: AsyncEngine, name: str, query: Query, runs: int) -> dict[str, Any]:
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    make = sessionmaker(engine)
    async with make() as s:  # warm-up run, capturing the SQL it sends
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            await query(s)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", capture)
    times = []
    for _ in range(runs):
        async with make() as s:
            started = time.perf_counter()
            await query(s)
            times.append((time.perf_counter() - started) * 1000)
    plans = []
    async with engine.connect() as conn:
        for statement, parameters in statements:
            got = await conn.exec_driver_sql("explain (format json) " + statement, parameters)
            raw = got.scalar_one()
            plans.append(plan_summary((json.loads(raw) if isinstance(raw, str) else raw)[0]))
    return {
        "query": name,
        "median_ms": round(statistics.median(times), 2),
        "runs_ms": [round(t, 2) for t in times],
        "statements": len(statements),
        "plans": plans,
    }


async def run(events: int, runs: int, data_dir: Path, ids: str = "v7") -> dict[str, Any]:
    pg = Postgres(data_dir).start()
    try:
        pg.ensure_database(DATABASE)
        settings = Settings(database_url=pg.url(DATABASE), secret_key=secrets.token_urlsafe(32))
        await provision(settings)
        await migrate(settings, ("audit",))
        engine = make_engine(pg.url(DATABASE), pool_size=2, schema="audit")
        try:
            questions = max(events // EVENTS_PER_QUESTION, 1)
            now = datetime.now(UTC)
            started = time.perf_counter()
            async with engine.begin() as conn:
                # A kept directory already filled is reused as it is (its clock then lags).
                if (await conn.execute(text("select count(*) from events"))).scalar_one() == 0:
                    await conn.execute(text(fill_sql(ids)), {"q": questions, "now": now})
            fill_s = time.perf_counter() - started
            async with engine.connect() as conn:
                # As autovacuum does for an append-only table: statistics and the visibility map.
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("vacuum analyze events"))
                await auto.execute(text("vacuum analyze question_times"))  # kept by a trigger
                stored = (await conn.execute(text("select count(*) from events"))).scalar_one()
                # A question from the middle of the year.
                question = (
                    await conn.execute(
                        text("select question_id from events where seq = :s"),
                        {"s": (questions // 2) * EVENTS_PER_QUESTION + 1},
                    )
                ).scalar_one()
            results = [
                await measure(engine, name, q, runs)
                for name, q in console_queries(now, question).items()
            ]
        finally:
            await engine.dispose()
    finally:
        pg.stop()
    return {
        "events": stored,
        "questions": questions,
        "fill_seconds": round(fill_s, 1),
        "runs": runs,
        "results": results,
    }


def ingest_messages(count: int, ids: str = "v7") -> list[tuple[str, bytes]]:
    """(subject, bytes) of `count` valid events as publishers send them: per question received,
    routed, notified and called back; question and event ids of the kind `ids` (v7 or v4)."""
    from contracts.events import CallbackDone, ContactNotified, QuestionReceived, QuestionRouted

    out: list[tuple[str, bytes]] = []
    now = datetime.now(UTC)
    for i in range(max(count // EVENTS_PER_QUESTION, 1)):
        qid = mint(ids)
        ref = f"OD-{i % 10000:04d}-{(i // 10000) % 10000:04d}".replace("0", "A")
        due = now + timedelta(hours=24)
        events = [
            QuestionReceived(
                event_id=mint(ids),
                question_id=qid,
                reference=ref,
                channel="web",
                topic="angst",
                pc4="5611",
                language="nl",
                professional_help_advised=False,
                wants_to_start_group=False,
                consent_version="consent-2026",
                consent_share=True,
                consent_statistics=True,
                received_at=now,
                respond_before=due,
            ),
            QuestionRouted(
                event_id=mint(ids),
                question_id=qid,
                reference=ref,
                group_id="g-angst",
                contact_id="c-1",
                reason="topic+municipality",
                attempt=1,
                topic="angst",
                municipality="eindhoven",
                priority=False,
                channel="web",
                received_at=now,
                respond_before=due,
            ),
            ContactNotified(
                event_id=mint(ids),
                question_id=qid,
                contact_id="c-1",
                purpose="new_question",
                channel="email",
            ),
            CallbackDone(event_id=mint(ids), question_id=qid, contact_id="c-1", outcome="reached"),
        ]
        out += [(e.subject, e.to_bytes()) for e in events]
    return out[:count]


def cluster_cpu(pg: Postgres) -> float:
    """CPU seconds (user + system) the PostgreSQL cluster's processes have used so far."""
    import psutil

    if pg.proc is None:
        return 0.0
    root = psutil.Process(pg.proc.pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def ingest_once(
    engine: AsyncEngine, messages: list[tuple[str, bytes]], batch: int, pg: Postgres
) -> dict[str, Any]:
    """Allow-list and append `messages` in batches, one transaction each, as the subscriber does."""
    from services.audit import allowlist

    make = sessionmaker(engine)
    pg_cpu = cluster_cpu(pg)
    wall, cpu = time.perf_counter(), time.process_time()
    stored = 0
    for i in range(0, len(messages), batch):
        records = [
            allowlist.keep(subject, data, i + n)[0]
            for n, (subject, data) in enumerate(messages[i : i + batch])
        ]
        async with make() as session, session.begin():
            stored += await store.append(session, records)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pg_cpu = cluster_cpu(pg) - pg_cpu
    return {
        "postgres_cpu_us_per_event": round(pg_cpu / stored * 1e6, 1) if stored else None,
        "stored": stored,
        "seconds": round(wall, 2),
        "events_per_s": round(stored / wall) if wall else None,
        "python_cpu_us_per_event": round(cpu / stored * 1e6, 1) if stored else None,
    }


async def ingest(
    prefills: list[int], count: int, batch: int, rounds: int, data_dir: Path, ids: str = "v7"
) -> dict[str, Any]:
    """For each prefill size, a fresh database filled with that many events, then `rounds` times
    the same ingest of `count` new events (fresh ids each round)."""
    pg = Postgres(data_dir).start()
    results = []
    try:
        for prefill in prefills:
            database = f"audit_ingest_{prefill}"
            pg.ensure_database(database)
            settings = Settings(database_url=pg.url(database), secret_key=secrets.token_urlsafe(32))
            await provision(settings)
            await migrate(settings, ("audit",))
            engine = make_engine(pg.url(database), pool_size=2, schema="audit")
            try:
                started = time.perf_counter()
                if prefill:
                    async with engine.begin() as conn:
                        await conn.execute(
                            text(fill_sql(ids)),
                            {"q": prefill // EVENTS_PER_QUESTION, "now": datetime.now(UTC)},
                        )
                    async with engine.connect() as conn:
                        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                        await auto.execute(text("vacuum analyze events"))
                        await auto.execute(text("vacuum analyze question_times"))
                async with engine.connect() as conn:
                    # The fill's dirty pages written out now, not during the measurement.
                    auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await auto.execute(text("checkpoint"))
                fill_s = time.perf_counter() - started
                runs = [
                    await ingest_once(engine, ingest_messages(count, ids), batch, pg)
                    for _ in range(rounds)
                ]
                async with engine.connect() as conn:
                    total = (await conn.execute(text("select count(*) from events"))).scalar_one()
            finally:
                await engine.dispose()
            results.append(
                {
                    "prefill": prefill,
                    "fill_seconds": round(fill_s, 1),
                    "events_after": total,
                    "runs": runs,
                }
            )
            print(
                json.dumps(results[-1]), file=sys.stderr, flush=True
            )  # kept if a later size fails
            pg._psql(f'drop database "{database}"')  # free the disk before the next size
    finally:
        pg.stop()
    return {"batch": batch, "events_per_round": count, "ids": ids, "results": results}


def ingest_report(out: dict[str, Any]) -> str:
    lines = [
        f"audit ingest without the broker: allow-list + store.append, batch {out['batch']}, "
        f"{out['events_per_round']} events per round, one transaction per batch, "
        f"{out['ids']} ids",
        f"{'trail before':>14}  {'events/s per round':<26} {'audit CPU µs/event':<22} "
        "PostgreSQL CPU µs/event",
    ]
    for r in out["results"]:
        rates = ", ".join(str(x["events_per_s"]) for x in r["runs"])
        cpu = ", ".join(str(x["python_cpu_us_per_event"]) for x in r["runs"])
        pg = ", ".join(str(x["postgres_cpu_us_per_event"]) for x in r["runs"])
        lines.append(f"{r['prefill']:>14,}  {rates:<26} {cpu:<22} {pg}")
    return "\n".join(lines)


def report(out: dict[str, Any]) -> str:
    lines = [
        f"audit read benchmark: {out['events']} events, {out['questions']} questions "
        f"(filled in {out['fill_seconds']} s; dummy hash chain), median of {out['runs']} runs",
        f"{'query':<22} {'median ms':>10}  top plan node per statement",
    ]
    for r in out["results"]:
        nodes = "; ".join(
            p["top"] + (" [seq scan on events]" if p["seq_scan_events"] else "") for p in r["plans"]
        )
        lines.append(f"{r['query']:<22} {r['median_ms']:>10.2f}  {nodes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opendeur.devtools.audit_perf", description=__doc__
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--keep", type=Path, help="data directory to use and keep; a filled one is reused"
    )
    parser.add_argument(
        "--ingest", action="store_true", help="measure appending to an empty and a full trail"
    )
    parser.add_argument(
        "--prefill",
        default="0,1000000",
        help="comma-separated trail sizes to measure the ingest on (with --ingest)",
    )
    parser.add_argument("--ingest-events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--ids",
        choices=sorted(ID_KINDS),
        default="v7",
        help="question and event ids of the trail and the new events: v7 time-ordered as the "
        "system mints them, v4 random as before (default v7)",
    )
    args = parser.parse_args(argv)
    if args.ingest:
        from contracts.streams import consumers_of

        prefills = [int(x.replace("_", "")) for x in args.prefill.split(",") if x.strip()]
        batch = consumers_of("audit")[0].batch_size
        with tempfile.TemporaryDirectory(prefix="audit-ingest-", dir=args.keep) as tmp:
            out = asyncio.run(
                ingest(prefills, args.ingest_events, batch, args.rounds, Path(tmp), args.ids)
            )
        print(json.dumps(out, indent=2) if args.json else ingest_report(out))
        return 0
    if args.events < EVENTS_PER_QUESTION or args.runs < 1:
        parser.error("--events must be at least 4 and --runs at least 1")
    if args.keep:
        out = asyncio.run(run(args.events, args.runs, args.keep, args.ids))
    else:
        with tempfile.TemporaryDirectory(prefix="audit-perf-") as tmp:
            out = asyncio.run(run(args.events, args.runs, Path(tmp), args.ids))
    print(json.dumps(out, indent=2) if args.json else report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
