"""Tests for the operators' console SVG charts."""

import bisect
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.charts import NO_DATA, bar_chart, histogram, line_chart

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script> & \"quotes\" 'single'"
HOURS = [0, 1, 2, 4, 8, 24]

CHARTS = {
    "bar": lambda items, title: bar_chart(items, title=title, unit="vragen"),
    "histogram": lambda items, title: histogram(
        [v for _, v in items], bins=HOURS, title=title, unit="h"
    ),
    "line": lambda items, title: line_chart(
        [(label, v / 40) for label, v in items], title=title, target=0.8
    ),
}
SAMPLE = [("Schulden", 12), ("Rouw", 3.5), ("Eenzaamheid", 30), (EVIL, 0)]


def parse(svg):
    return ET.fromstring(svg)  # noqa: S314 - parsing our own output, not untrusted input


def polyline_points(root):
    points = root.find(f"{NS}polyline").get("points").split()
    return [tuple(map(float, p.split(","))) for p in points]


def bars(root):
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar"]


def texts(root, cls):
    return [t.text for t in root.iter(f"{NS}text") if t.get("class") == cls]


def contrast_on_white(colour):
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (lum + 0.05)


@pytest.mark.parametrize("kind", CHARTS)
@pytest.mark.parametrize("items", [SAMPLE, []], ids=["data", "empty"])
def test_every_chart_is_accessible_well_formed_svg(kind, items):
    svg = CHARTS[kind](items, "Vragen per thema")
    root = parse(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert len(root.get("viewBox").split()) == 4
    ids = {el.get("id"): el for el in root.iter() if el.get("id")}
    labelled_by = [ids[i] for i in root.get("aria-labelledby").split()]
    assert [el.tag for el in labelled_by] == [f"{NS}title", f"{NS}desc"]
    assert labelled_by[0].text == "Vragen per thema"
    assert len(labelled_by[1].text) > 10


@pytest.mark.parametrize("kind", CHARTS)
def test_labels_and_titles_are_escaped(kind):
    svg = CHARTS[kind](SAMPLE, EVIL)
    assert "<script" not in svg.lower()
    root = parse(svg)
    assert root.find(f"{NS}title").text == EVIL
    for el in root.iter():
        assert not el.tag.endswith("script")
        assert not any(name.lower().startswith("on") for name in el.attrib)


def test_control_characters_in_labels_do_not_break_the_svg():
    parse(bar_chart([("bad\x00\x1blabel", 3)], title="t\x0b"))


@pytest.mark.parametrize("kind", CHARTS)
def test_colours_meet_wcag_aa_on_white(kind):
    root = parse(CHARTS[kind](SAMPLE, "t"))
    colours = {
        el.get(attr)
        for el in root.iter()
        if el.get("class") != "background"
        for attr in ("fill", "stroke")
        if el.get(attr) not in (None, "none")
    }
    assert colours
    assert all(contrast_on_white(c) >= 4.5 for c in colours), colours


@pytest.mark.parametrize("kind", CHARTS)
def test_empty_input_says_there_is_no_data_yet(kind):
    root = parse(CHARTS[kind]([], "Vragen"))
    assert texts(root, "no-data") == [NO_DATA]
    assert root.find(f"{NS}desc").text == f"{NO_DATA}."
    assert bars(root) == []


def test_different_charts_get_different_ids():
    a, b = parse(bar_chart(SAMPLE, title="Week 1")), parse(bar_chart(SAMPLE, title="Week 2"))
    assert a.get("aria-labelledby") != b.get("aria-labelledby")


def test_bar_chart_shows_labels_and_values_in_order():
    root = parse(bar_chart([("Schulden", 12), ("Rouw", 3.5)], title="t", unit="vragen"))
    assert texts(root, "value") == ["12 vragen", "3.5 vragen"]
    assert "Schulden: 12 vragen; Rouw: 3.5 vragen" in root.find(f"{NS}desc").text


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=15).filter(any))
def test_bar_lengths_are_proportional_to_values(values):
    root = parse(bar_chart([(f"topic {i}", v) for i, v in enumerate(values)], title="t"))
    widths = [float(r.get("width")) for r in bars(root)]
    assert len(widths) == len(values)
    longest = max(widths)
    for width, value in zip(widths, values, strict=True):
        assert width == pytest.approx(longest * value / max(values), abs=0.01)


def test_all_zero_bars_have_no_length():
    root = parse(bar_chart([("a", 0), ("b", 0)], title="t"))
    assert [float(r.get("width")) for r in bars(root)] == [0, 0]


def test_histogram_counts_values_per_bin():
    values = [0, 0.5, 0.99, 1, 5, 23.99, 24, 48, 100]
    root = parse(histogram(values, bins=[0, 1, 2, 24], title="Tijd tot terugbellen", unit="h"))
    assert texts(root, "bin") == ["0–1 h", "1–2 h", "2–24 h", "≥24 h"]
    assert texts(root, "count") == ["3", "1", "2", "3"]
    heights = [float(r.get("height")) for r in bars(root)]
    assert heights[1] == pytest.approx(heights[0] / 3, abs=0.01)
    assert heights[0] == heights[3]
    assert "0–1 h: 3; 1–2 h: 1; 2–24 h: 2; ≥24 h: 3" in root.find(f"{NS}desc").text


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=50))
def test_histogram_counts_match_a_reference(values):
    root = parse(histogram(values, bins=HOURS, title="t", unit="h"))
    expected = [0] * len(HOURS)
    for v in values:
        expected[bisect.bisect_right(HOURS, v) - 1] += 1
    assert [int(c) for c in texts(root, "count")] == expected


@pytest.mark.parametrize(
    ("values", "bins"), [([-1], [0, 1]), ([1], [0, 2, 2]), ([1], []), ([float("nan")], [0])]
)
def test_histogram_rejects_bad_input(values, bins):
    with pytest.raises(ValueError):
        histogram(values, bins=bins, title="t", unit="h")


def test_line_chart_draws_points_and_a_dashed_target():
    weeks = [("2024-W01", 0.5), ("2024-W02", 0.9), ("2024-W03", 0.7)]
    root = parse(line_chart(weeks, title="Binnen 24 uur beantwoord", target=0.8))
    coords = polyline_points(root)
    assert len(coords) == 3
    xs, ys = zip(*coords, strict=True)
    assert xs == tuple(sorted(xs))
    assert ys[1] < ys[2] < ys[0]  # higher share is drawn higher up
    target = [el for el in root.iter(f"{NS}line") if el.get("class") == "target"]
    assert len(target) == 1 and target[0].get("stroke-dasharray")
    assert ys[2] > float(target[0].get("y1")) > ys[1]
    desc = root.find(f"{NS}desc").text
    assert "Latest: 70%" in desc and "Target 80%, reached in 1 of 3" in desc


def test_line_chart_without_target_or_percent():
    root = parse(line_chart([("W1", 3), ("W2", 5)], title="t", y_max=10, percent=False))
    assert not [el for el in root.iter(f"{NS}line") if el.get("class") == "target"]
    assert "Latest: 5." in root.find(f"{NS}desc").text


def test_line_chart_widens_the_axis_for_values_above_y_max():
    root = parse(line_chart([("W1", 0.5), ("W2", 2.0)], title="t", y_max=1.0))
    ys = [y for _, y in polyline_points(root)]
    assert min(ys) >= 0  # the 200% point stays inside the chart
    assert "200%" in [t.text for t in root.iter(f"{NS}text")]
