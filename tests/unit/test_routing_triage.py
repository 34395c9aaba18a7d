"""Pure parts of the team's queue and the group self-service: hand assignment, CSRF, ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendeur.settings import Settings
from services.routing.matching import Contact, Group, least_loaded
from services.routing.web.forms import allowed, csrf_token
from services.routing.web.triage import age


def group(*contacts: Contact) -> Group:
    return Group("g", frozenset({"rouw"}), frozenset(), online=True, contacts=contacts)


def test_least_loaded_picks_lowest_share_of_capacity_with_room() -> None:
    busy = Contact("c-a", max_open=4, open_count=2)  # half full
    calm = Contact("c-b", max_open=10, open_count=3)  # less than a third
    full = Contact("c-c", max_open=1, open_count=1)
    assert least_loaded(group(busy, calm, full)) == calm


def test_least_loaded_breaks_ties_by_id_and_returns_none_when_all_full() -> None:
    assert least_loaded(group(Contact("c-z", 2, 0), Contact("c-a", 5, 0))).contact_id == "c-a"
    assert least_loaded(group(Contact("c-a", 1, 1), Contact("c-b", 0, 0))) is None
    assert least_loaded(group()) is None


def test_csrf_token_is_bound_to_the_credential_and_the_secret() -> None:
    one = Settings(secret_key="s" * 40)
    other = Settings(secret_key="t" * 40)
    assert csrf_token(one, "admin") == csrf_token(one, "admin")
    assert csrf_token(one, "admin") != csrf_token(one, "someone-else")
    assert csrf_token(one, "admin") != csrf_token(other, "admin")
    assert "admin" not in csrf_token(one, "admin")


def test_age_reads_in_minutes_hours_then_days() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert age(now - timedelta(minutes=5), now) == "5 min"
    assert age(now - timedelta(hours=3, minutes=59), now) == "3 uur"
    assert age(now - timedelta(days=3), now) == "3 dagen"
    assert age(now + timedelta(minutes=1), now) == "0 min"


def test_contact_may_pause_resume_and_leave_only_from_the_right_status() -> None:
    assert allowed("active") == ["pause", "leave"]
    assert allowed("paused") == ["resume", "leave"]
    assert allowed("left") == []


# The team's queue in words: no raw code or slug reaches a team member.
def test_every_reason_a_question_waits_for_the_team_reads_as_a_sentence() -> None:
    import re

    from services.routing.web.triage import OTHER_REASON, QUEUE_REASONS, reason_label

    # Everything matching.Unmatched and decisions.to_team put in questions.reason.
    for code in (
        "professional_help_advised",
        "no_topic",
        "no_group",
        "all_full",
        "unreachable",
        "notification_failed",
    ):
        label = reason_label(code)
        assert label == QUEUE_REASONS[code] and "_" not in label and label[0].isupper()
    assert "Crisis" in reason_label("professional_help_advised")
    assert reason_label(None) == reason_label("a-future-code") == OTHER_REASON
    assert not re.search(r"[a-z]+_[a-z]+", " ".join(QUEUE_REASONS.values()))


def test_every_municipality_slug_reads_as_its_name() -> None:
    from services.routing import regions, store
    from services.routing.web.triage import place

    for name in regions.municipalities():
        assert place(store.slug(name)) == name
    assert place("son-en-breugel") == "Son en Breugel"
    assert place(None) == "geen postcode opgegeven"
    # Outside the region's table: what is known, not "onbekende gemeente".
    assert place(None, "9999") == "postcode 9999, gemeente onbekend"
    assert place("ergens-anders") == "Ergens Anders"  # never a slug with dashes


def test_the_matchers_reasons_read_as_why_a_group_is_suggested() -> None:
    from services.routing.web.triage import why

    assert why("topic+municipality") == "onderwerp en gemeente passen"
    assert why("topic+region") == "onderwerp past, groep in de regio"
    assert why("topic+online+after_hours") == (
        "onderwerp past, online groep; belt pas binnen de beltijden"
    )
    assert why("manual") == "onderwerp past"
    assert why("topic+online+in_en") == "onderwerp past, online groep; belt in het Engels"
    assert "liever Engels" in why("topic+region+in_nl_not_en+after_hours")


def queued(**overrides: object) -> dict:
    return {
        "topic": "rouw",
        "municipality": "eindhoven",
        "language": "nl",
        "tried_groups": [],
        **overrides,
    }


def test_suggestions_are_the_matchers_ranking_one_line_per_group_with_why() -> None:
    from services.routing.web.triage import suggestions

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday, noon
    local = Group(
        "rouw-eindhoven",
        frozenset({"rouw"}),
        frozenset({"Eindhoven"}),
        online=False,
        contacts=(Contact("c-1", 3, 0), Contact("c-2", 3, 1)),
    )
    online = Group(
        "rouw-online",
        frozenset({"rouw"}),
        frozenset(),
        online=True,
        contacts=(Contact("c-3", 2, 0),),
    )
    full = Group(
        "rouw-vol",
        frozenset({"rouw"}),
        frozenset({"Eindhoven"}),
        False,
        contacts=(Contact("c-4", 1, 1),),
    )
    other = Group(
        "angst",
        frozenset({"angst"}),
        frozenset({"Eindhoven"}),
        True,
        contacts=(Contact("c-5", 5, 0),),
    )
    names = {"rouw-eindhoven": "Rouwgroep Eindhoven", "rouw-online": "Rouw online"}
    got = suggestions(queued(), [online, full, other, local], names, now)
    assert got == [
        {
            "group_id": "rouw-eindhoven",
            "name": "Rouwgroep Eindhoven",
            "why": "onderwerp en gemeente passen",
        },
        {"group_id": "rouw-online", "name": "Rouw online", "why": "onderwerp past, online groep"},
    ]
    # A crisis question is ranked as any other: the team decides, the matcher only suggests.
    assert (
        suggestions(queued(priority=True), [local], names, now)[0]["group_id"] == "rouw-eindhoven"
    )
    # A group tried before (wrong group, not reached) is not suggested again.
    tried = suggestions(queued(tried_groups=["rouw-eindhoven"]), [local, online], names, now)
    assert [s["group_id"] for s in tried] == ["rouw-online"]
    assert suggestions(queued(topic=None), [local, online], names, now) == []
    assert suggestions(queued(topic="adhd"), [local, online], names, now) == []
