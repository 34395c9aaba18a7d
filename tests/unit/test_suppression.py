"""Tests for small-count suppression of funder reports."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.suppression import HIDDEN, SMALL, Suppressed, suppress, suppress_value

T = 5


@pytest.mark.parametrize(("n", "shown"), [(0, 0), (1, SMALL), (4, SMALL), (5, 5), (123, 123)])
def test_single_figures(n, shown):
    assert suppress_value(n) == shown


def test_other_thresholds_say_which_threshold():
    assert suppress_value(9, threshold=10) == "<10"
    assert suppress({"a": 9, "b": 30}, threshold=10).cells["a"] == "<10"


@pytest.mark.parametrize("call", [lambda: suppress_value(-1), lambda: suppress({"a": -2})])
def test_negative_counts_are_rejected(call):
    with pytest.raises(ValueError):
        call()


def test_threshold_below_three_is_rejected():
    with pytest.raises(ValueError):
        suppress({"a": 1}, threshold=2)


def test_table_without_small_counts_is_unchanged():
    assert suppress({"debt": 10, "grief": 0, "loneliness": 7}) == Suppressed(
        {"debt": 10, "grief": 0, "loneliness": 7}, 17
    )


def test_empty_and_all_zero_tables_show_zero():
    assert suppress({}) == Suppressed({}, 0)
    assert suppress({"a": 0, "b": 0}) == Suppressed({"a": 0, "b": 0}, 0)


def test_one_small_cell_hides_the_smallest_other_cell_too():
    result = suppress({"a": 3, "b": 20, "c": 8, "d": 0})
    assert result == Suppressed({"a": SMALL, "b": 20, "c": HIDDEN, "d": 0}, 31)


def test_complement_skips_a_cell_that_would_still_give_the_value_away():
    # Hiding b=5 would leave 15 - 9 = 6 = a + b with b >= 5, so a = 1.
    result = suppress({"a": 1, "b": 5, "c": 9})
    assert result == Suppressed({"a": SMALL, "b": 5, "c": HIDDEN}, 15)


def test_two_small_cells_that_protect_each_other_need_nothing_more():
    assert suppress({"a": 2, "b": 3, "c": 10}) == Suppressed({"a": SMALL, "b": SMALL, "c": 10}, 15)


def test_two_ones_are_not_enough_on_their_own():
    # Showing c=10 and total 12 would tell that a and b are both exactly 1.
    assert suppress({"a": 1, "b": 1, "c": 10}) == Suppressed(
        {"a": SMALL, "b": SMALL, "c": HIDDEN}, 12
    )


def test_small_total_hides_the_whole_breakdown():
    assert suppress({"a": 3, "b": 0}) == Suppressed({"a": SMALL, "b": SMALL}, SMALL)


def test_total_is_hidden_when_no_cell_can_protect():
    assert suppress({"a": 1, "b": 5}) == Suppressed({"a": SMALL, "b": 5}, HIDDEN)
    five_ones = {k: 1 for k in "abcde"}
    assert suppress(five_ones) == Suppressed(dict.fromkeys("abcde", SMALL), HIDDEN)


def test_four_ones_under_a_small_total_are_not_given_away():
    # Showing e=0 would leave four non-zero cells adding up to less than 5: all exactly 1.
    result = suppress({"a": 1, "b": 1, "c": 1, "d": 1, "e": 0})
    assert result == Suppressed(dict.fromkeys("abcde", SMALL), SMALL)


def test_cell_order_is_kept():
    assert list(suppress({"z": 1, "a": 9, "m": 0}).cells) == ["z", "a", "m"]


# --- an independent adversary: brute-force every table consistent with the publication ---

HUGE = 10**9


def reader_options(pub, *, small_low):
    """For each suppressed cell, the values it could take given everything published."""
    shown = sum(v for v in pub.cells.values() if isinstance(v, int))
    if isinstance(pub.total, int):
        total_ok = range(pub.total, pub.total + 1)
    elif pub.total == SMALL:
        total_ok = range(1, T)
    else:
        total_ok = range(T, HUGE)
    # No suppressed cell can exceed a known total; otherwise 200 is far above any test value.
    limit = pub.total if isinstance(pub.total, int) else 200
    ranges = {
        k: range(small_low, T) if v == SMALL else range(T, limit + 1)
        for k, v in pub.cells.items()
        if isinstance(v, str)
    }
    options = {}
    for key, own in ranges.items():
        sums = {0}
        for other, rng in ranges.items():
            if other != key:
                sums = {s + v for s in sums for v in rng if s + v <= limit}
        options[key] = {v for v in own if any(shown + v + s in total_ok for s in sums)}
    return options


def leaked_small_cells(pub):
    # As documented: under a "<5" total a "<5" cell may be 0, elsewhere it is 1 to 4.
    options = reader_options(pub, small_low=0 if pub.total == SMALL else 1)
    return [k for k, v in pub.cells.items() if v == SMALL and len(options[k]) < 2]


def primary_only(counts):
    """Only the small cells hidden, total shown: what to publish when that is already safe."""
    return Suppressed({k: suppress_value(v) for k, v in counts.items()}, sum(counts.values()))


tables = st.dictionaries(
    st.sampled_from("abcdef"),
    st.one_of(st.integers(0, 4), st.integers(4, 7), st.integers(0, 25)),
    max_size=6,
)


@given(tables)
def test_suppression_properties(counts):
    pub = suppress(counts)
    total = sum(counts.values())

    # (a) a shown cell is its true value, and never 1..4.
    for key, shown in pub.cells.items():
        assert shown in (SMALL, HIDDEN) or (shown == counts[key] and (shown == 0 or shown >= T))
        if shown == HIDDEN:
            assert counts[key] >= T
        if shown == SMALL:
            assert counts[key] < T
            assert counts[key] > 0 or pub.total == SMALL

    # (b) the total is its true value and never 1..4.
    assert pub.total in (SMALL, HIDDEN) or (pub.total == total and (total == 0 or total >= T))
    if pub.total == SMALL:
        assert set(pub.cells.values()) == {SMALL}  # a small total is never broken down

    # (c) with the total shown, zero or at least two non-zero cells are suppressed.
    if isinstance(pub.total, int):
        hidden_non_zero = [k for k, v in pub.cells.items() if isinstance(v, str) and counts[k]]
        assert len(hidden_non_zero) != 1

    # No small cell can be worked out exactly from anything published.
    assert leaked_small_cells(pub) == []

    # (d) no over-suppression: at most one protective cell, none when not needed.
    assert list(pub.cells.values()).count(HIDDEN) <= 1
    if total >= T and leaked_small_cells(primary_only(counts)) == []:
        assert pub == primary_only(counts)


def test_the_adversary_catches_unprotected_tables():
    assert leaked_small_cells(Suppressed({"a": SMALL, "b": 20}, 23)) == ["a"]
    assert leaked_small_cells(Suppressed({"a": SMALL, "b": SMALL, "c": 10}, 12)) == ["a", "b"]
    assert leaked_small_cells(Suppressed({"a": SMALL, "b": HIDDEN, "c": 9}, 15)) == ["a"]
