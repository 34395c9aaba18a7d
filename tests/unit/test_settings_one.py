"""One Settings for every knob (issue 16): durations are timedeltas read by the one parser, and
the values services used to read from the environment themselves are fields with the same
OPENDEUR_* names and the same accepted forms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from opendeur.settings import Settings, parse_duration


def fresh(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_durations_are_timedeltas_from_the_one_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDEUR_LINK_TTL", "90s")
    monkeypatch.setenv("OPENDEUR_RESPONSE_DEADLINE", "30m")
    s = fresh()
    assert s.link_ttl == timedelta(seconds=90)
    assert s.deadline == s.response_deadline == timedelta(minutes=30)
    assert s.pii_retention == timedelta(hours=48) and s.audit_retention == timedelta(days=730)
    # code that still wraps a field in parse_duration keeps working
    assert parse_duration(s.link_ttl) == timedelta(seconds=90)


@pytest.mark.parametrize("bad", ["24", "1.5h", "0s", "-3m", "soon", ""])
def test_a_duration_setting_must_name_its_unit(bad: str) -> None:
    with pytest.raises(ValidationError):
        fresh(response_deadline=bad)


def test_settings_that_always_took_seconds_still_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDEUR_SWEEP_INTERVAL", "0.5")
    monkeypatch.setenv("OPENDEUR_NOTIFY_RETRY_BASE", "0.2")
    monkeypatch.setenv("OPENDEUR_NOTIFY_STUCK_AFTER", "5m")
    s = fresh()
    assert s.sweep_interval == timedelta(seconds=0.5)
    assert s.notify_retry_base == timedelta(seconds=0.2)
    assert s.notify_stuck_after == timedelta(minutes=5)
    assert s.notify_send_timeout == timedelta(seconds=10)
    with pytest.raises(ValidationError):
        fresh(sweep_interval="0")


def test_notify_and_audit_knobs_are_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDEUR_NOTIFY_DIGEST_HOUR", "off")
    monkeypatch.setenv("OPENDEUR_SMS_URL", "http://sms.test/send")
    monkeypatch.setenv("OPENDEUR_SMS_AUTH_HEADER", "Authorization: Bearer x")
    monkeypatch.setenv("OPENDEUR_AUDIT_BATCH", "500")
    s = fresh()
    assert s.notify_digest_hour is None
    assert s.sms_url == "http://sms.test/send"
    assert s.sms_auth_header is not None
    assert s.sms_auth_header.get_secret_value() == "Authorization: Bearer x"
    assert "Bearer x" not in repr(s)
    assert s.audit_batch == 500
    monkeypatch.delenv("OPENDEUR_NOTIFY_DIGEST_HOUR")
    monkeypatch.delenv("OPENDEUR_AUDIT_BATCH")
    assert fresh().notify_digest_hour == 8 and fresh().audit_batch is None
    with pytest.raises(ValidationError):
        fresh(notify_digest_hour="25")
    with pytest.raises(ValidationError, match="STUCK_AFTER"):
        fresh(notify_stuck_after="10", notify_send_timeout="10")


def test_intake_rates_keep_their_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENDEUR_INTAKE_RATE", "off")
    monkeypatch.setenv("OPENDEUR_INTAKE_LOGIN_RATE", "3/min")
    s = fresh()
    assert (s.intake_rate, s.intake_login_rate, s.intake_login_address_rate) == (
        "off",
        "3/min",
        "60/min",
    )
    for bad in ("twenty", "20/day", "20"):
        with pytest.raises(ValidationError):
            fresh(intake_rate=bad)


def test_the_failpoint_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fresh().failpoint is None
    monkeypatch.setenv("OPENDEUR_FAILPOINT", "after-commit:routing-question-received-v1")
    assert fresh().failpoint == "after-commit:routing-question-received-v1"
