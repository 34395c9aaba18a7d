"""Routing's escalation levels up to the promise made by the one deadline rule."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendeur.deadlines import respond_before
from services.routing.clock import LEVELS, due_levels, escalation_schedule

AMS = ZoneInfo("Europe/Amsterdam")
RECEIVED = datetime(2026, 11, 25, 21, 0, tzinfo=AMS)  # a Wednesday evening
DAY = timedelta(hours=24)
SHORT = timedelta(seconds=20)
PROMISE = respond_before(RECEIVED, crisis=False)  # Thursday 21:00


def test_levels_are_reminder_team_breach():
    assert LEVELS == ("reminder", "team", "breach")


def test_the_promise_routing_escalates_to_is_the_one_rules_24_hours():
    assert PROMISE == datetime(2026, 11, 26, 21, 0, tzinfo=AMS)


def test_schedule_for_24_hours():
    assert escalation_schedule(RECEIVED, PROMISE) == [
        ("reminder", datetime(2026, 11, 26, 9, 0, tzinfo=AMS)),
        ("team", datetime(2026, 11, 26, 16, 12, tzinfo=AMS)),
        ("breach", datetime(2026, 11, 26, 21, 0, tzinfo=AMS)),
    ]


def test_a_crisis_questions_shorter_clock_escalates_in_its_own_time():
    # A crisis question at Wednesday 10:00 is promised by 14:00 (4 h in the team's hours): the
    # team hears at 80 % of those 4 hours, not of 24.
    ten = datetime(2026, 11, 25, 10, 0, tzinfo=AMS)
    promise = respond_before(ten, crisis=True)
    assert promise == datetime(2026, 11, 25, 14, 0, tzinfo=AMS)
    assert escalation_schedule(ten, promise) == [
        ("reminder", datetime(2026, 11, 25, 12, 0, tzinfo=AMS)),
        ("team", datetime(2026, 11, 25, 13, 12, tzinfo=AMS)),
        ("breach", promise),
    ]


def test_schedule_for_20_seconds():
    start = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert escalation_schedule(start, start + SHORT) == [
        ("reminder", start + timedelta(seconds=10)),
        ("team", start + timedelta(seconds=16)),
        ("breach", start + timedelta(seconds=20)),
    ]


def test_levels_are_shares_of_real_hours_across_the_clock_change():
    # Clocks go back in the night of 24 to 25 October 2026: 24 real hours after Saturday
    # 12:00 CEST is Sunday 11:00 CET; the reminder is 12 real hours in, Saturday 24:00 CEST.
    saturday_noon = datetime(2026, 10, 24, 12, 0, tzinfo=AMS)
    promise = respond_before(saturday_noon, crisis=False)
    assert (promise.hour, promise.minute) == (11, 0)
    schedule = dict(escalation_schedule(saturday_noon, promise))
    assert schedule["reminder"].astimezone(UTC) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert schedule["breach"] == promise


def test_nothing_is_due_right_after_arrival():
    assert due_levels(RECEIVED, PROMISE, RECEIVED + timedelta(hours=1), ()) == []


def test_reminder_is_due_at_half_time_exactly():
    half = RECEIVED + timedelta(hours=12)
    assert due_levels(RECEIVED, PROMISE, half - timedelta(microseconds=1), ()) == []
    assert due_levels(RECEIVED, PROMISE, half, ()) == ["reminder"]


def test_fired_levels_are_not_due_again():
    at_team = RECEIVED + timedelta(hours=20)
    assert due_levels(RECEIVED, PROMISE, at_team, ()) == ["reminder", "team"]
    assert due_levels(RECEIVED, PROMISE, at_team, {"reminder"}) == ["team"]
    assert due_levels(RECEIVED, PROMISE, at_team, ["reminder", "team"]) == []


def test_all_levels_due_after_breach_in_order():
    later = RECEIVED + timedelta(days=2)
    assert due_levels(RECEIVED, PROMISE, later, set()) == ["reminder", "team", "breach"]
    assert due_levels(RECEIVED, PROMISE, later, {"team"}) == ["reminder", "breach"]


def test_20_second_clock_walks_through_the_levels():
    start = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    fired: list[str] = []
    seen = []
    for second in range(25):
        due = due_levels(start, start + SHORT, start + timedelta(seconds=second), fired)
        fired.extend(due)
        seen.extend((second, level) for level in due)
    assert seen == [(10, "reminder"), (16, "team"), (20, "breach")]


def test_now_in_another_zone_compares_by_real_time():
    # 09:00 Amsterdam (CET) is 08:00 UTC: the reminder of a 21:00 question is due.
    now_utc = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert due_levels(RECEIVED, PROMISE, now_utc, ()) == ["reminder"]


def test_naive_times_and_a_promise_not_after_receipt_are_refused():
    with pytest.raises(ValueError):
        escalation_schedule(datetime(2026, 11, 25, 12, 0), PROMISE)
    with pytest.raises(ValueError):
        escalation_schedule(RECEIVED, RECEIVED)
    with pytest.raises(ValueError):
        due_levels(RECEIVED, PROMISE, datetime(2026, 11, 26, 12, 0), ())


moments = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from([UTC, AMS]),
)
deadlines = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=14))


@given(moments, deadlines, st.booleans())
def test_schedule_is_strictly_increasing_and_ends_at_the_promise(received, deadline, crisis):
    promise = respond_before(received, crisis, deadline=deadline)
    schedule = escalation_schedule(received, promise)
    assert [level for level, _ in schedule] == list(LEVELS)
    instants = [at.astimezone(UTC) for _, at in schedule]
    assert all(a < b for a, b in pairwise(instants))
    assert schedule[-1][1] == promise


@given(moments, deadlines, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_due_levels_fire_each_level_once_in_order(received, deadline, elapsed):
    promise = respond_before(received, crisis=False, deadline=deadline)
    now = received + elapsed
    due = due_levels(received, promise, now, ())
    assert due == list(LEVELS[: len(due)])
    assert due_levels(received, promise, now, due) == []
