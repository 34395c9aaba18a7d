"""Pure parts of the team's queue and the group self-service: hand assignment, CSRF, ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendeur.settings import Settings
from services.routing.matching import Contact, Group, least_loaded
from services.routing.web.pages import age, allowed, csrf_token


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
