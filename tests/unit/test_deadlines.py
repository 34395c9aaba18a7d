"""The one deadline rule (opendeur/deadlines.py): 24 h, or a crisis question's same-day clock."""

from datetime import UTC, date, datetime, timedelta

import pytest

from opendeur.deadlines import (
    dutch_holidays,
    easter,
    from_settings,
    parse_holidays,
    parse_hours,
    respond_before,
)
from opendeur.settings import Settings
from opendeur.timefmt import AMS


def ams(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


def crisis(at: datetime, **kw) -> datetime:
    return respond_before(at, True, **kw).astimezone(AMS)


# Monday 7 December 2026 .. Sunday 13 December 2026.
def test_a_normal_question_has_24_real_hours() -> None:
    at = ams(2026, 12, 7, 3, 1)
    assert respond_before(at, False) == at + timedelta(hours=24)
    assert respond_before(at, False, deadline=timedelta(minutes=90)) == at + timedelta(minutes=90)


def test_crisis_in_hours_is_four_hours_later() -> None:
    assert crisis(ams(2026, 12, 7, 10, 0)) == ams(2026, 12, 7, 14, 0)
    assert crisis(ams(2026, 12, 7, 9, 0)) == ams(2026, 12, 7, 13, 0)


def test_crisis_late_in_the_day_is_capped_at_closing() -> None:
    assert crisis(ams(2026, 12, 7, 14, 30)) == ams(2026, 12, 7, 17, 0)
    assert crisis(ams(2026, 12, 7, 16, 0)) == ams(2026, 12, 7, 17, 0)  # exactly 1 h left


def test_crisis_less_than_an_hour_before_closing_goes_to_the_next_opening() -> None:
    assert crisis(ams(2026, 12, 7, 16, 1)) == ams(2026, 12, 8, 13, 0)


def test_crisis_in_the_evening_and_the_night() -> None:
    assert crisis(ams(2026, 12, 7, 20, 0)) == ams(2026, 12, 8, 13, 0)
    assert crisis(ams(2026, 12, 8, 3, 0)) == ams(2026, 12, 8, 13, 0)
    assert crisis(ams(2026, 12, 8, 8, 59)) == ams(2026, 12, 8, 12, 59) + timedelta(minutes=1)


def test_crisis_at_the_weekend_goes_to_monday() -> None:
    assert crisis(ams(2026, 12, 11, 16, 30)) == ams(2026, 12, 14, 13, 0)  # Friday late
    assert crisis(ams(2026, 12, 12, 11, 0)) == ams(2026, 12, 14, 13, 0)  # Saturday
    assert crisis(ams(2026, 12, 13, 23, 59)) == ams(2026, 12, 14, 13, 0)  # Sunday night


def test_crisis_with_weekend_hours_and_a_holiday() -> None:
    hours = "ma-vr 09:00-17:00; za 10:00-13:00"
    assert crisis(ams(2026, 12, 12, 9, 0), team_hours=hours) == ams(2026, 12, 12, 13, 0)
    assert crisis(ams(2026, 12, 12, 12, 30), team_hours=hours) == ams(2026, 12, 14, 13, 0)
    # Christmas (Friday) closed: Thursday evening waits until Monday.
    xmas = {date(2026, 12, 25)}
    assert crisis(ams(2026, 12, 24, 18, 0), holidays=xmas) == ams(2026, 12, 28, 13, 0)


def test_crisis_within_is_configurable() -> None:
    got = crisis(ams(2026, 12, 7, 10, 0), crisis_within=timedelta(hours=2))
    assert got == ams(2026, 12, 7, 12, 0)


def test_dst_spring_forward_counts_real_hours() -> None:
    # Sunday 29 March 2026, 02:00 CET -> 03:00 CEST. A team open every day from 01:00: a crisis
    # question at 00:30 is promised 4 real hours after the opening at 01:00 CET, 06:00 CEST.
    at = ams(2026, 3, 29, 0, 30)
    got = crisis(at, team_hours="ma-zo 01:00-23:00")
    assert got == ams(2026, 3, 29, 6, 0)
    assert got.astimezone(UTC) - ams(2026, 3, 29, 1, 0).astimezone(UTC) == timedelta(hours=4)
    # A normal question across the change: 24 real hours, 13:00 on the wall clock.
    before = respond_before(ams(2026, 3, 28, 12, 0), False)
    assert before.astimezone(AMS) == ams(2026, 3, 29, 13, 0)


def test_dst_fall_back_counts_real_hours() -> None:
    # Sunday 25 October 2026, 03:00 CEST -> 02:00 CET.
    got = crisis(ams(2026, 10, 25, 0, 30), team_hours="ma-zo 01:00-23:00")
    assert got == ams(2026, 10, 25, 4, 0)  # 01:00 CEST + 4 h = 04:00 CET
    before = respond_before(ams(2026, 10, 24, 12, 0), False)
    assert before.astimezone(AMS) == ams(2026, 10, 25, 11, 0)


def test_the_received_zone_is_kept() -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam
    got = respond_before(at, True)
    assert got.tzinfo is UTC and got == ams(2026, 12, 7, 14, 0)


def test_parse_hours_refuses_what_it_cannot_read() -> None:
    for bad in (
        "",
        "xx",
        "ma-vr 17:00-09:00",
        "ma-vr 09:00",
        "maandag 09:00-17:00",
        "ma 25:00-26:00",
    ):
        with pytest.raises(ValueError):
            parse_hours(bad)
    assert parse_hours("ma,wo,vr 08:30-24:00").windows[0].days == frozenset({0, 2, 4})
    assert parse_hours("za-ma 10:00-12:00").windows[0].days == frozenset({5, 6, 0})


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        respond_before(datetime(2026, 12, 7, 10, 0), True)


def test_settings_give_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from opendeur.deadlines import from_settings

    monkeypatch.setenv("OPENDEUR_TEAM_HOURS", "ma-zo 08:00-20:00")
    monkeypatch.setenv("OPENDEUR_CRISIS_RESPOND_WITHIN", "2h")
    kw = from_settings(Settings())
    assert crisis(ams(2026, 12, 12, 19, 30), **kw) == ams(2026, 12, 13, 10, 0)
    monkeypatch.setenv("OPENDEUR_TEAM_HOURS", "elke dag")
    with pytest.raises(ValueError):
        Settings()


def test_the_dutch_public_holidays() -> None:
    assert easter(2026) == date(2026, 4, 5) and easter(2027) == date(2027, 3, 28)
    assert easter(2038) == date(2038, 4, 25) and easter(2285) == date(2285, 3, 22)
    assert sorted(dutch_holidays(2026)) == [
        date(2026, 1, 1),
        date(2026, 4, 5),  # Easter
        date(2026, 4, 6),
        date(2026, 4, 27),  # King's Day, a Monday
        date(2026, 5, 5),
        date(2026, 5, 14),  # Ascension
        date(2026, 5, 24),  # Whit Sunday
        date(2026, 5, 25),
        date(2026, 12, 25),
        date(2026, 12, 26),
    ]
    assert date(2025, 4, 26) in dutch_holidays(2025)  # the 27th was a Sunday
    assert date(2025, 4, 27) not in dutch_holidays(2025)


def test_team_holidays_come_from_the_settings() -> None:
    nl = parse_holidays("nl")
    assert date(2026, 12, 25) in nl and date(2027, 5, 6) in nl  # Ascension 2027
    assert date(2026, 12, 24) not in nl
    more = parse_holidays("nl, 2026-12-24; 2026-12-31")
    assert all(d in more for d in (date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 1)))
    assert date(2026, 12, 25) not in parse_holidays("geen")
    assert date(2026, 12, 24) in parse_holidays("2026-12-24")
    assert date(2026, 12, 25) not in parse_holidays("2026-12-24")
    with pytest.raises(ValueError, match="2026-12-24"):
        parse_holidays("kerst")
    with pytest.raises(ValueError):
        Settings(team_holidays="nl, 24-12-2026")


def test_a_crisis_question_on_christmas_eve_evening_is_promised_after_the_holidays() -> None:
    # Thursday 24 December 2026, 18:00: Christmas Day and Boxing Day (a Saturday) are closed by
    # default; the team opens on Monday the 28th.
    at = ams(2026, 12, 24, 18, 0)
    kw = from_settings(Settings())
    assert respond_before(at, True, **kw).astimezone(AMS) == ams(2026, 12, 28, 13, 0)
    # King's Day 2026 is a Monday: a crisis question on Saturday waits until Tuesday.
    assert respond_before(ams(2026, 4, 25, 12, 0), True, **kw).astimezone(AMS) == ams(
        2026, 4, 28, 13, 0
    )
    # Without holidays the team is there on Monday.
    kw = from_settings(Settings(team_holidays="geen"))
    assert respond_before(ams(2026, 4, 25, 12, 0), True, **kw).astimezone(AMS) == ams(
        2026, 4, 27, 13, 0
    )
    # A normal question keeps the network's 24 hours, holiday or not.
    assert respond_before(at, False, **kw) == at + timedelta(hours=24)
