"""When notify's delivery loop claims again after a send ends (services/notify/delivery.py)."""

from __future__ import annotations

from services.notify.delivery import may_have_left_jobs


def test_a_claim_that_filled_its_room_or_had_none_may_have_left_jobs() -> None:
    assert may_have_left_jobs(room=4, claimed=4)  # full: more may wait
    assert may_have_left_jobs(room=0, claimed=0)  # no room at all: it did not look
    assert may_have_left_jobs(room=-1, claimed=0)


def test_a_claim_that_found_fewer_than_its_room_left_none() -> None:
    # A send ending after this need not claim again: nothing was due that it left behind, and a
    # job queued later wakes the loop itself (the consumer's after_commit).
    assert not may_have_left_jobs(room=16, claimed=1)
    assert not may_have_left_jobs(room=16, claimed=0)
