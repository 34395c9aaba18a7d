"""A contact's own links (overview, pause) are signed once for the mails of a few minutes, then
anew; each still opens only its own contact's pages."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from opendeur import links
from opendeur.settings import Settings
from services.notify import delivery
from services.notify.delivery import Dispatcher

SECRET = "unit-test-secret-" + "x" * 32


def dispatcher(ttl: timedelta = timedelta(days=7)) -> Dispatcher:
    """Only what the links need: the settings (keys, base URLs, the links' lifetime)."""
    settings = Settings(_env_file=None, secret_key=SECRET, link_ttl=ttl)
    fake = SimpleNamespace(rt=SimpleNamespace(settings=settings), _links={})
    fake.reused = lambda key, payload: Dispatcher.reused(fake, key, payload)  # type: ignore[arg-type]
    return fake  # type: ignore[return-value]


def token(link: str | None) -> str:
    assert link is not None
    return link.rsplit("/", 1)[1]


class Clock:
    """The wall clock (the links' time of issue, and the dispatcher's reuse window), moved by
    the test (a link signed anew differs from one signed a second before it: its time of issue
    is in it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.t, base = 0.0, time.time()
        monkeypatch.setattr(time, "time", lambda: base + self.t)


def test_a_contacts_links_are_signed_once_for_the_next_minutes_then_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d, clock = dispatcher(), Clock(monkeypatch)
    first = Dispatcher.overview_link(d, "anna")
    pause = Dispatcher.pause_link(d, "g1", "anna")
    clock.t += delivery.LINK_REUSE_S - 1
    assert Dispatcher.overview_link(d, "anna") == first
    assert Dispatcher.pause_link(d, "g1", "anna") == pause
    # Another contact, or the same contact for another group: their own links.
    bert = Dispatcher.overview_link(d, "bert")
    assert links.verify(d.rt.settings, "contact", token(bert)) == {"c": "bert"}
    assert links.verify(d.rt.settings, "contact", token(first)) == {"c": "anna"}
    assert links.verify(d.rt.settings, "group", token(pause)) == {"g": "g1", "c": "anna"}
    assert links.verify(d.rt.settings, "group", token(Dispatcher.pause_link(d, "g2", "anna"))) == {
        "g": "g2",
        "c": "anna",
    }
    # Past the window, signed anew (with the time of issue that its lifetime counts from).
    clock.t += 2
    later = Dispatcher.overview_link(d, "anna")
    assert later != first
    assert links.verify(d.rt.settings, "contact", token(later)) == {"c": "anna"}


def test_with_short_lived_links_the_reuse_is_one_percent_of_their_life(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d, clock = dispatcher(ttl=timedelta(seconds=1000)), Clock(monkeypatch)
    first = Dispatcher.overview_link(d, "anna")
    clock.t += 9
    assert Dispatcher.overview_link(d, "anna") == first
    clock.t += 2  # 11 s after: past 1 % of 1,000 s
    assert Dispatcher.overview_link(d, "anna") != first


def test_a_link_is_not_reused_once_the_wall_clock_has_passed_its_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine slept (a monotonic clock stops meanwhile, the links' clock does not): the
    link kept from before would have gone out expired, so it is signed anew."""
    d, clock = dispatcher(ttl=timedelta(hours=1)), Clock(monkeypatch)
    first = Dispatcher.overview_link(d, "anna")
    clock.t += 2 * 3600
    later = Dispatcher.overview_link(d, "anna")
    assert later != first
    assert links.verify(d.rt.settings, "contact", token(later)) == {"c": "anna"}
    with pytest.raises(links.LinkInvalid):
        links.verify(d.rt.settings, "contact", token(first))
