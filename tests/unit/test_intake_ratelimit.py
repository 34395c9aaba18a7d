"""The token bucket behind intake's rate limits, on a clock the test controls."""

from __future__ import annotations

import hashlib

import pytest

from opendeur.settings import Settings
from services.intake import ratelimit
from services.intake.ratelimit import Limiter, Rate, parse_rate


def test_parse_rate() -> None:
    assert parse_rate("20/min") == Rate(20, 20 / 60)
    assert parse_rate(" 5 / s ") == Rate(5, 5.0)
    assert parse_rate("100/h") == Rate(100, 100 / 3600)
    assert parse_rate("off") is None
    for bad in ("", "20", "0/min", "-1/min", "20/week", "x/min"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_the_rate_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENDEUR_INTAKE_RATE", raising=False)
    assert parse_rate(Settings().intake_rate) == Rate(20, 20 / 60)
    monkeypatch.setenv("OPENDEUR_INTAKE_RATE", "3/s")
    assert parse_rate(Settings().intake_rate) == Rate(3, 3.0)


def test_burst_then_refill_per_key() -> None:
    limiter = Limiter(Rate(3, 1.0))
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a", now=0.0)
    assert wait == pytest.approx(1.0)
    assert limiter.take("b", now=0.0) == 0.0  # another address has its own bucket
    assert limiter.take("a", now=0.5) == pytest.approx(0.5)
    assert limiter.take("a", now=1.0) == 0.0
    assert limiter.take("a", now=1.0) > 0
    # A long pause refills up to the capacity, never beyond it.
    assert [limiter.take("a", now=100.0) for _ in range(4)][-1] > 0


def test_off_never_limits() -> None:
    limiter = Limiter(None)
    assert all(limiter.take("a", now=0.0) == 0.0 for _ in range(1000))


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 100)
    limiter = Limiter(Rate(2, 1.0))
    for i in range(1000):
        limiter.take(f"10.0.{i // 256}.{i % 256}", now=float(i) / 1000)
    assert len(limiter._buckets) <= 101


def test_retry_after_is_whole_seconds() -> None:
    assert ratelimit.retry_after_header(0.01) == "1"
    assert ratelimit.retry_after_header(2.2) == "3"


def test_frontend_keys_are_configured_as_hashes_with_their_own_rate() -> None:
    key = "de-sleutel-van-de-telefoonlijn"
    digest = hashlib.sha256(key.encode()).hexdigest()
    frontends = ratelimit.parse_frontends(f" phoneline:{digest}:600/min , partner:{'0' * 64}:off")
    assert [f.name for f in frontends] == ["phoneline", "partner"]
    assert frontends[0].rate == Rate(600, 10.0) and frontends[1].rate is None
    assert key not in repr(frontends)  # only the hash is held
    assert ratelimit.match_frontend(frontends, key) is frontends[0]
    assert ratelimit.match_frontend(frontends, key + "x") is None
    assert ratelimit.match_frontend(frontends, "") is None
    assert ratelimit.parse_frontends("") == []


@pytest.mark.parametrize(
    "text",
    [
        "phoneline:plain-key:10/min",  # a key in the clear, not its hash
        f"phoneline:{'a' * 64}",  # no rate
        f"Phone Line:{'a' * 64}:10/min",
        f"a:{'a' * 64}:10/min,a:{'b' * 64}:10/min",  # one name twice
    ],
)
def test_bad_frontend_configuration_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ratelimit.parse_frontends(text)
