"""Postcode (PC4) to municipality and municipality to region, from the packaged table."""

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

_POSTCODE = re.compile(r"([0-9]{4})\s*(?:[A-Za-z]{2})?")


@dataclass(frozen=True)
class PcRange:
    pc4_from: int
    pc4_to: int
    municipality: str
    region: str


@cache
def pc_ranges() -> tuple[PcRange, ...]:
    """All rows of the postcode table, sorted by start of range."""
    text = files("services.routing").joinpath("data/postcodes.csv").read_text("utf-8")
    rows = [
        PcRange(int(r["pc4_from"]), int(r["pc4_to"]), r["municipality"], r["region"])
        for r in csv.DictReader(io.StringIO(text))
    ]
    return tuple(sorted(rows, key=lambda r: (r.pc4_from, r.pc4_to)))


@cache
def _regions() -> dict[str, str]:
    return {r.municipality: r.region for r in pc_ranges()}


def municipality_for(pc4: str | None) -> str | None:
    """The municipality of a PC4 such as "5611" (a full postcode "5611 AB" also works).

    None when the input is missing, not a postcode, or outside the table.
    """
    if pc4 is None:
        return None
    m = _POSTCODE.fullmatch(pc4.strip())
    if m is None:
        return None
    number = int(m.group(1))
    for r in pc_ranges():
        if r.pc4_from <= number <= r.pc4_to:
            return r.municipality
    return None


def region_of(municipality: str | None) -> str | None:
    """The region a municipality belongs to, or None when it is not in the table."""
    if municipality is None:
        return None
    return _regions().get(municipality)


def municipalities() -> tuple[str, ...]:
    """All municipalities in the table, sorted."""
    return tuple(sorted(_regions()))
