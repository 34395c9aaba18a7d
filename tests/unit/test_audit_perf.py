"""The audit read benchmark runs end to end on a small trail and prints one line per query."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from opendeur.devtools.audit_perf import plan_summary

ROOT = Path(__file__).resolve().parents[2]
QUERIES = {
    "timings_one_month",
    "open_questions_60d",
    "triage_count",
    "monthly_report",
    "events_one_question",
}


def run(*args: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "opendeur.devtools.audit_perf",
            "--events",
            "2000",
            "--runs",
            "2",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_plan_summary_finds_a_sequential_scan_anywhere() -> None:
    plan = {
        "Plan": {
            "Node Type": "Aggregate",
            "Strategy": "Hashed",
            "Total Cost": 10.0,
            "Plans": [{"Node Type": "Seq Scan", "Relation Name": "events", "Total Cost": 9.0}],
        }
    }
    assert plan_summary(plan) == {
        "top": "Aggregate (Hashed)",
        "cost": 10.0,
        "seq_scan_events": True,
    }
    plan["Plan"]["Plans"][0]["Node Type"] = "Index Scan"
    assert plan_summary(plan)["seq_scan_events"] is False


def test_the_benchmark_on_2000_events() -> None:
    out = json.loads(run("--json"))
    assert out["events"] == 2000 and out["questions"] == 500 and out["runs"] == 2
    names = [r["query"] for r in out["results"]]
    assert QUERIES <= set(names)
    assert len(names) == len(set(names))
    for r in out["results"]:
        assert len(r["runs_ms"]) == 2 and all(t > 0 for t in r["runs_ms"]), r
        assert r["median_ms"] > 0 and r["statements"] == len(r["plans"]) >= 1, r
        for p in r["plans"]:
            assert p["top"] and isinstance(p["seq_scan_events"], bool), p


def test_the_text_report() -> None:
    lines = run().splitlines()
    assert re.match(
        r"audit read benchmark: 2000 events, 500 questions .*dummy hash chain", lines[0]
    )
    rows = {
        m[1]: float(m[2]) for m in (re.match(r"(\w+)\s+([0-9.]+)  \S", x) for x in lines[2:]) if m
    }
    assert QUERIES <= set(rows), lines


def test_the_ingest_benchmark_on_an_empty_and_a_prefilled_trail() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "opendeur.devtools.audit_perf",
            "--ingest",
            "--prefill",
            "0,2000",
            "--ingest-events",
            "400",
            "--rounds",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert [r["prefill"] for r in out["results"]] == [0, 2000]
    for r in out["results"]:
        assert r["events_after"] == r["prefill"] + 400  # every new event stored, once
        (run_,) = r["runs"]
        assert run_["stored"] == 400 and run_["events_per_s"] > 0
        # PostgreSQL's CPU is read from the kernel's clock ticks (10 ms): 400 events may fit in
        # less than one.
        assert run_["python_cpu_us_per_event"] > 0 and run_["postgres_cpu_us_per_event"] >= 0
