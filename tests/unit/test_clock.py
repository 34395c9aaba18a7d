"""Tests for the 24-hour callback clock and its escalation levels."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.routing.clock import LEVELS, due_levels, escalation_schedule, respond_before

AMS = ZoneInfo("Europe/Amsterdam")
RECEIVED = datetime(2026, 11, 25, 21, 0, tzinfo=AMS)
DAY = timedelta(hours=24)
SHORT = timedelta(seconds=20)


def test_levels_are_reminder_team_breach():
    assert LEVELS == ("reminder", "team", "breach")


def test_respond_before_is_24_hours_later():
    assert respond_before(RECEIVED, DAY) == datetime(2026, 11, 26, 21, 0, tzinfo=AMS)


def test_schedule_for_24_hours():
    assert escalation_schedule(RECEIVED, DAY) == [
        ("reminder", datetime(2026, 11, 26, 9, 0, tzinfo=AMS)),
        ("team", datetime(2026, 11, 26, 16, 12, tzinfo=AMS)),
        ("breach", datetime(2026, 11, 26, 21, 0, tzinfo=AMS)),
    ]


def test_schedule_for_20_seconds():
    start = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert escalation_schedule(start, SHORT) == [
        ("reminder", start + timedelta(seconds=10)),
        ("team", start + timedelta(seconds=16)),
        ("breach", start + timedelta(seconds=20)),
    ]


def test_24_hours_means_real_hours_across_the_clock_change():
    # Clocks go back in the night of 24 to 25 October 2026: 24 real hours after
    # Saturday 12:00 CEST is Sunday 11:00 CET, not 12:00.
    saturday_noon = datetime(2026, 10, 24, 12, 0, tzinfo=AMS)
    deadline = respond_before(saturday_noon, DAY)
    assert deadline.astimezone(UTC) - saturday_noon.astimezone(UTC) == DAY
    assert (deadline.hour, deadline.minute) == (11, 0)


def test_nothing_is_due_right_after_arrival():
    assert due_levels(RECEIVED, DAY, RECEIVED + timedelta(hours=1), ()) == []


def test_reminder_is_due_at_half_time_exactly():
    half = RECEIVED + timedelta(hours=12)
    assert due_levels(RECEIVED, DAY, half - timedelta(microseconds=1), ()) == []
    assert due_levels(RECEIVED, DAY, half, ()) == ["reminder"]


def test_fired_levels_are_not_due_again():
    at_team = RECEIVED + timedelta(hours=20)
    assert due_levels(RECEIVED, DAY, at_team, ()) == ["reminder", "team"]
    assert due_levels(RECEIVED, DAY, at_team, {"reminder"}) == ["team"]
    assert due_levels(RECEIVED, DAY, at_team, ["reminder", "team"]) == []


def test_all_levels_due_after_breach_in_order():
    later = RECEIVED + timedelta(days=2)
    assert due_levels(RECEIVED, DAY, later, set()) == ["reminder", "team", "breach"]
    assert due_levels(RECEIVED, DAY, later, {"team"}) == ["reminder", "breach"]


def test_20_second_clock_walks_through_the_levels():
    start = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    fired: list[str] = []
    seen = []
    for second in range(25):
        due = due_levels(start, SHORT, start + timedelta(seconds=second), fired)
        fired.extend(due)
        seen.extend((second, level) for level in due)
    assert seen == [(10, "reminder"), (16, "team"), (20, "breach")]


def test_now_in_another_zone_compares_by_real_time():
    # 09:00 Amsterdam (CET) is 08:00 UTC: the reminder of a 21:00 question is due.
    now_utc = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert due_levels(RECEIVED, DAY, now_utc, ()) == ["reminder"]


def test_naive_times_and_non_positive_deadlines_are_refused():
    with pytest.raises(ValueError):
        respond_before(datetime(2026, 11, 25, 12, 0), DAY)
    with pytest.raises(ValueError):
        escalation_schedule(RECEIVED, timedelta(0))
    with pytest.raises(ValueError):
        due_levels(RECEIVED, DAY, datetime(2026, 11, 26, 12, 0), ())


moments = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from([UTC, AMS]),
)
deadlines = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=14))


@given(moments, deadlines)
def test_schedule_is_strictly_increasing_and_ends_at_respond_before(received, deadline):
    schedule = escalation_schedule(received, deadline)
    assert [level for level, _ in schedule] == list(LEVELS)
    instants = [at.astimezone(UTC) for _, at in schedule]
    assert all(a < b for a, b in pairwise(instants))
    assert schedule[-1][1] == respond_before(received, deadline)
    assert instants[-1] - received.astimezone(UTC) == deadline


@given(moments, deadlines, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_due_levels_fire_each_level_once_in_order(received, deadline, elapsed):
    now = received + elapsed
    due = due_levels(received, deadline, now, ())
    assert due == list(LEVELS[: len(due)])
    assert due_levels(received, deadline, now, due) == []
