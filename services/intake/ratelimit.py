"""Token buckets in process memory, per client address or per trusted frontend: a brake on
floods at the front door."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PER |= {"h": 3600, "hour": 3600}
# Buckets are forgotten once full again; this bounds memory under a spray of addresses.
MAX_KEYS = 50_000


@dataclass(frozen=True)
class Rate:
    capacity: int
    per_second: float


def parse_rate(text: str) -> Rate | None:
    """'20/min' -> Rate(20, 1/3 s); 'off' -> None (no limit); anything else is a ValueError."""
    if text.strip().lower() in ("off", "0", "none"):
        return None
    m = _RATE.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"not a rate like 20/min, 5/s or 100/h: {text!r}")
    count = int(m.group(1))
    return Rate(count, count / _PER[m.group(2)])


class Limiter:
    """Token bucket per key: `capacity` requests at once, refilled at `per_second`."""

    def __init__(self, rate: Rate | None) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 when allowed (one token taken); otherwise the seconds until a token is back."""
        if self.rate is None:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (float(self.rate.capacity), now))
        tokens = min(float(self.rate.capacity), tokens + (now - last) * self.rate.per_second)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_KEYS:
                self._prune(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate.per_second

    def _prune(self, now: float) -> None:
        assert self.rate is not None
        full = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate.per_second >= self.rate.capacity
        ]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > MAX_KEYS:  # still a flood: drop the oldest entries
            del self._buckets[next(iter(self._buckets))]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


@dataclass(frozen=True)
class Frontend:
    """A trusted frontend (the phone line's, a partner's web form) with its own key and limit."""

    name: str
    digest: bytes  # SHA-256 of its key: the key itself is never configured or kept here
    rate: Rate | None


_FRONTEND = re.compile(r"^([a-z0-9][a-z0-9_-]{0,39}):([0-9a-f]{64}):(.+)$")


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def parse_frontends(text: str) -> list[Frontend]:
    """'phoneline:<sha256 hex of its key>:600/min,partner:<hex>:100/min' -> frontends."""
    out: list[Frontend] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        m = _FRONTEND.match(item)
        if m is None:
            raise ValueError("frontend keys look like name:<sha256 hex of the key>:100/min")
        out.append(Frontend(m.group(1), bytes.fromhex(m.group(2)), parse_rate(m.group(3))))
    if len({f.name for f in out}) != len(out):
        raise ValueError("each frontend needs its own name")
    return out


def match_frontend(frontends: list[Frontend], key: str) -> Frontend | None:
    """The frontend whose key this is; every configured digest is compared, in constant time."""
    digest, found = key_digest(key), None
    for f in frontends:
        if hmac.compare_digest(digest, f.digest):
            found = f
    return found
