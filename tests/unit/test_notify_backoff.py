"""Retry timing: exponential growth, full jitter, a cap, five attempts."""

from __future__ import annotations

import pytest

from opendeur import backoff


def test_the_ceiling_doubles_with_each_attempt() -> None:
    top = [backoff.delay(n, base=2.0, rand=lambda: 1.0) for n in range(1, 6)]
    assert top == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_full_jitter_reaches_down_to_zero() -> None:
    assert backoff.delay(4, base=2.0, rand=lambda: 0.0) == 0.0
    assert backoff.delay(3, base=2.0, rand=lambda: 0.5) == 4.0


def test_the_wait_never_exceeds_the_cap() -> None:
    assert backoff.delay(30, base=2.0, cap=60.0, rand=lambda: 1.0) == 60.0


def test_random_waits_stay_within_the_ceiling() -> None:
    waits = [backoff.delay(3, base=1.0) for _ in range(500)]
    assert all(0.0 <= w <= 4.0 for w in waits)
    assert max(waits) - min(waits) > 1.0  # jittered, not fixed


def test_five_attempts_at_most() -> None:
    assert [backoff.should_retry(n) for n in range(1, 6)] == [True, True, True, True, False]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        backoff.delay(0)
