"""An event names its subject once, in its class statement; the JSON and the schema still carry
`type` and `source` as before (issue #16)."""

from __future__ import annotations

from typing import Literal, get_args
from uuid import UUID

import orjson
import pytest
from pydantic import ValidationError

from contracts.events import BY_SUBJECT, EVENT_TYPES, Event, QuestionClosed, StaffActed, decode


class SampleHappened(Event, subject="sample.happened.v1", source="audit"):
    """Only for this test; not part of EVENT_TYPES."""

    question_id: UUID


def test_the_class_statement_gives_subject_type_and_source() -> None:
    assert SampleHappened.subject == "sample.happened.v1"
    assert SampleHappened.model_fields["type"].annotation == Literal["sample.happened.v1"]
    assert SampleHappened.model_fields["source"].annotation == Literal["audit"]
    body = orjson.loads(SampleHappened(question_id=UUID(int=1)).to_bytes())
    assert body["type"] == "sample.happened.v1" and body["source"] == "audit"
    schema = SampleHappened.model_json_schema()
    assert schema["properties"]["type"]["const"] == "sample.happened.v1"
    assert "type" not in schema.get("required", [])


def test_a_body_of_another_type_or_source_is_refused() -> None:
    with pytest.raises(ValidationError):
        SampleHappened(question_id=UUID(int=1), type="question.closed.v1")
    with pytest.raises(ValidationError):
        SampleHappened(question_id=UUID(int=1), source="intake")
    closed = QuestionClosed(question_id=UUID(int=1), reason="spam")
    with pytest.raises(ValidationError):
        decode("question.erased.v1", closed.to_bytes())


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda c: c.subject)
def test_every_contract_event_has_its_subject_as_its_type(event_type: type[Event]) -> None:
    assert get_args(event_type.model_fields["type"].annotation) == (event_type.subject,)
    assert BY_SUBJECT[event_type.subject] is event_type
    assert get_args(event_type.model_fields["source"].annotation)


def test_an_event_several_services_publish_keeps_its_own_source_field() -> None:
    assert set(get_args(StaffActed.model_fields["source"].annotation)) == {
        "intake",
        "routing",
        "notify",
    }
    assert StaffActed.model_fields["source"].default == "routing"
