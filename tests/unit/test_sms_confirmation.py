"""The help-seeker's SMS confirmation, its pure parts: the text, the number check, the retry
schedule; the runtime's one gateway client against a real HTTP server; who gets the gateway."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from opendeur import sms, timefmt
from opendeur.embedded import free_port
from opendeur.keys import inherited, own_settings
from opendeur.settings import SERVICES, Settings
from services.intake import api, confirmation
from tests.support import SECRET, Gateway

QID = uuid.UUID("849be237-2e58-4b03-a73f-4a1d725f5cea")
BEFORE = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_text_names_network_reference_deadline_and_withdraw_link(lang: str) -> None:
    link = confirmation.withdraw_url("https://vraag.example.nl", QID, "t" * 32, lang)
    text = confirmation.text(
        lang, network="Zelfhulp Netwerk Zuidoost-Brabant", reference="OD-ABCD-2345",
        respond_before=BEFORE, link=link,
    )  # fmt: skip
    assert text.startswith("Zelfhulp Netwerk Zuidoost-Brabant: ")
    assert "OD-ABCD-2345" in text and text.endswith(link)
    assert timefmt.deadline(BEFORE, lang) in text  # the thank-you page's own words
    words = {
        "nl": "uiterlijk donderdag 3 december, 15.00 uur",
        "en": "by Thursday 3 December, 3 pm",
    }
    assert words[lang] in text
    # Short: three GSM segments at most, with a public base URL of 40 characters.
    assert len(text) - len(link) < 170 and len(text) <= 3 * 153


def test_without_a_network_name_the_text_uses_the_sites_own() -> None:
    nl = confirmation.text("nl", network=None, reference="OD-A", respond_before=BEFORE, link="L")
    en = confirmation.text("en", network=None, reference="OD-A", respond_before=BEFORE, link="L")
    assert nl.startswith("Zelfhulp Netwerk: ") and en.startswith("Self-help Network: ")


def test_the_withdraw_link_is_the_thank_you_pages_made_absolute() -> None:
    assert confirmation.withdraw_url("https://v.nl", QID, "tok", "nl") == (
        f"https://v.nl/intrekken/{QID}?token=tok"
    )
    assert confirmation.withdraw_url("https://v.nl", QID, "tok", "en").endswith("&lang=en")


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("+31612345678", True),
        ("+31661234567", False),  # 066: pagers
        ("+4915112345678", False),  # foreign: texts abroad can cost dearly ("SMS pumping")
        ("+79161234567", False),
        ("+31401234567", False),
        ("+31800123456", False),
        ("+31851234567", False),
    ],
)
def test_only_dutch_mobiles_take_an_sms(number: str, ok: bool) -> None:
    assert confirmation.can_receive_sms(number) is ok


def test_no_gateway_or_a_landline_is_a_refusal_with_a_code() -> None:
    without = Settings(secret_key=SECRET)
    with_gateway = Settings(secret_key=SECRET, sms_url="http://sms.test/send")
    assert api.sms_refusal(without, "+31612345678") == "sms_unavailable"
    assert api.sms_refusal(with_gateway, "+31401234567") == "sms_needs_mobile"
    assert api.sms_refusal(with_gateway, "+31612345678") is None


def test_the_model_takes_sms_confirmation_as_a_strict_optional_boolean() -> None:
    base = {"for_self": True, "phone": "0612345678", "consent": {"share_with_contact": True}}
    assert api.QuestionIn(**base).sms_confirmation is False
    assert api.QuestionIn(**base, sms_confirmation=True).sms_confirmation is True
    with pytest.raises(ValueError):
        api.QuestionIn(**base, sms_confirmation="yes")


def test_retries_back_off_and_end_after_a_bounded_number_of_tries() -> None:
    waits = [confirmation.retry_in(n, 2.0) for n in range(1, confirmation.MAX_ATTEMPTS)]
    assert all(w is not None and 0 <= w <= confirmation.RETRY_CAP_S for w in waits)
    assert confirmation.retry_in(confirmation.MAX_ATTEMPTS, 2.0) is None


def test_the_idempotency_key_is_one_per_confirmation_and_names_no_question() -> None:
    sealed, other = os.urandom(60), os.urandom(60)
    key = confirmation.idempotency_key(sealed)
    assert key == confirmation.idempotency_key(sealed) != confirmation.idempotency_key(other)
    assert str(QID) not in key and key.startswith("oc-")


def test_one_sms_per_number_a_day_and_a_budget_an_hour() -> None:
    allow = confirmation.Allowance(per_hour=3)
    assert allow.take("+31612345678", now=0.0) is None
    assert allow.take("+31612345678", now=10.0) == "sms_already_sent"
    assert allow.take("+31612345679", now=20.0) is None
    assert allow.take("+31612345670", now=30.0) is None
    assert allow.take("+31612345671", now=40.0) == "sms_budget"  # three this hour
    assert allow.take("+31612345671", now=3700.0) is None  # an hour later
    assert allow.take("+31612345678", now=3800.0) == "sms_already_sent"  # still the same day
    assert allow.take("+31612345678", now=86_401.0) is None  # the next day
    # The numbers are kept only as keyed hashes.
    assert "+31612345678" not in repr(vars(allow))


def test_at_night_the_text_promises_the_evening_before() -> None:
    night = datetime(2026, 12, 3, 2, 1, tzinfo=UTC)  # 3.01 in Amsterdam
    text = confirmation.text("nl", network="N", reference="OD-A", respond_before=night, link="L")
    assert "uiterlijk woensdagavond 2 december" in text and "3.01" not in text
    crisis = confirmation.text(
        "nl", network="N", reference="OD-A", respond_before=night, link="L", crisis=True
    )
    assert "uiterlijk donderdag 3 december, 3.01 uur" in crisis


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway() as g:
        yield g


async def test_the_client_posts_template_auth_and_idempotency_key(gateway: Gateway) -> None:
    config = sms.SmsConfig.of(
        Settings(
            sms_url=gateway.url,
            sms_auth_header="X-Api-Key: k3y",
            sms_body_template='{"msisdn": "{to}", "body": "{text}"}',
        )
    )
    assert config is not None
    await sms.send(config, "+31612345678", 'Tekst "met" quotes', idempotency_key="q-1")
    headers, body = gateway.requests[0]
    assert body == {"msisdn": "+31612345678", "body": 'Tekst "met" quotes'}
    assert headers["X-Api-Key"] == "k3y" and headers["Idempotency-Key"] == "q-1"


@pytest.mark.parametrize(("status", "temporary"), [(503, True), (429, True), (400, False)])
async def test_the_client_says_which_failures_are_worth_another_try(
    gateway: Gateway, status: int, temporary: bool
) -> None:
    gateway.statuses.append(status)
    config = sms.SmsConfig.from_settings(gateway.url, None, None)
    with pytest.raises(sms.SmsFailure) as failure:
        await sms.send(config, "+31612345678", "t", idempotency_key="k")
    assert (failure.value.code, failure.value.temporary) == (f"sms_http_{status}", temporary)
    assert "31612345678" not in str(failure.value)


async def test_a_gateway_that_is_away_is_a_temporary_failure() -> None:
    config = sms.SmsConfig.from_settings(f"http://127.0.0.1:{free_port()}/send", None, None)
    with pytest.raises(sms.SmsFailure) as failure:
        await sms.send(config, "+31612345678", "t", idempotency_key="k", seconds=2)
    assert failure.value.temporary


def test_no_gateway_configured_is_none() -> None:
    assert sms.SmsConfig.of(Settings()) is None


def test_only_the_two_senders_get_the_gateway_from_up() -> None:
    settings = Settings(
        secret_key=SECRET,
        database_url="postgresql://o@db/o",
        sms_url="https://sms.example/send?key=abc",
        sms_auth_header="Authorization: Bearer gw",
        sms_body_template='{"to": "{to}", "text": "{text}"}',
    )
    names = ("OPENDEUR_SMS_URL", "OPENDEUR_SMS_AUTH_HEADER", "OPENDEUR_SMS_BODY_TEMPLATE")
    assert not any(inherited(n) for n in names)  # never from up's own environment
    for service in SERVICES:
        env = own_settings(settings, service, nats_accounts=False)
        got = {n: env.get(n) for n in names}
        if service in ("intake", "notify"):
            assert got == {
                "OPENDEUR_SMS_URL": "https://sms.example/send?key=abc",
                "OPENDEUR_SMS_AUTH_HEADER": "Authorization: Bearer gw",
                "OPENDEUR_SMS_BODY_TEMPLATE": '{"to": "{to}", "text": "{text}"}',
            }, service
        else:
            assert got == dict.fromkeys(names), service
