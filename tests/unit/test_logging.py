"""The log redaction step: no story, phone number or e-mail address survives into a log line."""

from __future__ import annotations

from opendeur.logging import REDACTED, redact


def test_personal_keys_are_redacted_whatever_their_value() -> None:
    out = redact(
        None,
        "info",
        {
            "event": "x",
            "story": "ik ben zo moe",
            "phone": "0612345678",
            "contact_email": "a@b.nl",
            "question_id": "q-1",
        },
    )
    assert out["story"] == out["phone"] == out["contact_email"] == REDACTED
    assert out["question_id"] == "q-1"


def test_phone_numbers_and_addresses_inside_strings_are_scrubbed() -> None:
    out = redact(
        None,
        "error",
        {
            "event": "failed for +31 6 1234 5678 and 040-1234567",
            "detail": "mail anna.rouw@example.org bounced",
        },
    )
    assert "1234" not in out["event"] and "example.org" not in out["detail"]


def test_ordinary_values_are_left_alone() -> None:
    out = redact(
        None,
        "info",
        {
            "event": "routed",
            "consumer": "routing-question-received-v1",
            "delivered": 3,
            "reason": "topic+municipality",
        },
    )
    assert out == {
        "event": "routed",
        "consumer": "routing-question-received-v1",
        "delivered": 3,
        "reason": "topic+municipality",
    }
