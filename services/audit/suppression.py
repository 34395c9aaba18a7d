"""Small-count suppression so funder reports never show or give away counts of 1 to 4."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SMALL = "<5"
HIDDEN = "•"  # a count at or above the threshold, hidden only to protect another cell


@dataclass(frozen=True)
class Suppressed:
    cells: dict[str, int | str]
    total: int | str


def _small_mark(threshold: int) -> str:
    return SMALL if threshold == 5 else f"<{threshold}"


def _check(threshold: int) -> None:
    # With a threshold of 2 every "<2" cell is exactly 1, so nothing could be protected.
    if threshold < 3:
        raise ValueError("threshold must be at least 3")


def suppress_value(n: int, *, threshold: int = 5) -> int | str:
    """A single published figure: 0 and counts at or above the threshold as is, others hidden."""
    _check(threshold)
    if n < 0:
        raise ValueError("counts cannot be negative")
    return _small_mark(threshold) if 0 < n < threshold else n


def _pinned(small: list[int], hidden: list[int], threshold: int) -> bool:
    """Whether a reader who knows the total can narrow a small cell down to one value.

    The reader learns the sum of the suppressed cells (total minus shown cells) and knows each
    small cell lies in 1..threshold-1 and each hidden cell is at least the threshold.
    """
    if not small:
        return False
    k, m = len(small), len(hidden)
    hidden_sum = sum(small) + sum(hidden)
    highest = min(threshold - 1, hidden_sum - (k - 1) - m * threshold)
    lowest = 1 if m else max(1, hidden_sum - (k - 1) * (threshold - 1))
    return highest <= lowest


def suppress(counts: Mapping[str, int], *, threshold: int = 5) -> Suppressed:
    """Suppress a table of counts and its total so no count 1..threshold-1 can be read or derived.

    Cells 1..threshold-1 become "<5". If the shown total would let a reader work one of them out,
    the smallest other cell that stops this is also hidden (HIDDEN); if no single cell does, the
    total is hidden instead. A table whose total is below the threshold is not broken down at
    all: every cell, zeros included, becomes "<5" (there "<5" means 0 to 4).
    """
    _check(threshold)
    if any(v < 0 for v in counts.values()):
        raise ValueError("counts cannot be negative")
    mark = _small_mark(threshold)
    cells: dict[str, int | str] = {k: mark if 0 < v < threshold else v for k, v in counts.items()}
    small = [v for v in counts.values() if 0 < v < threshold]
    total = sum(counts.values())

    if total == 0:
        return Suppressed(cells, 0)
    if total < threshold:
        # Shown zeros would let "<5" cells under a "<5" total be pinned, e.g. four cells of 1.
        return Suppressed(dict.fromkeys(counts, mark), mark)
    if not _pinned(small, [], threshold):
        return Suppressed(cells, total)

    # sorted() is stable, so among equal counts the first in the table is hidden.
    candidates = sorted((k for k, v in counts.items() if v >= threshold), key=counts.__getitem__)
    for key in candidates:
        if not _pinned(small, [counts[key]], threshold):
            cells[key] = HIDDEN
            return Suppressed(cells, total)
    return Suppressed(cells, HIDDEN)
