"""Read benchmark of the console and report queries on a synthetic trail (default 1,000,000 events).

    python -m opendeur.devtools.audit_perf [--events N] [--runs 5] [--keep DIR]

Starts an embedded PostgreSQL in a temporary directory, creates the audit schema with audit's own
migrations, fills it in SQL (generate_series) and times the very functions the console and the
report call. The hash chain holds dummy values: this measures reads, not the chain.
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
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

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
select (q.i - 1) * 4 + e.k, md5('e' || q.i || '.' || e.k)::uuid, e.type, q.qid, e.at, e.at,
       jsonb_build_object('event_id', md5('e' || q.i || '.' || e.k)::uuid, 'type', e.type,
                          'occurred_at', e.at, 'source', e.source, 'question_id', q.qid)
         || e.extra,
       'dummy', 'dummy'
from (
    select i, md5('q' || i)::uuid as qid,
           (array['angst','rouw','depressie','verslaving','mantelzorg','autisme','adhd',
                  'eenzaamheid'])[1 + i % 8] as topic,
           (array['Eindhoven','Utrecht','Amsterdam','Rotterdam','Zwolle'])[1 + i % 5] as town,
           p.now - interval '365 days' * (1 - i::float8 / p.q) as received_at, p.now,
           i % 20 = 0 as unmatched,
           interval '1 hour' * (1 + ((i * 7919) % 3900) / 100.0) as callback_after
    from p, generate_series(1, p.q) as i
) q
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


async def run(events: int, runs: int, data_dir: Path) -> dict[str, Any]:
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
                    await conn.execute(text(FILL), {"q": questions, "now": now})
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
    args = parser.parse_args(argv)
    if args.events < EVENTS_PER_QUESTION or args.runs < 1:
        parser.error("--events must be at least 4 and --runs at least 1")
    if args.keep:
        out = asyncio.run(run(args.events, args.runs, args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="audit-perf-") as tmp:
            out = asyncio.run(run(args.events, args.runs, Path(tmp)))
    print(json.dumps(out, indent=2) if args.json else report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
