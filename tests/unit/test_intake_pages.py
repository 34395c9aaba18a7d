"""Intake's page parts without a server: the catalogue, form checks, session cookies and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opendeur import timefmt
from opendeur.catalogue import missing
from services.intake.topics import TopicCatalogue
from services.intake.web import forms, pages
from services.intake.web.i18n import CATALOGUE, NETWORK_PHONE, tel_links
from services.intake.web.pages import STAFF_TEMPLATES, Submissions, render
from services.intake.web.phone import PhoneSession, SessionCodec

TEMPLATES = Path(__file__).resolve().parents[2] / "services/intake/web/templates"


def test_catalogue_has_both_languages_and_every_used_key() -> None:
    assert missing(CATALOGUE) == {}
    for key, texts in CATALOGUE.items():
        nl, en = texts["nl"], texts["en"]
        # One word may be the same in both (Status, E-mail); a sentence is translated.
        assert nl != en or " " not in nl, f"{key} is not translated"
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        used |= set(re.findall(r"\btl?\('([a-z0-9_]*[a-z0-9])'", text))  # not prefixes (x_ ~ code)
        # No language switches inside templates: every string lives in the catalogue.
        assert "{% if lang" not in text, path.name
    assert used <= set(CATALOGUE), used - set(CATALOGUE)
    # No made-up number: the network's phone comes from OPENDEUR_NETWORK_PHONE or is empty.
    assert "000 0000" not in NETWORK_PHONE
    assert all("000 0000" not in t["nl"] + t["en"] for t in CATALOGUE.values())


@pytest.fixture
def offline_topics() -> TopicCatalogue:
    # Routing unreachable: any well-formed code is accepted (the door stays open).
    return TopicCatalogue("http://127.0.0.1:9")


GOOD = {"phone": "06 12345678", "share_with_contact": "yes", "postcode": "5611 AB"}


async def test_check_reports_every_field_in_page_order(offline_topics: TopicCatalogue) -> None:
    assert await forms.check(GOOD, "nl", offline_topics) == {}
    errors = await forms.check(
        {
            "phone": "x",
            "postcode": "1",
            "story": "s" * 4001,
            "call_times": "c" * 201,
            "topic": "Not A Code!",
        },
        "en",
        offline_topics,
        phone_console=True,
    )
    assert list(errors) == [
        "consent_read",
        "topic",
        "story",
        "phone",
        "call_times",
        "postcode",
        "consent",
    ]
    assert errors["phone"].startswith("Enter a valid phone number")
    assert all("x" not in m.split() for m in errors.values())


async def test_to_question_maps_the_form(offline_topics: TopicCatalogue) -> None:
    q = forms.to_question(
        {**GOOD, "for_self": "no", "statistics": "yes", "story": "  hallo \r\n"},
        channel="phone",
        language="en",
    )
    assert q.channel == "phone" and q.language == "en" and q.for_self is False
    assert q.consent.share_with_contact and q.consent.statistics
    assert q.story == "hallo"


def test_session_cookie_is_signed_and_csrf_is_bound_to_it() -> None:
    codec = SessionCodec(b"k" * 32)
    s = PhoneSession("sid-1", "anna")
    cookie = codec.dump(s)
    assert codec.load(cookie) == s
    i = len(cookie) // 2
    assert codec.load(cookie[:i] + ("A" if cookie[i] != "A" else "B") + cookie[i + 1 :]) is None
    assert SessionCodec(b"x" * 32).load(cookie) is None
    assert codec.load(None) is None and codec.load("garbage") is None
    token = codec.csrf(s)
    assert codec.csrf_ok(s, token)
    assert not codec.csrf_ok(PhoneSession("sid-2", "anna"), token)
    assert not codec.csrf_ok(None, token)


@pytest.mark.parametrize(
    "utc,nl,en",
    [
        # Winter (UTC+1) and summer (UTC+2), on the hour and not, noon and midnight.
        (
            (2026, 12, 3, 14, 0),
            "uiterlijk donderdag 3 december, 15.00 uur",
            "by Thursday 3 December, 3 pm",
        ),
        (
            (2026, 12, 3, 2, 1),
            "uiterlijk donderdag 3 december, 3.01 uur",
            "by Thursday 3 December, 3:01 am",
        ),
        (
            (2026, 7, 1, 10, 0),
            "uiterlijk woensdag 1 juli, 12.00 uur",
            "by Wednesday 1 July, 12 noon",
        ),
        (
            (2026, 3, 28, 23, 0),
            "uiterlijk zondag 29 maart, 0.00 uur",
            "by Sunday 29 March, midnight",
        ),
        (
            (2026, 3, 29, 1, 30),
            "uiterlijk zondag 29 maart, 3.30 uur",
            "by Sunday 29 March, 3:30 am",
        ),
    ],
)
def test_deadline_in_words_in_amsterdam_time(utc: tuple, nl: str, en: str) -> None:
    when = datetime(*utc, tzinfo=UTC)
    assert timefmt.deadline(when, "nl") == nl
    assert timefmt.deadline(when, "en") == en


def test_crisis_numbers_become_tap_to_call_links_and_the_rest_is_escaped() -> None:
    html = str(tel_links('<b>"Bel 113 of 0800-0113; 113.nl; gevaar: 112. 1120 niet.'))
    assert "<b>" not in html and "&lt;b&gt;" in html and "&#34;" in html
    assert re.findall(r'href="tel:([0-9]+)"', html) == ["113", "08000113", "112"]
    assert "113.nl" in html and ">1120" not in html


def test_someone_else_page_shows_the_networks_details_only_when_configured() -> None:
    bare = render(
        "referral.html", "nl", form_url="https://x.test/", net_name="", net_phone="", net_email=""
    ).body.decode()
    assert 'id="contact-title"' not in bare and "tel:0" not in bare.split("<main", 1)[1]
    full = render(
        "referral.html",
        "en",
        form_url="https://x.test/",
        net_name="Zelfhulp Netwerk Eindhoven",
        net_phone="040 123 45 67",
        net_email="info@zelfhulp.test",
    ).body.decode()
    assert 'href="tel:0401234567">040 123 45 67</a>' in full
    assert 'href="mailto:info@zelfhulp.test"' in full and "Zelfhulp Netwerk Eindhoven" in full


def test_a_submission_id_is_taken_once_released_on_failure_and_the_memory_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subs = Submissions()
    assert subs.claim("a") and not subs.claim("a")
    subs.release("a")
    assert subs.claim("a")
    monkeypatch.setattr(pages, "SUBMISSIONS_MAX", 100)
    for i in range(1000):  # a flood of made-up ids
        subs.claim(f"flood-{i}")
    assert len(subs._seen) <= 100


def test_staff_pages_have_no_quick_exit_and_help_seekers_pages_do() -> None:
    seeker = render("message.html", "nl", heading="x").body.decode()
    assert 'id="quick-exit"' in seeker and 'src="/static/exit.js"' in seeker
    assert "phone_done.html" in STAFF_TEMPLATES and "callback.html" in STAFF_TEMPLATES
    volunteer = render(
        "phone_done.html", "nl", heading="x", person_lang="nl", user="anna", csrf="c"
    ).body.decode()
    assert 'id="quick-exit"' not in volunteer and "exit.js" not in volunteer


@pytest.mark.parametrize("crisis", [False, True])
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_outcome_page_promises_what_happens(lang: str, crisis: bool) -> None:
    """The thank-you page and the phone console's page read aloud, per case and language, from
    the one catalogue: the team (not a contact person) for a crisis, an honest word on English."""
    before = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # 15.00 uur in Amsterdam
    data = {"q": "q", "r": "OD-AAAA-BBBB", "b": before.isoformat(), "w": "w", "p": crisis}
    web = render("thanks.html", lang, **pages.thanks_context(data, lang)).body.decode()
    web = web.split('<main id="main">')[1]
    spoken = render(
        "phone_done.html",
        "nl",
        heading="x",
        reference="OD-AAAA-BBBB",
        deadline=pages.local(before, lang),
        crisis=crisis,
        person_lang=lang,
        user="u",
        csrf="c",
    ).body.decode()
    spoken = spoken.split('<main id="main">')[1]
    when = (
        "uiterlijk donderdag 3 december, 15.00 uur"
        if lang == "nl"
        else "by Thursday 3 December, 3 pm"
    )
    assert when in web and when in spoken
    team = {"nl": "netwerkteam belt je", "en": "network team will call you"}[lang]
    contact = {"nl": "contactpersoon", "en": "contact person"}[lang]
    if crisis:
        assert team in web and team in spoken.replace("belt je terug", "belt je")
        assert contact not in web.lower() and "kijkt vandaag" not in web
    else:
        assert contact in web.lower() and contact in spoken.lower() and team not in web
    english = "speaks English" if not crisis else "you prefer English"
    assert (english in web) == (lang == "en")
    assert "113" in spoken if crisis else "Lees dit nu voor" not in spoken
    withdraw = {"nl": "noem je kenmerk", "en": "give your reference"}[lang]
    assert withdraw in spoken and "link" not in spoken.lower().replace("<a ", "")


@pytest.mark.parametrize(
    "utc,nl,en",
    [
        # By day the exact moment (Amsterdam: UTC+1 in December).
        (
            (2026, 12, 3, 14, 0),
            "uiterlijk donderdag 3 december, 15.00 uur",
            "by Thursday 3 December, 3 pm",
        ),
        (
            (2026, 12, 3, 7, 0),
            "uiterlijk donderdag 3 december, 8.00 uur",
            "by Thursday 3 December, 8 am",
        ),
        # At night: the evening before, never a call at 3 a.m.
        (
            (2026, 12, 3, 2, 1),
            "uiterlijk woensdagavond 2 december",
            "by Wednesday evening, 2 December",
        ),
        (
            (2026, 12, 2, 22, 30),
            "uiterlijk woensdagavond 2 december",
            "by Wednesday evening, 2 December",
        ),
        (
            (2026, 12, 3, 6, 59),
            "uiterlijk woensdagavond 2 december",
            "by Wednesday evening, 2 December",
        ),
        (
            (2026, 12, 3, 21, 0),
            "uiterlijk donderdagavond 3 december",
            "by Thursday evening, 3 December",
        ),
    ],
)
def test_a_help_seeker_is_never_promised_a_call_at_night(
    utc: tuple[int, ...], nl: str, en: str
) -> None:
    at = datetime(*utc, tzinfo=UTC)
    assert timefmt.promise(at, "nl") == nl
    assert timefmt.promise(at, "en") == en


def test_the_thank_you_page_of_a_question_asked_at_night_promises_the_evening() -> None:
    # Asked on Wednesday at 3.01 (Amsterdam): 24 hours is Thursday 3.01; she reads Wednesday
    # evening. A crisis question keeps the team's exact time.
    data = {"p": False, "b": "2026-12-03T02:01:00+00:00", "r": "OD-AAAA-BBBB", "q": "x", "w": "y"}
    notes = " ".join(pages.thanks_context(data, "nl")["notes"])
    assert "uiterlijk woensdagavond 2 december" in notes and "3.01 uur" not in notes
    crisis = " ".join(pages.thanks_context({**data, "p": True}, "nl")["notes"])
    assert "uiterlijk donderdag 3 december, 3.01 uur" in crisis


def test_a_contact_is_told_what_a_night_deadline_was_promised_as() -> None:
    night = datetime(2026, 12, 3, 2, 1, tzinfo=UTC)
    assert timefmt.at_night(night) and not timefmt.at_night(datetime(2026, 12, 3, 14, tzinfo=UTC))
    html = render(
        "callback.html",
        "nl",
        reference="OD-AAAA-BBBB",
        deadline=timefmt.deadline(night, "nl"),
        night_promise=timefmt.promise(night, "nl"),
        priority=False,
        prefers_english=False,
        phone="+31612345678",
        phone_display="06 12345678",
        story=None,
        call_times=None,
        outcomes=[("reached", "Gesproken")],
        guide=[],
    ).body.decode()
    assert "Deze persoon verwacht je telefoontje uiterlijk woensdagavond 2 december." in html
    assert 'aria-describedby="joins-hint"' in html and 'id="joins-hint"' in html
