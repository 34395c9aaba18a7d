"""Verifying the audit chain in parts, as the verify endpoint does batch by batch."""

from __future__ import annotations

from services.audit.chain import GENESIS, Broken, ChainRow, link_hash, verify
from tests.support import received_event, routed_event


def build(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        record = {"event_id": f"e{seq}", "type": "question.received.v1", "n": seq}
        h = link_hash(prev, record)
        rows.append(ChainRow(seq, record, prev, h))
        prev = h
    return rows


def test_parts_verified_after_their_predecessor_are_intact() -> None:
    rows = build(10)
    for cut in range(1, 10):
        assert verify(rows[:cut]) is None
        assert verify(rows[cut:], after=rows[cut - 1]) is None


def test_a_part_does_not_link_to_the_wrong_predecessor() -> None:
    rows = build(10)
    assert verify(rows[5:], after=rows[3]) == Broken(6, "gap")
    assert verify(rows[5:]) == Broken(6, "link_mismatch")


def test_a_changed_row_in_a_later_part_is_found() -> None:
    rows = build(10)
    bad = ChainRow(7, {**rows[6].record, "n": 70}, rows[6].prev_hash, rows[6].hash)
    assert verify([*rows[5:6], bad, *rows[7:]], after=rows[4]) == Broken(7, "hash_mismatch")


# What audit keeps of an event: the validated fast path and the forged-field path agree.
def _events() -> list:
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    from contracts.events import CallbackDone, GroupChanged

    now = datetime.now(UTC)
    times = {"received_at": now, "respond_before": now + timedelta(hours=24)}
    return [
        received_event(
            reference="OD-TEST-0001",
            channel="phone",
            topic=None,
            pc4="5611",
            language="en",
            professional_help_advised=True,
            consent_version="consent-v2",
            consent_share=False,
            consent_statistics=True,
            **times,
        ),
        routed_event(
            reference="OD-TEST-0002",
            group_id="g-1",
            reason="match",
            attempt=2,
            **times,
        ),
        CallbackDone(question_id=uuid4(), contact_id="c-1", outcome="reached"),
        GroupChanged(group_id="g-1", change="joined", status="active", by="import"),
    ]


def test_keep_holds_exactly_the_allow_list_and_forged_fields_only_add_to_the_count() -> None:
    import orjson

    from services.audit.allowlist import ENVELOPE, KEEP, keep

    for event in _events():
        full = event.model_dump(mode="json")
        expected = {k: full[k] for k in ENVELOPE + KEEP[event.subject]}
        calls: list[int] = []

        def seq(calls: list[int] = calls) -> int:
            calls.append(1)
            return 1

        assert keep(event.subject, event.to_bytes(), seq) == (expected, 0)
        forged = orjson.dumps({**full, "story": "x", "phone": "0612345678"})
        assert keep(event.subject, forged, seq) == (expected, 2)
        assert keep(event.subject, forged, 5) == (expected, 2)
        assert calls == []  # the stream sequence is read only when an id must be made up


def test_keep_flags_what_does_not_validate_and_names_it_by_stream_sequence() -> None:
    from services.audit.allowlist import keep

    event = _events()[2]
    bad = event.to_bytes().replace(b'"reached"', b'"something else"')
    record, dropped = keep(event.subject, bad, lambda: 1 / 0)  # has an id: not called
    assert record == {"event_id": str(event.event_id), "type": event.subject, "invalid": True}
    assert dropped > 0
    first, _ = keep("question.received.v1", b"[1, 2]", lambda: 41)
    again, _ = keep("question.received.v1", b"not json", 41)
    other, _ = keep("question.received.v1", b"{}", 42)
    assert first == again != other and first["invalid"] is True
    assert keep("no.such.v1", event.to_bytes(), 1)[0]["invalid"] is True
