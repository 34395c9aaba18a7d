"""Times as people read them, in Amsterdam time: "uiterlijk woensdag 3 december, 15.00 uur" /
"by Wednesday 3 December, 3 pm", and "3 dec 2026, 15.00 uur" in tables and trails. `AMS` is the project's one
ZoneInfo("Europe/Amsterdam"): import it, do not make another."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

AMS = ZoneInfo("Europe/Amsterdam")


def clock(dt: datetime, lang: str) -> str:
    """The time of day as people say it: "15.00 uur" in Dutch, "3 pm" / "3.30 pm" in English."""
    local = dt.astimezone(AMS)
    if lang != "en":
        return f"{local.hour}.{local.minute:02d} uur"
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    if local.hour == 12 and local.minute == 0:
        return "12 noon"
    if local.hour == 0 and local.minute == 0:
        return "midnight"
    return f"{hour} {suffix}" if local.minute == 0 else f"{hour}:{local.minute:02d} {suffix}"


def day(dt: datetime, lang: str) -> str:
    """Weekday, day and month in words: "woensdag 3 december" / "Wednesday 3 December"."""
    return format_datetime(dt.astimezone(AMS), "EEEE d MMMM", locale="en" if lang == "en" else "nl")


def month(year: int, number: int, lang: str) -> str:
    """A month in words: "december 2026" / "December 2026"."""
    return format_date(date(year, number, 1), "MMMM y", locale="en" if lang == "en" else "nl")


def moment(dt: datetime, lang: str) -> str:
    """Day and time without a lead word: "woensdag 3 december, 15.00 uur"."""
    return f"{day(dt, lang)}, {clock(dt, lang)}"


def deadline(dt: datetime, lang: str) -> str:
    """A deadline a person reads at a glance: "uiterlijk woensdag 3 december, 15.00 uur"."""
    return f"{'by' if lang == 'en' else 'uiterlijk'} {moment(dt, lang)}"


# Contact persons call between these hours; a deadline outside them is not a promised call.
NIGHT_FROM, NIGHT_UNTIL = 22, 8


def at_night(dt: datetime) -> bool:
    """Is this moment at night in Amsterdam (22.00-8.00), when contact persons do not call?"""
    return not NIGHT_UNTIL <= dt.astimezone(AMS).hour < NIGHT_FROM


def promise(dt: datetime, lang: str) -> str:
    """The 24-hour deadline as a help-seeker is told it: the exact moment by day, but a deadline
    at night (22.00-8.00) as the evening before it, "uiterlijk woensdagavond 2 december",
    so a question asked at 3 a.m. does not read as a promise of a call at 3 a.m. (contact persons
    still see the exact deadline; a crisis question's team hours are exact, use `deadline`)."""
    local = dt.astimezone(AMS)
    if not at_night(dt):
        return deadline(dt, lang)
    evening = local if local.hour >= NIGHT_FROM else local - timedelta(days=1)
    locale = "en" if lang == "en" else "nl"
    weekday = format_datetime(evening, "EEEE", locale=locale)
    date_words = format_datetime(evening, "d MMMM", locale=locale)
    if lang == "en":
        return f"by {weekday} evening, {date_words}"
    return f"uiterlijk {weekday}avond {date_words}"


def told(dt: datetime, lang: str, *, crisis: bool) -> str:
    """What a help-seeker is told of her deadline (page, phone script, SMS): a crisis question's
    team time exactly (`deadline`), any other as `promise`."""
    return deadline(dt, lang) if crisis else promise(dt, lang)


def night_note(dt: datetime, lang: str, *, crisis: bool) -> str | None:
    """For the contact person: what the person was told, when her deadline is at night (the
    evening before); None by day and for a crisis question."""
    return promise(dt, lang) if at_night(dt) and not crisis else None


MONTHS_SHORT = {
    "nl": ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def stamp(dt: datetime | str | None, lang: str = "nl") -> str:
    """A compact moment for tables, trails and consoles, Amsterdam time, in words like the rest:
    "3 dec 2026, 15.00 uur" / "3 Dec 2026, 3 pm" (an ISO string is read first; nothing gives
    "")."""
    if dt is None or dt == "":
        return ""
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    local = dt.astimezone(AMS)
    month = MONTHS_SHORT["en" if lang == "en" else "nl"][local.month - 1]
    return f"{local.day} {month} {local.year}, {clock(local, lang)}"
