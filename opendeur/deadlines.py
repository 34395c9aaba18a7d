"""The one rule for when a question must be answered: the network's 24 hours, or for a crisis
question the same day within the team's opening hours; pure, in real elapsed time across DST.

A normal question: received + the deadline (OPENDEUR_RESPONSE_DEADLINE, 24 h). A crisis question
(crisis words, intake's `professional_help_advised`) goes to the team, which works in opening
hours (OPENDEUR_TEAM_HOURS, `ma-vr 09:00-17:00`), so it is promised within
OPENDEUR_CRISIS_RESPOND_WITHIN (4 h) of receipt or of the next opening, never after that day's
closing: received in hours with at least an hour left, received + 4 h capped at closing; less
than an hour before closing, or outside hours, the next opening + 4 h capped at its closing.
The team is closed on holidays (OPENDEUR_TEAM_HOLIDAYS: by default the Dutch public holidays of
the Algemene termijnenwet, plus any dates the network adds).
Opening hours are wall-clock times in Amsterdam; durations are added in UTC, so a clock change
never makes a deadline an hour longer or shorter than promised."""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from opendeur.settings import Settings, parse_duration
from opendeur.timefmt import AMS

DEFAULT_DEADLINE = timedelta(hours=24)
DEFAULT_TEAM_HOURS = "ma-vr 09:00-17:00"
DEFAULT_CRISIS_WITHIN = timedelta(hours=4)
# Received with less than this left before closing: the promise moves to the next opening.
MIN_LEFT = timedelta(hours=1)

_DAYS = {"ma": 0, "di": 1, "wo": 2, "do": 3, "vr": 4, "za": 5, "zo": 6}
_DAYS_EN = {"mo": 0, "tu": 1, "we": 2, "th": 3, "fr": 4, "sa": 5, "su": 6}
_WINDOW = re.compile(r"^\s*([a-z,\-\s]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    """Open on these weekdays (0 = Monday) from `opens` until `closes` (minutes after
    midnight, Amsterdam wall clock; `closes` may be 1440, midnight at the day's end)."""

    days: frozenset[int]
    opens: int
    closes: int


@dataclass(frozen=True)
class OpeningHours:
    windows: tuple[Window, ...]

    def on(self, day: date) -> list[tuple[datetime, datetime]]:
        """That day's open periods as aware datetimes (Amsterdam), in order."""
        out = []
        for w in self.windows:
            if day.weekday() in w.days:
                out.append((_at(day, w.opens), _at(day, w.closes)))
        return sorted(out)


def _at(day: date, minutes: int) -> datetime:
    if minutes >= 1440:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=AMS)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=AMS)


def _day_set(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        names = _DAYS | _DAYS_EN
        if first not in names or (last and last not in names):
            raise ValueError(f"unknown day {part!r}: use ma di wo do vr za zo (or mo tu we ...)")
        a, b = names[first], names[last or first]
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


@lru_cache(maxsize=32)
def parse_hours(text: str) -> OpeningHours:
    """`ma-vr 09:00-17:00`, several windows separated by `;` (`ma-vr 09:00-17:00; za
    10:00-13:00`), days as a range or a list (`ma,wo,vr`); a ValueError for anything else."""
    windows = []
    for part in text.lower().split(";"):
        if not part.strip():
            continue
        m = _WINDOW.match(part)
        if m is None:
            raise ValueError(f"opening hours like 'ma-vr 09:00-17:00', not {part.strip()!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups()[1:])
        opens, closes = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or closes > 1440 or closes <= opens:
            raise ValueError(
                "opening hours: times from 00:00 to 24:00, closing after opening, "
                f"not {part.strip()!r}"
            )
        windows.append(Window(_day_set(m.group(1)), opens, closes))
    if not windows:
        raise ValueError("opening hours: give at least one window, like 'ma-vr 09:00-17:00'")
    return OpeningHours(tuple(windows))


def easter(year: int) -> date:
    """Easter Sunday of a year in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    n = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * n) // 433
    month = (h + n - 7 * m + 90) // 25
    day = (h + n - 7 * m + 33 * month + 19) % 32
    return date(year, month, day)


@lru_cache(maxsize=8)
def dutch_holidays(year: int) -> frozenset[date]:
    """The public holidays of the Algemene termijnenwet (art. 3): New Year's Day, Easter Sunday
    and Monday, King's Day (27 April, the 26th when the 27th is a Sunday), Liberation Day
    (5 May), Ascension Day, Whit Sunday and Monday, Christmas Day and Boxing Day."""
    e = easter(year)
    kings = date(year, 4, 27)
    return frozenset(
        {
            date(year, 1, 1),
            e,
            e + timedelta(days=1),
            kings - timedelta(days=1) if kings.weekday() == 6 else kings,
            date(year, 5, 5),
            e + timedelta(days=39),
            e + timedelta(days=49),
            e + timedelta(days=50),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


@dataclass(frozen=True)
class Holidays:
    """Days the team is closed: the Dutch public holidays (if `dutch`) and the listed dates."""

    dutch: bool = True
    extra: frozenset[date] = frozenset()

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.extra or (self.dutch and day in dutch_holidays(day.year))


@lru_cache(maxsize=32)
def parse_holidays(text: str) -> Holidays:
    """OPENDEUR_TEAM_HOLIDAYS: `nl` (the Dutch public holidays), dates as YYYY-MM-DD, or both,
    separated by commas (`nl, 2026-12-24, 2026-12-31`); `geen` or empty for no holidays at all.
    A ValueError for anything else."""
    dutch, extra = False, set()
    for part in text.lower().replace(";", ",").split(","):
        word = part.strip()
        if word in ("", "geen", "none"):
            continue
        if word == "nl":
            dutch = True
            continue
        try:
            extra.add(date.fromisoformat(word))
        except ValueError:
            raise ValueError(
                f"holidays: 'nl' and dates like 2026-12-24, separated by commas, not {word!r}"
            ) from None
    return Holidays(dutch, frozenset(extra))


def _later(at: datetime, delta: timedelta) -> datetime:
    return (at.astimezone(UTC) + delta).astimezone(at.tzinfo)


def _periods_from(
    at: datetime, hours: OpeningHours, holidays: Container[date]
) -> Iterator[tuple[datetime, datetime]]:
    """Open periods that end after `at`, from its day on, for two weeks (hours with no open day
    at all would otherwise be searched for ever)."""
    start = at.astimezone(AMS).date()
    for n in range(15):
        day = start + timedelta(days=n)
        if day not in holidays:
            yield from ((o, c) for o, c in hours.on(day) if c > at)


def crisis_respond_before(
    received_at: datetime,
    hours: OpeningHours,
    within: timedelta = DEFAULT_CRISIS_WITHIN,
    *,
    min_left: timedelta = MIN_LEFT,
    holidays: Container[date] = (),
) -> datetime:
    """When the team must have called back a crisis question (see the module's docstring)."""
    for opens, closes in _periods_from(received_at, hours, holidays):
        start = max(received_at, opens)
        if start > received_at or closes - received_at >= min_left:
            return min(_later(start, within), closes).astimezone(received_at.tzinfo)
    # No opening in two weeks: the network's ordinary promise rather than none.
    return _later(received_at, DEFAULT_DEADLINE)


def respond_before(
    received_at: datetime,
    crisis: bool,
    *,
    deadline: timedelta = DEFAULT_DEADLINE,
    team_hours: str | OpeningHours = DEFAULT_TEAM_HOURS,
    crisis_within: timedelta = DEFAULT_CRISIS_WITHIN,
    holidays: Container[date] = (),
) -> datetime:
    """The moment by which the person must have been called back, in received_at's zone."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    if deadline <= timedelta(0) or crisis_within <= timedelta(0):
        raise ValueError("a deadline must be positive")
    if not crisis:
        return _later(received_at, deadline)
    hours = parse_hours(team_hours) if isinstance(team_hours, str) else team_hours
    return crisis_respond_before(received_at, hours, crisis_within, holidays=holidays)


def from_settings(settings: Settings) -> dict:
    """respond_before's keyword arguments from Settings (OPENDEUR_RESPONSE_DEADLINE,
    OPENDEUR_TEAM_HOURS, OPENDEUR_TEAM_HOLIDAYS, OPENDEUR_CRISIS_RESPOND_WITHIN):
    `respond_before(at, crisis, **from_settings(settings))`."""
    return {
        "deadline": settings.deadline,
        "team_hours": settings.team_hours,
        "crisis_within": parse_duration(settings.crisis_respond_within),
        "holidays": parse_holidays(settings.team_holidays),
    }
