"""Ids minted by the system are valid RFC 9562 version 7 UUIDs that sort by the time they were
minted, so every validator of the contract's `uuid` format still accepts them."""

from __future__ import annotations

import time
import uuid

import jsonschema
import pytest

from contracts.events import BY_SUBJECT, QuestionClosed, new_id
from opendeur.devtools.audit_perf import ingest_messages


def millis(value: uuid.UUID) -> int:
    return value.int >> 80


def test_an_id_is_a_version_7_uuid_carrying_the_millisecond_it_was_minted() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert value.version == 7 and value.variant == uuid.RFC_4122
    assert before <= millis(value) <= after
    assert uuid.UUID(str(value)) == value  # its text form reads back as the same id


def test_ids_minted_later_sort_later_as_uuids_and_as_text() -> None:
    earlier = [new_id() for _ in range(50)]
    time.sleep(0.003)
    later = [new_id() for _ in range(50)]
    assert max(earlier) < min(later)
    assert max(map(str, earlier)) < min(map(str, later))


def test_ids_minted_one_after_another_sort_in_that_order_within_a_millisecond_too() -> None:
    ids = [new_id() for _ in range(20_000)]  # thousands share a millisecond
    assert len({millis(i) for i in ids}) < len(ids)
    assert ids == sorted(ids)
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)


def test_ids_keep_their_order_when_the_clock_is_set_back(monkeypatch: pytest.MonkeyPatch) -> None:
    before = new_id()
    hour_ago = time.time_ns() - 3_600 * 10**9
    monkeypatch.setattr(time, "time_ns", lambda: hour_ago)
    after = [new_id() for _ in range(100)]
    assert [before, *after] == sorted([before, *after])
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in after)


def test_ids_minted_in_the_same_millisecond_still_differ() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    # Random or a random step past the last: no two share their last 80 bits either.
    assert len({i.int & ((1 << 80) - 1) for i in ids}) == len(ids)


def test_every_event_gets_a_time_ordered_id_the_contract_schema_accepts() -> None:
    question = new_id()
    event = QuestionClosed(question_id=question, reason="withdrawn")
    assert event.event_id.version == 7 and question.version == 7
    schema = type(event).model_json_schema()
    payload = event.model_dump(mode="json")
    jsonschema.validate(payload, schema, format_checker=jsonschema.FormatChecker())
    assert QuestionClosed.from_bytes(event.to_bytes()) == event
    assert QuestionClosed(question_id=question, reason="withdrawn").event_id > event.event_id


@pytest.mark.parametrize("kind, version", [("v7", 7), ("v4", 4)])
def test_the_audit_benchmark_mints_the_id_kind_it_is_asked_for(kind: str, version: int) -> None:
    for subject, data in ingest_messages(8, kind):
        event = BY_SUBJECT[subject].from_bytes(data)
        assert event.event_id.version == version
        assert event.question_id is not None and event.question_id.version == version
