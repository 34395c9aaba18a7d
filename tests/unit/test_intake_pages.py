"""Intake's page parts without a server: the catalogue, form checks, session cookies and CSRF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.intake.topics import TopicCatalogue
from services.intake.web import forms
from services.intake.web.i18n import CATALOGUE, NETWORK_PHONE
from services.intake.web.phone import PhoneSession, SessionCodec

TEMPLATES = Path(__file__).resolve().parents[2] / "services/intake/web/templates"


def test_catalogue_has_both_languages_and_every_used_key() -> None:
    for key, (nl, en) in CATALOGUE.items():
        assert nl.strip() and en.strip(), key
        assert nl != en or key in ("site",), f"{key} is not translated"
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        used |= set(re.findall(r"\btl?\('([a-z0-9_]+)'", text))
        # No language switches inside templates: every string lives in the catalogue.
        assert "if lang" not in text, path.name
    assert used <= set(CATALOGUE), used - set(CATALOGUE)
    # No made-up number: the network's phone comes from OPENDEUR_NETWORK_PHONE or is empty.
    assert "000 0000" not in NETWORK_PHONE
    assert all("000 0000" not in nl + en for nl, en in CATALOGUE.values())


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
