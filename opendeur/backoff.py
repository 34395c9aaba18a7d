"""Retry timing for temporary delivery failures (notify's mails and SMS, intake's SMS confirmation):
exponential backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_ATTEMPTS = 5
DEFAULT_BASE = 2.0
DEFAULT_CAP = 300.0


def delay(
    attempt: int,
    base: float = DEFAULT_BASE,
    cap: float = DEFAULT_CAP,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): uniform in [0, min(cap, base·2^(attempt-1))]."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return rand() * min(cap, base * 2 ** (attempt - 1))


def should_retry(attempt: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """After failed attempt `attempt`, is there another one left?"""
    return attempt < max_attempts
