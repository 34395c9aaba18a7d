"""Tests for the audit hash chain: canonical encoding, linking and tamper detection."""

import hashlib
import itertools
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.chain import (
    GENESIS,
    Broken,
    ChainRow,
    _reference,
    canonical,
    link_hash,
    verify,
)

EVENT_ID = UUID("3F2504E0-4F89-11D3-9A0C-0305E82C3301")


def build(records, first_seq=1):
    rows, prev = [], GENESIS
    for seq, record in enumerate(records, start=first_seq):
        h = link_hash(prev, record)
        rows.append(ChainRow(seq=seq, record=record, prev_hash=prev, hash=h))
        prev = h
    return rows


def sample_records(n=5):
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    return [
        {
            "event_id": UUID(int=i + 1),
            "type": "callback.done" if i % 2 else "intake.received",
            "at": start + timedelta(minutes=7 * i),
            "code": f"T{i:02d}",
            "consent": {"research": i % 3 == 0, "contact": True},
            "tags": ["nl", None, i],
        }
        for i in range(n)
    ]


def test_known_answer_pins_the_format_for_other_verifiers():
    record = {"b": 1, "a": "ë", "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "id": EVENT_ID}
    expected_body = (
        '{"a":"ë","at":"2024-01-02T03:04:05.000000Z","b":1,'
        '"id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301"}'
    ).encode()
    assert canonical(record) == expected_body
    expected = hashlib.sha256(GENESIS.encode() + b"\n" + expected_body).hexdigest()
    assert link_hash(GENESIS, record) == expected


def test_aware_datetimes_are_normalised_to_utc():
    cet = timezone(timedelta(hours=1))
    local = {"at": datetime(2024, 1, 2, 4, 4, 5, 123, tzinfo=cet)}
    utc = {"at": datetime(2024, 1, 2, 3, 4, 5, 123, tzinfo=UTC)}
    assert canonical(local) == canonical(utc) == b'{"at":"2024-01-02T03:04:05.000123Z"}'


def test_naive_datetime_is_rejected():
    with pytest.raises(ValueError):
        canonical({"at": datetime(2024, 1, 2, 3, 4, 5)})


@pytest.mark.parametrize("bad", [1.5, {"nested": [0.0]}, {1, 2}, b"bytes"])
def test_floats_and_other_types_are_rejected(bad):
    with pytest.raises(TypeError):
        canonical({"value": bad})


def test_non_string_keys_are_rejected_instead_of_colliding():
    with pytest.raises(TypeError):
        canonical({"counts": {1: "a"}})


def test_intact_chain_verifies():
    assert verify(build(sample_records(20))) is None
    assert verify([]) is None


def test_first_row_must_start_from_genesis():
    rows = build(sample_records(3))
    forged = replace(rows[0], prev_hash="f" * 64, hash=link_hash("f" * 64, rows[0].record))
    assert verify([forged, *rows[1:]]) == Broken(1, "link_mismatch")


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("type", "hash_mismatch"),
        ("at", "hash_mismatch"),
        ("consent", "hash_mismatch"),
        ("hash", "hash_mismatch"),
        ("prev_hash", "link_mismatch"),
    ],
)
def test_editing_a_row_is_caught_at_that_row(index, field, reason):
    rows = build(sample_records(5))
    row = rows[index]
    if field in ("hash", "prev_hash"):
        tampered = replace(row, **{field: "a" * 64})
    else:
        new_value = {
            "type": "intake.deleted",
            "at": row.record["at"] + timedelta(microseconds=1),
            "consent": {"research": not row.record["consent"]["research"], "contact": True},
        }[field]
        tampered = replace(row, record={**row.record, field: new_value})
    rows[index] = tampered
    assert verify(rows) == Broken(row.seq, reason)


@pytest.mark.parametrize("index", range(1, 5))
def test_editing_seq_is_caught_at_that_row(index):
    rows = build(sample_records(5))
    rows[index] = replace(rows[index], seq=rows[index].seq + 10)
    assert verify(rows) == Broken(rows[index].seq, "gap")


def test_rewriting_a_row_and_its_hash_is_caught_at_the_next_row():
    rows = build(sample_records(5))
    record = {**rows[2].record, "code": "X99"}
    rows[2] = replace(rows[2], record=record, hash=link_hash(rows[2].prev_hash, record))
    assert verify(rows) == Broken(rows[3].seq, "link_mismatch")


def test_deleting_a_row_is_caught():
    rows = build(sample_records(5))
    assert verify(rows[:2] + rows[3:]) == Broken(4, "gap")
    assert verify(rows[1:]) == Broken(2, "link_mismatch")


def test_deleting_and_renumbering_is_caught():
    rows = build(sample_records(5))
    kept = rows[:2] + [replace(r, seq=r.seq - 1) for r in rows[3:]]
    assert verify(kept) == Broken(3, "link_mismatch")


def test_reordering_is_caught():
    rows = build(sample_records(5))
    swapped = [rows[0], rows[2], rows[1], rows[3], rows[4]]
    assert verify(swapped) == Broken(3, "gap")
    renumbered = [replace(r, seq=i) for i, r in enumerate(swapped, start=1)]
    assert verify(renumbered) == Broken(2, "link_mismatch")


def lazy_chain(n=None, corrupt_seq=None):
    prev = GENESIS
    for seq in itertools.count(1) if n is None else range(1, n + 1):
        record = {"seq": seq, "type": "intake.received", "consent": seq % 2 == 0}
        h = link_hash(prev, record)
        stored = "0" * 64 if seq == corrupt_seq else h
        yield ChainRow(seq=seq, record=record, prev_hash=prev, hash=stored)
        prev = h


def test_verify_stops_at_the_first_break_of_an_endless_stream():
    assert verify(lazy_chain(corrupt_seq=3)) == Broken(3, "hash_mismatch")


def test_verify_streams_without_holding_rows_in_memory():
    tracemalloc.start()
    try:
        assert verify(lazy_chain(20_000)) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 20,000 rows held in a list take about 10 MB.
    assert peak < 1_000_000


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
records = st.dictionaries(st.text(max_size=8), values, max_size=8)


def reversed_order(value):
    if isinstance(value, dict):
        return {k: reversed_order(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_order(v) for v in value]
    return value


@given(records, st.randoms())
def test_canonical_is_stable_under_key_order(record, rnd):
    shuffled_keys = list(record)
    rnd.shuffle(shuffled_keys)
    shuffled = {k: record[k] for k in shuffled_keys}
    assert canonical(shuffled) == canonical(record) == canonical(reversed_order(record))
    # The newline separates prev_hash from the body in link_hash, so it must never occur inside.
    assert b"\n" not in canonical(record)


@given(st.lists(records, min_size=1, max_size=6), st.data())
def test_any_record_edit_is_caught_at_that_row(recs, data):
    rows = build(recs)
    index = data.draw(st.integers(0, len(rows) - 1))
    original = rows[index].record
    key = data.draw(st.text(max_size=8))
    new_value = data.draw(values.filter(lambda v: key not in original or v != original[key]))
    rows[index] = replace(rows[index], record={**original, key: new_value})
    assert verify(rows) == Broken(rows[index].seq, "hash_mismatch")


# The fast encoder (orjson) must give the reference encoder's bytes for every plain record,
# including control characters, non-BMP text, big and negative integers and nested containers.
wide_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=16)
wide_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | wide_text
)
wide_values = st.recursive(
    wide_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(wide_text, inner, max_size=4),
    max_leaves=16,
)


@given(st.dictionaries(wide_text, wide_values, max_size=10))
def test_fast_canonical_equals_the_reference_encoding(record):
    assert canonical(record) == _reference(record)


@pytest.mark.parametrize(
    "record",
    [
        {"s": '\x00\x1f\x7f\u2028\u2029\ufeff\U0001f600 ë \\ " /'},
        {"i": 2**63 - 1, "j": -(2**63), "k": 2**64 - 1, "big": 2**64, "neg": -(2**63) - 1},
        {"nested": {"b": [1, {"z": None, "a": True}], "a": []}},
        {"at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "id": EVENT_ID},
        {"tuple": (1, "a")},
    ],
)
def test_fast_and_reference_agree_on_edge_cases(record):
    assert canonical(record) == _reference(record)


@pytest.mark.parametrize("bad", [{"s": "\ud800"}, {"\udfff": 1}, {"v": [1.0]}, {1: "a"}])
def test_fast_path_never_accepts_what_the_reference_refuses(bad):
    with pytest.raises((TypeError, ValueError)):
        _reference(bad)
    with pytest.raises((TypeError, ValueError)):
        canonical(bad)


def test_a_pruned_chain_verifies_from_its_anchor_and_nothing_else():
    rows = build(sample_records(8))
    # The anchor keeps the seq and hash of the last pruned row; its record is gone.
    anchor = ChainRow(seq=rows[2].seq, record={}, prev_hash="", hash=rows[2].hash)
    assert verify(rows[3:], after=anchor) is None
    # One more row removed after the anchor, or an anchor that does not match, is caught.
    assert verify(rows[4:], after=anchor) == Broken(rows[4].seq, "gap")
    assert verify(rows[3:], after=replace(anchor, hash="b" * 64)) == Broken(4, "link_mismatch")
    assert verify(rows[3:], after=replace(anchor, seq=2)) == Broken(4, "gap")
