"""`make bench BENCH_ARGS=--rounds N`: both pipelines N times, the first one alternating, and
the medians reported, because one pair of runs on this machine moves by ±20 %."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from opendeur.devtools import bench


def pipeline(q_per_s: float, cpu_total: float) -> dict:
    """A pipeline's result as `measure` returns it, with the figures a round is judged by."""
    latency = {"p50": 10.0, "p95": 20.0, "p99": 30.0}
    return {
        "load_average_before": [0.5, 0.5, 0.5],
        "saturated": {
            "questions_per_s": q_per_s,
            "cpu_s_per_1000": {"intake": cpu_total / 2, "postgres": cpu_total / 2},
            "net_cpu_s_per_1000": {"intake": cpu_total / 2, "postgres": cpu_total / 2},
            "load_average_after": [1.0, 1.0, 1.0],
        },
        "steady": {"post_202_ms": latency, "post_to_mail_ms": latency},
        "rss_mb": {"intake": 120.0},
    }


def round_of(reference_q: float, opendeur_q: float, first: str = "reference") -> dict:
    one = {
        "first": first,
        "reference": pipeline(reference_q, 6.0),
        "opendeur": pipeline(opendeur_q, 12.0),
    }
    one["ratio"] = bench.ratios(one["reference"], one["opendeur"])
    return one


def test_the_median_round_is_the_one_shown() -> None:
    rounds = [round_of(200, 146), round_of(200, 104), round_of(200, 124)]  # 0.73, 0.52, 0.62

    summary = bench.rounds_summary(rounds)

    assert summary["ratio_questions_per_s"] == [0.73, 0.52, 0.62]
    assert summary["median"]["saturated_questions_per_s"] == 0.62
    assert summary["median"]["opendeur_questions_per_s"] == 124
    assert summary["median"]["cpu_s_per_1000_total"] == 2.0
    assert summary["detail_round"] == 3


def test_an_even_count_shows_the_lower_middle_round() -> None:
    rounds = [round_of(200, 140), round_of(200, 100), round_of(200, 120), round_of(200, 160)]

    summary = bench.rounds_summary(rounds)

    assert summary["median"]["saturated_questions_per_s"] == 0.65  # (0.6 + 0.7) / 2
    assert summary["detail_round"] == 3  # 0.6, the lower of the middle two


def test_the_table_names_every_round_and_the_median() -> None:
    rounds = [round_of(200, 146), round_of(180, 104, "opendeur"), round_of(210, 124)]
    shown = rounds[2]
    results = {
        "rounds": bench.rounds_summary(rounds),
        "reference": shown["reference"],
        "opendeur": shown["opendeur"],
        "ratio": shown["ratio"],
    }

    text = bench.table(results)

    assert "round 2 (opendeur first): reference 180 q/s, opendeur 104 q/s, ratio 0.58" in text
    assert "ratio 0.59 (0.58-0.73; target ≥ 0.7)" in text
    assert "the tables below are round 3's" in text


def test_rounds_alternate_which_pipeline_goes_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: list[str] = []
    speeds = iter([150, 200, 190, 100, 140, 210])  # opendeur, reference by the order they run

    def fake(name: str):
        async def run(args: argparse.Namespace) -> dict:
            ran.append(name)
            return pipeline(next(speeds), 12.0 if name == "opendeur" else 6.0)

        return run

    monkeypatch.setattr(bench, "run_reference", fake("reference"))
    monkeypatch.setattr(bench, "run_opendeur", fake("opendeur"))

    assert bench.main(["--rounds", "3", "--no-audit", "--out", str(tmp_path)]) == 0

    assert ran == ["reference", "opendeur", "opendeur", "reference", "reference", "opendeur"]
    (saved,) = tmp_path.glob("bench-*.json")
    results = json.loads(saved.read_text())
    # Rounds: reference 150 / opendeur 200, then opendeur 190 / reference 100, then 140 / 210.
    assert results["rounds"]["ratio_questions_per_s"] == [1.33, 1.9, 1.5]
    assert results["rounds"]["detail_round"] == 3
    assert results["ratio"]["saturated_questions_per_s"] == 1.5
    assert len(results["round_results"]) == 3


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--rounds", "0"], "--rounds takes a number of rounds, 1 or more"),
        (["--rounds", "3", "--no-reference"], "--rounds compares both pipelines"),
    ],
)
def test_rounds_that_cannot_compare_are_refused(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        bench.main(argv)

    assert ended.value.code == 2
    assert said in capsys.readouterr().err
