"""Tests for matching a question to a group's contact person."""

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.routing.cache import GroupCache, GroupInfo
from services.routing.matching import (
    CallWindow,
    Contact,
    Group,
    Need,
    Routed,
    Unmatched,
    _tier,
    by_load,
    can_call,
    in_hours,
    match,
    next_window_start,
    ranking,
)

AMS = ZoneInfo("Europe/Amsterdam")
# Wednesday 25 November 2026, 14:00 in Eindhoven.
WED_AFTERNOON = datetime(2026, 11, 25, 14, 0, tzinfo=AMS)
# The night from Wednesday to Thursday, 02:00.
THU_NIGHT = datetime(2026, 11, 26, 2, 0, tzinfo=AMS)

WEEKDAYS_9_TO_17 = tuple(CallWindow(d, time(9), time(17)) for d in range(5))


def contact(cid="c1", max_open=3, open_count=0, hours=(), languages=frozenset({"nl"})):
    return Contact(
        contact_id=cid, max_open=max_open, open_count=open_count, hours=hours, languages=languages
    )


def group(gid, *, municipalities=(), online=False, topics=("rouw",), contacts=None, **kw):
    return Group(
        group_id=gid,
        topics=frozenset(topics),
        municipalities=frozenset(municipalities),
        online=online,
        contacts=(contact(),) if contacts is None else tuple(contacts),
        **kw,
    )


def need(topic="rouw", municipality="Eindhoven", **kw):
    return Need(topic=topic, municipality=municipality, **kw)


def test_fixed_moments_are_the_weekdays_the_tests_assume():
    assert WED_AFTERNOON.weekday() == 2
    assert THU_NIGHT.weekday() == 3


# --- rules in order -------------------------------------------------------------------


def test_professional_help_advised_goes_to_the_network_team_first():
    groups = [group("g-ehv", municipalities={"Eindhoven"})]
    result = match(need(professional_help_advised=True), groups, WED_AFTERNOON)
    assert result == Unmatched("professional_help_advised")


def test_question_without_topic_is_not_routed():
    groups = [group("g-ehv", municipalities={"Eindhoven"})]
    assert match(need(topic=None), groups, WED_AFTERNOON) == Unmatched("no_topic")


def test_no_group_for_the_topic():
    groups = [group("g-ehv", municipalities={"Eindhoven"}, topics={"depressie"})]
    assert match(need(topic="rouw"), groups, WED_AFTERNOON) == Unmatched("no_group")
    assert match(need(), [], WED_AFTERNOON) == Unmatched("no_group")


def test_group_in_own_municipality_wins_over_region_and_online():
    groups = [
        group("g-online", online=True, contacts=[contact(open_count=0, max_open=10)]),
        group("g-helmond", municipalities={"Helmond"}, contacts=[contact(max_open=10)]),
        group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact(open_count=2)]),
    ]
    assert match(need(), groups, WED_AFTERNOON) == Routed("g-ehv", "c1", "topic+municipality")


def test_group_elsewhere_in_the_region_is_next():
    groups = [
        group("g-online", online=True),
        group("g-helmond", municipalities={"Helmond"}),
        group("g-amsterdam", municipalities={"Amsterdam"}),
    ]
    assert match(need(), groups, WED_AFTERNOON) == Routed("g-helmond", "c1", "topic+region")


def test_online_group_when_nothing_in_the_region():
    groups = [group("g-amsterdam", municipalities={"Amsterdam"}), group("g-online", online=True)]
    assert match(need(), groups, WED_AFTERNOON) == Routed("g-online", "c1", "topic+online")


def test_need_without_municipality_only_goes_online():
    groups = [group("g-ehv", municipalities={"Eindhoven"})]
    assert match(need(municipality=None), groups, WED_AFTERNOON) == Unmatched("no_group")
    groups.append(group("g-online", online=True))
    assert match(need(municipality=None), groups, WED_AFTERNOON) == Routed(
        "g-online", "c1", "topic+online"
    )


def test_groups_far_away_and_not_online_are_no_group():
    groups = [group("g-amsterdam", municipalities={"Amsterdam"})]
    assert match(need(), groups, WED_AFTERNOON) == Unmatched("no_group")


def test_full_local_contact_falls_back_to_region():
    groups = [
        group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact(max_open=2, open_count=2)]),
        group("g-helmond", municipalities={"Helmond"}),
    ]
    assert match(need(), groups, WED_AFTERNOON) == Routed("g-helmond", "c1", "topic+region")


def test_everyone_full_is_all_full():
    groups = [
        group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact(max_open=2, open_count=2)]),
        group("g-online", online=True, contacts=[contact(max_open=0, open_count=0)]),
    ]
    assert match(need(), groups, WED_AFTERNOON) == Unmatched("all_full")


def test_group_without_contact_person_is_not_a_candidate():
    groups = [group("g-ehv", municipalities={"Eindhoven"}, contacts=[])]
    assert match(need(), groups, WED_AFTERNOON) == Unmatched("no_group")


@pytest.mark.parametrize("status", ["paused", "left"])
def test_paused_or_left_group_is_never_chosen(status):
    local = group("g-ehv", municipalities={"Eindhoven"}, status=status)
    assert match(need(), [local], WED_AFTERNOON) == Unmatched("no_group")
    online = group("g-online", online=True)
    assert match(need(), [local, online], WED_AFTERNOON) == Routed("g-online", "c1", "topic+online")


def test_excluded_group_is_skipped_on_rerouting():
    groups = [
        group("g-ehv", municipalities={"Eindhoven"}),
        group("g-helmond", municipalities={"Helmond"}),
    ]
    first = match(need(), groups, WED_AFTERNOON)
    assert first.group_id == "g-ehv"
    second = match(need(exclude_groups=frozenset({"g-ehv"})), groups, WED_AFTERNOON)
    assert second == Routed("g-helmond", "c1", "topic+region")
    both = frozenset({"g-ehv", "g-helmond"})
    assert match(need(exclude_groups=both), groups, WED_AFTERNOON) == Unmatched("no_group")


EN = frozenset({"en"})
NL_EN = frozenset({"nl", "en"})


def test_english_question_goes_to_a_contact_who_speaks_english_with_room():
    groups = [
        group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact("dutch")]),
        group("g-online", online=True, contacts=[contact("english", languages=NL_EN)]),
    ]
    # Language goes before place: an English conversation online over a Dutch one nearby.
    assert match(need(language="en"), groups, WED_AFTERNOON) == Routed(
        "g-online", "english", "topic+online+in_en", language_matched=True
    )


def test_english_question_without_an_english_speaker_with_room_goes_to_a_dutch_one():
    groups = [
        group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact("dutch")]),
        group(
            "g-online",
            online=True,
            contacts=[contact("english-full", languages=EN, max_open=1, open_count=1)],
        ),
    ]
    assert match(need(language="en"), groups, WED_AFTERNOON) == Routed(
        "g-ehv", "dutch", "topic+municipality+in_nl_not_en", language_matched=False
    )


def test_english_question_is_never_left_unmatched_for_its_language():
    dutch_only = [group("g-ehv", municipalities={"Eindhoven"})]
    result = match(need(language="en"), dutch_only, WED_AFTERNOON)
    assert isinstance(result, Routed) and not result.language_matched


def test_dutch_questions_reasons_are_as_before_and_matched():
    groups = [group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact(languages=NL_EN)])]
    assert match(need(), groups, WED_AFTERNOON) == Routed(
        "g-ehv", "c1", "topic+municipality", language_matched=True
    )


def test_a_contact_who_speaks_neither_the_askers_language_nor_dutch_is_no_candidate():
    english_only = group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact(languages=EN)])
    assert match(need(), [english_only], WED_AFTERNOON) == Unmatched("no_group")
    both = group(
        "g-helmond",
        municipalities={"Helmond"},
        contacts=[contact("anglo", languages=EN), contact("dutch")],
    )
    assert match(need(), [english_only, both], WED_AFTERNOON) == Routed(
        "g-helmond", "dutch", "topic+region"
    )


def test_english_speaker_after_hours_still_goes_before_a_dutch_one_in_hours():
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[
                contact("dutch-now"),
                contact("english-tomorrow", languages=NL_EN, hours=WEEKDAYS_9_TO_17),
            ],
        )
    ]
    assert match(need(language="en"), groups, THU_NIGHT) == Routed(
        "g-ehv", "english-tomorrow", "topic+municipality+after_hours+in_en"
    )


# --- call hours -----------------------------------------------------------------------


def test_contact_in_hours_now_goes_before_a_less_loaded_one_outside_hours():
    evenings = (CallWindow(2, time(19), time(21)),)
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[
                contact("evening", open_count=0, hours=evenings),
                contact("daytime", open_count=2, max_open=3, hours=WEEKDAYS_9_TO_17),
            ],
        )
    ]
    assert match(need(), groups, WED_AFTERNOON) == Routed("g-ehv", "daytime", "topic+municipality")


def test_night_question_goes_to_whoever_starts_first_never_to_nobody():
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[
                contact("thu-evening", hours=(CallWindow(3, time(19), time(21)),)),
                contact("thu-morning", open_count=2, hours=(CallWindow(3, time(9), time(12)),)),
                contact("fri-morning", hours=(CallWindow(4, time(8), time(10)),)),
            ],
        )
    ]
    result = match(need(), groups, THU_NIGHT)
    assert result == Routed("g-ehv", "thu-morning", "topic+municipality+after_hours")


def test_contact_without_hours_can_be_called_any_time():
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[contact("office", hours=WEEKDAYS_9_TO_17), contact("anytime", open_count=1)],
        )
    ]
    assert match(need(), groups, THU_NIGHT) == Routed("g-ehv", "anytime", "topic+municipality")


def test_tier_goes_before_call_hours():
    groups = [
        group("g-ehv", municipalities={"Eindhoven"}, contacts=[contact(hours=WEEKDAYS_9_TO_17)]),
        group("g-online", online=True),
    ]
    assert match(need(), groups, THU_NIGHT) == Routed(
        "g-ehv", "c1", "topic+municipality+after_hours"
    )


def test_call_hours_are_amsterdam_time_whatever_zone_now_is_in():
    # 08:30 UTC on a winter Wednesday is 09:30 in Amsterdam: inside 09:00-17:00.
    now = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[contact("office", hours=WEEKDAYS_9_TO_17)],
        )
    ]
    assert match(need(), groups, now) == Routed("g-ehv", "office", "topic+municipality")


# --- load and ties --------------------------------------------------------------------


def test_least_loaded_contact_is_chosen():
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[
                contact("one-of-two", max_open=2, open_count=1),
                contact("two-of-ten", 10, 2),
            ],
        )
    ]
    # Load is the share of capacity in use (20% < 50%), not the raw count.
    assert match(need(), groups, WED_AFTERNOON).contact_id == "two-of-ten"


def test_equal_share_goes_to_fewer_open_callbacks():
    groups = [
        group(
            "g-ehv",
            municipalities={"Eindhoven"},
            contacts=[contact("two-of-four", 4, 2), contact("one-of-two", 2, 1)],
        )
    ]
    assert match(need(), groups, WED_AFTERNOON).contact_id == "one-of-two"


def test_full_tie_is_broken_by_group_then_contact_id():
    groups = [
        group("g-b", municipalities={"Eindhoven"}, contacts=[contact("a")]),
        group("g-a", municipalities={"Eindhoven"}, contacts=[contact("z"), contact("y")]),
    ]
    assert match(need(), groups, WED_AFTERNOON) == Routed("g-a", "y", "topic+municipality")


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        match(need(), [group("g", online=True)], datetime(2026, 11, 25, 14))


# --- next_window_start ----------------------------------------------------------------


def test_next_window_start_is_now_inside_a_window():
    assert next_window_start(WEEKDAYS_9_TO_17, WED_AFTERNOON) == WED_AFTERNOON
    assert in_hours(WEEKDAYS_9_TO_17, WED_AFTERNOON)


def test_next_window_start_at_night_is_next_morning():
    assert next_window_start(WEEKDAYS_9_TO_17, THU_NIGHT) == datetime(2026, 11, 26, 9, tzinfo=AMS)
    assert not in_hours(WEEKDAYS_9_TO_17, THU_NIGHT)


def test_window_end_is_exclusive():
    at_five = datetime(2026, 11, 25, 17, 0, tzinfo=AMS)
    assert not in_hours(WEEKDAYS_9_TO_17, at_five)
    assert next_window_start(WEEKDAYS_9_TO_17, at_five) == datetime(2026, 11, 26, 9, tzinfo=AMS)


def test_friday_evening_waits_for_monday():
    friday_evening = datetime(2026, 11, 27, 20, 0, tzinfo=AMS)
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=AMS)
    assert next_window_start(WEEKDAYS_9_TO_17, friday_evening) == monday


def test_window_earlier_today_on_a_weekly_schedule_is_next_week():
    only_wednesday_morning = (CallWindow(2, time(9), time(11)),)
    assert next_window_start(only_wednesday_morning, WED_AFTERNOON) == datetime(
        2026, 12, 2, 9, tzinfo=AMS
    )


def test_next_window_across_daylight_saving_change():
    # Saturday 24 Oct 2026 20:00 CEST; clocks go back overnight; Monday 09:00 is CET.
    saturday = datetime(2026, 10, 24, 20, 0, tzinfo=AMS)
    start = next_window_start(WEEKDAYS_9_TO_17, saturday)
    assert start.astimezone(UTC) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_window_lost_in_spring_forward_gap_moves_to_next_week():
    # Sunday 29 March 2026 02:00-03:00 does not exist in Amsterdam.
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=AMS)
    gap_hour = (CallWindow(6, time(2), time(3)),)
    start = next_window_start(gap_hour, saturday)
    assert start.astimezone(UTC) == datetime(2026, 4, 5, 0, 0, tzinfo=UTC)
    partly_lost = (CallWindow(6, time(2), time(4)),)
    start = next_window_start(partly_lost, saturday)
    assert start.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST


def test_no_hours_means_any_time():
    assert next_window_start((), THU_NIGHT) is None
    assert in_hours((), THU_NIGHT)


def test_invalid_call_windows_are_refused():
    with pytest.raises(ValueError):
        CallWindow(0, time(21), time(9))
    with pytest.raises(ValueError):
        CallWindow(7, time(9), time(17))
    with pytest.raises(ValueError):
        Contact("c", max_open=-1, open_count=0)


# --- properties -----------------------------------------------------------------------

TOPICS = ("rouw", "depressie", "angst")
PLACES = ("Eindhoven", "Helmond", "Veldhoven", "Amsterdam", "Utrecht")

windows = st.builds(
    lambda day, start, length: CallWindow(day, time(start), time(start + length)),
    st.integers(0, 6),
    st.integers(0, 20),
    st.integers(1, 3),
)
contacts = st.builds(
    Contact,
    contact_id=st.sampled_from(["c1", "c2", "c3", "c4"]),
    max_open=st.integers(0, 4),
    open_count=st.integers(0, 5),
    hours=st.lists(windows, max_size=3).map(tuple),
    languages=st.sampled_from([frozenset({"nl"}), frozenset({"nl", "en"}), frozenset({"en"})]),
)
groups_st = st.builds(
    Group,
    group_id=st.sampled_from(["g1", "g2", "g3", "g4", "g5", "g6"]),
    topics=st.frozensets(st.sampled_from(TOPICS), min_size=1),
    municipalities=st.frozensets(st.sampled_from(PLACES), max_size=2),
    online=st.booleans(),
    languages=st.sampled_from([frozenset({"nl"}), frozenset({"nl", "en"}), frozenset({"en"})]),
    status=st.sampled_from(["active", "active", "paused", "left"]),
    contacts=st.lists(contacts, max_size=4, unique_by=lambda c: c.contact_id).map(tuple),
)


def _own_contacts(groups: list[Group]) -> list[Group]:
    # A contact person belongs to one group (contacts.contact_id is the primary key, with one
    # group_id): ids drawn per group are made unique across the list, as in the database.
    return [
        replace(
            g,
            contacts=tuple(
                replace(c, contact_id=f"{g.group_id}-{c.contact_id}") for c in g.contacts
            ),
        )
        for g in groups
    ]


group_lists = st.lists(groups_st, max_size=6, unique_by=lambda g: g.group_id).map(_own_contacts)
needs = st.builds(
    Need,
    topic=st.sampled_from((*TOPICS, None)),
    municipality=st.sampled_from((*PLACES, None)),
    language=st.sampled_from(["nl", "en"]),
    professional_help_advised=st.booleans(),
    exclude_groups=st.frozensets(st.sampled_from(["g1", "g2", "g3"]), max_size=2),
)
moments = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.sampled_from([UTC, AMS]),
)


def _chosen(result, groups):
    assert isinstance(result, Routed)
    g = next(g for g in groups if g.group_id == result.group_id)
    c = next(c for c in g.contacts if c.contact_id == result.contact_id)
    return g, c


@given(needs, group_lists, moments)
def test_chosen_contact_always_has_room_and_group_fits(need_, groups, now):
    result = match(need_, groups, now)
    if isinstance(result, Routed):
        g, c = _chosen(result, groups)
        assert c.open_count < c.max_open
        assert g.status == "active"
        assert need_.topic in g.topics
        assert can_call(c, need_.language)
        # A contact who speaks the asker's language is chosen whenever one with room could be.
        could = [
            x
            for x in groups
            if x.status == "active"
            and need_.topic in x.topics
            and x.group_id not in need_.exclude_groups
            and _tier(x, need_) is not None
            for y in x.contacts
            if need_.language in y.languages and y.open_count < y.max_open
        ]
        assert result.language_matched == (need_.language in c.languages) == bool(could)
        assert g.group_id not in need_.exclude_groups
        assert not need_.professional_help_advised


@given(needs, group_lists, moments)
def test_inactive_groups_never_change_the_outcome(need_, groups, now):
    active_only = [g for g in groups if g.status == "active"]
    assert match(need_, groups, now) == match(need_, active_only, now)


@given(needs, group_lists, moments, st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order(need_, groups, now, rnd):
    shuffled = []
    for g in groups:
        cs = list(g.contacts)
        rnd.shuffle(cs)
        shuffled.append(replace(g, contacts=tuple(cs)))
    rnd.shuffle(shuffled)
    assert match(need_, groups, now) == match(need_, shuffled, now)


@given(needs, group_lists, moments)
def test_repeated_calls_give_the_same_result(need_, groups, now):
    first = match(need_, groups, now)
    assert all(match(need_, groups, now) == first for _ in range(3))
    assert match(need_, iter(groups), now) == first


@given(st.lists(windows, min_size=1, max_size=5).map(tuple), moments)
def test_next_window_start_is_soon_and_inside_a_window(hours, now):
    start = next_window_start(hours, now)
    assert start.astimezone(UTC) >= now.astimezone(UTC)
    assert start.astimezone(UTC) - now.astimezone(UTC) <= timedelta(days=8, hours=1)
    assert in_hours(hours, start)


@given(needs, group_lists, moments)
def test_ranking_starts_with_the_match_and_lists_each_contact_with_room_once(need_, groups, now):
    ranked = ranking(need_, groups, now)
    if isinstance(ranked, Unmatched):
        assert match(need_, groups, now) == ranked
        return
    assert ranked[0] == match(need_, groups, now)
    assert len({r.contact_id for r in ranked}) == len(ranked)
    for r in ranked:
        assert _chosen(r, groups)[1].open_count < _chosen(r, groups)[1].max_open


@given(needs, group_lists, moments)
def test_falling_through_to_the_next_ranked_is_matching_again_with_the_first_full(
    need_, groups, now
):
    # What a router does when another router took the first choice's last place.
    ranked = ranking(need_, groups, now)
    if isinstance(ranked, Unmatched):
        return
    first = ranked[0]
    filled = [
        replace(
            g,
            contacts=tuple(
                replace(c, open_count=c.max_open) if c.contact_id == first.contact_id else c
                for c in g.contacts
            ),
        )
        if g.group_id == first.group_id
        else g
        for g in groups
    ]
    again = match(need_, filled, now)
    assert again == (ranked[1] if len(ranked) > 1 else Unmatched("all_full"))


@given(needs, group_lists, moments)
def test_ranking_tier_by_tier_from_the_cache_is_ranking_all_groups(need_, groups, now):
    # routing.decisions.decide ranks only the cache's candidates of one tier at a time.
    cache = GroupCache()
    cache.fill(
        1,
        (GroupInfo(g.group_id, g.topics, g.municipalities, g.online, g.languages) for g in groups),
    )
    by_id = {g.group_id: g for g in groups}
    whole = ranking(need_, groups, now)
    if need_.professional_help_advised or need_.topic is None:
        assert isinstance(whole, Unmatched)
        return
    pieces: list[Routed] = []
    candidates = False
    tiers = cache.tiers(need_)
    if need_.language != "nl":  # the language goes before the tier: one ranking of them all
        tiers = [[g for tier in tiers for g in tier]]
    for tier in tiers:
        part = ranking(need_, [by_id[g.group_id] for g in tier], now)
        if isinstance(part, list):
            pieces.extend(part)
            candidates = True
        else:
            candidates = candidates or part.reason == "all_full"
    if pieces:
        assert pieces == whole
    else:
        assert whole == Unmatched("all_full" if candidates else "no_group")


def test_the_teams_hand_assignment_prefers_a_speaker_of_the_askers_language():
    g = group(
        "g-ehv",
        contacts=[
            contact("dutch", open_count=0),
            contact("english", open_count=2, languages=NL_EN),
        ],
    )
    assert [c.contact_id for c in by_load(g, "en")] == ["english", "dutch"]
    assert [c.contact_id for c in by_load(g)] == ["dutch", "english"]
