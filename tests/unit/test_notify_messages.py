"""Notification texts: content without personal data, Dutch time, escaped HTML, short SMS, digest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from opendeur.settings import Settings
from services.notify import messages
from services.notify.api import ContactIn
from services.notify.delivery import NotifyConfig
from services.notify.store import mask_email, mask_mobile

RECEIVED = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
BEFORE = RECEIVED + timedelta(hours=24)


def mail(**kw):
    args = dict(
        lang="nl",
        reference="OD-AB12-CD34",
        topic_label="Rouw en verlies",
        channel="web",
        priority=False,
        received_at=RECEIVED,
        respond_before=BEFORE,
        now=RECEIVED + timedelta(hours=2, minutes=5),
        link="http://intake.test/c/TOKEN",
        pause_link="http://routing.test/groups/self/PAUSE",
    )
    args.update(kw)
    return messages.new_question(**args)


def test_dutch_mail_names_topic_age_deadline_in_amsterdam_time_and_both_links() -> None:
    m = mail()
    assert "OD-AB12-CD34" in m.subject
    assert "Rouw en verlies" in m.text
    assert "Gesteld via de website, 2 uur geleden." in m.text
    # 10:00 UTC is 12:00 in Amsterdam summer time, said as people say it.
    assert "Bel graag terug, uiterlijk donderdag 2 juli, 12.00 uur." in m.text
    assert m.text.index("http://intake.test/c/TOKEN") < m.text.index("/groups/self/PAUSE")
    assert "pauze" in m.text
    assert "VOORRANG" not in m.text


def test_a_fresh_question_is_not_zero_minutes_old() -> None:
    m = mail(now=RECEIVED)
    assert "0 min" not in m.text and "Gesteld via de website, zojuist." in m.text
    assert "25 minuten geleden" in mail(now=RECEIVED + timedelta(minutes=25)).text
    assert "just now" in mail(lang="en", now=RECEIVED).text


def test_english_mail_with_priority() -> None:
    m = mail(lang="en", priority=True, topic_label="Grief")
    assert "Grief" in m.text and "PRIORITY" in m.text and "2 hours ago" in m.text
    assert "by Thursday 2 July, 12 noon (Dutch time)" in m.text
    assert "Pause or resume" in m.text


def test_winter_time_is_one_hour_ahead_of_utc() -> None:
    m = mail(respond_before=datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    assert "uiterlijk donderdag 15 januari, 11.00 uur" in m.text


def test_html_part_has_one_button_and_no_raw_addresses() -> None:
    m = mail(overview_link="http://routing.test/contact/OVERVIEW")
    assert m.html is not None
    anchors = re.findall(r"<a href=\"([^\"]+)\"([^>]*)>([^<]+)</a>", m.html)
    assert [text for _, _, text in anchors] == [
        "Open de vraag",
        "Mijn overzicht",
        "Groep pauzeren of weer aanzetten",
    ]
    assert [bool(style) for _, style, _ in anchors] == [True, False, False]  # one button
    assert all(not text.startswith("http") for _, _, text in anchors)


def test_html_part_has_the_same_content_escaped() -> None:
    m = mail(topic_label="<script>x</script> & co", link='http://i.test/c/a"b')
    assert m.html is not None
    assert "<script>" not in m.html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in m.html
    assert 'href="http://i.test/c/a&quot;b?lang=nl"' in m.html
    assert "/groups/self/PAUSE" in m.html


def test_reminder_names_reference_and_deadline() -> None:
    m = mail(reminder=True)
    assert m.subject.startswith("Herinnering") and "OD-AB12-CD34" in m.subject
    first = m.text.splitlines()[2]
    assert "OD-AB12-CD34" in first
    assert "uiterlijk donderdag 2 juli, 12.00 uur" in m.text


def test_a_missing_topic_says_so() -> None:
    assert "onbekend onderwerp" in mail(topic_label=None).text


def test_sms_is_short_with_topic_deadline_and_link() -> None:
    sms = messages.sms_text(
        lang="nl",
        reference="OD-AB12-CD34",
        topic_label="Rouw en verlies",
        respond_before=BEFORE,
        link="http://intake.test/c/" + "x" * 60,
    )
    assert "Rouw en verlies" in sms.text and "uiterlijk donderdag 2 juli, 12.00 uur" in sms.text
    assert sms.text.endswith("x" * 60 + "?lang=nl")
    assert len(sms.text) - len("http://intake.test/c/" + "x" * 60) < 100


@pytest.mark.parametrize("lang,label", [("nl", "Je overzicht: "), ("en", "Your overview: ")])
def test_sms_links_to_the_contacts_own_overview_in_their_language(lang: str, label: str) -> None:
    link = "http://intake.test/c/" + "x" * 60
    overview = "http://routing.test/contact/" + "y" * 60
    sms = messages.sms_text(
        lang=lang,
        reference="OD-AB12-CD34",
        topic_label="Rouw en verlies",
        respond_before=BEFORE,
        link=link,
        overview_link=overview,
    )
    first, second = sms.text.splitlines()
    assert first.endswith(f"{link}?lang={lang}")
    assert second == f"{label}{overview}?lang={lang}"
    # Short: apart from the two links (each with its ?lang=), fewer than 100 characters.
    assert len(sms.text) - len(link) - len(overview) - 2 * len("?lang=nl") < 100
    assert sms.html is None


def test_mail_links_to_routings_pages_carry_the_contacts_language() -> None:
    m = mail(lang="en", overview_link="http://routing.test/contact/OVERVIEW")
    assert "http://routing.test/contact/OVERVIEW?lang=en" in m.text
    assert "http://routing.test/groups/self/PAUSE?lang=en" in m.text
    # The callback page, too, opens in the contact's language, not the help-seeker's.
    assert "http://intake.test/c/TOKEN?lang=en\n" in m.text
    nl = mail(overview_link="http://routing.test/contact/OVERVIEW")
    assert "http://routing.test/contact/OVERVIEW?lang=nl" in nl.text
    assert messages.with_lang("http://r.test/x?a=1", "en") == "http://r.test/x?a=1&lang=en"


def test_digest_lists_every_breach_and_how_late() -> None:
    now = BEFORE + timedelta(hours=5)
    d = messages.digest(
        day="2026-07-02",
        breaches=[
            messages.Breach("OD-AAAA-1111", BEFORE),
            messages.Breach("OD-BBBB-2222", BEFORE + timedelta(hours=2)),
        ],
        now=now,
    )
    assert "2 vraag" in d.subject
    assert "OD-AAAA-1111" in d.text and "5 uur te laat" in d.text
    assert "OD-BBBB-2222" in d.text and "3 uur te laat" in d.text


def test_team_message_names_reference_and_deadline() -> None:
    t = messages.team_message(reference="OD-AB12-CD34", question_id="q-1", respond_before=BEFORE)
    assert "OD-AB12-CD34" in t.subject and "02-07-2026 12:00" in t.text


def test_masked_addresses_show_little() -> None:
    assert mask_email("anna.rouw@example.org") == "a***@example.org"
    assert mask_mobile("+31612345678") == "***78"
    assert mask_email(None) is None


def test_contact_input_validation() -> None:
    assert ContactIn(mobile="06-1234 5678", channel="sms").mobile == "0612345678"
    with pytest.raises(ValueError):
        ContactIn(email="not-an-address")
    with pytest.raises(ValueError):
        ContactIn(mobile="call me")
    with pytest.raises(ValueError):
        ContactIn(channel="pigeon")


def test_config_from_settings() -> None:
    c = NotifyConfig.from_settings(
        Settings(
            notify_retry_base="0.5",
            notify_digest_hour="off",
            sms_url="http://sms.test/send",
            sms_auth_header="Authorization: Bearer x",
        )
    )
    assert c.retry_base == 0.5 and c.digest_hour is None
    assert c.sms is not None and c.sms.auth_header == ("Authorization", "Bearer x")
    assert NotifyConfig.from_settings(Settings()).retry_base == 2.0
    assert NotifyConfig.from_settings(Settings()).digest_hour == 8
    with pytest.raises(ValueError):
        NotifyConfig.from_settings(Settings(notify_digest_hour="25"))
    with pytest.raises(ValueError):
        NotifyConfig.from_settings(Settings(sms_url="http://x", sms_body_template="{to} not json"))


def test_a_night_deadline_says_what_the_person_expects() -> None:
    # 02:01 UTC on Thursday 3 December is 3.01 in Amsterdam: she was told Wednesday evening.
    night = datetime(2026, 12, 3, 2, 1, tzinfo=UTC)
    m = mail(respond_before=night, received_at=night - timedelta(hours=24), now=night)
    assert "Bel graag terug, uiterlijk donderdag 3 december, 3.01 uur." in m.text
    assert "de vrager verwacht je telefoontje uiterlijk woensdagavond 2 december." in m.text
    en = mail(lang="en", respond_before=night, received_at=night - timedelta(hours=24), now=night)
    assert "the person expects your call by Wednesday evening, 2 December." in en.text
    # By day, and for a crisis question (the team's exact time), nothing more is said.
    assert "verwacht je telefoontje" not in mail().text
    assert "verwacht je telefoontje" not in mail(respond_before=night, priority=True).text
