"""Verifying the audit chain in parts, as the verify endpoint does batch by batch."""

from __future__ import annotations

from services.audit.chain import GENESIS, Broken, ChainRow, link_hash, verify


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
