"""Hypothesis against the event decoders: whatever bytes arrive on a subject, `decode()` returns
an event or raises the documented pydantic ValidationError (LookupError for an unknown subject);
never anything else, which would escape the consumer's dead-letter path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.events import BY_SUBJECT, CallbackDone, decode
from tests.support import received_event, routed_event

SUBJECTS = sorted(BY_SUBJECT)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)


def valid_events() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    qid = uuid4()
    return [
        received_event(
            question_id=qid,
            reference="ZH-AB12-CD34",
            topic="rouw",
            pc4="5611",
            consent_version="v1",
            consent_statistics=True,
            received_at=now,
            respond_before=now,
        ).model_dump(mode="json"),
        routed_event(
            question_id=qid,
            reference="ZH-AB12-CD34",
            group_id="g-rouw",
            contact_id="c-0123",
            reason="topic_region",
            received_at=now,
            respond_before=now,
        ).model_dump(mode="json"),
        CallbackDone(question_id=qid, contact_id="c-0123", outcome="reached").model_dump(
            mode="json"
        ),
    ]


def only_documented_errors(subject: str, data: bytes) -> None:
    try:
        event = decode(subject, data)
    except ValidationError:
        return
    except LookupError:
        assert subject not in BY_SUBJECT
        return
    # Anything that decodes is exactly the event its subject names, and round-trips.
    assert event.subject == subject
    assert decode(subject, event.to_bytes()) == event


@FUZZ
@given(subject=st.sampled_from(SUBJECTS) | st.text(max_size=30), data=st.binary(max_size=2000))
def test_arbitrary_bytes(subject: str, data: bytes) -> None:
    only_documented_errors(subject, data)


@FUZZ
@given(subject=st.sampled_from(SUBJECTS), value=json_values)
def test_arbitrary_json(subject: str, value: Any) -> None:
    only_documented_errors(subject, json.dumps(value).encode())  # big ints and Infinity too


@FUZZ
@given(
    which=st.integers(0, 2),
    subject=st.sampled_from(SUBJECTS),
    field=st.sampled_from(["type", "question_id", "occurred_at", "reference", "topic", "x"]),
    value=json_values,
    drop=st.booleans(),
)
def test_mutated_valid_events(which: int, subject: str, field: str, value: Any, drop: bool) -> None:
    body = valid_events()[which]
    if drop:
        body.pop(field, None)
    else:
        body[field] = value
    only_documented_errors(subject, json.dumps(body).encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe\x00",
        b"[" * 100_000,  # deeper than any parser should follow
        b'{"a":' * 50_000,
        b"1e99999",
        b"9" * 100_000,
        b'"\\ud800"',  # a lone surrogate
        b"{}" + b" " * 900_000,
    ],
)
def test_pathological_payloads(data: bytes) -> None:
    for subject in SUBJECTS:
        only_documented_errors(subject, data)


def test_extra_fields_wrong_types_and_the_wrong_subject_are_refused() -> None:
    body = valid_events()[0]
    with pytest.raises(ValidationError):
        decode("question.received.v1", orjson.dumps({**body, "story": "mijn verhaal"}))
    with pytest.raises(ValidationError):
        decode("question.received.v1", orjson.dumps({**body, "consent_share": "yes please"}))
    with pytest.raises(ValidationError):  # a routed event's body on the received subject
        decode("question.received.v1", orjson.dumps(valid_events()[1]))
    with pytest.raises(LookupError):
        decode("question.received.v2", orjson.dumps(body))
    assert decode("question.received.v1", orjson.dumps(body)).subject == "question.received.v1"
