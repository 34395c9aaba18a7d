"""Pure, deterministic, explainable matching of a question to a self-help group's contact."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction

from opendeur.timefmt import AMS as AMSTERDAM
from services.routing.regions import region_of

_TIER_REASONS = ("topic+municipality", "topic+region", "topic+online")
# The network's own language: every question may be called back in it when no contact with
# room speaks the asker's language.
NETWORK_LANGUAGE = "nl"


@dataclass(frozen=True)
class CallWindow:
    """A weekly window in Europe/Amsterdam local time; start inclusive, end exclusive."""

    weekday: int  # 0 = Monday
    start: time
    end: time  # end > start; no windows across midnight (split them)

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0..6, got {self.weekday}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("call window times are naive Europe/Amsterdam local times")
        if self.end <= self.start:
            raise ValueError("call window must end after it starts; split windows at midnight")


@dataclass(frozen=True)
class Contact:
    contact_id: str  # pseudonymous id
    max_open: int  # capacity: open callbacks this contact accepts
    open_count: int  # open callbacks now
    hours: tuple[CallWindow, ...] = ()  # empty = any time
    languages: frozenset[str] = frozenset({NETWORK_LANGUAGE})  # she can call in these

    def __post_init__(self) -> None:
        if self.max_open < 0 or self.open_count < 0:
            raise ValueError("max_open and open_count cannot be negative")
        if not self.languages:
            raise ValueError("a contact calls in at least one language")


@dataclass(frozen=True)
class Group:
    group_id: str
    topics: frozenset[str]
    municipalities: frozenset[str]
    online: bool
    languages: frozenset[str] = frozenset({NETWORK_LANGUAGE})  # what the directory lists
    status: str = "active"  # active | paused | left
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True)
class Need:
    topic: str | None
    municipality: str | None
    language: str = NETWORK_LANGUAGE
    professional_help_advised: bool = False
    exclude_groups: frozenset[str] = frozenset()  # groups tried before (wrong_group re-routing)


@dataclass(frozen=True)
class Routed:
    group_id: str
    contact_id: str
    # "topic+municipality" | "topic+region" | "topic+online", maybe "+after_hours", then for a
    # question not in Dutch "+in_<its language>" or "+in_nl_not_<its language>"
    reason: str
    language_matched: bool = True  # she speaks the asker's language (else: Dutch)


@dataclass(frozen=True)
class Unmatched:
    reason: str  # "professional_help_advised" | "no_topic" | "no_group" | "all_full"


def _local(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).astimezone(AMSTERDAM)


def in_hours(hours: tuple[CallWindow, ...], now: datetime) -> bool:
    """True when `now` falls inside one of the windows, or when there are no windows."""
    if not hours:
        return True
    local = _local(now)
    wall = local.time().replace(tzinfo=None)
    return any(w.weekday == local.weekday() and w.start <= wall < w.end for w in hours)


def next_window_start(hours: tuple[CallWindow, ...], now: datetime) -> datetime | None:
    """When the contact can next be called, as a Europe/Amsterdam aware datetime.

    `now` itself when inside a window, otherwise the start of the next window.
    None when `hours` is empty: no call hours set, the contact can be called any time.
    """
    if not hours:
        return None
    local = _local(now)
    if in_hours(hours, now):
        return local
    starts = []
    # Two weeks: a window earlier today recurs in seven days, and one lost in the
    # spring-forward gap recurs a week after that day.
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        for w in hours:
            if w.weekday == day.weekday():
                # Round trip via UTC: a start in the spring-forward gap becomes a real moment,
                # kept only if that moment still lies inside the window.
                start = _utc(datetime.combine(day, w.start, tzinfo=AMSTERDAM)).astimezone(AMSTERDAM)
                if _utc(start) > _utc(local) and in_hours(hours, start):
                    starts.append(start)
    return min(starts, key=_utc)


def _utc(moment: datetime) -> datetime:
    # Aware datetimes sharing one tzinfo compare by wall clock; UTC compares real instants.
    return moment.astimezone(UTC)


def _tier(group: Group, need: Need) -> int | None:
    if need.municipality is not None and need.municipality in group.municipalities:
        return 0
    region = region_of(need.municipality)
    if region is not None and any(region_of(m) == region for m in group.municipalities):
        return 1
    if group.online:
        return 2
    return None


def can_call(contact: Contact, language: str) -> bool:
    """She speaks the asker's language, or the network's own that every question may fall back to."""
    return language in contact.languages or NETWORK_LANGUAGE in contact.languages


def ranking(need: Need, groups: Iterable[Group], now: datetime) -> list[Routed] | Unmatched:
    """Every contact with room who could call this person back, the best first.

    Order of preference: a contact who speaks the asker's language (else one who speaks
    Dutch: a question is never left waiting only for its language), then the nearest region
    tier, then a contact in call hours now, then the contact whose hours start soonest, then
    the least loaded, then by ids. A group without any contact person who could call is
    treated as not being a candidate.
    """
    if need.professional_help_advised:
        return Unmatched("professional_help_advised")
    if need.topic is None:
        return Unmatched("no_topic")
    now_utc = _utc(_local(now))
    candidates = [
        g
        for g in groups
        if g.status == "active"
        and need.topic in g.topics
        and g.group_id not in need.exclude_groups
        and any(can_call(c, need.language) for c in g.contacts)
    ]
    tiered = [(tier, g) for g in candidates if (tier := _tier(g, need)) is not None]
    if not tiered:
        return Unmatched("no_group")

    ranked = []
    for tier, group in tiered:
        for c in group.contacts:
            if c.open_count >= c.max_open or not can_call(c, need.language):
                continue
            next_start = next_window_start(c.hours, now)
            callable_at = now_utc if next_start is None else max(_utc(next_start), now_utc)
            available_now = callable_at == now_utc
            load = Fraction(c.open_count, c.max_open)
            key = (
                need.language not in c.languages,
                tier,
                not available_now,
                callable_at,
                load,
                c.open_count,
                group.group_id,
                c.contact_id,
            )
            ranked.append((key, group, c))
    if not ranked:
        return Unmatched("all_full")
    ranked.sort(key=lambda item: item[0])
    return [
        Routed(
            group.group_id,
            contact.contact_id,
            _reason(key[1], key[2], need.language, matched=not key[0]),
            language_matched=not key[0],
        )
        for key, group, contact in ranked
    ]


def _reason(tier: int, after_hours: bool, language: str, *, matched: bool) -> str:
    reason = _TIER_REASONS[tier] + ("+after_hours" if after_hours else "")
    if language == NETWORK_LANGUAGE:
        return reason
    return reason + (f"+in_{language}" if matched else f"+in_{NETWORK_LANGUAGE}_not_{language}")


def match(need: Need, groups: Iterable[Group], now: datetime) -> Routed | Unmatched:
    """Choose the group and contact person who should call this person back (`ranking`'s first)."""
    ranked = ranking(need, groups, now)
    return ranked[0] if isinstance(ranked, list) else ranked


def by_load(group: Group, language: str = NETWORK_LANGUAGE) -> list[Contact]:
    """The team's hand assignment: contacts with room, who speak `language` first, then the
    lowest load first, ties by id."""
    return sorted(
        (c for c in group.contacts if c.open_count < c.max_open),
        key=lambda c: (
            language not in c.languages,
            Fraction(c.open_count, c.max_open),
            c.open_count,
            c.contact_id,
        ),
    )


def least_loaded(group: Group, language: str = NETWORK_LANGUAGE) -> Contact | None:
    """The team's hand assignment: the contact with room and the lowest load, ties by id."""
    ordered = by_load(group, language)
    return ordered[0] if ordered else None
