"""When an address change must be confirmed by the new address, its signed link, and the texts of
the confirmation, the announcement and the asker's language in a contact's mail."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from opendeur.settings import Settings
from services.notify import addresses, messages
from services.notify.addresses import Decision, Wanted
from services.notify.web import i18n

SETTINGS = Settings(secret_key="unit-test-secret-0123456789abcdef0123456789")


def wanted(email: str | None = "nieuw@example.org", mobile: str | None = None, **kw) -> Wanted:
    return Wanted(email, mobile, kw.get("channel", "email"), kw.get("language", "nl"))


def test_a_first_address_applies_at_once() -> None:
    assert addresses.decide(None, None, wanted()) == Decision(apply=True)


def test_a_new_email_waits_for_the_new_address() -> None:
    got = addresses.decide("oud@example.org", None, wanted("nieuw@example.org"))
    assert got == Decision(False, "email", "nieuw@example.org")


@pytest.mark.parametrize(
    "new",
    [
        wanted("oud@example.org", language="en"),  # the language only
        wanted("Oud@Example.org"),  # the same address, other capitals
        wanted(None, "0612345678", channel="sms"),  # to the mobile already stored
        wanted("oud@example.org", None),  # the mobile dropped
    ],
)
def test_changes_between_stored_addresses_apply_at_once(new: Wanted) -> None:
    assert addresses.decide("oud@example.org", "0612345678", new).apply


def test_the_confirmation_goes_on_the_channel_that_will_be_used() -> None:
    both = wanted("nieuw@example.org", "0687654321", channel="sms")
    assert addresses.decide("oud@example.org", "0612345678", both) == Decision(
        False, "sms", "0687654321"
    )
    # A new mobile while mail stays the channel: the new mobile confirms (the one new address).
    only_mobile = wanted("oud@example.org", "0687654321", channel="email")
    assert addresses.decide("oud@example.org", None, only_mobile) == Decision(
        False, "sms", "0687654321"
    )


def test_the_link_is_signed_names_the_change_and_expires() -> None:
    until = int(time.time()) + 60
    token = addresses.sign(SETTINGS, "c-abc", "nonce-1", until)
    assert addresses.verify(SETTINGS, token) == ("c-abc", "nonce-1")
    with pytest.raises(addresses.LinkRefused) as got:
        addresses.verify(SETTINGS, token, now=until + 1)
    assert got.value.reason == "expired"
    body, _, signature = token.partition(".")
    # Another first character: all six of its bits count (the last one's padding bits may not,
    # so replacing the end with "AA" was the same signature about once in a thousand runs).
    changed = body + "." + ("B" if signature[0] == "A" else "A") + signature[1:]
    for forged in (changed, "x" + token, "nonsense", ""):
        with pytest.raises(addresses.LinkRefused) as got:
            addresses.verify(SETTINGS, forged)
        assert got.value.reason == "invalid"
    other = Settings(secret_key="another-secret-0123456789abcdef0123456789ab")
    with pytest.raises(addresses.LinkRefused):
        addresses.verify(other, token)


def test_the_confirmation_has_one_button_and_a_readable_end() -> None:
    until = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    m = messages.address_confirm(
        lang="nl", link="http://n.test/contacts/confirm/T", until=until, channel="email"
    )
    assert "uiterlijk donderdag 3 december, 15.00 uur" in m.text
    assert m.html.count("<a ") == 1 and "Dit adres bevestigen" in m.html
    en = messages.address_confirm(lang="en", link="http://n.test/x", until=until, channel="sms")
    assert en.html is None and "by Thursday 3 December, 3 pm" in en.text


def test_the_announcement_says_whom_to_call_from_the_settings_only() -> None:
    m = messages.address_notice(lang="nl", channel="email", phone="040 123 4567", email=None)
    assert "Bel of mail het netwerkteam: 040 123 4567" in m.text
    assert "confirm" not in m.text and "http" not in m.text
    none = messages.address_notice(lang="en", channel="sms")
    assert "contact the network team" in none.text and "000" not in none.text


def test_a_contact_mail_says_when_the_asker_prefers_another_language() -> None:
    now = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    kw = dict(
        reference="OD-AB12-CD34",
        topic_label="Angst",
        channel="web",
        priority=False,
        received_at=now,
        respond_before=now + timedelta(hours=24),
        now=now,
        link="http://intake.test/c/TOKEN",
    )
    nl = messages.new_question(lang="nl", asker_language="en", **kw)
    assert "De vrager spreekt liever Engels." in nl.text
    assert "spreekt liever" not in messages.new_question(lang="nl", **kw).text
    en = messages.new_question(lang="en", asker_language="nl", **kw)
    assert "The person asking would rather speak Dutch." in en.text
    sms = messages.sms_text(
        lang="nl",
        reference="OD-AB12-CD34",
        topic_label="Angst",
        respond_before=now,
        link="http://intake.test/c/T",
        asker_language="en",
    )
    assert "De vrager spreekt liever Engels." in sms.text and "?lang=nl" in sms.text


def test_the_pages_catalogue_has_every_text_in_both_languages() -> None:
    assert i18n.missing() == {}
