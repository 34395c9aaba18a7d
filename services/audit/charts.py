"""Accessible, script-free SVG charts rendered on the server for the operators' console."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

TEXT = "#1f2328"  # 15.8:1 on white
MUTED = "#595959"  # 7.0:1 on white
BAR = "#1d4e89"  # 8.6:1 on white
TARGET = "#a63d00"  # 6.2:1 on white
BACKGROUND = "#ffffff"
NO_DATA = "No data yet"
FONT = 'font-family="system-ui, sans-serif"'
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Look:
    """Drawing width (viewBox units) and font sizes. `COMPACT` is drawn 360 wide with 16-unit
    text: shown at 100 % width on a 360 px phone (328 px of content) that is 14.6 px text."""

    width: int = 640
    font: int = 13
    small: int = 11
    title: int = 15


COMPACT = Look(width=360, font=16, small=16, title=17)


@dataclass(frozen=True)
class Words:
    """What a chart says in words (its description for screen readers, its notes), in one
    language; the console passes its catalogue's Dutch or English."""

    no_data: str = NO_DATA
    bar: str = "Bar chart with {n} bars. Highest: {label} ({value}). {listing}."
    histogram: str = "Histogram of {n} values in {bins} bins. {listing}."
    line: str = (
        "Line chart of {n} points from {first} to {last}. Latest: {latest}. "
        "Lowest: {low} ({low_label}). Highest: {high} ({high_label})."
    )
    target: str = " Target {target}, reached in {met} of {n}."
    target_label: str = "target {target}"


def _esc(text: str) -> str:
    return escape(_XML_INVALID.sub("", str(text)), quote=True)


def _num(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _with_unit(value: float, unit: str) -> str:
    return f"{_num(value)} {unit}" if unit else _num(value)


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _check_finite(values: Sequence[float], *, allow_negative: bool = False) -> None:
    for v in values:
        if not math.isfinite(v) or (v < 0 and not allow_negative):
            raise ValueError(f"chart values must be finite and not negative, got {v!r}")


def _svg(
    kind: str, title: str, desc: str, width: int, height: int, body: list[str], look: Look = Look()
) -> str:
    # Ids only need to be unique per page; deriving them from the content keeps output pure.
    digest = hashlib.sha256(f"{kind}\n{title}\n{desc}".encode()).hexdigest()[:10]
    cid = f"chart-{kind}-{digest}"
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-labelledby="{cid}-title {cid}-desc" viewBox="0 0 {width} {height}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" {FONT}>',
            f'<title id="{cid}-title">{_esc(title)}</title>',
            f'<desc id="{cid}-desc">{_esc(desc)}</desc>',
            f'<rect class="background" width="{width}" height="{height}" fill="{BACKGROUND}"/>',
            f'<text x="8" y="{look.title + 5}" font-size="{look.title}" font-weight="600" '
            f'fill="{TEXT}">'
            f"{_esc(title)}</text>",
            *body,
            "</svg>",
        ]
    )


def _no_data(kind: str, title: str, look: Look, words: Words) -> str:
    body = [
        f'<text class="no-data" x="{look.width / 2:g}" y="70" font-size="{max(look.font, 14)}" '
        f'text-anchor="middle" fill="{MUTED}">{_esc(words.no_data)}</text>'
    ]
    return _svg(kind, title, f"{words.no_data}.", look.width, 110, body, look)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    width: int | None = None,
    bar_height: int = 22,
    look: Look = Look(),
    words: Words = Words(),
    kind: str = "bar",
    label_class: str = "",
    value_class: str = "value",
) -> str:
    """Horizontal bars, label on the left and value on the right, longest bar = largest value."""
    if width is not None:
        look = Look(width, look.font, look.small, look.title)
    width = look.width
    if not items:
        return _no_data(kind, title, look, words)
    _check_finite([v for _, v in items])
    bar_height = max(bar_height, look.font + 8)
    gap, top, char = 8, look.title + 21, look.font * 0.56
    limit = 28 if width >= 480 else 16
    label_w = int(
        min(max(len(_short(label, limit)) for label, _ in items) * char + 16, width * 2 // 5)
    )
    value_w = int(max(len(_with_unit(v, unit)) for _, v in items) * char + 16)
    plot_w = max(width - label_w - value_w, 1)
    peak = max(v for _, v in items)
    label_attr = f' class="{label_class}"' if label_class else ""
    body = []
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        mid = y + bar_height / 2 + look.font * 0.35
        bar_w = plot_w * value / peak if peak else 0.0
        body += [
            f'<text{label_attr} x="{label_w - 8}" y="{mid:g}" font-size="{look.font}" '
            f'text-anchor="end" fill="{TEXT}">{_esc(_short(label, limit))}</text>',
            f'<rect class="bar" x="{label_w}" y="{y}" width="{bar_w:.2f}" '
            f'height="{bar_height}" fill="{BAR}"/>',
            f'<text class="{value_class}" x="{label_w + bar_w + 6:.2f}" y="{mid:g}" '
            f'font-size="{look.font}" fill="{TEXT}">{_esc(_with_unit(value, unit))}</text>',
        ]
    height = top + len(items) * (bar_height + gap) + 4
    listing = "; ".join(f"{label}: {_with_unit(v, unit)}" for label, v in items)
    top_label, top_value = max(items, key=lambda item: item[1])
    desc = words.bar.format(
        n=len(items), label=top_label, value=_with_unit(top_value, unit), listing=listing
    )
    return _svg(kind, title, desc, width, height, body, look)


def _bin_labels(bins: Sequence[float], unit: str) -> list[str]:
    suffix = f" {unit}" if unit else ""
    labels = [f"{_num(a)}–{_num(b)}{suffix}" for a, b in pairwise(bins)]
    return [*labels, f"≥{_num(bins[-1])}{suffix}"]


def _bin_counts(values: Sequence[float], bins: Sequence[float]) -> list[int]:
    counts = [0] * len(bins)
    for v in values:
        # Bins are half-open [a, b); the last one catches everything from its edge upwards.
        index = sum(1 for edge in bins if v >= edge) - 1
        counts[index] += 1
    return counts


def histogram(
    values: Sequence[float],
    *,
    bins: Sequence[float],
    title: str,
    unit: str,
    look: Look = Look(),
    words: Words = Words(),
) -> str:
    """Bars counting values per bin; `bins` are increasing lower edges, the last is open. Drawn
    upright, or on a narrow look lying down (one bin per line, so no label is squeezed)."""
    if not bins or any(b <= a for a, b in pairwise(bins)):
        raise ValueError("bins must be a non-empty, strictly increasing list of edges")
    _check_finite(list(bins), allow_negative=True)
    if not values:
        return _no_data("histogram", title, look, words)
    _check_finite(values, allow_negative=True)
    if min(values) < bins[0]:
        raise ValueError(f"value {min(values)!r} is below the first bin edge {bins[0]!r}")
    counts = _bin_counts(values, bins)
    labels = _bin_labels(bins, unit)
    listing = "; ".join(f"{label}: {count}" for label, count in zip(labels, counts, strict=True))
    desc = words.histogram.format(n=len(values), bins=len(bins), listing=listing)
    if look.width < 480:
        svg = bar_chart(
            list(zip(labels, counts, strict=True)),
            title=title,
            look=look,
            words=words,
            kind="histogram",
            label_class="bin",
            value_class="count",
        )
        return re.sub(r"(<desc [^>]*>)[^<]*(</desc>)", lambda m: m[1] + _esc(desc) + m[2], svg)
    width, top, plot_h, left = look.width, 44, 200, 16
    slot = (width - 2 * left) / len(bins)
    bar_w = slot * 0.8
    peak = max(counts)
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    ]
    font = 12 if slot >= 60 else 10
    for i, (label, count) in enumerate(zip(labels, counts, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        h = plot_h * count / peak
        centre = x + bar_w / 2
        body += [
            f'<rect class="bar" x="{x:.2f}" y="{top + plot_h - h:.2f}" width="{bar_w:.2f}" '
            f'height="{h:.2f}" fill="{BAR}"/>',
            f'<text class="count" x="{centre:.2f}" y="{top + plot_h - h - 5:.2f}" '
            f'font-size="12" text-anchor="middle" fill="{TEXT}">{count}</text>',
            f'<text class="bin" x="{centre:.2f}" y="{top + plot_h + 16}" font-size="{font}" '
            f'text-anchor="middle" fill="{TEXT}">{_esc(label)}</text>',
        ]
    return _svg("histogram", title, desc, width, top + plot_h + 28, body, look)


def _labelled(n: int, every: int) -> set[int]:
    """Which of n points get an x label: every `every`-th and the last, unless the last is
    closer than half a step to the one labelled before it."""
    shown = set(range(0, n, every))
    last = n - 1
    if last not in shown and last % every >= every / 2:
        shown.add(last)
    return shown


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    y_max: float = 1.0,
    target: float | None = None,
    percent: bool = True,
    look: Look = Look(),
    words: Words = Words(),
) -> str:
    """A line over labelled points (e.g. ISO weeks) with an optional dashed target line.

    The y axis runs from 0 to y_max, widened if a point or the target lies above it.
    """
    if not points:
        return _no_data("line", title, look, words)
    _check_finite([v for _, v in points] + ([target] if target is not None else []))
    if y_max <= 0:
        raise ValueError("y_max must be positive")

    def fmt(v: float) -> str:
        return f"{v * 100:.0f}%" if percent else _num(v)

    width, top, plot_h, right = look.width, look.title + 29, 200, 40
    left = int(look.small * 3.2 + 10)
    y_top = max([y_max, target or 0.0] + [v for _, v in points])
    plot_w = width - left - right
    step = plot_w / max(len(points) - 1, 1)

    def y_of(v: float) -> float:
        return top + plot_h - plot_h * v / y_top

    body = []
    for tick in range(5):
        v = y_top * tick / 4
        body += [
            f'<line x1="{left}" y1="{y_of(v):.2f}" x2="{width - right}" y2="{y_of(v):.2f}" '
            f'stroke="{MUTED}" stroke-width="{1 if tick == 0 else 0.5}"/>',
            f'<text x="{left - 6}" y="{y_of(v) + 4:.2f}" font-size="{look.small}" '
            f'text-anchor="end" fill="{TEXT}">{_esc(fmt(v))}</text>',
        ]
    xs = [left + i * step for i in range(len(points))] if len(points) > 1 else [left + plot_w / 2]
    xy = [(x, y_of(v)) for x, (_, v) in zip(xs, points, strict=True)]
    if target is not None:
        body += [
            f'<line class="target" x1="{left}" y1="{y_of(target):.2f}" x2="{width - right}" '
            f'y2="{y_of(target):.2f}" stroke="{TARGET}" stroke-width="2" '
            f'stroke-dasharray="6 4"/>',
            f'<text x="{width - right}" y="{y_of(target) - 5:.2f}" font-size="{look.small}" '
            f'text-anchor="end" fill="{TARGET}">'
            f"{_esc(words.target_label.format(target=fmt(target)))}</text>",
        ]
    coords = " ".join(f"{x:.2f},{y:.2f}" for x, y in xy)
    body.append(
        f'<polyline class="line" points="{coords}" fill="none" stroke="{BAR}" stroke-width="2"/>'
    )
    # At most about 8 x labels (4 on a narrow look) so they never overlap.
    every = math.ceil(len(points) / (8 if width >= 480 else 3))
    shown = _labelled(len(points), every)
    for i, ((label, _), (x, y)) in enumerate(zip(points, xy, strict=True)):
        body.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="3" fill="{BAR}"/>')
        if i in shown:
            body.append(
                f'<text x="{x:.2f}" y="{top + plot_h + look.small + 5}" '
                f'font-size="{look.small}" text-anchor="middle" fill="{TEXT}">'
                f"{_esc(_short(label, 12))}</text>"
            )
    values = [v for _, v in points]
    low, high = min(points, key=lambda p: p[1]), max(points, key=lambda p: p[1])
    desc = words.line.format(
        n=len(points),
        first=points[0][0],
        last=points[-1][0],
        latest=fmt(values[-1]),
        low=fmt(low[1]),
        low_label=low[0],
        high=fmt(high[1]),
        high_label=high[0],
    )
    if target is not None:
        met = sum(v >= target for v in values)
        desc += words.target.format(target=fmt(target), met=met, n=len(points))
    listing = "; ".join(f"{label}: {fmt(v)}" for label, v in points)
    height = top + plot_h + look.small + 17
    return _svg("line", title, f"{desc} {listing}.", width, height, body, look)
