"""The funder report's shape: suppressed tables, medians only over five answers, CSV rows."""

from __future__ import annotations

import csv
import io

import pytest

from services.audit import reports

COUNTS = {
    "questions_by_topic": {"rouw": 7, "angst": 2, "adhd": 0},
    "outcomes": {"reached": 3},
}


def stat(topic: str, answered: int, median: float | None, within: int = 0, decided: int = 0):
    return {
        "topic": topic,
        "answered": answered,
        "median_callback_seconds": median,
        "within_deadline": within,
        "decided": decided,
    }


def test_small_counts_become_less_than_five_and_medians_need_five_answers() -> None:
    stats = [stat("*", 6, 4000.4, 5, 6), stat("rouw", 5, 3600.0), stat("angst", 1, 30.0)]
    report = reports.build("2026-11", 30, COUNTS, stats)
    # With the total shown, 7 would give the "<5" away, so suppression hides it too.
    assert report["questions_by_topic"] == {
        "cells": {"rouw": "•", "angst": "<5", "adhd": 0},
        "total": 9,
    }
    assert report["outcomes"] == {"cells": {"reached": "<5"}, "total": "<5"}
    assert report["answered_by_topic"]["cells"] == {"rouw": 5, "angst": "<5"}
    times = report["response_times"]
    assert times["median_callback_seconds"] == 4000
    assert times["within_deadline_share"] == pytest.approx(5 / 6, abs=0.001)
    assert times["median_callback_seconds_by_topic"] == {"rouw": 3600, "angst": None}


def test_no_answers_at_all_gives_no_times() -> None:
    report = reports.build("2026-11", 30, COUNTS, [])
    assert report["response_times"]["median_callback_seconds"] is None
    assert report["response_times"]["within_deadline_share"] is None
    assert report["answered_by_topic"] == {"cells": {}, "total": 0}


def test_few_decided_questions_hide_the_deadline_share() -> None:
    report = reports.build("2026-11", 30, COUNTS, [stat("*", 4, 10.0, 4, 4)])
    assert report["response_times"] == {
        "median_callback_seconds": None,
        "within_deadline_share": None,
        "median_callback_seconds_by_topic": {},
    }


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "–"), (0, "0:00:00"), (3, "0:00:03"), (3661, "1:01:01"), (90000, "25:00:00")],
)
def test_durations_never_read_as_a_bare_count(seconds: int | None, shown: str) -> None:
    assert reports.duration(seconds) == shown


def test_csv_has_one_row_per_cell_and_no_small_count() -> None:
    report = reports.build("2026-11", 30, COUNTS, [stat("*", 6, 61.0, 6, 6), stat("rouw", 6, 61.0)])
    rows = list(csv.reader(io.StringIO(reports.to_csv(report))))
    assert rows[0] == ["Maand", "Tabel", "Onderdeel", "Waarde"]
    assert ["2026-11", "questions_by_topic", "angst", "<5"] in rows
    assert ["2026-11", "questions_by_topic", "total", "9"] in rows
    assert ["2026-11", "response_times", "median_callback", "0:01:01"] in rows
    assert ["2026-11", "response_times", "within_deadline", "100%"] in rows
    assert ["2026-11", "median_callback_by_topic", "rouw", "0:01:01"] in rows
    assert all(r[3] not in {"1", "2", "3", "4"} for r in rows[1:])


def test_the_funders_csv_reads_in_dutch_words_with_small_counts_still_hidden() -> None:
    from services.audit.web.pages import report_csv

    report = reports.build("2026-11", 30, COUNTS, [stat("*", 6, 61.0, 6, 6), stat("rouw", 6, 61.0)])
    text = report_csv(report)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Maand", "Tabel", "Onderdeel", "Waarde"]
    assert ["2026-11", "Vragen per onderwerp", "Angst en paniek", "<5"] in rows, rows
    assert ["2026-11", "Vragen per onderwerp", "Totaal", "9"] in rows
    assert all(r[3] not in {"1", "2", "3", "4"} for r in rows[1:])
    # No English code of a table or a row is left for a funder to decode.
    for code in ("questions_by_topic", "response_times", "median_callback", "total", "angst"):
        assert code not in text


@pytest.mark.parametrize(
    ("name", "month", "filename"),
    [
        ("Zelfhulpnetwerk", "2026-11", "zelfhulpnetwerk-rapport-2026-11.csv"),
        (
            "Zelfhulp Netwerk Zuidoost-Brabant",
            "2026-11",
            "zelfhulp-netwerk-zuidoost-brabant-rapport-2026-11.csv",
        ),
        ("Één & Ander", "2026-01", "een-ander-rapport-2026-01.csv"),
        ("", "2026-11", "rapport-2026-11.csv"),
        ("!!!", "2026-11", "rapport-2026-11.csv"),
        (None, "2026-11", "rapport-2026-11.csv"),
    ],
)
def test_the_csv_file_is_named_for_the_network_and_month(
    name: str | None, month: str, filename: str
) -> None:
    assert reports.csv_filename(month, name) == filename
