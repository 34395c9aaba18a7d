"""The funder report: suppressed monthly counts and response times, as JSON, CSV or a page."""

from __future__ import annotations

import calendar
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from opendeur.errors import Refused
from services.audit import suppression

NOTE = (
    "Counts from 1 to 4 are shown as <5; another figure may be hidden (•) so that none can be "
    "worked out. Response times are only given where at least 5 questions were answered."
)
TABLES = (
    "questions_by_topic",
    "questions_by_channel",
    "routed_by_municipality",
    "outcomes",
    "followup",
    "referrals_by_kind",
    "buddy_signals_by_topic",
    "answered_by_topic",
)


THRESHOLD = 5


def month_range(month: str) -> tuple[int, datetime, datetime]:
    """(days in the month, its first instant, the first instant of the next) of a "YYYY-MM"."""
    ok = re.fullmatch(r"(20[0-9]{2})-(0[1-9]|1[0-2])", month)
    if ok is None:
        raise Refused("invalid_month", "month must look like 2026-11", "month")
    year, mon = int(ok[1]), int(ok[2])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return calendar.monthrange(year, mon)[1], start, end


def _seconds(value: float | None, n: int) -> int | None:
    # A time computed from fewer than 5 questions says too much about each of them.
    return round(value) if value is not None and n >= THRESHOLD else None


def build(
    month: str, days: int, counts: Mapping[str, Mapping[str, int]], stats: list[dict[str, Any]]
) -> dict[str, Any]:
    """The report as published: every count suppressed, medians only over 5 or more answers."""
    out: dict[str, Any] = {"month": month, "days": days, "note": NOTE}
    per_topic = [s for s in stats if s["topic"] != "*"]
    tables = dict(counts)
    tables["answered_by_topic"] = {s["topic"]: s["answered"] for s in per_topic}
    for name, table in tables.items():
        s = suppression.suppress(table)
        out[name] = {"cells": s.cells, "total": s.total}
    overall = next((s for s in stats if s["topic"] == "*"), None)
    answered = overall["answered"] if overall else 0
    decided = overall["decided"] if overall else 0
    out["response_times"] = {
        "median_callback_seconds": _seconds(
            overall["median_callback_seconds"] if overall else None, answered
        ),
        "within_deadline_share": (
            round(overall["within_deadline"] / decided, 3)
            if overall and decided >= THRESHOLD
            else None
        ),
        "median_callback_seconds_by_topic": {
            s["topic"]: _seconds(s["median_callback_seconds"], s["answered"]) for s in per_topic
        },
    }
    return out


def duration(seconds: int | None) -> str:
    """A published time as h:mm:ss, never a bare small number that reads like a count."""
    if seconds is None:
        return "–"
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def rows(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(table, key, value) rows, the same for the CSV and the page."""
    out: list[tuple[str, str, str]] = []
    for name in TABLES:
        table = report.get(name)
        if table is None:
            continue
        for key, value in table["cells"].items():
            out.append((name, key, str(value)))
        out.append((name, "total", str(table["total"])))
    rt = report["response_times"]
    out.append(("response_times", "median_callback", duration(rt["median_callback_seconds"])))
    share = rt["within_deadline_share"]
    out.append(
        ("response_times", "within_deadline", "–" if share is None else f"{share * 100:.0f}%")
    )
    for topic, secs in rt["median_callback_seconds_by_topic"].items():
        out.append(("median_callback_by_topic", topic, duration(secs)))
    return out


CSV_HEADER = ("Maand", "Tabel", "Onderdeel", "Waarde")


def to_csv(
    report: Mapping[str, Any],
    table_label: Callable[[str], str] = str,
    key_label: Callable[[str, str], str] = lambda _table, key: key,
) -> str:
    """The report as a funder opens it in a spreadsheet: Dutch column names and, given the
    labels (audit/web/i18n.py), each table and row in words; the values as on the page (small
    counts already suppressed by build)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for table, key, value in rows(report):
        w.writerow([report["month"], table_label(table), key_label(table, key), value])
    return buf.getvalue()


def slug(text: str) -> str:
    """ "Zelfhulp Netwerk Één" -> "zelfhulp-netwerk-een": lower case, ASCII, words by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")


def csv_filename(month: str, network_name: str | None) -> str:
    """The download's name, with the network's: "zelfhulp-netwerk-rapport-2026-11.csv";
    "rapport-2026-11.csv" when the name has no letters or digits to use."""
    name = slug(network_name or "")
    return f"{name}-rapport-{month}.csv" if name else f"rapport-{month}.csv"
